import { and, count, eq, isNull } from 'drizzle-orm';
import { uuidv7 } from '../../platform/ids.js';
import { tables, type GatewayDatabase } from '../db/database.js';
import {
  hashPassword,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  passwordDecoyHash,
  verifyPassword,
} from '../../platform/passwords.js';
import { isStaffRole, type StaffRole } from './scopes.js';

export interface StaffAccount {
  id: string;
  email: string;
  role: StaffRole;
}

/** Raised for invalid input or a taken email when creating an account. */
export class StaffAccountError extends Error {}

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+$/;
const MAX_EMAIL_LENGTH = 254;

/** Trims and lower-cases an email, so sign-in ignores case. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Creates a staff account; throws StaffAccountError for invalid input or a taken email. */
export async function createStaffAccount(
  db: GatewayDatabase,
  input: {
    email: string;
    password: string;
    role: string;
    origin?: 'operator' | 'development';
  },
): Promise<StaffAccount> {
  const email = normalizeEmail(input.email);
  if (email.length > MAX_EMAIL_LENGTH || !EMAIL_PATTERN.test(email)) {
    throw new StaffAccountError(
      `"${input.email}" is not a valid email address.`,
    );
  }
  if (!isStaffRole(input.role)) {
    throw new StaffAccountError(
      `"${input.role}" is not a staff role; use admin or support.`,
    );
  }
  if (
    input.password.length < MIN_PASSWORD_LENGTH ||
    input.password.length > MAX_PASSWORD_LENGTH
  ) {
    throw new StaffAccountError(
      `The password must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters long.`,
    );
  }
  const account = { id: uuidv7(), email, role: input.role };
  const inserted = await db
    .insert(tables.staffAccounts)
    .values({
      ...account,
      passwordHash: await hashPassword(input.password),
      origin: input.origin ?? 'operator',
    })
    .onConflictDoNothing({ target: tables.staffAccounts.email })
    .returning({ id: tables.staffAccounts.id });
  if (inserted.length === 0) {
    throw new StaffAccountError(`A staff account for ${email} exists already.`);
  }
  return account;
}

/**
 * Returns the active account whose email and password match, or null. An
 * unknown email is checked against a decoy hash, so the response time does
 * not tell whether an account exists.
 */
export async function findStaffByPassword(
  db: GatewayDatabase,
  email: string,
  password: string,
): Promise<StaffAccount | null> {
  if (password.length > MAX_PASSWORD_LENGTH) return null;
  const [row] = await db
    .select({
      id: tables.staffAccounts.id,
      email: tables.staffAccounts.email,
      role: tables.staffAccounts.role,
      passwordHash: tables.staffAccounts.passwordHash,
    })
    .from(tables.staffAccounts)
    .where(
      and(
        eq(tables.staffAccounts.email, normalizeEmail(email)),
        isNull(tables.staffAccounts.disabledAt),
      ),
    );
  if (!row) {
    await verifyPassword(password, await passwordDecoyHash());
    return null;
  }
  if (!(await verifyPassword(password, row.passwordHash))) return null;
  return { id: row.id, email: row.email, role: row.role };
}

/** Disables an account so it can no longer sign in; returns false when no account has that email. */
export async function disableStaffAccount(
  db: GatewayDatabase,
  email: string,
): Promise<boolean> {
  const rows = await db
    .update(tables.staffAccounts)
    .set({ disabledAt: new Date() })
    .where(eq(tables.staffAccounts.email, normalizeEmail(email)))
    .returning({ id: tables.staffAccounts.id });
  return rows.length > 0;
}

export async function countStaffAccounts(db: GatewayDatabase): Promise<number> {
  const [row] = await db.select({ value: count() }).from(tables.staffAccounts);
  return row!.value;
}
