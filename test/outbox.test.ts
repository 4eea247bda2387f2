import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import { serviceDatabaseUrl } from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import { appendEvents, readCommittedEvents } from '../platform/outbox.js';
import { prepareSubgraphDatabase } from '../platform/subgraph-service.js';
import { catalogSubgraph } from '../subgraphs/catalog/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';

const config = createTestConfig();
const url = serviceDatabaseUrl(config, 'catalog');
let sql: postgres.Sql;

beforeAll(async () => {
  await prepareSubgraphDatabase(
    catalogSubgraph,
    url,
    createLogger('test', 'silent'),
  );
  sql = postgres(url, { max: 4, onnotice: () => {} });
});

afterAll(async () => {
  await sql?.end();
  await dropTestDatabases(config);
});

const event = (aggregateId: string) => ({
  type: 'test.happened',
  aggregateId,
  payload: { aggregateId },
});

describe('readCommittedEvents', () => {
  it('holds back events behind a transaction in flight', async () => {
    const db = drizzle(sql);
    let releaseFirst!: () => void;
    const firstMayCommit = new Promise<void>(
      (resolve) => (releaseFirst = resolve),
    );
    let firstWrote!: () => void;
    const firstHasWritten = new Promise<void>(
      (resolve) => (firstWrote = resolve),
    );

    // The first transaction takes the lower position and stays open.
    const first = db.transaction(async (transaction) => {
      await appendEvents(transaction, [event('first')]);
      firstWrote();
      await firstMayCommit;
    });
    await firstHasWritten;
    await db.transaction((transaction) =>
      appendEvents(transaction, [event('second')]),
    );

    expect(await readCommittedEvents(db, 0, 100)).toEqual([]);

    releaseFirst();
    await first;
    const events = await readCommittedEvents(db, 0, 100);
    expect(events.map((stored) => stored.aggregateId)).toEqual([
      'first',
      'second',
    ]);
    expect(events[1]!.position).toBeGreaterThan(events[0]!.position);
    expect(
      await readCommittedEvents(db, events[0]!.position, 100),
    ).toHaveLength(1);
  });
});
