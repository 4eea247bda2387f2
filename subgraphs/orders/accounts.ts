import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import {
  customerTokenJwks,
  resolveCustomerTokenSigningKey,
  signCustomerAccessToken,
} from '../../platform/customer-tokens.js';
import type { Database } from '../../platform/database.js';
import {
  userError,
  UserErrorCode,
  type UserError,
} from '../../platform/errors.js';
import type { RouteHandler } from '../../platform/http-server.js';
import { sendJson } from '../../platform/http-server.js';
import { uuidv7 } from '../../platform/ids.js';
import type { IdentityKey } from '../../platform/identity-keys.js';
import { isProduction } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import {
  hashPassword,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  passwordDecoyHash,
  verifyPassword,
} from '../../platform/passwords.js';
import {
  beginSignInAttempt,
  describeWait,
  recordSignInFailure,
  recordSignInSuccess,
  signInEmailHash,
  signInThrottleSettings,
} from '../../platform/sign-in-throttle.js';
import * as tables from './db/tables.js';
import type { CustomerRow } from './db/tables.js';

type OrdersDatabase = Database<typeof tables>;

/** Message of every failed sign-in, whether the email or the password is wrong. */
export const SIGN_IN_FAILED_MESSAGE = 'Invalid email or password.';
const REFRESH_FAILED_MESSAGE =
  'The refresh token is invalid, expired or already used; sign in again.';

const MAX_EMAIL_LENGTH = 254;
const MAX_NAME_LENGTH = 200;
const UNIQUE_VIOLATION = '23505';

export interface CustomerAuthResult {
  accessToken: string | null;
  refreshToken: string | null;
  expiresIn: number | null;
  customer: CustomerRow | null;
  userErrors: UserError[];
}

function failure(...userErrors: UserError[]): CustomerAuthResult {
  return {
    accessToken: null,
    refreshToken: null,
    expiresIn: null,
    customer: null,
    userErrors,
  };
}

/** Trims and lower-cases an email, so one address is one account. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

// Signing keys per configuration. In development mode the key is created
// on first use, so services that never sign in a customer write no file.
const signingKeys = new WeakMap<Config, Promise<IdentityKey>>();

function customerSigningKey(config: Config): Promise<IdentityKey> {
  let key = signingKeys.get(config);
  if (!key) {
    key = resolveCustomerTokenSigningKey(config).then(
      (resolved) => resolved.signingKey,
    );
    signingKeys.set(config, key);
    key.catch(() => signingKeys.delete(config));
  }
  return key;
}

/**
 * Checks the customer token key at start-up in production mode, where a
 * missing key stops the service, and returns the `/.well-known/jwks.json`
 * route that publishes its public half.
 */
export async function prepareCustomerAccounts(
  config: Config,
  logger: Logger,
): Promise<{ routes: Record<string, RouteHandler> }> {
  if (isProduction(config)) await customerSigningKey(config);
  const jwksRoute: RouteHandler = async (_request, response) => {
    try {
      const jwks = await customerTokenJwks(await customerSigningKey(config));
      response.setHeader('cache-control', 'public, max-age=300');
      sendJson(response, 200, jwks);
    } catch (error) {
      logger.error({ err: error }, 'customer token keys unavailable');
      sendJson(response, 503, {
        error: 'The customer token keys are unavailable.',
        code: 'SERVICE_UNAVAILABLE',
      });
    }
  };
  return { routes: { '/.well-known/jwks.json': jwksRoute } };
}

/**
 * Issues an access token and a refresh token for `customer`. The refresh
 * token joins `familyId`, or starts a new family at a sign-in.
 */
async function issueTokens(
  db: OrdersDatabase,
  config: Config,
  customer: CustomerRow,
  familyId?: string,
): Promise<CustomerAuthResult> {
  const refreshToken = `crt_${randomBytes(32).toString('base64url')}`;
  const id = uuidv7();
  await db.insert(tables.customerRefreshTokens).values({
    id,
    customerId: customer.id,
    familyId: familyId ?? id,
    tokenHash: sha256(refreshToken),
    expiresAt: new Date(
      Date.now() + config.CUSTOMER_REFRESH_TOKEN_TTL_DAYS * 86_400_000,
    ),
  });
  const accessToken = await signCustomerAccessToken(
    await customerSigningKey(config),
    customer.id,
    config.CUSTOMER_TOKEN_TTL_SECONDS,
  );
  return {
    accessToken,
    refreshToken,
    expiresIn: config.CUSTOMER_TOKEN_TTL_SECONDS,
    customer,
    userErrors: [],
  };
}

function checkRegistration(input: {
  email: string;
  password: string;
  name?: string | null;
}): UserError[] {
  const errors: UserError[] = [];
  const email = normalizeEmail(input.email);
  if (
    email.length > MAX_EMAIL_LENGTH ||
    !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)
  ) {
    errors.push(
      userError(
        ['input', 'email'],
        'Email is not a valid address such as ada@example.com.',
        UserErrorCode.Invalid,
      ),
    );
  }
  const length = input.password.length;
  if (length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH) {
    errors.push(
      userError(
        ['input', 'password'],
        `Password must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters long.`,
        UserErrorCode.Invalid,
      ),
    );
  }
  if (input.name != null && input.name.trim().length > MAX_NAME_LENGTH) {
    errors.push(
      userError(
        ['input', 'name'],
        `Name must be at most ${MAX_NAME_LENGTH} characters long.`,
        UserErrorCode.Invalid,
      ),
    );
  }
  return errors;
}

/**
 * Creates a customer account and signs it in. An email that belongs to
 * any customer, including one without an account, is TAKEN: claiming the
 * order history of an address would need proof of owning it.
 */
export async function registerCustomer(
  db: OrdersDatabase,
  config: Config,
  input: { email: string; password: string; name?: string | null },
): Promise<CustomerAuthResult> {
  const errors = checkRegistration(input);
  if (errors.length > 0) return failure(...errors);

  const email = normalizeEmail(input.email);
  const name = input.name?.trim() || null;
  const passwordHash = await hashPassword(input.password);
  try {
    const [customer] = await db
      .insert(tables.customers)
      .values({ id: uuidv7(), email, name, passwordHash })
      .returning();
    return await issueTokens(db, config, customer!);
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause ?? error;
    if ((cause as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
    return failure(
      userError(
        ['input', 'email'],
        'Email is already registered; sign in instead.',
        UserErrorCode.Taken,
      ),
    );
  }
}

/**
 * Signs a customer in. Every failure returns the same message and, through
 * a decoy hash for unknown emails, takes about as long.
 */
export async function signInCustomer(
  db: OrdersDatabase,
  config: Config,
  input: { email: string; password: string },
): Promise<CustomerAuthResult> {
  // Throttled per address before the password is checked, for known and
  // unknown addresses alike, so a refusal tells nothing about the account.
  const settings = signInThrottleSettings(config);
  const emailHash = signInEmailHash(input.email);
  const attempt = await beginSignInAttempt(
    db,
    tables.customerSignInAttempts,
    emailHash,
    settings,
  );
  if (!attempt.allowed) {
    return failure(
      userError(
        ['input', 'email'],
        `Too many failed sign-in attempts for this email address; try again in ${describeWait(attempt.retryAfterSeconds)}.`,
        UserErrorCode.TooManyAttempts,
      ),
    );
  }
  const signInFailed = async () => {
    await recordSignInFailure(
      db,
      tables.customerSignInAttempts,
      emailHash,
      settings,
    );
    return failure(
      userError(['input'], SIGN_IN_FAILED_MESSAGE, UserErrorCode.Invalid),
    );
  };
  if (input.password.length > MAX_PASSWORD_LENGTH) return signInFailed();

  const [customer] = await db
    .select()
    .from(tables.customers)
    .where(
      sql`lower(${tables.customers.email}) = ${normalizeEmail(input.email)}`,
    );
  const stored = customer?.passwordHash ?? (await passwordDecoyHash());
  const valid = await verifyPassword(input.password, stored);
  if (!customer?.passwordHash || !valid) return signInFailed();
  await recordSignInSuccess(db, tables.customerSignInAttempts, emailHash);
  return issueTokens(db, config, customer);
}

/**
 * Exchanges a refresh token for new tokens. The token is marked used by a
 * conditional update, so of two concurrent requests with one token only
 * one succeeds. A token that was already used revokes its whole family,
 * because someone other than its last holder has a copy of it.
 */
export async function refreshCustomerToken(
  db: OrdersDatabase,
  config: Config,
  logger: Logger,
  input: { refreshToken: string },
): Promise<CustomerAuthResult> {
  const refreshFailed = () =>
    failure(
      userError(
        ['input', 'refreshToken'],
        REFRESH_FAILED_MESSAGE,
        UserErrorCode.Invalid,
      ),
    );
  const tokens = tables.customerRefreshTokens;
  const [row] = await db
    .select()
    .from(tokens)
    .where(eq(tokens.tokenHash, sha256(input.refreshToken.trim())));
  if (!row || row.revokedAt !== null) return refreshFailed();

  const now = new Date();
  const [claimed] =
    row.usedAt === null
      ? await db
          .update(tokens)
          .set({ usedAt: now })
          .where(
            and(
              eq(tokens.id, row.id),
              isNull(tokens.usedAt),
              isNull(tokens.revokedAt),
            ),
          )
          .returning({ id: tokens.id })
      : [];
  if (!claimed) {
    await db
      .update(tokens)
      .set({ revokedAt: now })
      .where(and(eq(tokens.familyId, row.familyId), isNull(tokens.revokedAt)));
    logger.warn(
      { customerId: row.customerId, tokenFamily: row.familyId },
      'refresh token already used or revoked: token family revoked',
    );
    return refreshFailed();
  }
  if (row.expiresAt <= now) return refreshFailed();

  const [customer] = await db
    .select()
    .from(tables.customers)
    .where(eq(tables.customers.id, row.customerId));
  if (!customer?.passwordHash) return refreshFailed();
  return issueTokens(db, config, customer, row.familyId);
}

/**
 * Revokes the family of a refresh token, which signs the customer out on
 * the device that stores it. Revoking a token twice succeeds.
 */
export async function signOutCustomer(
  db: OrdersDatabase,
  input: { refreshToken: string },
): Promise<{ revoked: boolean; userErrors: UserError[] }> {
  const tokens = tables.customerRefreshTokens;
  const [row] = await db
    .select({ familyId: tokens.familyId })
    .from(tokens)
    .where(eq(tokens.tokenHash, sha256(input.refreshToken.trim())));
  if (!row) {
    return {
      revoked: false,
      userErrors: [
        userError(
          ['input', 'refreshToken'],
          'The refresh token is not known.',
          UserErrorCode.Invalid,
        ),
      ],
    };
  }
  await db
    .update(tokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(tokens.familyId, row.familyId), isNull(tokens.revokedAt)));
  return { revoked: true, userErrors: [] };
}
