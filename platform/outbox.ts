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
 * change they describe. `position` orders them; `transactionId` records the
 * writing transaction so a reader can hold back rows that a transaction
 * still in flight could precede (see `readCommittedEvents`).
 */
export const outboxEvents = pgTable(
  'outbox_events',
  {
    position: bigserial('position', { mode: 'number' }).primaryKey(),
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
  (table) => [index('outbox_events_type_idx').on(table.type, table.position)],
);

export interface DomainEvent {
  type: string;
  aggregateId: string;
  payload: Record<string, unknown>;
}

type AnyPgDatabase = PgDatabase<PgQueryResultHKT, Record<string, unknown>>;

/** Appends events inside the caller's transaction. */
export async function appendEvents(
  transaction: Pick<AnyPgDatabase, 'insert'>,
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
}

export interface StoredEvent {
  position: number;
  id: string;
  type: string;
  aggregateId: string;
  payload: unknown;
  createdAt: string;
}

/**
 * Reads events after `afterPosition`, in position order, that no transaction
 * still in flight can precede. Positions come from a sequence, so a
 * transaction that took position 7 can commit after one that took 8. Rows
 * written by transactions at or above the snapshot's xmin are therefore
 * held back until every older transaction has ended, and so are all rows
 * after them.
 */
export async function readCommittedEvents(
  db: Pick<AnyPgDatabase, 'execute'>,
  afterPosition: number,
  limit: number,
): Promise<StoredEvent[]> {
  const result = await db.execute(sql`
    select position, id, type, aggregate_id as "aggregateId", payload,
           created_at as "createdAt"
      from outbox_events
     where position > ${afterPosition}
       and position < coalesce(
             (select min(position) from outbox_events
               where position > ${afterPosition}
                 and transaction_id >= pg_snapshot_xmin(pg_current_snapshot())),
             9223372036854775807)
     order by position
     limit ${limit}`);
  return (result as unknown as Array<Record<string, unknown>>).map((row) => ({
    position: Number(row.position),
    id: String(row.id),
    type: String(row.type),
    aggregateId: String(row.aggregateId),
    payload: row.payload,
    createdAt: new Date(String(row.createdAt)).toISOString(),
  }));
}
