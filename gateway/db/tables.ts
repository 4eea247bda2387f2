import { sql } from 'drizzle-orm';
import {
  check,
  index,
  pgTable,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

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
    /** `scrypt$N$r$p$salt$hash`, see gateway/identity/passwords.ts. */
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
  },
  (table) => [index('partner_keys_created_at_idx').on(table.createdAt)],
);
