import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import {
  connectDatabase,
  serviceDatabaseUrl,
  type DatabaseHandle,
} from '../platform/database.js';
import {
  startEventConsumer,
  type EventConsumer,
  type StreamEvent,
} from '../platform/event-consumer.js';
import { createLogger } from '../platform/logger.js';
import { appendEvents } from '../platform/outbox.js';
import {
  prepareSubgraphDatabase,
  type RunningSubgraph,
} from '../platform/subgraph-service.js';
import { catalogSubgraph } from '../subgraphs/catalog/service.js';
import * as ordersTables from '../subgraphs/orders/db/tables.js';
import { ordersSubgraph } from '../subgraphs/orders/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { startTestSubgraph } from './support/subgraph.js';

// The catalog serves the stream; the consumer keeps its positions in a
// database migrated like the orders service's, which contains the table.
const config = createTestConfig();
const silent = createLogger('test', 'silent');
let catalog: RunningSubgraph<Record<string, unknown>>;
let consumerDatabase: DatabaseHandle<typeof ordersTables>;
let eventsUrl: string;

beforeAll(async () => {
  catalog = (await startTestSubgraph(
    catalogSubgraph,
    config,
  )) as unknown as RunningSubgraph<Record<string, unknown>>;
  eventsUrl = `${new URL(catalog.url).origin}/events`;
  const url = serviceDatabaseUrl(config, 'orders');
  await prepareSubgraphDatabase(ordersSubgraph, url, silent);
  consumerDatabase = connectDatabase(url, ordersTables, { poolSize: 6 });
  await consumerDatabase.db.execute(
    sql`create table applied_events (consumer text, event_id text, applied_by text)`,
  );
});

afterAll(async () => {
  await consumerDatabase?.close();
  await catalog?.close();
  await dropTestDatabases(config);
});

type Transaction = Parameters<
  Parameters<typeof consumerDatabase.db.transaction>[0]
>[0];

async function record(
  transaction: Transaction,
  consumer: string,
  event: StreamEvent,
  appliedBy: string,
) {
  await transaction.execute(
    sql`insert into applied_events values (${consumer}, ${event.id}, ${appliedBy})`,
  );
}

/** Appends events of `type` to the catalog's outbox, in one transaction. */
async function append(type: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, index) => `${type}-${index}`);
  await catalog.database.db.transaction((transaction) =>
    appendEvents(
      transaction,
      ids.map((aggregateId) => ({ type, aggregateId, payload: {} })),
    ),
  );
  return ids;
}

async function applied(consumer: string) {
  return (await consumerDatabase.db.execute(sql`
    select e.event_id as "eventId", e.applied_by as "appliedBy"
      from applied_events e where consumer = ${consumer}`)) as unknown as Array<{
    eventId: string;
    appliedBy: string;
  }>;
}

async function storedPosition(consumer: string): Promise<string | null> {
  const rows = (await consumerDatabase.db.execute(sql`
    select position from event_consumer_positions
     where consumer = ${consumer} and source = 'catalog'`)) as unknown as Array<{
    position: string | null;
  }>;
  return rows[0]?.position ?? null;
}

async function eventIds(type: string): Promise<string[]> {
  const rows = (await catalog.database.db.execute(sql`
    select id from outbox_events where type = ${type}
     order by transaction_id, sequence`)) as unknown as Array<{ id: string }>;
  return rows.map((row) => row.id);
}

async function until(check: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function consumer(
  name: string,
  type: string,
  handle: (events: StreamEvent[], transaction: Transaction) => Promise<void>,
  logger = silent,
): EventConsumer {
  return startEventConsumer({
    name,
    caller: 'orders',
    source: { service: 'catalog', url: eventsUrl },
    types: [type],
    db: consumerDatabase.db,
    config,
    logger,
    handle,
    waitMs: 2_000,
    retryMinMs: 20,
    standbyCheckMs: 50,
  });
}

describe('startEventConsumer', () => {
  it('retries a batch whose handler failed', async () => {
    const name = 'fails-once';
    let calls = 0;
    await append('test.fails-once', 3);
    const running = consumer(name, 'test.fails-once', async (events, tx) => {
      calls += 1;
      for (const [index, event] of events.entries()) {
        await record(tx, name, event, 'one');
        if (calls === 1 && index === 1) throw new Error('handler failed');
      }
    });
    const ids = await eventIds('test.fails-once');
    try {
      await until(async () => (await storedPosition(name)) !== null);
    } finally {
      await running.stop();
    }
    expect(calls).toBe(2);
    expect((await applied(name)).map((row) => row.eventId)).toEqual(ids);
    const positions = (await consumerDatabase.db.execute(sql`
      select position from event_consumer_positions
       where consumer = ${name}`)) as unknown as Array<{ position: string }>;
    expect(positions).toHaveLength(1);
  });

  it('resumes from its stored position', async () => {
    const name = 'restarts';
    const type = 'test.restarts';
    const handle = async (events: StreamEvent[], tx: Transaction) => {
      for (const event of events) await record(tx, name, event, 'one');
    };
    let running = consumer(name, type, handle);
    await append(type, 2);
    await until(async () => (await applied(name)).length === 2);
    const stoppedAt = await storedPosition(name);
    await running.stop();

    await append(type, 3);
    expect(await storedPosition(name)).toBe(stoppedAt);
    running = consumer(name, type, handle);
    try {
      await until(async () => (await applied(name)).length >= 5);
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await running.stop();
    }
    expect((await applied(name)).map((row) => row.eventId)).toEqual(
      await eventIds(type),
    );
  });

  it('runs one replica at a time', async () => {
    const name = 'replicas';
    const type = 'test.replicas';
    const replica = (label: string) =>
      consumer(name, type, async (events, tx) => {
        for (const event of events) await record(tx, name, event, label);
      });
    const replicas = new Map([
      ['a', replica('a')],
      ['b', replica('b')],
    ]);
    try {
      for (let round = 0; round < 5; round += 1) await append(type, 2);
      await until(async () => (await applied(name)).length >= 10);
      const leader = (await applied(name))[0]!.appliedBy;
      expect(
        new Set((await applied(name)).map((row) => row.appliedBy)),
      ).toEqual(new Set([leader]));

      await replicas.get(leader)!.stop();
      replicas.delete(leader);
      for (let round = 0; round < 5; round += 1) await append(type, 2);
      await until(async () => (await applied(name)).length >= 20);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const rows = await applied(name);
      expect(rows.map((row) => row.eventId)).toEqual(await eventIds(type));
      expect(rows.slice(10).every((row) => row.appliedBy !== leader)).toBe(
        true,
      );
    } finally {
      await Promise.all(
        [...replicas.values()].map((running) => running.stop()),
      );
    }
  });

  it('backs off when the source fails', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    const running = startEventConsumer({
      name: 'unreachable',
      caller: 'orders',
      // Port 9 (discard) on the loopback: nothing listens there in tests.
      source: { service: 'shipments', url: 'http://127.0.0.1:9/events' },
      types: ['test.none'],
      db: consumerDatabase.db,
      config,
      logger: createLogger('test', 'warn', destination),
      handle: async () => {},
      retryMinMs: 100,
    });
    await until(async () => lines.length >= 2);
    await running.stop();
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first.msg).toMatch(/^event source shipments failed: /);
    expect(first).toMatchObject({
      consumer: 'unreachable',
      source: 'shipments',
      url: 'http://127.0.0.1:9/events',
    });
    expect(lines.join('')).not.toMatch(/eyJ|x-commerce-identity/i);
    // Two attempts 100 ms apart, not a tight loop.
    expect(lines.length).toBeLessThan(10);
  });
});
