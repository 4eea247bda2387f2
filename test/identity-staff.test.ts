import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { decodeProtectedHeader, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../platform/database.js';
import {
  parsePrivateKey,
  type IdentityKey,
} from '../platform/identity-keys.js';
import { gatewayDatabaseUrl, tables } from '../gateway/db/database.js';
import { SCOPES } from '../gateway/identity/scopes.js';
import {
  createStaffAccount,
  disableStaffAccount,
} from '../gateway/identity/staff-accounts.js';
import { startTestStack, type TestStack } from './support/stack.js';

const PRODUCTS = '{ products(first: 1) { nodes { id } } }';
const PASSWORD = 'correct horse battery staple';

let stack: TestStack;
let database: ReturnType<typeof connectDatabase<typeof tables>>;
let signingKey: IdentityKey;
let adminId: string;

beforeAll(async () => {
  stack = await startTestStack();
  database = connectDatabase(gatewayDatabaseUrl(stack.config)!, tables, {
    poolSize: 2,
  });
  signingKey = await parsePrivateKey(stack.config.IDENTITY_PRIVATE_KEY!);
  const admin = await createStaffAccount(database.db, {
    email: 'Ada@Example.com',
    password: PASSWORD,
    role: 'admin',
  });
  adminId = admin.id;
  await createStaffAccount(database.db, {
    email: 'sam@example.com',
    password: PASSWORD,
    role: 'support',
  });
});

afterAll(async () => {
  await database?.close();
  await stack?.close();
});

async function signIn(body: unknown, contentType = 'application/json') {
  const response = await fetch(`${stack.gatewayOrigin}/auth/staff/token`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, any>,
  };
}

async function whoami(headers: Record<string, string> = {}) {
  const response = await fetch(`${stack.gatewayOrigin}/auth/whoami`, {
    headers,
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function bearer(email: string): Promise<Record<string, string>> {
  const result = await signIn({ email, password: PASSWORD });
  expect(result.status).toBe(200);
  return { authorization: `Bearer ${result.body.accessToken}` };
}

/** Signs a token like the gateway's staff tokens, with `changes` applied. */
async function staffToken(
  changes: {
    key?: IdentityKey;
    issuer?: string;
    audience?: string;
    expiresAt?: number;
  } = {},
): Promise<string> {
  const key = changes.key ?? signingKey;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: ['admin'] })
    .setProtectedHeader({ alg: key.algorithm, typ: 'at+jwt', kid: key.keyId })
    .setIssuer(changes.issuer ?? 'commerce-gateway')
    .setAudience(changes.audience ?? 'commerce-graph')
    .setSubject(adminId)
    .setIssuedAt(now - 60)
    .setExpirationTime(changes.expiresAt ?? now + 600)
    .sign(key.key);
}

describe('staff sign-in', () => {
  it('returns a signed access token', async () => {
    const result = await signIn({
      email: 'ada@example.com',
      password: PASSWORD,
    });

    expect(result.status).toBe(200);
    expect(result.body.tokenType).toBe('Bearer');
    expect(result.body.expiresIn).toBe(900);
    expect(result.headers.get('cache-control')).toBe('no-store');
    expect(decodeProtectedHeader(result.body.accessToken)).toMatchObject({
      alg: 'EdDSA',
      typ: 'at+jwt',
    });
  });

  it('ignores the case of the email', async () => {
    const result = await signIn({
      email: ' ADA@example.COM ',
      password: PASSWORD,
    });

    expect(result.status).toBe(200);
  });

  it('rejects a wrong password without saying which field', async () => {
    const wrongPassword = await signIn({
      email: 'ada@example.com',
      password: 'not the password',
    });
    const unknownEmail = await signIn({
      email: 'nobody@example.com',
      password: PASSWORD,
    });

    expect(wrongPassword.status).toBe(401);
    expect(unknownEmail.status).toBe(401);
    expect(wrongPassword.body).toEqual({
      error: 'Invalid email or password.',
      code: 'UNAUTHENTICATED',
    });
    expect(unknownEmail.body).toEqual(wrongPassword.body);
  });

  it('rejects a disabled account', async () => {
    await createStaffAccount(database.db, {
      email: 'former@example.com',
      password: PASSWORD,
      role: 'admin',
    });
    await disableStaffAccount(database.db, 'former@example.com');

    const result = await signIn({
      email: 'former@example.com',
      password: PASSWORD,
    });

    expect(result.status).toBe(401);
    expect(result.body.error).toBe('Invalid email or password.');
  });

  it('rejects invalid request bodies', async () => {
    const missingPassword = await signIn({ email: 'ada@example.com' });
    const notJson = await signIn(
      'email=ada',
      'application/x-www-form-urlencoded',
    );
    const brokenJson = await signIn('{"email":', 'application/json');
    const get = await fetch(`${stack.gatewayOrigin}/auth/staff/token`);

    expect(missingPassword.status).toBe(400);
    expect(missingPassword.body.error).toContain('password');
    expect(notJson.status).toBe(415);
    expect(brokenJson.status).toBe(400);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
});

describe('staff roles', () => {
  it('gives an admin every scope', async () => {
    const result = await whoami(await bearer('ada@example.com'));

    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      kind: 'staff',
      subject: adminId,
      roles: ['admin'],
      scopes: [...SCOPES],
    });
  });

  it('gives support read scopes only', async () => {
    const result = await whoami(await bearer('sam@example.com'));

    expect(result.body.kind).toBe('staff');
    expect(result.body.roles).toEqual(['support']);
    expect(result.body.scopes).toContain('read_orders');
    expect(result.body.scopes).toContain('read_products');
    for (const scope of result.body.scopes) {
      expect(scope).toMatch(/^read_/);
    }
  });

  it('lets admin but not support create partner keys', async () => {
    const create = async (headers: Record<string, string>) =>
      fetch(`${stack.gatewayOrigin}/admin/partner-keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ name: 'Role test', scopes: ['read_products'] }),
      });

    const asSupport = await create(await bearer('sam@example.com'));
    const asAdmin = await create(await bearer('ada@example.com'));

    expect(asSupport.status).toBe(403);
    expect(((await asSupport.json()) as any).code).toBe('FORBIDDEN');
    expect(asAdmin.status).toBe(201);
  });

  it('queries the graph with a staff token', async () => {
    const result = await stack.query(
      PRODUCTS,
      undefined,
      await bearer('sam@example.com'),
    );

    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
  });
});

describe('callers without valid credentials', () => {
  it('treats a request without credentials as anonymous', async () => {
    const result = await whoami();
    const graph = await stack.query(PRODUCTS);

    expect(result.body).toEqual({
      kind: 'anonymous',
      subject: null,
      scopes: [],
      roles: [],
    });
    expect(graph.status).toBe(200);
    expect(graph.errors).toBeUndefined();
  });

  it('rejects invalid tokens with UNAUTHENTICATED', async () => {
    const otherKey = await parsePrivateKey(
      generateKeyPairSync('ed25519')
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString(),
    );
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, Record<string, string>, string]> = [
      ['garbage', { authorization: 'Bearer not-a-token' }, 'neither a JWT'],
      [
        'other key',
        { authorization: `Bearer ${await staffToken({ key: otherKey })}` },
        'unknown key',
      ],
      [
        'other key posing as the gateway key',
        {
          authorization: `Bearer ${await staffToken({
            key: { ...otherKey, keyId: signingKey.keyId },
          })}`,
        },
        'invalid',
      ],
      [
        'expired',
        {
          authorization: `Bearer ${await staffToken({ expiresAt: now - 30 })}`,
        },
        'expired',
      ],
      [
        'untrusted issuer',
        {
          authorization: `Bearer ${await staffToken({ issuer: 'elsewhere' })}`,
        },
        'issuer',
      ],
      [
        'wrong audience',
        {
          authorization: `Bearer ${await staffToken({ audience: 'commerce-subgraphs' })}`,
        },
        'aud',
      ],
      ['basic scheme', { authorization: 'Basic YWRhOnBhc3M=' }, 'Bearer'],
      ['empty header', { authorization: '' }, 'Bearer'],
      [
        'two credentials',
        {
          authorization: `Bearer ${await staffToken()}`,
          'x-api-key': 'cgk_x',
        },
        'not both',
      ],
    ];

    for (const [name, headers, message] of cases) {
      const result = await stack.query(PRODUCTS, undefined, headers);
      expect(result.status, name).toBe(401);
      expect(result.data, name).toBeUndefined();
      expect(result.errors?.[0]?.extensions?.code, name).toBe(
        'UNAUTHENTICATED',
      );
      expect(result.errors?.[0]?.message, name).toContain(message);

      const whoamiResult = await whoami(headers);
      expect(whoamiResult.status, name).toBe(401);
      expect(whoamiResult.body.code, name).toBe('UNAUTHENTICATED');
    }
  });

  it('accepts a token signed for the gateway', async () => {
    const result = await stack.query(PRODUCTS, undefined, {
      authorization: `Bearer ${await staffToken()}`,
    });

    expect(result.status).toBe(200);
  });

  it('answers 401 with a WWW-Authenticate header', async () => {
    const response = await fetch(stack.gatewayUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer not-a-token',
      },
      body: JSON.stringify({ query: PRODUCTS }),
    });

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
  });
});

describe('staff command line', () => {
  /** Runs gateway/identity/cli.ts against the stack's gateway database. */
  function runCli(args: string[], input: string) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'gateway/identity/cli.ts', ...args],
      {
        env: {
          ...process.env,
          DATABASE_URL: stack.config.DATABASE_URL,
          DATABASE_PREFIX: stack.config.DATABASE_PREFIX,
          LOG_LEVEL: 'silent',
        },
      },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.stdin.end(input);
    return new Promise<{ code: number | null; output: string }>((resolve) =>
      child.once('exit', (code) => resolve({ code, output })),
    );
  }

  it('creates an account that can sign in', async () => {
    const created = await runCli(
      [
        'create-staff',
        '--email',
        'cli@example.com',
        '--role',
        'support',
        '--password-stdin',
      ],
      `${PASSWORD}\n`,
    );

    expect(created.output).toContain('Created support account cli@example.com');
    expect(created.code).toBe(0);
    expect((await whoami(await bearer('cli@example.com'))).body.roles).toEqual([
      'support',
    ]);
  });

  it('rejects a short password', async () => {
    const result = await runCli(
      [
        'create-staff',
        '--email',
        'short@example.com',
        '--role',
        'admin',
        '--password-stdin',
      ],
      'short\n',
    );

    expect(result.code).toBe(1);
    expect(result.output).toContain('12 to 1024 characters');
  });

  it('disables an account', async () => {
    await createStaffAccount(database.db, {
      email: 'leaving@example.com',
      password: PASSWORD,
      role: 'admin',
    });

    const result = await runCli(
      ['disable-staff', '--email', 'leaving@example.com'],
      '',
    );

    expect(result.code).toBe(0);
    expect(
      (await signIn({ email: 'leaving@example.com', password: PASSWORD }))
        .status,
    ).toBe(401);
  });
});
