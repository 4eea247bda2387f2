import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import { SERVICE_NAMES } from '../platform/config.js';
import { gatewayDatabaseUrl, tables } from '../gateway/db/database.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import {
  committedSupergraphPath,
  startTestStack,
  type TestStack,
} from './support/stack.js';

const PRODUCTS = '{ products(first: 1) { nodes { id } } }';
/** Partner key cache of the gateways in this file, in milliseconds. */
const CACHE_MS = 1000;

let stack: TestStack;
/** A second gateway replica on the same database. */
let replica: RunningGateway;
let database: ReturnType<typeof connectDatabase<typeof tables>>;

beforeAll(async () => {
  stack = await startTestStack({ PARTNER_KEY_CACHE_MS: String(CACHE_MS) });
  replica = await startGateway({
    config: stack.config,
    logger: createLogger('test', stack.config.LOG_LEVEL),
    supergraphPath: committedSupergraphPath,
    subgraphUrls: Object.fromEntries(
      SERVICE_NAMES.map((name) => [name, stack.subgraphs[name].url]),
    ),
    host: '127.0.0.1',
    port: 0,
  });
  database = connectDatabase(gatewayDatabaseUrl(stack.config)!, tables, {
    poolSize: 1,
  });
});

afterAll(async () => {
  await database?.close();
  await replica?.close();
  await stack?.close();
});

async function adminRequest(
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) {
  const response = await fetch(`${stack.gatewayOrigin}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(headers ?? (await stack.staffHeaders('admin'))),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function createKey(body: Record<string, unknown>) {
  const result = await adminRequest('POST', '/admin/partner-keys', body);
  expect(result.status).toBe(201);
  return result.body as { id: string; key: string; scopes: string[] };
}

async function whoami(url: string, headers: Record<string, string>) {
  const response = await fetch(`${new URL(url).origin}/auth/whoami`, {
    headers,
  });
  return { status: response.status, body: (await response.json()) as any };
}

describe('partner key creation', () => {
  it('returns the key once and stores its hash', async () => {
    const created = await adminRequest('POST', '/admin/partner-keys', {
      name: 'Acme ERP',
      scopes: ['read_products', 'write_inventory'],
    });

    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(
      /^cgk_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}$/,
    );
    expect(created.body).toMatchObject({
      name: 'Acme ERP',
      scopes: ['read_products', 'write_inventory'],
      expiresAt: null,
      revokedAt: null,
      keyPrefix: created.body.key.slice(0, 16),
    });

    const [row] = await database.db
      .select()
      .from(tables.partnerKeys)
      .where(eq(tables.partnerKeys.id, created.body.id));
    expect(row!.keyHash).toBe(
      createHash('sha256').update(created.body.key).digest('hex'),
    );
    expect(JSON.stringify(row)).not.toContain(created.body.key);

    const listed = await adminRequest(
      'GET',
      '/admin/partner-keys',
      undefined,
      await stack.staffHeaders('support'),
    );
    expect(listed.status).toBe(200);
    const entry = listed.body.partnerKeys.find(
      (key: { id: string }) => key.id === created.body.id,
    );
    expect(entry.name).toBe('Acme ERP');
    expect(entry).not.toHaveProperty('key');
  });

  it('rejects unknown scopes and past expiry', async () => {
    const unknownScope = await adminRequest('POST', '/admin/partner-keys', {
      name: 'Bad scopes',
      scopes: ['read_products', 'drop_tables'],
    });
    const pastExpiry = await adminRequest('POST', '/admin/partner-keys', {
      name: 'Expired already',
      scopes: ['read_products'],
      expiresAt: '2020-01-01T00:00:00Z',
    });
    const adminScope = await adminRequest('POST', '/admin/partner-keys', {
      name: 'Key manager',
      scopes: ['manage_partner_keys'],
    });

    expect(unknownScope.status).toBe(400);
    expect(unknownScope.body.error).toContain('drop_tables');
    expect(pastExpiry.status).toBe(400);
    expect(pastExpiry.body.error).toContain('expiresAt');
    expect(adminScope.status).toBe(400);
  });

  it('is for admins only', async () => {
    const { key } = await createKey({ name: 'Curious partner', scopes: [] });

    const anonymous = await adminRequest(
      'POST',
      '/admin/partner-keys',
      { name: 'x', scopes: [] },
      {},
    );
    const partner = await adminRequest(
      'POST',
      '/admin/partner-keys',
      { name: 'x', scopes: [] },
      { 'x-api-key': key },
    );

    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('UNAUTHENTICATED');
    expect(partner.status).toBe(403);
    expect(partner.body.code).toBe('FORBIDDEN');
  });
});

describe('partner key use', () => {
  it('identifies the partner in either header', async () => {
    const { id, key } = await createKey({
      name: 'Storefront partner',
      scopes: ['read_products', 'read_orders'],
    });

    const headerSets: Record<string, string>[] = [
      { 'x-api-key': key },
      { authorization: `Bearer ${key}` },
    ];
    for (const headers of headerSets) {
      const caller = await whoami(stack.gatewayUrl, headers);
      expect(caller.body).toEqual({
        kind: 'partner',
        subject: id,
        scopes: ['read_products', 'read_orders'],
        roles: [],
      });
      const result = await stack.query(PRODUCTS, undefined, headers);
      expect(result.status).toBe(200);
      expect(result.errors).toBeUndefined();
    }
  });

  it('rejects unknown and malformed keys', async () => {
    const { key } = await createKey({ name: 'Real', scopes: [] });
    const wrongSecret =
      key.slice(0, -4) + (key.endsWith('AAAA') ? 'BBBB' : 'AAAA');

    for (const candidate of [wrongSecret, 'cgk_short', `${key}x`]) {
      const result = await stack.query(PRODUCTS, undefined, {
        'x-api-key': candidate,
      });
      expect(result.status).toBe(401);
      expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(result.errors?.[0]?.message).toBe('The API key is not valid.');
    }
  });

  it('rejects a revoked key on every replica', async () => {
    const { id, key } = await createKey({
      name: 'Leaked',
      scopes: ['read_products'],
    });
    const headers = { 'x-api-key': key };
    // Both replicas verify the key once, so both hold it in their cache.
    expect((await stack.query(PRODUCTS, undefined, headers)).status).toBe(200);
    expect((await whoami(replica.url, headers)).status).toBe(200);

    const revoked = await adminRequest('DELETE', `/admin/partner-keys/${id}`);
    const revokedAt = Date.now();

    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    // The replica that revoked the key rejects it at once.
    const result = await stack.query(PRODUCTS, undefined, headers);
    expect(result.status).toBe(401);
    expect(result.data).toBeUndefined();
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(result.errors?.[0]?.message).toBe('The API key has been revoked.');

    // The other replica rejects it once its cache entry is older than CACHE_MS.
    let status = 200;
    while (status === 200 && Date.now() - revokedAt < CACHE_MS + 2000) {
      status = (await whoami(replica.url, headers)).status;
      if (status === 200) await sleep(100);
    }
    expect(status).toBe(401);
    expect(Date.now() - revokedAt).toBeLessThan(CACHE_MS + 1000);
  });

  it('rejects an expired key', async () => {
    const expiresAt = new Date(Date.now() + 1500);
    const { key } = await createKey({
      name: 'Short-lived',
      scopes: ['read_products'],
      expiresAt: expiresAt.toISOString(),
    });
    const headers = { 'x-api-key': key };
    expect((await stack.query(PRODUCTS, undefined, headers)).status).toBe(200);

    await sleep(expiresAt.getTime() - Date.now() + 50);
    const result = await stack.query(PRODUCTS, undefined, headers);

    expect(result.status).toBe(401);
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(result.errors?.[0]?.message).toBe('The API key has expired.');
  });

  it('answers 404 for revoking an unknown key', async () => {
    const unknown = await adminRequest(
      'DELETE',
      '/admin/partner-keys/00000000-0000-7000-8000-000000000000',
    );
    const malformed = await adminRequest('DELETE', '/admin/partner-keys/nope');

    expect(unknown.status).toBe(404);
    expect(malformed.status).toBe(404);
  });

  it('keeps the first revocation time', async () => {
    const { id } = await createKey({ name: 'Twice', scopes: [] });

    const first = await adminRequest('DELETE', `/admin/partner-keys/${id}`);
    const second = await adminRequest('DELETE', `/admin/partner-keys/${id}`);

    expect(second.status).toBe(200);
    expect(second.body.revokedAt).toBe(first.body.revokedAt);
  });
});
