import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';
import type { MarketplaceOrder } from '../adapters/adapter.js';
import { marketplaceConnections } from '../db/tables.js';

const timestamptz = (name: string) =>
  timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * Where each connection's order polling stands: the adapter's cursor after
 * the last page read, and when to poll next. Pollers lock a row with
 * FOR UPDATE SKIP LOCKED, so replicas never poll one connection at once.
 */
export const marketplaceOrderPolls = pgTable('marketplace_order_polls', {
  connectionId: uuid('connection_id')
    .primaryKey()
    .references(() => marketplaceConnections.id, { onDelete: 'cascade' }),
  /** The adapter's cursor; null before the first page. */
  cursor: text('cursor'),
  nextPollAt: timestamptz('next_poll_at').notNull().defaultNow(),
  /** Polls failed in a row; sets the backoff. */
  failures: integer('failures').notNull().default(0),
  lastError: text('last_error'),
  lastPolledAt: timestamptz('last_polled_at'),
  updatedAt: timestamptz('updated_at').notNull().defaultNow(),
});

/** An order line of a marketplace order and the shop's order line it became. */
export interface ImportedLineValue {
  externalLineId: string;
  orderLineId: string;
  sku: string;
  quantity: number;
}

/**
 * A paid order read from a marketplace, kept as fetched until the orders
 * service has recorded it. Unique per connection and marketplace order id,
 * so an order fetched twice is imported once.
 */
export const marketplaceOrders = pgTable(
  'marketplace_orders',
  {
    id: uuid('id').primaryKey(),
    connectionId: uuid('connection_id')
      .notNull()
      .references(() => marketplaceConnections.id, { onDelete: 'cascade' }),
    externalOrderId: text('external_order_id').notNull(),
    /** PENDING until the orders service recorded it, then IMPORTED. */
    status: text('status', { enum: ['PENDING', 'IMPORTED'] })
      .notNull()
      .default('PENDING'),
    /** The order as the adapter returned it. */
    order: jsonb('order').$type<MarketplaceOrder>().notNull(),
    /** The order in the orders service; null until imported. */
    orderId: uuid('order_id'),
    orderNumber: integer('order_number'),
    /** True when orders recorded it without stock, for staff to resolve. */
    needsAttention: boolean('needs_attention').notNull().default(false),
    /** Marketplace line ids and the order lines they became. */
    lines: jsonb('lines').$type<ImportedLineValue[]>().notNull().default([]),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamptz('next_attempt_at').notNull().defaultNow(),
    lastError: text('last_error'),
    importedAt: timestamptz('imported_at'),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  },
  (table) => [
    unique('marketplace_orders_connection_external_key').on(
      table.connectionId,
      table.externalOrderId,
    ),
    unique('marketplace_orders_order_key').on(table.orderId),
    index('marketplace_orders_pending_idx')
      .on(table.nextAttemptAt)
      .where(sql`${table.status} = 'PENDING'`),
  ],
);

/**
 * A shipment of an imported order to report to its marketplace, one row
 * per shipment, so each shipment is reported once. PENDING until the
 * adapter accepted it, then PUSHED.
 */
export const marketplaceFulfillments = pgTable(
  'marketplace_fulfillments',
  {
    shipmentId: uuid('shipment_id').primaryKey(),
    marketplaceOrderId: uuid('marketplace_order_id')
      .notNull()
      .references(() => marketplaceOrders.id, { onDelete: 'cascade' }),
    carrier: text('carrier').notNull(),
    trackingNumber: text('tracking_number').notNull(),
    /** Marketplace line ids and units shipped; empty means every line. */
    lines: jsonb('lines')
      .$type<{ externalLineId: string; quantity: number }[]>()
      .notNull()
      .default([]),
    shippedAt: timestamptz('shipped_at').notNull(),
    status: text('status', { enum: ['PENDING', 'PUSHED'] })
      .notNull()
      .default('PENDING'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamptz('next_attempt_at').notNull().defaultNow(),
    lastError: text('last_error'),
    pushedAt: timestamptz('pushed_at'),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  },
  (table) => [
    index('marketplace_fulfillments_order_idx').on(table.marketplaceOrderId),
    index('marketplace_fulfillments_pending_idx')
      .on(table.nextAttemptAt)
      .where(sql`${table.status} = 'PENDING'`),
    check(
      'marketplace_fulfillments_attempts_not_negative',
      sql`${table.attempts} >= 0`,
    ),
  ],
);

export type MarketplaceOrderRow = typeof marketplaceOrders.$inferSelect;
export type MarketplaceFulfillmentRow =
  typeof marketplaceFulfillments.$inferSelect;
