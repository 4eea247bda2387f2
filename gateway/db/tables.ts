import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { eventConsumerPositionsTable } from '../../platform/event-consumer.js';

/**
 * Domain events of the gateway, such as `webhook.endpoint_disabled`,
 * served at the gateway's `GET /events` (docs/events.md).
 */
export { outboxEvents } from '../../platform/outbox.js';
import { signInAttemptsTable } from '../../platform/sign-in-throttle.js';

/**
 * Origin of a row. `development` rows are the demo account and key that
 * `npm start` creates, and production mode rejects a database that has an
 * active one.
 */
const origin = text('origin', { enum: ['operator', 'development'] })
  .notNull()
  .default('operator');

const createdAt = timestamp('created_at', { withTimezone: true, mode: 'date' })
  .notNull()
  .defaultNow();

/** Staff members who sign in to the gateway with email and password. */
export const staffAccounts = pgTable(
  'staff_accounts',
  {
    id: uuid('id').primaryKey(),
    /** Trimmed and lower-cased, so sign-in ignores case. */
    email: text('email').notNull().unique(),
    /** `scrypt$N$r$p$salt$hash`, see platform/passwords.ts. */
    passwordHash: text('password_hash').notNull(),
    role: text('role', { enum: ['admin', 'support'] }).notNull(),
    origin,
    createdAt,
    /** Set when the account may no longer sign in. */
    disabledAt: timestamp('disabled_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [
    check(
      'staff_accounts_role_check',
      sql`${table.role} in ('admin', 'support')`,
    ),
  ],
);

/**
 * Partner API keys. Only a SHA-256 hash of each key is stored, with the
 * key's public prefix to find its row.
 */
export const partnerKeys = pgTable(
  'partner_keys',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    /** The part of the key before the secret, such as `cgk_Ab3dEf9hJk2m`. */
    keyPrefix: text('key_prefix').notNull().unique(),
    /** Hex SHA-256 of the whole key. */
    keyHash: text('key_hash').notNull(),
    scopes: text('scopes')
      .array()
      .notNull()
      .default(sql`'{}'`),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
    /** Staff subject that created the key; null for keys made by tools. */
    createdBy: text('created_by'),
    origin,
    createdAt,
    /**
     * When true, the key runs only the operations registered for it in
     * `safelisted_operations` (see gateway/safelist).
     */
    safelistMode: boolean('safelist_mode').notNull().default(false),
  },
  (table) => [index('partner_keys_created_at_idx').on(table.createdAt)],
);

/** Operations that a partner key in safelist mode may run. */
export const safelistedOperations = pgTable(
  'safelisted_operations',
  {
    id: uuid('id').primaryKey(),
    partnerKeyId: uuid('partner_key_id')
      .notNull()
      .references(() => partnerKeys.id, { onDelete: 'cascade' }),
    /** Hex SHA-256 of `document`, as in Apollo's persisted query extension. */
    hash: text('hash').notNull(),
    document: text('document').notNull(),
    /** Name of the document's operation; null for an anonymous operation. */
    operationName: text('operation_name'),
    /** Staff subject that registered the operation. */
    createdBy: text('created_by'),
    createdAt,
  },
  (table) => [
    unique('safelisted_operations_key_hash_unique').on(
      table.partnerKeyId,
      table.hash,
    ),
  ],
);

/**
 * Token buckets of the rate limiter (gateway/rate-limit) when
 * RATE_LIMIT_STORE is `postgres`. Each request updates its caller's row in
 * one statement, so replicas share the buckets.
 */
export const rateLimitBuckets = pgTable(
  'rate_limit_buckets',
  {
    /** RATE_LIMIT_KEY_PREFIX, the caller kind, and its subject or client IP. */
    key: text('key').primaryKey(),
    /** Cost points left at `updated_at`, before the refill since then. */
    tokens: doublePrecision('tokens').notNull(),
    /** Whether the request that last wrote the row was allowed. */
    lastAllowed: boolean('last_allowed').notNull(),
    updatedAt: timestamp('updated_at', {
      withTimezone: true,
      mode: 'date',
    }).notNull(),
  },
  (table) => [index('rate_limit_buckets_updated_at_idx').on(table.updatedAt)],
);

/**
 * Sign-in attempts per staff email address, by hash, for the throttling of
 * `POST /auth/staff/token` (gateway/identity/routes.ts).
 */
export const staffSignInAttempts = signInAttemptsTable(
  'staff_sign_in_attempts',
);

/**
 * Positions of the gateway's event consumers, which record webhook
 * deliveries from every subgraph's stream (gateway/webhooks/consumer.ts).
 */
export const eventConsumerPositions = eventConsumerPositionsTable();

const updatedAt = timestamp('updated_at', { withTimezone: true, mode: 'date' })
  .notNull()
  .defaultNow();

/**
 * Webhook endpoints that receive signed domain events (docs/webhooks.md).
 * An endpoint belongs to one partner key or, when `partner_key_id` is
 * null, to the staff member in `staff_owner`.
 */
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: uuid('id').primaryKey(),
    partnerKeyId: uuid('partner_key_id').references(() => partnerKeys.id, {
      onDelete: 'cascade',
    }),
    /** Staff subject that owns the endpoint; null for a partner's endpoint. */
    staffOwner: text('staff_owner'),
    url: text('url').notNull(),
    eventTypes: text('event_types').array().notNull(),
    /**
     * A subscription document that shapes the payload: each delivery's
     * `data` is its result for the event. Null sends the event's payload.
     */
    subscriptionQuery: text('subscription_query'),
    subscriptionVariables: jsonb('subscription_variables'),
    /** The identity the document runs as: the owner's at registration. */
    subscriptionCaller: jsonb('subscription_caller'),
    /** The signing secret, encrypted by platform/secrets.ts. */
    secretEncrypted: text('secret_encrypted').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    /** Failed attempts since the last successful delivery. */
    failureCount: integer('failure_count').notNull().default(0),
    createdAt,
    updatedAt,
  },
  (table) => [
    check(
      'webhook_endpoints_owner_check',
      sql`(${table.partnerKeyId} is null) <> (${table.staffOwner} is null)`,
    ),
    index('webhook_endpoints_partner_key_idx').on(table.partnerKeyId),
  ],
);

/**
 * One domain event to send to one endpoint. `sequence` orders an
 * endpoint's deliveries: the consumers insert them in stream order, and a
 * replay inserts its deliveries after every existing one.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey(),
    sequence: bigserial('sequence', { mode: 'number' }).notNull().unique(),
    endpointId: uuid('endpoint_id')
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    eventId: text('event_id').notNull(),
    /** Subgraph whose stream the event came from. */
    source: text('source').notNull(),
    /** The event's position in its source stream. */
    eventPosition: text('event_position').notNull(),
    type: text('type').notNull(),
    payload: jsonb('payload').notNull(),
    occurredAt: timestamp('occurred_at', {
      withTimezone: true,
      mode: 'date',
    }).notNull(),
    status: text('status', { enum: ['PENDING', 'SUCCEEDED', 'FAILED'] })
      .notNull()
      .default('PENDING'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', {
      withTimezone: true,
      mode: 'date',
    })
      .notNull()
      .defaultNow(),
    /**
     * Until this time a worker is sending the delivery and no other worker
     * takes it; the lease outlives the request timeout.
     */
    leasedUntil: timestamp('leased_until', {
      withTimezone: true,
      mode: 'date',
    }),
    lastResponseStatus: integer('last_response_status'),
    lastError: text('last_error'),
    /**
     * Id of the replay request that created the delivery; null for a
     * delivery the consumers recorded from the stream.
     */
    replayId: uuid('replay_id'),
    createdAt,
    updatedAt,
  },
  (table) => [
    // The consumers record an event once per endpoint. Replays send the
    // same event again with the same id, so they are left out.
    uniqueIndex('webhook_deliveries_endpoint_event_unique')
      .on(table.endpointId, table.eventId)
      .where(sql`${table.replayId} is null`),
    check(
      'webhook_deliveries_status_check',
      sql`${table.status} in ('PENDING', 'SUCCEEDED', 'FAILED')`,
    ),
    index('webhook_deliveries_pending_idx')
      .on(table.endpointId, table.sequence)
      .where(sql`${table.status} = 'PENDING'`),
  ],
);

/** One attempt to send a delivery: its response status or error. */
export const webhookDeliveryAttempts = pgTable(
  'webhook_delivery_attempts',
  {
    id: uuid('id').primaryKey(),
    deliveryId: uuid('delivery_id')
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    /** The delivery's attempt count after this attempt; a redelivery restarts it at 1. */
    attempt: integer('attempt').notNull(),
    /** HTTP status of the response; null when no response arrived. */
    responseStatus: integer('response_status'),
    /** Reason the attempt failed; null for a 2xx response. */
    error: text('error'),
    createdAt,
  },
  (table) => [
    index('webhook_delivery_attempts_delivery_idx').on(
      table.deliveryId,
      table.createdAt,
    ),
  ],
);

/**
 * Subscriptions open on any gateway replica, one row each, so that the
 * per-caller limit applies across replicas. A replica renews the lease of
 * its rows while it runs. Rows whose lease lapsed belong to a replica that
 * died and no longer count.
 */
export const openSubscriptions = pgTable(
  'open_subscriptions',
  {
    id: uuid('id').primaryKey(),
    /** The caller: its kind, subject, scopes and roles. */
    callerKey: text('caller_key').notNull(),
    replicaId: uuid('replica_id').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('open_subscriptions_caller_idx').on(table.callerKey),
    index('open_subscriptions_replica_idx').on(table.replicaId),
  ],
);
