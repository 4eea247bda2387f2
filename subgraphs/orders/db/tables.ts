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
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

export { outboxEvents } from '../../../platform/outbox.js';

export const orderFinancialStatus = pgEnum('order_financial_status', [
  'PENDING',
  'AUTHORIZED',
  'PAID',
  'PARTIALLY_REFUNDED',
  'REFUNDED',
  'CANCELLED',
]);

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .defaultNow(),
};

export const customers = pgTable(
  'customers',
  {
    id: uuid('id').primaryKey(),
    email: text('email').notNull(),
    name: text('name'),
    /**
     * `scrypt$N$r$p$salt$hash` (platform/passwords.ts), or null for a customer
     * without an account, such as one created by a guest checkout.
     */
    passwordHash: text('password_hash'),
    ...timestamps,
  },
  // Email addresses are compared without case, so one person with
  // differently cased spellings stays one customer.
  (table) => [
    uniqueIndex('customers_email_idx').on(sql`lower(${table.email})`),
  ],
);

export const orders = pgTable(
  'orders',
  {
    id: uuid('id').primaryKey(),
    /** Sequential number shown to people, from 1001. */
    number: integer('number')
      .notNull()
      .unique()
      .generatedAlwaysAsIdentity({ startWith: 1001 }),
    /** Null for a guest checkout. */
    customerId: uuid('customer_id').references(() => customers.id),
    email: text('email').notNull(),
    financialStatus: orderFinancialStatus('financial_status')
      .notNull()
      .default('PENDING'),
    currencyCode: text('currency_code').notNull(),
    /** Minor units of `currencyCode`. */
    totalAmount: bigint('total_amount', { mode: 'number' }).notNull(),
    ...timestamps,
  },
  (table) => [
    index('orders_customer_idx').on(table.customerId, table.id),
    check('orders_total_not_negative', sql`${table.totalAmount} >= 0`),
  ],
);

/**
 * One ordered item. `variantId` names a variant in the catalog's database,
 * so it has no foreign key. `sku` and the unit price are copied at checkout,
 * so the order keeps them when the catalog changes.
 */
export const orderLines = pgTable(
  'order_lines',
  {
    id: uuid('id').primaryKey(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    variantId: uuid('variant_id').notNull(),
    sku: text('sku').notNull(),
    /** Place of the line in the order, from 0. */
    position: integer('position').notNull(),
    quantity: integer('quantity').notNull(),
    /** Minor units of the order's currency. */
    unitPriceAmount: bigint('unit_price_amount', { mode: 'number' }).notNull(),
    createdAt: timestamps.createdAt,
  },
  (table) => [
    index('order_lines_order_idx').on(table.orderId, table.position),
    check('order_lines_quantity_positive', sql`${table.quantity} > 0`),
    check(
      'order_lines_unit_price_not_negative',
      sql`${table.unitPriceAmount} >= 0`,
    ),
  ],
);

/**
 * Refresh tokens of customers, stored as SHA-256 hashes. Each sign-in
 * starts a family, and every refresh marks its token used and adds the next
 * token to the same family. Presenting a used token revokes the family.
 */
export const customerRefreshTokens = pgTable(
  'customer_refresh_tokens',
  {
    id: uuid('id').primaryKey(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    /** Id of the family's first token. */
    familyId: uuid('family_id').notNull(),
    /** SHA-256 of the token, base64url. */
    tokenHash: text('token_hash').notNull().unique(),
    expiresAt: timestamp('expires_at', {
      withTimezone: true,
      mode: 'date',
    }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true, mode: 'date' }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
    createdAt: timestamps.createdAt,
  },
  (table) => [
    index('customer_refresh_tokens_family_idx').on(table.familyId),
    index('customer_refresh_tokens_customer_idx').on(table.customerId),
  ],
);

export type CustomerRow = typeof customers.$inferSelect;
export type OrderRow = typeof orders.$inferSelect;
export type OrderLineRow = typeof orderLines.$inferSelect;
export type CustomerRefreshTokenRow = typeof customerRefreshTokens.$inferSelect;
