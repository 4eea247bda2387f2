import { sql } from 'drizzle-orm';
import {
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { locations, stockReservations, variants } from './tables.js';

/**
 * A part of an order's reservation sold by one commit key, such as a
 * shipment id. The primary key makes each commit key take effect once: a
 * repeated commit finds the row and changes nothing. `uncommittedAt` is set
 * when the units were put back; a row that has it and no lines records an
 * uncommit that arrived before any commit, so a late commit with that key
 * sells nothing.
 */
export const stockReservationCommits = pgTable(
  'stock_reservation_commits',
  {
    commitKey: text('commit_key').primaryKey(),
    reservationId: uuid('reservation_id')
      .notNull()
      .references(() => stockReservations.id, { onDelete: 'cascade' }),
    /** Order id of the orders service. */
    orderId: uuid('order_id').notNull(),
    committedAt: timestamp('committed_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
    uncommittedAt: timestamp('uncommitted_at', {
      withTimezone: true,
      mode: 'date',
    }),
  },
  (table) => [index('stock_reservation_commits_order_idx').on(table.orderId)],
);

/** Units one commit took off a stock row: on-hand and reserved both. */
export const stockReservationCommitLines = pgTable(
  'stock_reservation_commit_lines',
  {
    commitKey: text('commit_key')
      .notNull()
      .references(() => stockReservationCommits.commitKey, {
        onDelete: 'cascade',
      }),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id),
    locationId: uuid('location_id')
      .notNull()
      .references(() => locations.id),
    /** The variant's SKU at the time of the commit. */
    sku: text('sku').notNull(),
    quantity: integer('quantity').notNull(),
  },
  (table) => [
    primaryKey({
      columns: [table.commitKey, table.variantId, table.locationId],
    }),
    check(
      'stock_reservation_commit_lines_quantity_positive',
      sql`${table.quantity} > 0`,
    ),
  ],
);

export type StockReservationCommitRow =
  typeof stockReservationCommits.$inferSelect;
export type StockReservationCommitLineRow =
  typeof stockReservationCommitLines.$inferSelect;
