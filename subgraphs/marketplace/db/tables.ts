import { sql } from 'drizzle-orm';
import {
  bigint,
  check,
  index,
  integer,
  pgEnum,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';

export { outboxEvents } from '../../../platform/outbox.js';

export const marketplaceKind = pgEnum('marketplace_kind', ['SANDBOX', 'EBAY']);
export const marketplaceConnectionStatus = pgEnum(
  'marketplace_connection_status',
  ['ACTIVE', 'PAUSED', 'DISCONNECTED'],
);
export const listingStatus = pgEnum('listing_status', [
  'DRAFT',
  'PENDING',
  'ACTIVE',
  'ERROR',
  'ENDED',
]);

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .defaultNow(),
};

export const marketplaceConnections = pgTable(
  'marketplace_connections',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    kind: marketplaceKind('kind').notNull(),
    status: marketplaceConnectionStatus('status').notNull().default('ACTIVE'),
    /** Units held back from each listing's quantity. */
    safetyStock: integer('safety_stock').notNull().default(0),
    ...timestamps,
  },
  (table) => [
    check(
      'marketplace_connections_safety_stock_not_negative',
      sql`${table.safetyStock} >= 0`,
    ),
  ],
);

/**
 * A product or variant offered on one connection. `productId` and
 * `variantId` name catalog rows in another database, so they have no
 * foreign keys. A connection lists each variant at most once.
 */
export const listings = pgTable(
  'listings',
  {
    id: uuid('id').primaryKey(),
    connectionId: uuid('connection_id')
      .notNull()
      .references(() => marketplaceConnections.id, { onDelete: 'cascade' }),
    productId: uuid('product_id').notNull(),
    /** Null for a listing of the whole product. */
    variantId: uuid('variant_id'),
    /** The marketplace's ID of the listing; null until it is published. */
    externalId: text('external_id'),
    /** Minor units of `currencyCode`; null until a price is set. */
    priceAmount: bigint('price_amount', { mode: 'number' }),
    currencyCode: text('currency_code'),
    quantity: integer('quantity').notNull().default(0),
    status: listingStatus('status').notNull().default('DRAFT'),
    lastSyncedAt: timestamp('last_synced_at', {
      withTimezone: true,
      mode: 'date',
    }),
    lastError: text('last_error'),
    ...timestamps,
  },
  (table) => [
    unique('listings_connection_variant_key').on(
      table.connectionId,
      table.variantId,
    ),
    unique('listings_connection_external_key').on(
      table.connectionId,
      table.externalId,
    ),
    index('listings_product_idx').on(table.productId, table.createdAt),
    index('listings_variant_idx').on(table.variantId, table.createdAt),
    check('listings_quantity_not_negative', sql`${table.quantity} >= 0`),
    check(
      'listings_price_has_currency',
      sql`(${table.priceAmount} is null) = (${table.currencyCode} is null)`,
    ),
    check('listings_price_not_negative', sql`${table.priceAmount} >= 0`),
  ],
);

export type MarketplaceConnectionRow =
  typeof marketplaceConnections.$inferSelect;
export type ListingRow = typeof listings.$inferSelect;
