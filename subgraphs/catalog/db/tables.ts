import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

export { outboxEvents } from '../../../platform/outbox.js';

export const productStatus = pgEnum('product_status', [
  'ACTIVE',
  'DRAFT',
  'ARCHIVED',
]);
export const productType = pgEnum('product_type', [
  'STANDARD',
  'GROUPED',
  'EXTERNAL',
]);
export const weightUnit = pgEnum('weight_unit', [
  'GRAMS',
  'KILOGRAMS',
  'POUNDS',
  'OUNCES',
]);
export const lengthUnit = pgEnum('length_unit', ['CENTIMETERS', 'INCHES']);
export const inventoryPolicy = pgEnum('inventory_policy', ['DENY', 'CONTINUE']);
export const stockAdjustmentReason = pgEnum('stock_adjustment_reason', [
  'RECEIVED',
  'CORRECTION',
  'CYCLE_COUNT',
  'DAMAGED',
  'LOST',
  'RETURNED',
  'IMPORT',
  'OTHER',
  /** Units taken off on-hand stock when a reservation is committed. */
  'SOLD',
]);
export const stockReservationStatus = pgEnum('stock_reservation_status', [
  'ACTIVE',
  'COMMITTED',
  'RELEASED',
  'EXPIRED',
]);

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .defaultNow(),
};

export interface ProductOptionValue {
  name: string;
  values: string[];
}
export interface ImageValue {
  url: string;
  altText: string | null;
}
export interface SelectedOptionValue {
  name: string;
  /** Null means the variant matches any value of the option. */
  value: string | null;
}

export const products = pgTable(
  'products',
  {
    id: uuid('id').primaryKey(),
    handle: text('handle').notNull().unique(),
    title: text('title').notNull(),
    description: text('description').notNull().default(''),
    summary: text('summary'),
    status: productStatus('status').notNull().default('DRAFT'),
    productType: productType('product_type').notNull().default('STANDARD'),
    vendor: text('vendor'),
    /** False for products hidden from listings and search. */
    listed: boolean('listed').notNull().default(true),
    externalUrl: text('external_url'),
    externalButtonText: text('external_button_text'),
    options: jsonb('options')
      .$type<ProductOptionValue[]>()
      .notNull()
      .default([]),
    images: jsonb('images').$type<ImageValue[]>().notNull().default([]),
    categories: text('categories')
      .array()
      .notNull()
      .default(sql`'{}'`),
    tags: text('tags')
      .array()
      .notNull()
      .default(sql`'{}'`),
    /**
     * Source of an imported product, such as `woocommerce:sku:woo-hoodie`
     * or `shopify:handle:hoodie`. Re-imports match on it, so renaming a
     * product in the source file updates it instead of adding a copy.
     */
    sourceRef: text('source_ref').unique(),
    ...timestamps,
  },
  (table) => [
    index('products_listing_idx').on(table.status, table.listed, table.id),
    index('products_categories_idx').using('gin', table.categories),
  ],
);

/** Members of a grouped product, in display order. */
export const productGroupMembers = pgTable(
  'product_group_members',
  {
    groupId: uuid('group_id')
      .notNull()
      .references(() => products.id, { onDelete: 'cascade' }),
    memberId: uuid('member_id')
      .notNull()
      .references(() => products.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
  },
  (table) => [primaryKey({ columns: [table.groupId, table.memberId] })],
);

export const variants = pgTable(
  'variants',
  {
    id: uuid('id').primaryKey(),
    productId: uuid('product_id')
      .notNull()
      .references(() => products.id, { onDelete: 'cascade' }),
    sku: text('sku').notNull().unique(),
    title: text('title').notNull(),
    position: integer('position').notNull().default(0),
    selectedOptions: jsonb('selected_options')
      .$type<SelectedOptionValue[]>()
      .notNull()
      .default([]),
    /** Minor units of `currencyCode`; null when the variant has no price. */
    priceAmount: bigint('price_amount', { mode: 'number' }),
    compareAtAmount: bigint('compare_at_amount', { mode: 'number' }),
    currencyCode: text('currency_code').notNull(),
    /** False for variants that cannot be bought here (external products). */
    purchasable: boolean('purchasable').notNull().default(true),
    tracksInventory: boolean('tracks_inventory').notNull().default(true),
    inventoryPolicy: inventoryPolicy('inventory_policy')
      .notNull()
      .default('DENY'),
    requiresShipping: boolean('requires_shipping').notNull().default(true),
    downloadable: boolean('downloadable').notNull().default(false),
    weightValue: numeric('weight_value', { precision: 12, scale: 4 }),
    weightUnit: weightUnit('weight_unit'),
    length: numeric('length', { precision: 12, scale: 4 }),
    width: numeric('width', { precision: 12, scale: 4 }),
    height: numeric('height', { precision: 12, scale: 4 }),
    dimensionUnit: lengthUnit('dimension_unit'),
    barcode: text('barcode'),
    imageUrl: text('image_url'),
    ...timestamps,
  },
  (table) => [
    index('variants_product_idx').on(table.productId, table.position),
    check('variants_price_not_negative', sql`${table.priceAmount} >= 0`),
  ],
);

export const locations = pgTable('locations', {
  id: uuid('id').primaryKey(),
  code: text('code').notNull().unique(),
  name: text('name').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .defaultNow(),
});

/**
 * Stock of one variant at one location. `reserved` is held for checkouts
 * that have not been fulfilled yet; available = onHand - reserved.
 */
export const stockLevels = pgTable(
  'stock_levels',
  {
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id, { onDelete: 'cascade' }),
    locationId: uuid('location_id')
      .notNull()
      .references(() => locations.id),
    onHand: integer('on_hand').notNull().default(0),
    reserved: integer('reserved').notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.variantId, table.locationId] }),
    check('stock_levels_reserved_not_negative', sql`${table.reserved} >= 0`),
  ],
);

/** Append-only history of every on-hand change, with its reason. */
export const stockAdjustments = pgTable(
  'stock_adjustments',
  {
    id: uuid('id').primaryKey(),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id, { onDelete: 'cascade' }),
    locationId: uuid('location_id')
      .notNull()
      .references(() => locations.id),
    delta: integer('delta').notNull(),
    quantityAfter: integer('quantity_after').notNull(),
    reason: stockAdjustmentReason('reason').notNull(),
    note: text('note'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
  },
  (table) => [
    index('stock_adjustments_variant_idx').on(table.variantId, table.createdAt),
  ],
);

/**
 * One checkout line as the catalog priced it when the reservation was made.
 * `unitPriceAmount` is in minor units of `currencyCode`.
 */
export interface PricedLineValue {
  sku: string;
  variantId: string;
  quantity: number;
  unitPriceAmount: number;
  currencyCode: string;
  title: string;
  requiresShipping: boolean;
  quantityAvailable: number | null;
  /**
   * The variant's weight per unit, the value a trimmed decimal string;
   * null without one, absent in reservations made before it was recorded.
   */
  weight?: {
    value: string;
    unit: (typeof weightUnit.enumValues)[number];
  } | null;
}

/**
 * Stock held for one order. The unique `order_id` makes every reservation
 * call idempotent: a repeated call finds the row and does not reserve twice.
 */
export const stockReservations = pgTable(
  'stock_reservations',
  {
    id: uuid('id').primaryKey(),
    /** Order id of the orders service. */
    orderId: uuid('order_id').notNull().unique(),
    status: stockReservationStatus('status').notNull(),
    /** When an ACTIVE reservation expires; null once confirmed. */
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    /** Lines as priced at reservation, one per SKU, in request order. */
    pricedLines: jsonb('priced_lines')
      .$type<PricedLineValue[]>()
      .notNull()
      .default([]),
    ...timestamps,
  },
  (table) => [
    // The expiry sweep reads ACTIVE reservations by expiry.
    index('stock_reservations_expiry_idx')
      .on(table.expiresAt)
      .where(sql`${table.status} = 'ACTIVE'`),
  ],
);

/**
 * Units a reservation holds of one variant at one location. They are
 * counted in `stock_levels.reserved` while the reservation is ACTIVE.
 */
export const stockReservationLines = pgTable(
  'stock_reservation_lines',
  {
    reservationId: uuid('reservation_id')
      .notNull()
      .references(() => stockReservations.id, { onDelete: 'cascade' }),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id),
    locationId: uuid('location_id')
      .notNull()
      .references(() => locations.id),
    quantity: integer('quantity').notNull(),
  },
  (table) => [
    primaryKey({
      columns: [table.reservationId, table.variantId, table.locationId],
    }),
    check(
      'stock_reservation_lines_quantity_positive',
      sql`${table.quantity} > 0`,
    ),
  ],
);

export type ProductRow = typeof products.$inferSelect;
export type VariantRow = typeof variants.$inferSelect;
export type LocationRow = typeof locations.$inferSelect;
export type StockLevelRow = typeof stockLevels.$inferSelect;
export type StockAdjustmentRow = typeof stockAdjustments.$inferSelect;
export type StockReservationRow = typeof stockReservations.$inferSelect;
export type StockReservationLineRow = typeof stockReservationLines.$inferSelect;

export * from './reservation-commit-tables.js';
