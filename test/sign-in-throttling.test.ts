import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../platform/database.js';
import { signInEmailHash } from '../platform/sign-in-throttle.js';
import { gatewayDatabaseUrl, tables } from '../gateway/db/database.js';
import { createStaffAccount } from '../gateway/identity/staff-accounts.js';
import { startTestStack, type TestStack } from './support/stack.js';

/** SIGN_IN_MAX_FAILED_ATTEMPTS in this file. */
const MAX_FAILED = 3;
/** SIGN_IN_LOCKOUT_SECONDS in this file. */
const LOCKOUT_SECONDS = 600;
const PASSWORD = 'correct horse battery staple';

const REGISTER = `mutation ($input: CustomerRegisterInput!) {
  customerRegister(input: $input) { userErrors { field message code } }
}`;
const SIGN_IN = `mutation ($input: CustomerSignInInput!) {
  customerSignIn(input: $input) {
    accessToken
    userErrors { field message code }
  }
}`;

let stack: TestStack;
let gatewayDatabase: ReturnType<typeof connectDatabase<typeof tables>>;

beforeAll(async () => {
  stack = await startTestStack({
    SIGN_IN_MAX_FAILED_ATTEMPTS: String(MAX_FAILED),
    SIGN_IN_WINDOW_SECONDS: '900',
    SIGN_IN_LOCKOUT_SECONDS: String(LOCKOUT_SECONDS),
  });
  gatewayDatabase = connectDatabase(gatewayDatabaseUrl(stack.config)!, tables, {
    poolSize: 2,
  });
});

afterAll(async () => {
  await gatewayDatabase?.close();
  await stack?.close();
});

function uniqueEmail(name: string): string {
  return `${name}-${randomBytes(4).toString('hex')}@example.com`;
}

/** Runs SQL on the orders database, such as to move a lockout into the past. */
function ordersSql(query: ReturnType<typeof sql>) {
  return (stack.subgraphs.orders.database.db as any).execute(query);
}

async function registerCustomer(name: string): Promise<string> {
  const email = uniqueEmail(name);
  const result = await stack.query(REGISTER, {
    input: { email, password: PASSWORD, name },
  });
  expect(result.data!.customerRegister.userErrors).toEqual([]);
  return email;
}

async function customerSignIn(email: string, password: string) {
  const result = await stack.query(SIGN_IN, { input: { email, password } });
  expect(result.errors).toBeUndefined();
  return result.data!.customerSignIn as {
    accessToken: string | null;
    userErrors: { field: string[]; message: string; code: string }[];
  };
}

async function failCustomerSignIns(email: string, count: number) {
  for (let attempt = 0; attempt < count; attempt += 1) {
    const payload = await customerSignIn(email, 'wrong password');
    expect(payload.userErrors[0]!.code).toBe('INVALID');
  }
}

describe('customer sign-in throttling', () => {
  it('refuses even the right password after too many failures', async () => {
    const email = await registerCustomer('locked');
    await failCustomerSignIns(email, MAX_FAILED);

    const payload = await customerSignIn(email, PASSWORD);

    expect(payload.accessToken).toBeNull();
    expect(payload.userErrors).toEqual([
      {
        field: ['input', 'email'],
        message: `Too many failed sign-in attempts for this email address; try again in ${LOCKOUT_SECONDS / 60} minutes.`,
        code: 'TOO_MANY_ATTEMPTS',
      },
    ]);
  });

  it('throttles unknown emails the same way', async () => {
    const known = await registerCustomer('known');
    const unknown = uniqueEmail('nobody');
    await failCustomerSignIns(known, MAX_FAILED);
    await failCustomerSignIns(unknown, MAX_FAILED);

    const forKnown = await customerSignIn(known, 'wrong password');
    const forUnknown = await customerSignIn(unknown, 'wrong password');

    expect(forUnknown.userErrors).toEqual(forKnown.userErrors);
    expect(forUnknown.userErrors[0]!.code).toBe('TOO_MANY_ATTEMPTS');
  });

  it('counts every spelling of an address as one', async () => {
    const email = await registerCustomer('cased');
    await failCustomerSignIns(` ${email.toUpperCase()} `, MAX_FAILED);

    const payload = await customerSignIn(email, PASSWORD);

    expect(payload.userErrors[0]!.code).toBe('TOO_MANY_ATTEMPTS');
  });

  it('resets the count after a successful sign-in', async () => {
    const email = await registerCustomer('reset');
    await failCustomerSignIns(email, MAX_FAILED - 1);
    expect((await customerSignIn(email, PASSWORD)).accessToken).toBeTruthy();
    await failCustomerSignIns(email, MAX_FAILED - 1);

    const payload = await customerSignIn(email, PASSWORD);

    expect(payload.userErrors).toEqual([]);
    expect(payload.accessToken).toBeTruthy();
  });

  it('allows sign-in again once the lockout has passed', async () => {
    const email = await registerCustomer('expired');
    await failCustomerSignIns(email, MAX_FAILED);
    expect((await customerSignIn(email, PASSWORD)).userErrors[0]!.code).toBe(
      'TOO_MANY_ATTEMPTS',
    );

    await ordersSql(sql`update customer_sign_in_attempts
      set locked_until = now() - interval '1 second'
      where email_hash = ${signInEmailHash(email)}`);

    expect((await customerSignIn(email, PASSWORD)).accessToken).toBeTruthy();
  });

  it('forgets failures older than the window', async () => {
    const email = await registerCustomer('window');
    await failCustomerSignIns(email, MAX_FAILED - 1);
    await ordersSql(sql`update customer_sign_in_attempts
      set window_started_at = now() - interval '901 seconds'
      where email_hash = ${signInEmailHash(email)}`);
    await failCustomerSignIns(email, MAX_FAILED - 1);

    const payload = await customerSignIn(email, PASSWORD);

    expect(payload.accessToken).toBeTruthy();
  });

  it('counts each of concurrent attempts', async () => {
    const email = await registerCustomer('concurrent');

    const payloads = await Promise.all(
      Array.from({ length: 10 }, () => customerSignIn(email, 'wrong password')),
    );

    // Attempts are counted before the password is checked, so only
    // MAX_FAILED of them reach the check however many run at once.
    const codes = payloads.map((payload) => payload.userErrors[0]!.code);
    expect(codes.filter((code) => code === 'INVALID')).toHaveLength(MAX_FAILED);
    expect(codes.filter((code) => code === 'TOO_MANY_ATTEMPTS')).toHaveLength(
      10 - MAX_FAILED,
    );
    expect((await customerSignIn(email, PASSWORD)).userErrors[0]!.code).toBe(
      'TOO_MANY_ATTEMPTS',
    );
  });

  it('stores a hash of the address, never the address', async () => {
    const email = await registerCustomer('stored');
    await failCustomerSignIns(email, 1);

    const rows = await ordersSql(sql`select * from customer_sign_in_attempts`);
    const stored = JSON.stringify(rows);

    expect(stored).toContain(signInEmailHash(email));
    expect(stored).not.toContain(email.split('@')[0]);
    const [row] = rows.filter(
      (candidate: { email_hash: string }) =>
        candidate.email_hash === signInEmailHash(email),
    );
    expect(row.attempts).toBe(1);
  });
});

describe('staff sign-in throttling', () => {
  async function createStaff(name: string): Promise<string> {
    const email = uniqueEmail(name);
    await createStaffAccount(gatewayDatabase.db, {
      email,
      password: PASSWORD,
      role: 'support',
    });
    return email;
  }

  async function staffSignIn(email: string, password: string) {
    const response = await fetch(`${stack.gatewayOrigin}/auth/staff/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      body: (await response.json()) as Record<string, any>,
    };
  }

  async function failStaffSignIns(email: string, count: number) {
    for (let attempt = 0; attempt < count; attempt += 1) {
      expect((await staffSignIn(email, 'wrong password')).status).toBe(401);
    }
  }

  it('answers 429 with retry-after, even to the right password', async () => {
    const email = await createStaff('locked');
    await failStaffSignIns(email, MAX_FAILED);

    const result = await staffSignIn(email, PASSWORD);

    expect(result.status).toBe(429);
    expect(result.body).toEqual({
      error: `Too many failed sign-in attempts for this email address; try again in ${LOCKOUT_SECONDS / 60} minutes.`,
      code: 'TOO_MANY_ATTEMPTS',
    });
    const retryAfter = Number(result.retryAfter);
    expect(retryAfter).toBeGreaterThan(LOCKOUT_SECONDS - 30);
    expect(retryAfter).toBeLessThanOrEqual(LOCKOUT_SECONDS);
  });

  it('throttles unknown emails the same way', async () => {
    const known = await createStaff('known');
    const unknown = uniqueEmail('nobody');
    await failStaffSignIns(known, MAX_FAILED);
    await failStaffSignIns(unknown, MAX_FAILED);

    const forKnown = await staffSignIn(known, 'wrong password');
    const forUnknown = await staffSignIn(unknown, 'wrong password');

    expect(forUnknown.status).toBe(429);
    expect(forUnknown.body).toEqual(forKnown.body);
  });

  it('resets the count after a successful sign-in', async () => {
    const email = await createStaff('reset');
    await failStaffSignIns(email, MAX_FAILED - 1);
    expect((await staffSignIn(email, PASSWORD)).status).toBe(200);
    await failStaffSignIns(email, MAX_FAILED - 1);

    expect((await staffSignIn(email, PASSWORD)).status).toBe(200);
  });

  it('allows sign-in again once the lockout has passed', async () => {
    const email = await createStaff('expired');
    await failStaffSignIns(email, MAX_FAILED);
    expect((await staffSignIn(email, PASSWORD)).status).toBe(429);

    await gatewayDatabase.db.execute(sql`update staff_sign_in_attempts
      set locked_until = now() - interval '1 second'
      where email_hash = ${signInEmailHash(email)}`);

    expect((await staffSignIn(email, PASSWORD)).status).toBe(200);
  });

  it('counts each of concurrent attempts', async () => {
    const email = await createStaff('concurrent');

    const results = await Promise.all(
      Array.from({ length: 10 }, () => staffSignIn(email, 'wrong password')),
    );

    const statuses = results.map((result) => result.status);
    expect(statuses.filter((status) => status === 401)).toHaveLength(
      MAX_FAILED,
    );
    expect(statuses.filter((status) => status === 429)).toHaveLength(
      10 - MAX_FAILED,
    );
    expect((await staffSignIn(email, PASSWORD)).status).toBe(429);
  });

  it('stores a hash of the address, never the address', async () => {
    const email = await createStaff('stored');
    await failStaffSignIns(email, 1);

    const rows = await gatewayDatabase.db
      .select()
      .from(tables.staffSignInAttempts);

    expect(JSON.stringify(rows)).not.toContain(email.split('@')[0]);
    expect(
      rows.find((row) => row.emailHash === signInEmailHash(email))?.attempts,
    ).toBe(1);
  });
});
