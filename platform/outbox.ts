import { sql } from 'drizzle-orm';
import {
  bigserial,
  customType,
  index,
  jsonb,
  pgTable,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { uuidv7 } from './ids.js';

const xid8 = customType<{ data: string; driverData: string }>({
  dataType: () => 'xid8',
});

/**
 * Domain events of one service, written in the same transaction as the
 * change they describe. `transactionId` is the writing transaction's id and
 * `sequence` the order of writes; together they order the stream (see
 * `readCommittedEvents`).
 */
export const outboxEvents = pgTable(
  'outbox_events',
  {
    sequence: bigserial('sequence', { mode: 'number' }).primaryKey(),
    id: uuid('id').notNull().unique(),
    type: text('type').notNull(),
    aggregateId: text('aggregate_id').notNull(),
    payload: jsonb('payload').notNull(),
    transactionId: xid8('transaction_id')
      .notNull()
      .default(sql`pg_current_xact_id()`),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' })
      .notNull()
      .defaultNow(),
  },
  (table) => [
    index('outbox_events_stream_idx').on(table.transactionId, table.sequence),
  ],
);

export interface DomainEvent {
  type: string;
  aggregateId: string;
  payload: Record<string, unknown>;
}

type AnyPgDatabase = PgDatabase<PgQueryResultHKT, Record<string, unknown>>;

/**
 * Channel of the notification `appendEvents` sends. PostgreSQL delivers it
 * when the transaction commits, and never for one that rolls back, so
 * stream readers waiting for new events (platform/event-stream.ts) wake
 * without polling.
 */
export const OUTBOX_NOTIFY_CHANNEL = 'outbox_events';

/** Appends events inside the caller's transaction. */
export async function appendEvents(
  transaction: Pick<AnyPgDatabase, 'insert' | 'execute'>,
  events: DomainEvent[],
): Promise<void> {
  if (events.length === 0) return;
  await transaction.insert(outboxEvents).values(
    events.map((event) => ({
      id: uuidv7(),
      type: event.type,
      aggregateId: event.aggregateId,
      payload: event.payload,
    })),
  );
  // Notifications with the same payload in one transaction are sent once.
  await transaction.execute(
    sql`select pg_notify(${OUTBOX_NOTIFY_CHANNEL}, '')`,
  );
}

export interface StoredEvent {
  /**
   * Place of the event in the stream, `<transaction id>.<sequence>`. Pass
   * the last one seen to `readCommittedEvents` to continue after it.
   */
  position: string;
  id: string;
  type: string;
  aggregateId: string;
  payload: unknown;
  createdAt: string;
}

const POSITION_PATTERN = /^(\d{1,20})\.(\d{1,18})$/;

/** Splits a stream position into its transaction id and sequence. */
export function parseEventPosition(
  position: string,
): { transactionId: string; sequence: number } | null {
  const match = POSITION_PATTERN.exec(position);
  if (!match) return null;
  return { transactionId: match[1]!, sequence: Number(match[2]) };
}

/**
 * Orders two stream positions as the stream does: by transaction id, then
 * by sequence. Null, the start of the stream, sorts before every position.
 * Returns a negative number, zero or a positive number.
 */
export function compareEventPositions(
  a: string | null,
  b: string | null,
): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  const left = parseEventPosition(a);
  const right = parseEventPosition(b);
  if (!left || !right) {
    throw new RangeError(`Cannot compare event positions "${a}" and "${b}".`);
  }
  const leftId = BigInt(left.transactionId);
  const rightId = BigInt(right.transactionId);
  if (leftId !== rightId) return leftId < rightId ? -1 : 1;
  return Math.sign(left.sequence - right.sequence);
}

/**
 * Reads up to `limit` committed events after `after` (null reads from the
 * start), ordered by writing transaction, then by sequence.
 *
 * Sequence numbers alone cannot order a stream: a transaction that took
 * sequence 7 can commit after one that took 8, and a reader that had passed
 * 8 would skip 7. So the stream only contains rows of transactions older
 * than the snapshot's xmin. Every such transaction has ended, and every
 * transaction still in flight or yet to start has an id at or above xmin,
 * so it sorts after everything already read.
 */
export async function readCommittedEvents(
  db: Pick<AnyPgDatabase, 'execute'>,
  after: string | null,
  limit: number,
): Promise<StoredEvent[]> {
  const cursor = after === null ? null : parseEventPosition(after);
  if (after !== null && cursor === null) {
    throw new RangeError(
      `Invalid event position "${after}": use a position returned with an event, such as "7431.12".`,
    );
  }
  const afterCondition = cursor
    ? sql`and (transaction_id, sequence) > (${cursor.transactionId}::xid8, ${cursor.sequence})`
    : sql``;
  const result = await db.execute(sql`
    select transaction_id::text as "transactionId", sequence, id, type,
           aggregate_id as "aggregateId", payload, created_at as "createdAt"
      from outbox_events
     where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       ${afterCondition}
     order by transaction_id, sequence
     limit ${limit}`);
  return (result as unknown as Array<Record<string, unknown>>).map((row) => ({
    position: `${row.transactionId}.${row.sequence}`,
    id: String(row.id),
    type: String(row.type),
    aggregateId: String(row.aggregateId),
    payload: row.payload,
    createdAt: new Date(String(row.createdAt)).toISOString(),
  }));
}

/**
 * Returns the position of the last event readable now, or null while the
 * stream is empty. Every event read after it was committed later or is
 * still to come.
 */
export async function readStreamEnd(
  db: Pick<AnyPgDatabase, 'execute'>,
): Promise<string | null> {
  const result = await db.execute(sql`
    select transaction_id::text as "transactionId", sequence
      from outbox_events
     where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
     order by transaction_id desc, sequence desc
     limit 1`);
  const row = (result as unknown as Array<Record<string, unknown>>)[0];
  return row ? `${row.transactionId}.${row.sequence}` : null;
}
