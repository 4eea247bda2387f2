import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CUSTOMER_TOKEN_ISSUER,
  signCustomerAccessToken,
} from '../platform/customer-tokens.js';
import { uuidv7 } from '../platform/ids.js';
import {
  generateIdentityKeyPair,
  parsePrivateKey,
} from '../platform/identity-keys.js';
import * as tables from '../subgraphs/orders/db/tables.js';
import { startTestStack, type TestStack } from './support/stack.js';

let stack: TestStack;

const PAYLOAD_FIELDS = `accessToken refreshToken expiresIn
  customer { id email name }
  userErrors { field message code }`;

const REGISTER = `mutation ($input: CustomerRegisterInput!) {
  customerRegister(input: $input) { ${PAYLOAD_FIELDS} }
}`;
const SIGN_IN = `mutation ($input: CustomerSignInInput!) {
  customerSignIn(input: $input) { ${PAYLOAD_FIELDS} }
}`;
const REFRESH = `mutation ($input: CustomerRefreshTokenInput!) {
  customerRefreshToken(input: $input) { ${PAYLOAD_FIELDS} }
}`;

interface SignedIn {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

function uniqueEmail(name: string): string {
  return `${name}-${randomBytes(4).toString('hex')}@example.com`;
}

async function register(name: string): Promise<SignedIn> {
  const email = uniqueEmail(name);
  const password = randomBytes(12).toString('base64url');
  const result = await stack.query(REGISTER, {
    input: { email, password, name },
  });
  expect(result.errors).toBeUndefined();
  const payload = result.data!.customerRegister;
  expect(payload.userErrors).toEqual([]);
  return {
    id: payload.customer.id,
    email,
    password,
    accessToken: payload.accessToken,
    refreshToken: payload.refreshToken,
  };
}

/** Inserts an order of `customerId` straight into the orders database. */
async function insertOrder(
  customerId: string | null,
  totalAmount: number,
): Promise<string> {
  const db = stack.subgraphs.orders.database.db as any;
  const id = uuidv7();
  await db.insert(tables.orders).values({
    id,
    customerId,
    email: 'orders@example.com',
    currencyCode: 'USD',
    subtotalAmount: totalAmount,
    totalAmount,
  });
  return id;
}

let alice: SignedIn;
let bob: SignedIn;
let aliceOrders: string[];
let bobOrder: string;

beforeAll(async () => {
  const customerKey = generateIdentityKeyPair();
  stack = await startTestStack({
    CUSTOMER_TOKEN_PRIVATE_KEY: customerKey.privateKey,
  });
  alice = await register('alice');
  bob = await register('bob');
  aliceOrders = [
    await insertOrder(alice.id, 1000),
    await insertOrder(alice.id, 2000),
  ];
  bobOrder = await insertOrder(bob.id, 3000);
});

afterAll(async () => {
  await stack?.close();
});

describe('customer registration', () => {
  test('register returns tokens and customer', async () => {
    const email = uniqueEmail('Carol');
    const result = await stack.query(REGISTER, {
      input: {
        email: `  ${email.toUpperCase()} `,
        password: 'correct horse battery',
        name: ' Carol ',
      },
    });
    const payload = result.data!.customerRegister;
    expect(payload.userErrors).toEqual([]);
    expect(payload.customer.email).toBe(email.toLowerCase());
    expect(payload.customer.name).toBe('Carol');
    expect(payload.expiresIn).toBe(900);
    expect(typeof payload.accessToken).toBe('string');
    expect(payload.refreshToken).toMatch(/^crt_/);
  });

  test('duplicate email is TAKEN', async () => {
    const result = await stack.query(REGISTER, {
      input: {
        email: alice.email.toUpperCase(),
        password: 'another long password',
      },
    });
    const payload = result.data!.customerRegister;
    expect(payload.accessToken).toBeNull();
    expect(payload.customer).toBeNull();
    expect(payload.userErrors).toEqual([
      {
        field: ['input', 'email'],
        message: 'Email is already registered; sign in instead.',
        code: 'TAKEN',
      },
    ]);
  });

  test('invalid email and short password', async () => {
    const result = await stack.query(REGISTER, {
      input: { email: 'not-an-address', password: 'short' },
    });
    const payload = result.data!.customerRegister;
    expect(payload.accessToken).toBeNull();
    expect(payload.userErrors.map((error: any) => error.field)).toEqual([
      ['input', 'email'],
      ['input', 'password'],
    ]);
    expect(
      payload.userErrors.every((error: any) => error.code === 'INVALID'),
    ).toBe(true);
  });
});

describe('customer sign-in', () => {
  test('sign-in with the right password', async () => {
    const result = await stack.query(SIGN_IN, {
      input: {
        email: ` ${alice.email.toUpperCase()}`,
        password: alice.password,
      },
    });
    const payload = result.data!.customerSignIn;
    expect(payload.userErrors).toEqual([]);
    expect(payload.customer.id).toBe(alice.id);

    const me = await stack.query(
      '{ me { id email } }',
      {},
      bearer(payload.accessToken),
    );
    expect(me.errors).toBeUndefined();
    expect(me.data!.me).toEqual({ id: alice.id, email: alice.email });
  });

  test('wrong password and unknown email read alike', async () => {
    for (const input of [
      { email: alice.email, password: 'wrong password here' },
      { email: uniqueEmail('nobody'), password: alice.password },
    ]) {
      const result = await stack.query(SIGN_IN, { input });
      const payload = result.data!.customerSignIn;
      expect(payload.accessToken).toBeNull();
      expect(payload.refreshToken).toBeNull();
      expect(payload.userErrors).toEqual([
        {
          field: ['input'],
          message: 'Invalid email or password.',
          code: 'INVALID',
        },
      ]);
    }
  });
});

describe('refresh tokens', () => {
  test('rotation and reuse detection', async () => {
    const signedIn = await stack.query(SIGN_IN, {
      input: { email: bob.email, password: bob.password },
    });
    const first = signedIn.data!.customerSignIn.refreshToken as string;

    const rotated = await stack.query(REFRESH, {
      input: { refreshToken: first },
    });
    const second = rotated.data!.customerRefreshToken;
    expect(second.userErrors).toEqual([]);
    expect(second.customer.id).toBe(bob.id);
    expect(second.refreshToken).not.toBe(first);
    const me = await stack.query(
      '{ me { id } }',
      {},
      bearer(second.accessToken),
    );
    expect(me.data!.me).toEqual({ id: bob.id });

    // The first token is used: presenting it again fails and revokes the
    // token that replaced it.
    const reused = await stack.query(REFRESH, {
      input: { refreshToken: first },
    });
    expect(reused.data!.customerRefreshToken.accessToken).toBeNull();
    expect(reused.data!.customerRefreshToken.userErrors[0].code).toBe(
      'INVALID',
    );
    const afterReuse = await stack.query(REFRESH, {
      input: { refreshToken: second.refreshToken },
    });
    expect(afterReuse.data!.customerRefreshToken.accessToken).toBeNull();
    expect(afterReuse.data!.customerRefreshToken.userErrors[0].code).toBe(
      'INVALID',
    );

    // Another sign-in starts a new family, untouched by the revocation.
    const other = await stack.query(REFRESH, {
      input: { refreshToken: bob.refreshToken },
    });
    expect(other.data!.customerRefreshToken.userErrors).toEqual([]);
  });

  test('sign-out revokes the refresh token', async () => {
    const signedIn = await stack.query(SIGN_IN, {
      input: { email: alice.email, password: alice.password },
    });
    const refreshToken = signedIn.data!.customerSignIn.refreshToken;
    const signedOut = await stack.query(
      `mutation ($input: CustomerSignOutInput!) {
        customerSignOut(input: $input) { revoked userErrors { code } }
      }`,
      { input: { refreshToken } },
    );
    expect(signedOut.data!.customerSignOut).toEqual({
      revoked: true,
      userErrors: [],
    });
    const refreshed = await stack.query(REFRESH, { input: { refreshToken } });
    expect(refreshed.data!.customerRefreshToken.accessToken).toBeNull();
    expect(refreshed.data!.customerRefreshToken.userErrors[0].code).toBe(
      'INVALID',
    );
  });

  test('unknown refresh token is INVALID', async () => {
    const result = await stack.query(REFRESH, {
      input: { refreshToken: 'crt_unknown' },
    });
    expect(result.data!.customerRefreshToken.userErrors).toEqual([
      {
        field: ['input', 'refreshToken'],
        message:
          'The refresh token is invalid, expired or already used; sign in again.',
        code: 'INVALID',
      },
    ]);
  });

  test('refresh tokens are stored hashed', async () => {
    const db = stack.subgraphs.orders.database.db as any;
    const rows = await db.select().from(tables.customerRefreshTokens);
    const hashes = rows.map((row: any) => row.tokenHash);
    expect(hashes).not.toContain(alice.refreshToken);
    expect(hashes).not.toContain(bob.refreshToken);
  });
});

describe('customer object access', () => {
  const ORDER =
    'query ($id: ID!) { order(id: $id) { id totalPrice { amount } customer { id } } }';

  test('own order is returned', async () => {
    const result = await stack.query(
      ORDER,
      { id: aliceOrders[0] },
      bearer(alice.accessToken),
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.order).toEqual({
      id: aliceOrders[0],
      totalPrice: { amount: '10.00' },
      customer: { id: alice.id },
    });
  });

  test("another customer's order is null", async () => {
    const result = await stack.query(
      ORDER,
      { id: bobOrder },
      bearer(alice.accessToken),
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.order).toBeNull();
  });

  test("another customer's record is null", async () => {
    const result = await stack.query(
      'query ($id: ID!) { customer(id: $id) { id email } }',
      { id: bob.id },
      bearer(alice.accessToken),
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.customer).toBeNull();
  });

  test('me.orders lists own orders only', async () => {
    const result = await stack.query(
      '{ me { id orders(first: 1) { nodes { id } pageInfo { hasNextPage endCursor } } } }',
      {},
      bearer(alice.accessToken),
    );
    expect(result.errors).toBeUndefined();
    const page = result.data!.me.orders;
    // Newest first.
    expect(page.nodes).toEqual([{ id: aliceOrders[1] }]);
    expect(page.pageInfo.hasNextPage).toBe(true);

    const next = await stack.query(
      'query ($after: String) { me { orders(first: 5, after: $after) { nodes { id } pageInfo { hasNextPage } } } }',
      { after: page.pageInfo.endCursor },
      bearer(alice.accessToken),
    );
    expect(next.data!.me.orders.nodes).toEqual([{ id: aliceOrders[0] }]);
    expect(next.data!.me.orders.pageInfo.hasNextPage).toBe(false);
  });

  test('anonymous me is UNAUTHENTICATED', async () => {
    const result = await stack.query('{ me { id } }');
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(result.errors?.[0]?.path).toEqual(['me']);
  });

  test('direct subgraph call as customer', async () => {
    const result = await stack.querySubgraph(
      'orders',
      'query ($id: ID!) { order(id: $id) { id } }',
      { id: bobOrder },
      { kind: 'customer', subject: alice.id, scopes: [], roles: [] },
    );
    expect(result.status).toBe(200);
    expect(result.data!.order).toBeNull();
  });
});

describe('staff and partner access', () => {
  test('support reads orders but cannot mutate', async () => {
    const headers = await stack.staffHeaders('support');
    const read = await stack.query(
      'query ($id: ID!) { order(id: $id) { id customer { id } } }',
      { id: bobOrder },
      headers,
    );
    expect(read.errors).toBeUndefined();
    expect(read.data!.order).toEqual({
      id: bobOrder,
      customer: { id: bob.id },
    });

    const write = await stack.query(
      `mutation { productCreate(input: { title: "Mug", variants: [{ sku: "mug-${randomBytes(3).toString('hex')}", price: { amount: "5.00" } }] }) { userErrors { message } } }`,
      {},
      headers,
    );
    expect(write.data).toBeNull();
    expect(write.errors).toHaveLength(1);
    expect(write.errors![0]!.path).toEqual(['productCreate']);
    expect(write.errors![0]!.extensions?.code).toBe('FORBIDDEN');
  });

  test('partner without read_orders is FORBIDDEN', async () => {
    const admin = await stack.staffHeaders('admin');
    const created = await fetch(`${stack.gatewayOrigin}/admin/partner-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...admin },
      body: JSON.stringify({ name: 'Storefront', scopes: ['read_products'] }),
    });
    expect(created.status).toBe(201);
    const { key } = (await created.json()) as { key: string };

    const result = await stack.query(
      'query ($id: ID!) { order(id: $id) { id } locations { code } }',
      { id: bobOrder },
      { 'x-api-key': key },
    );
    expect(result.status).toBe(200);
    expect(Array.isArray(result.data?.locations)).toBe(true);
    expect(result.data).not.toHaveProperty('order');
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.path).toEqual(['order']);
    expect(result.errors![0]!.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('customer token verification', () => {
  test('forged customer token is 401', async () => {
    const forger = await parsePrivateKey(generateIdentityKeyPair().privateKey);
    const forged = await signCustomerAccessToken(forger, alice.id, 900);
    const result = await stack.query('{ me { id } }', {}, bearer(forged));
    expect(result.status).toBe(401);
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  test('tampered subject is 401', async () => {
    const [header, , signature] = alice.accessToken.split('.');
    const claims = Buffer.from(
      JSON.stringify({
        iss: CUSTOMER_TOKEN_ISSUER,
        aud: 'commerce-graph',
        sub: bob.id,
        exp: Math.floor(Date.now() / 1000) + 600,
      }),
    ).toString('base64url');
    const result = await stack.query(
      '{ me { id } }',
      {},
      bearer(`${header}.${claims}.${signature}`),
    );
    expect(result.status).toBe(401);
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  test('orders publishes its JWK Set', async () => {
    const response = await fetch(
      new URL('/.well-known/jwks.json', stack.subgraphs.orders.url),
    );
    expect(response.status).toBe(200);
    const jwks = (await response.json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });
});
