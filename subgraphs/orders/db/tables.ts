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
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

export { outboxEvents } from '../../../platform/outbox.js';
import { signInAttemptsTable } from '../../../platform/sign-in-throttle.js';
import { eventConsumerPositionsTable } from '../../../platform/event-consumer.js';

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

/** Postal address as entered at checkout. */
export interface MailingAddressValue {
  name: string;
  line1: string;
  line2: string | null;
  city: string;
  /** State, province or region, for countries that use them. */
  region: string | null;
  postalCode: string | null;
  /** ISO 3166-1 alpha-2 country code, in upper case. */
  countryCode: string;
  phone: string | null;
}

export const paymentMethodKind = pgEnum('payment_method_kind', [
  'CARD',
  'BANK_TRANSFER',
  'CASH_ON_DELIVERY',
  /** Phone number that a marketplace collected for an order imported from it. */
  'MARKETPLACE',
]);

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
    /** Sales channel of the order: `online`, or a marketplace's name. */
    channel: text('channel').notNull().default('online'),
    /** Checkout that created the order, or null for imported orders. */
    checkoutId: uuid('checkout_id').unique(),
    currencyCode: text('currency_code').notNull(),
    // Amounts are in minor units of `currencyCode`, frozen at purchase.
    // Prices exclude tax, and total = subtotal - discount + shipping + tax.
    subtotalAmount: bigint('subtotal_amount', { mode: 'number' })
      .notNull()
      .default(0),
    discountAmount: bigint('discount_amount', { mode: 'number' })
      .notNull()
      .default(0),
    shippingAmount: bigint('shipping_amount', { mode: 'number' })
      .notNull()
      .default(0),
    taxAmount: bigint('tax_amount', { mode: 'number' }).notNull().default(0),
    totalAmount: bigint('total_amount', { mode: 'number' }).notNull(),
    shippingAddress: jsonb('shipping_address').$type<MailingAddressValue>(),
    /** Code of the chosen shipping method, such as `standard`, or null when nothing ships. */
    shippingMethodCode: text('shipping_method_code'),
    shippingMethodTitle: text('shipping_method_title'),
    /**
     * Time the catalog confirmed the stock reservation, which removes its
     * expiry. Null while the payment awaits confirmation, and for orders
     * whose confirmation a crash interrupted, which a reconciliation pass
     * confirms later.
     */
    reservationConfirmedAt: timestamp('reservation_confirmed_at', {
      withTimezone: true,
      mode: 'date',
    }),
    cancelledAt: timestamp('cancelled_at', {
      withTimezone: true,
      mode: 'date',
    }),
    cancelReason: text('cancel_reason'),
    /**
     * Marketplace connection and the marketplace's order id of an imported
     * order, both null for orders placed here. The pair is unique, so a
     * marketplace order becomes one order however often it is imported.
     */
    channelId: text('channel_id'),
    externalOrderId: text('external_order_id'),
    /** Flag set when staff must act, such as on a paid order whose stock is gone. */
    needsAttention: boolean('needs_attention').notNull().default(false),
    attentionReason: text('attention_reason'),
    ...timestamps,
  },
  (table) => [
    index('orders_customer_idx').on(table.customerId, table.id),
    uniqueIndex('orders_channel_external_order_idx')
      .on(table.channelId, table.externalOrderId)
      .where(sql`${table.externalOrderId} is not null`),
    check(
      'orders_external_order_has_channel',
      sql`(${table.channelId} is null) = (${table.externalOrderId} is null)`,
    ),
    index('orders_email_idx').on(sql`lower(${table.email})`),
    index('orders_financial_status_idx').on(table.financialStatus, table.id),
    check('orders_total_not_negative', sql`${table.totalAmount} >= 0`),
    check(
      'orders_amounts_not_negative',
      sql`${table.subtotalAmount} >= 0 and ${table.discountAmount} >= 0 and ${table.shippingAmount} >= 0 and ${table.taxAmount} >= 0`,
    ),
    check(
      'orders_total_is_sum',
      sql`${table.totalAmount} = ${table.subtotalAmount} - ${table.discountAmount} + ${table.shippingAmount} + ${table.taxAmount}`,
    ),
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
    /** Product and variant title at the time of the order. */
    title: text('title').notNull().default(''),
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

/**
 * Sign-in attempts per hashed email address, used to throttle
 * `customerSignIn` (subgraphs/orders/accounts.ts).
 */
export const customerSignInAttempts = signInAttemptsTable(
  'customer_sign_in_attempts',
);

/**
 * Positions of the orders service's event consumers in other services'
 * event streams (see platform/event-consumer.ts and subgraphs/orders/events/).
 */
export const eventConsumerPositions = eventConsumerPositionsTable();

export interface CheckoutLineValue {
  sku: string;
  quantity: number;
}

/**
 * Cart on its way to becoming an order. Lines are stored as entered, and
 * the catalog prices them whenever the checkout is read, so the checkout
 * always shows current prices until completion freezes them on the order.
 */
export const checkouts = pgTable(
  'checkouts',
  {
    id: uuid('id').primaryKey(),
    /** Signed-in customer who created the checkout, or null for a guest. */
    customerId: uuid('customer_id').references(() => customers.id),
    email: text('email'),
    lines: jsonb('lines').$type<CheckoutLineValue[]>().notNull().default([]),
    shippingAddress: jsonb('shipping_address').$type<MailingAddressValue>(),
    shippingMethodCode: text('shipping_method_code'),
    /**
     * Price of the chosen shipping method in minor units, as quoted when
     * the method was chosen or when the lines or address last changed.
     * Completion quotes the price again and rejects the checkout if it
     * differs. Null when no method is chosen or the chosen one was not on
     * offer.
     */
    shippingMethodPriceAmount: integer('shipping_method_price_amount'),
    /**
     * Id of the order this checkout becomes. It is chosen at the first
     * completion attempt and kept, so every retry reserves stock and charges
     * for the same order id.
     */
    orderId: uuid('order_id').unique(),
    completedAt: timestamp('completed_at', {
      withTimezone: true,
      mode: 'date',
    }),
    ...timestamps,
  },
  (table) => [index('checkouts_customer_idx').on(table.customerId)],
);

export const paymentStatus = pgEnum('payment_status', [
  /** Payment awaiting money outside the provider: bank transfer or cash on delivery. */
  'PENDING',
  /** Payment the customer must confirm with the provider. A webhook delivers the outcome. */
  'REQUIRES_ACTION',
  'AUTHORIZED',
  'CAPTURED',
  'PARTIALLY_REFUNDED',
  'REFUNDED',
  'VOIDED',
  'DECLINED',
]);

/**
 * Payment of an order through a provider. Amounts are in minor units of
 * the order's currency, and the captured and refunded amounts only grow.
 */
export const payments = pgTable(
  'payments',
  {
    id: uuid('id').primaryKey(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id),
    method: paymentMethodKind('method').notNull(),
    /** Provider name such as `sandbox` or `stripe`, or `manual` for bank transfer and cash. */
    provider: text('provider').notNull(),
    /** Provider's payment id, or null for manual payments. */
    providerPaymentId: text('provider_payment_id'),
    status: paymentStatus('status').notNull(),
    currencyCode: text('currency_code').notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    capturedAmount: bigint('captured_amount', { mode: 'number' })
      .notNull()
      .default(0),
    refundedAmount: bigint('refunded_amount', { mode: 'number' })
      .notNull()
      .default(0),
    /** Provider's fees on the captured amount, as posted to the ledger. */
    feeAmount: bigint('fee_amount', { mode: 'number' }).notNull().default(0),
    declineCode: text('decline_code'),
    declineMessage: text('decline_message'),
    ...timestamps,
  },
  (table) => [
    index('payments_order_idx').on(table.orderId),
    uniqueIndex('payments_provider_payment_idx').on(
      table.provider,
      table.providerPaymentId,
    ),
    check(
      'payments_amounts_in_range',
      sql`${table.amount} >= 0 and ${table.capturedAmount} between 0 and ${table.amount} and ${table.refundedAmount} between 0 and ${table.capturedAmount} and ${table.feeAmount} >= 0`,
    ),
  ],
);

export const refundStatus = pgEnum('refund_status', [
  'PENDING',
  'SUCCEEDED',
  'FAILED',
]);

export const refunds = pgTable(
  'refunds',
  {
    id: uuid('id').primaryKey(),
    paymentId: uuid('payment_id')
      .notNull()
      .references(() => payments.id),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    status: refundStatus('status').notNull(),
    providerRefundId: text('provider_refund_id'),
    reason: text('reason'),
    ...timestamps,
  },
  (table) => [
    index('refunds_order_idx').on(table.orderId),
    // Refund settlement finds refunds by provider refund id and records
    // each one once (refund-settlement.ts). The index rejects a second row
    // if a later change bypasses that lookup.
    uniqueIndex('refunds_payment_provider_refund_idx')
      .on(table.paymentId, table.providerRefundId)
      .where(sql`${table.providerRefundId} is not null`),
    check('refunds_amount_positive', sql`${table.amount} > 0`),
  ],
);

/** Staff notes on an order, oldest first. */
export const orderNotes = pgTable(
  'order_notes',
  {
    id: uuid('id').primaryKey(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id),
    /** Staff account id of the author. */
    authorId: text('author_id').notNull(),
    body: text('body').notNull(),
    createdAt: timestamps.createdAt,
  },
  (table) => [
    index('order_notes_order_idx').on(table.orderId, table.createdAt),
  ],
);

/**
 * Results of requests made with an idempotency key. The first request
 * inserts the row as IN_PROGRESS and stores its response when done. A
 * repeat with the same key receives that response, and a concurrent repeat
 * waits for it. `requestHash` detects a key reused for a different request.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    /** Operation and its target, such as `checkoutComplete:<checkout id>`. */
    scope: text('scope').notNull(),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    status: text('status', { enum: ['IN_PROGRESS', 'COMPLETED'] }).notNull(),
    response: jsonb('response'),
    /** Lock expiry: until then the request counts as running, and afterwards a repeat may take it over. */
    lockedUntil: timestamp('locked_until', {
      withTimezone: true,
      mode: 'date',
    }),
    createdAt: timestamps.createdAt,
    completedAt: timestamp('completed_at', {
      withTimezone: true,
      mode: 'date',
    }),
    /**
     * Random token of the run that owns the key. A run whose key was taken
     * over after `lockedUntil` no longer matches it, so its writes change
     * nothing.
     */
    ownerToken: text('owner_token'),
  },
  (table) => [primaryKey({ columns: [table.scope, table.key] })],
);

/** Provider webhook events already applied, so that a replayed event is applied only once. */
export const providerWebhookEvents = pgTable(
  'provider_webhook_events',
  {
    provider: text('provider').notNull(),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.provider, table.eventId] })],
);

/**
 * State of the sandbox payment provider (payments/sandbox.ts), shared by
 * all replicas of the orders service as a real provider's state would be.
 */
export const sandboxPaymentRecords = pgTable('sandbox_payment_records', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: timestamps.updatedAt,
});

export const ledgerAccountType = pgEnum('ledger_account_type', [
  'ASSET',
  'LIABILITY',
  'EQUITY',
  'REVENUE',
  'EXPENSE',
]);

/** Chart of accounts. The migration creates the accounts that postings use. */
export const ledgerAccounts = pgTable('ledger_accounts', {
  /** Account number such as `1000`, the form accounting packages expect. */
  code: text('code').primaryKey(),
  name: text('name').notNull(),
  type: ledgerAccountType('type').notNull(),
});

/**
 * One balanced posting, whose lines always sum to equal debits and credits.
 * A deferred constraint trigger checks every entry at commit, and lines can
 * be neither updated nor deleted because corrections are new entries. So an
 * unbalanced journal cannot be committed.
 */
export const journalEntries = pgTable(
  'journal_entries',
  {
    id: uuid('id').primaryKey(),
    /** Sequential number, shown to people and used as the export order. */
    number: bigint('number', { mode: 'number' })
      .notNull()
      .unique()
      .generatedAlwaysAsIdentity(),
    /** Cause of the entry: CAPTURE, REFUND, PROVIDER_FEE, CASH_COLLECTION, BANK_TRANSFER or MARKETPLACE_SALE. */
    kind: text('kind').notNull(),
    /**
     * Money movement the entry records, such as
     * `capture:<payment id>:<provider id>`. It is unique, so the same
     * movement is never posted twice, even when a webhook and a direct
     * provider response report it at the same time.
     */
    sourceKey: text('source_key').notNull().unique(),
    orderId: uuid('order_id').references(() => orders.id),
    paymentId: uuid('payment_id').references(() => payments.id),
    refundId: uuid('refund_id').references(() => refunds.id),
    currencyCode: text('currency_code').notNull(),
    description: text('description').notNull(),
    /** Date the money moved, which decides the period a trial balance or export covers. */
    occurredAt: timestamp('occurred_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
    createdAt: timestamps.createdAt,
  },
  (table) => [
    index('journal_entries_occurred_idx').on(table.occurredAt, table.number),
    index('journal_entries_order_idx').on(table.orderId),
  ],
);

export const journalLines = pgTable(
  'journal_lines',
  {
    id: uuid('id').primaryKey(),
    entryId: uuid('entry_id')
      .notNull()
      .references(() => journalEntries.id),
    accountCode: text('account_code')
      .notNull()
      .references(() => ledgerAccounts.code),
    /** Amount in minor units of the entry's currency. Exactly one of debit and credit is above 0. */
    debit: bigint('debit', { mode: 'number' }).notNull().default(0),
    credit: bigint('credit', { mode: 'number' }).notNull().default(0),
  },
  (table) => [
    index('journal_lines_entry_idx').on(table.entryId),
    index('journal_lines_account_idx').on(table.accountCode),
    check(
      'journal_lines_one_side',
      sql`${table.debit} >= 0 and ${table.credit} >= 0 and (${table.debit} = 0) <> (${table.credit} = 0)`,
    ),
  ],
);

export const paymentAttemptStatus = pgEnum('payment_attempt_status', [
  /** Recorded before the provider call, which may still be running. */
  'PENDING',
  /** Provider response lost, so the provider may have charged. */
  'UNKNOWN',
  /** Provider returned a payment that has reserved or may have reserved money. */
  'ANSWERED',
  /** Declined by the provider or cancelled, so no money is reserved. */
  'DECLINED',
  /** Payment recorded on the order. */
  'RECORDED',
  /** Being voided or refunded because it is not the order's payment. */
  'UNDOING',
  'VOIDED',
  'REFUNDED',
]);

/**
 * Every card authorization sent to the provider, recorded before the call.
 * An attempt that did not become the order's payment is voided or
 * refunded when the order is written or by reconciliation, so a retry
 * with another cart or card never leaves a second charge behind. The
 * request is stored whole so that a lost response can be replayed with the
 * same idempotency key, for which the provider returns the first result.
 */
export const paymentAttempts = pgTable(
  'payment_attempts',
  {
    id: uuid('id').primaryKey(),
    /** Order id chosen for the checkout. The order may not exist yet. */
    orderId: uuid('order_id').notNull(),
    checkoutId: uuid('checkout_id').notNull(),
    provider: text('provider').notNull(),
    /** Idempotency key sent with the authorization. */
    idempotencyKey: text('idempotency_key').notNull(),
    /**
     * Key derived from the order, amount and token. Attempts for the same
     * request share it, but a new attempt after one was undone gets a new
     * idempotency key with a numbered suffix.
     */
    requestKey: text('request_key').notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    currencyCode: text('currency_code').notNull(),
    capture: boolean('capture').notNull(),
    /** Provider's payment method id (Stripe `pm_...`), never card data. */
    paymentToken: text('payment_token').notNull(),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull(),
    status: paymentAttemptStatus('status').notNull(),
    /** Provider's payment id once known, such as a PaymentIntent id. */
    providerPaymentId: text('provider_payment_id'),
    /** Amount returned when the attempt was undone, in minor units. */
    returnedAmount: bigint('returned_amount', { mode: 'number' })
      .notNull()
      .default(0),
    /** Last provider error while undoing the attempt. Reconciliation retries it. */
    lastError: text('last_error'),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('payment_attempts_provider_key_idx').on(
      table.provider,
      table.idempotencyKey,
    ),
    index('payment_attempts_order_idx').on(table.orderId),
    index('payment_attempts_status_idx').on(table.status, table.updatedAt),
    check('payment_attempts_amount_positive', sql`${table.amount} > 0`),
  ],
);

export type CustomerRow = typeof customers.$inferSelect;
export type OrderRow = typeof orders.$inferSelect;
export type OrderLineRow = typeof orderLines.$inferSelect;
export type CustomerRefreshTokenRow = typeof customerRefreshTokens.$inferSelect;
export type CheckoutRow = typeof checkouts.$inferSelect;
export type PaymentRow = typeof payments.$inferSelect;
export type RefundRow = typeof refunds.$inferSelect;
export type OrderNoteRow = typeof orderNotes.$inferSelect;
export type LedgerAccountRow = typeof ledgerAccounts.$inferSelect;
export type JournalEntryRow = typeof journalEntries.$inferSelect;
export type JournalLineRow = typeof journalLines.$inferSelect;
export type PaymentAttemptRow = typeof paymentAttempts.$inferSelect;
