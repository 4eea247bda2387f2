import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';

import { eventConsumerPositionsTable } from '../../../platform/event-consumer.js';

export { outboxEvents } from '../../../platform/outbox.js';

/** Stored positions of the catalog stream consumer (subgraphs/marketplace/sync). */
export const eventConsumerPositions = eventConsumerPositionsTable();

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
    /** Units offered of variants that do not track stock. */
    untrackedQuantity: integer('untracked_quantity').notNull().default(0),
    /**
     * The credentials as JSON, encrypted with platform/secrets.ts under the
     * context `marketplace_connections:<id>:credentials`; null when none.
     */
    credentialsEncrypted: text('credentials_encrypted'),
    /** Last 4 characters of the client id, shown to tell accounts apart. */
    credentialsHint: text('credentials_hint'),
    settings: jsonb('settings')
      .$type<MarketplaceSettingsValue>()
      .notNull()
      .default({}),
    /** Price rule: percentage adjustment of the catalog price, 100 = 1 %. */
    priceAdjustmentBasisPoints: integer('price_adjustment_basis_points')
      .notNull()
      .default(0),
    /** Price rule: minor units added after the percentage; may be negative. */
    priceFixedAdjustment: bigint('price_fixed_adjustment', { mode: 'number' })
      .notNull()
      .default(0),
    lastTestedAt: timestamp('last_tested_at', {
      withTimezone: true,
      mode: 'date',
    }),
    lastTestOk: boolean('last_test_ok'),
    lastTestMessage: text('last_test_message'),
    ...timestamps,
  },
  (table) => [
    check(
      'marketplace_connections_safety_stock_not_negative',
      sql`${table.safetyStock} >= 0`,
    ),
    check(
      'marketplace_connections_untracked_quantity_not_negative',
      sql`${table.untrackedQuantity} >= 0`,
    ),
  ],
);

/** Marketplace-specific settings of a connection; every field is optional. */
export interface MarketplaceSettingsValue {
  marketplaceId?: string | null;
  fulfillmentPolicyId?: string | null;
  paymentPolicyId?: string | null;
  returnPolicyId?: string | null;
  merchantLocationKey?: string | null;
  categoryId?: string | null;
}

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
    /** The variant's SKU as last read from the catalog; null until synced. */
    sku: text('sku'),
    /**
     * Price set by staff in place of the connection's price rule, in minor
     * units of `priceOverrideCurrency`.
     */
    priceOverrideAmount: bigint('price_override_amount', { mode: 'number' }),
    priceOverrideCurrency: text('price_override_currency'),
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
    check(
      'listings_price_override_has_currency',
      sql`(${table.priceOverrideAmount} is null) = (${table.priceOverrideCurrency} is null)`,
    ),
    check(
      'listings_price_override_not_negative',
      sql`${table.priceOverrideAmount} >= 0`,
    ),
  ],
);

/**
 * One pending push per listing. Every change that affects a listing
 * upserts its row and increments `version`, so many changes before a push
 * coalesce into one. The worker deletes the row after a successful push
 * only when `version` is still the one it claimed.
 */
export const listingSyncTasks = pgTable(
  'listing_sync_tasks',
  {
    listingId: uuid('listing_id')
      .primaryKey()
      .references(() => listings.id, { onDelete: 'cascade' }),
    /** Incremented by every change recorded in the task. */
    version: integer('version').notNull().default(1),
    /**
     * The `version` of the latest change that needs a full publish (price
     * or content); null when a quantity update is enough.
     */
    publishVersion: integer('publish_version'),
    /** Kinds of change recorded since the last push, such as `stock`, `content`. */
    changes: text('changes')
      .array()
      .notNull()
      .default(sql`'{}'`),
    /** The earliest time the next push may run. */
    dueAt: timestamp('due_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
    /**
     * Set while a worker pushes the task; the task cannot be claimed again
     * before this time, so a worker that died releases it after its lease.
     */
    claimedUntil: timestamp('claimed_until', {
      withTimezone: true,
      mode: 'date',
    }),
    /** Failed pushes since the last success. */
    attempts: integer('attempts').notNull().default(0),
    ...timestamps,
  },
  (table) => [index('listing_sync_tasks_due_idx').on(table.dueAt)],
);

/** Records of the sandbox marketplace adapter, one JSON value per key. */
export const sandboxMarketplaceRecords = pgTable(
  'sandbox_marketplace_records',
  {
    key: text('key').primaryKey(),
    value: jsonb('value').notNull(),
    updatedAt: timestamps.updatedAt,
  },
);

export type MarketplaceConnectionRow =
  typeof marketplaceConnections.$inferSelect;
export type ListingRow = typeof listings.$inferSelect;
export type ListingSyncTaskRow = typeof listingSyncTasks.$inferSelect;

// Order import, fulfilment reports and product feeds keep their tables
// beside their code; they are part of this database's schema.
export * from '../orders/tables.js';
export * from '../feeds/tables.js';
