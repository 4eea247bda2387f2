import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { sql as raw } from 'drizzle-orm';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { serviceDatabaseUrl } from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import { appendEvents, readCommittedEvents } from '../platform/outbox.js';
import { prepareSubgraphDatabase } from '../platform/subgraph-service.js';
import { catalogSubgraph } from '../subgraphs/catalog/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';

const config = createTestConfig();
const url = serviceDatabaseUrl(config, 'catalog');
let client: postgres.Sql;
let db: PostgresJsDatabase;

beforeAll(async () => {
  await prepareSubgraphDatabase(
    catalogSubgraph,
    url,
    createLogger('test', 'silent'),
  );
  client = postgres(url, { max: 4, onnotice: () => {} });
  db = drizzle(client);
});

afterAll(async () => {
  await client?.end();
  await dropTestDatabases(config);
});

const event = (aggregateId: string) => ({
  type: 'test.happened',
  aggregateId,
  payload: { aggregateId },
});

/** A promise with its resolve function, to hold a transaction open. */
function gate() {
  let open!: () => void;
  const passed = new Promise<void>((resolve) => (open = resolve));
  return { open, passed };
}

/**
 * Runs a transaction in steps: `takeId` makes PostgreSQL assign its
 * transaction id, `write` appends one event, and the transaction commits
 * when `commit` opens.
 */
function steppedTransaction(aggregateId: string) {
  const takeId = gate();
  const idTaken = gate();
  const write = gate();
  const written = gate();
  const commit = gate();
  const done = db.transaction(async (transaction) => {
    await takeId.passed;
    await transaction.execute(raw`select pg_current_xact_id()`);
    idTaken.open();
    await write.passed;
    await appendEvents(transaction, [event(aggregateId)]);
    written.open();
    await commit.passed;
  });
  return {
    async takeId() {
      takeId.open();
      await idTaken.passed;
    },
    async write() {
      write.open();
      await written.passed;
    },
    async commit() {
      commit.open();
      await done;
    },
  };
}

/**
 * Reads until `count` events arrive. xmin is cluster-wide, so a transaction
 * of another test file on the same server can hold events back for a while.
 */
async function readAtLeast(after: string | null, count: number) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const events = await readCommittedEvents(db, after, 100);
    if (events.length >= count || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('readCommittedEvents', () => {
  it('holds back events behind an older open transaction', async () => {
    const older = steppedTransaction('older');
    const newer = steppedTransaction('newer');
    await older.takeId();
    await newer.takeId();
    await older.write();
    await newer.write();
    await newer.commit();

    expect(await readCommittedEvents(db, null, 100)).toEqual([]);

    await older.commit();
    const events = await readAtLeast(null, 2);
    expect(events.map((stored) => stored.aggregateId)).toEqual([
      'older',
      'newer',
    ]);
    const rest = await readCommittedEvents(db, events[0]!.position, 100);
    expect(rest.map((stored) => stored.aggregateId)).toEqual(['newer']);
  });

  it('delivers a late commit with a lower sequence', async () => {
    const start = await readAtLeast(null, 2);
    const last = start.at(-1)!.position;

    // `first` writes the lower sequence number but commits last.
    const second = steppedTransaction('second');
    const first = steppedTransaction('first');
    await second.takeId();
    await first.takeId();
    await first.write();
    await second.write();
    await second.commit();

    const seen = await readAtLeast(last, 1);
    expect(seen.map((stored) => stored.aggregateId)).toEqual(['second']);

    await first.commit();
    const caughtUp = await readAtLeast(seen[0]!.position, 1);
    expect(caughtUp.map((stored) => stored.aggregateId)).toEqual(['first']);
  });

  it('rejects a malformed position', async () => {
    await expect(readCommittedEvents(db, 'abc', 10)).rejects.toThrow(
      'Invalid event position "abc": use a position returned with an event, such as "7431.12".',
    );
  });
});
