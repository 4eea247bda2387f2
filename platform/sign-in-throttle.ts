import { createHash } from 'node:crypto';
import { getTableName, sql } from 'drizzle-orm';
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { Config } from './config.js';
import { index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Sign-in attempts of one email address. Each service that signs people in
 * keeps such a table in its own database, so all its replicas share the
 * counts. `emailHash` is a SHA-256 of the lower-cased address: the table
 * stores no email address, and rows exist for unknown addresses too.
 */
export function signInAttemptsTable<Name extends string>(name: Name) {
  return pgTable(
    name,
    {
      /** See `signInEmailHash`. */
      emailHash: text('email_hash').primaryKey(),
      /** Attempts since `window_started_at`, including ones in progress. */
      attempts: integer('attempts').notNull(),
      windowStartedAt: timestamp('window_started_at', {
        withTimezone: true,
        mode: 'date',
      }).notNull(),
      /** Until then every attempt is rejected without checking a password. */
      lockedUntil: timestamp('locked_until', {
        withTimezone: true,
        mode: 'date',
      }),
      updatedAt: timestamp('updated_at', {
        withTimezone: true,
        mode: 'date',
      }).notNull(),
    },
    (table) => [index(`${name}_updated_at_idx`).on(table.updatedAt)],
  );
}

type SignInAttemptsTable = ReturnType<typeof signInAttemptsTable>;

/** The part of a drizzle database over postgres.js that the throttle uses. */
interface ExecutingDatabase {
  execute: PostgresJsDatabase<Record<string, unknown>>['execute'];
}

export interface SignInThrottleSettings {
  /** Failed attempts within `windowSeconds` that start a lockout. */
  maxFailedAttempts: number;
  windowSeconds: number;
  lockoutSeconds: number;
}

/** Reads SIGN_IN_MAX_FAILED_ATTEMPTS, SIGN_IN_WINDOW_SECONDS and SIGN_IN_LOCKOUT_SECONDS. */
export function signInThrottleSettings(config: Config): SignInThrottleSettings {
  return {
    maxFailedAttempts: config.SIGN_IN_MAX_FAILED_ATTEMPTS,
    windowSeconds: config.SIGN_IN_WINDOW_SECONDS,
    lockoutSeconds: config.SIGN_IN_LOCKOUT_SECONDS,
  };
}

/**
 * Returns the row key of an email address: the hex SHA-256 of `sign-in:`
 * and the trimmed, lower-cased address, so differently cased spellings
 * share one count.
 */
export function signInEmailHash(email: string): string {
  return createHash('sha256')
    .update(`sign-in:${email.trim().toLowerCase()}`)
    .digest('hex');
}

export type SignInAttempt =
  { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * Counts a sign-in attempt for `emailHash` before its password is checked,
 * and returns whether the password may be checked. The count is raised by
 * one upsert, so concurrent attempts, on any replica, each count. It
 * starts again at 1 when the window or a lockout has passed. While a
 * lockout lasts, attempts are rejected and not counted; an attempt beyond
 * `maxFailedAttempts` that finds no lockout, because the attempts before it
 * were still in progress, starts one. Times are the database's, so
 * replicas agree on them.
 */
export async function beginSignInAttempt(
  db: ExecutingDatabase,
  table: SignInAttemptsTable,
  emailHash: string,
  settings: SignInThrottleSettings,
): Promise<SignInAttempt> {
  const window = `${settings.windowSeconds} seconds`;
  const lockout = `${settings.lockoutSeconds} seconds`;
  const tableName = sql.identifier(getTableName(table));
  // Column references in the update name the stored row, `attempt`.
  const locked = sql`attempt.locked_until > statement_timestamp()`;
  const restart = sql`(attempt.window_started_at <= statement_timestamp() - ${window}::interval
    or attempt.locked_until <= statement_timestamp())`;
  const rows = await db.execute<{ retry_after_seconds: number | null }>(sql`
    insert into ${tableName} as attempt
      (email_hash, attempts, window_started_at, locked_until, updated_at)
    values (${emailHash}, 1, statement_timestamp(), null, statement_timestamp())
    on conflict (email_hash) do update set
      attempts = case
        when ${locked} then attempt.attempts
        when ${restart} then 1
        else attempt.attempts + 1 end,
      window_started_at = case
        when ${locked} then attempt.window_started_at
        when ${restart} then statement_timestamp()
        else attempt.window_started_at end,
      locked_until = case
        when ${locked} then attempt.locked_until
        when ${restart} then null
        when attempt.attempts + 1 > ${settings.maxFailedAttempts}
          then statement_timestamp() + ${lockout}::interval
        else null end,
      updated_at = statement_timestamp()
    returning
      ceil(extract(epoch from locked_until - statement_timestamp()))::integer
        as retry_after_seconds
  `);
  const retryAfter = rows[0]!.retry_after_seconds;
  if (retryAfter !== null && retryAfter > 0) {
    return { allowed: false, retryAfterSeconds: retryAfter };
  }
  return { allowed: true };
}

/**
 * Records that the password of an allowed attempt was wrong. When the
 * failures reach `maxFailedAttempts`, the lockout starts now.
 */
export async function recordSignInFailure(
  db: ExecutingDatabase,
  table: SignInAttemptsTable,
  emailHash: string,
  settings: SignInThrottleSettings,
): Promise<void> {
  const tableName = sql.identifier(getTableName(table));
  await db.execute(sql`
    update ${tableName}
    set locked_until = statement_timestamp() + ${`${settings.lockoutSeconds} seconds`}::interval,
      updated_at = statement_timestamp()
    where email_hash = ${emailHash}
      and attempts >= ${settings.maxFailedAttempts}
      and (locked_until is null or locked_until <= statement_timestamp())
  `);
}

/** Clears the count of an address after a successful sign-in. */
export async function recordSignInSuccess(
  db: ExecutingDatabase,
  table: SignInAttemptsTable,
  emailHash: string,
): Promise<void> {
  const tableName = sql.identifier(getTableName(table));
  await db.execute(
    sql`delete from ${tableName} where email_hash = ${emailHash}`,
  );
}

/** Spells a wait for people: "45 seconds" or "15 minutes", rounded up. */
export function describeWait(seconds: number): string {
  if (seconds < 60) return seconds === 1 ? '1 second' : `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}
