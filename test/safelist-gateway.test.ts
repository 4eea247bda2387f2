import { createHash } from 'node:crypto';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_NAMES, type ServiceName } from '../platform/config.js';
import { createLogger } from '../platform/logger.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import {
  committedSupergraphPath,
  startTestStack,
  type TestStack,
} from './support/stack.js';

const REGISTERED = 'query FirstProduct { products(first: 1) { nodes { id } } }';
const UNREGISTERED = '{ products(first: 2) { nodes { id title } } }';

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Starts an HTTP proxy in front of one subgraph that counts the requests it
 * forwards, to tell whether the gateway called the subgraph at all.
 */
async function startCountingProxy(target: string) {
  let count = 0;
  const server: Server = http.createServer(async (request, response) => {
    count += 1;
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (['host', 'connection', 'content-length'].includes(name)) continue;
      if (typeof value === 'string') headers[name] = value;
    }
    const upstream = await fetch(target, {
      method: request.method,
      headers,
      body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
    });
    response.writeHead(upstream.status, {
      'content-type': upstream.headers.get('content-type') ?? 'text/plain',
    });
    response.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    count: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let stack: TestStack;
/** A gateway on the stack's database whose subgraph requests are counted. */
let gateway: RunningGateway;
let proxies: Record<
  ServiceName,
  Awaited<ReturnType<typeof startCountingProxy>>
>;

beforeAll(async () => {
  stack = await startTestStack({ SAFELIST_CACHE_MS: '1000' });
  proxies = {} as typeof proxies;
  for (const name of SERVICE_NAMES) {
    proxies[name] = await startCountingProxy(stack.subgraphs[name].url);
  }
  gateway = await startGateway({
    config: stack.config,
    logger: createLogger('test', stack.config.LOG_LEVEL),
    supergraphPath: committedSupergraphPath,
    subgraphUrls: Object.fromEntries(
      SERVICE_NAMES.map((name) => [name, proxies[name].url]),
    ),
    host: '127.0.0.1',
    port: 0,
  });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all(Object.values(proxies ?? {}).map((proxy) => proxy.close()));
  await stack?.close();
});

function subgraphRequestCount(): number {
  return SERVICE_NAMES.reduce((sum, name) => sum + proxies[name].count(), 0);
}

async function adminRequest(
  method: string,
  path: string,
  body?: unknown,
  role: 'admin' | 'support' = 'admin',
) {
  const response = await fetch(`${new URL(gateway.url).origin}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(await stack.staffHeaders(role)),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function createKey(name: string) {
  const result = await adminRequest('POST', '/admin/partner-keys', {
    name,
    scopes: ['read_products'],
  });
  expect(result.status).toBe(201);
  return result.body as { id: string; key: string };
}

/** Sends a GraphQL POST with any body to the counted gateway. */
async function send(body: Record<string, unknown>, apiKey?: string) {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(apiKey ? { 'x-api-key': apiKey } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

function persisted(hash: string) {
  return { persistedQuery: { version: 1, sha256Hash: hash } };
}

describe('safelist mode of partner keys', () => {
  let safelisted: { id: string; key: string };
  let open: { id: string; key: string };

  beforeAll(async () => {
    safelisted = await createKey('Safelisted ERP');
    open = await createKey('Open ERP');
    const mode = await adminRequest(
      'PUT',
      `/admin/partner-keys/${safelisted.id}/safelist`,
      { enabled: true },
    );
    expect(mode.status).toBe(200);
    expect(mode.body).toEqual({ id: safelisted.id, safelistMode: true });
  });

  it('registers an operation and returns its hash', async () => {
    const created = await adminRequest(
      'POST',
      `/admin/partner-keys/${safelisted.id}/operations`,
      { document: REGISTERED },
    );
    expect(created.status).toBe(201);
    expect(created.body.hash).toBe(sha256(REGISTERED));
    expect(created.body.operationName).toBe('FirstProduct');

    const again = await adminRequest(
      'POST',
      `/admin/partner-keys/${safelisted.id}/operations`,
      { document: REGISTERED },
    );
    expect(again.status).toBe(200);
    expect(again.body.hash).toBe(sha256(REGISTERED));

    const listed = await adminRequest(
      'GET',
      `/admin/partner-keys/${safelisted.id}/operations`,
      undefined,
      'support',
    );
    expect(listed.status).toBe(200);
    expect(listed.body.operations).toHaveLength(1);
    expect(listed.body.operations[0].hash).toBe(sha256(REGISTERED));
  });

  it('rejects an unregistered query without a subgraph request', async () => {
    const before = subgraphRequestCount();
    const result = await send({ query: UNREGISTERED }, safelisted.key);

    expect(result.status).toBe(403);
    expect(result.body.data).toBeUndefined();
    expect(result.body.errors).toHaveLength(1);
    expect(result.body.errors[0].extensions.code).toBe(
      'OPERATION_NOT_IN_SAFELIST',
    );
    expect(result.body.errors[0].message).toMatch(/not registered/);
    expect(subgraphRequestCount()).toBe(before);
  });

  it('rejects an unregistered hash without a subgraph request', async () => {
    const before = subgraphRequestCount();
    const result = await send(
      { extensions: persisted(sha256(UNREGISTERED)) },
      safelisted.key,
    );

    expect(result.status).toBe(403);
    expect(result.body.errors[0].extensions.code).toBe(
      'OPERATION_NOT_IN_SAFELIST',
    );
    expect(subgraphRequestCount()).toBe(before);
  });

  it('runs a registered operation by hash', async () => {
    const before = subgraphRequestCount();
    const result = await send(
      { extensions: persisted(sha256(REGISTERED)) },
      safelisted.key,
    );

    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    expect(Array.isArray(result.body.data.products.nodes)).toBe(true);
    expect(subgraphRequestCount()).toBeGreaterThan(before);
  });

  it('runs a registered operation sent as a query', async () => {
    const result = await send({ query: REGISTERED }, safelisted.key);

    expect(result.status).toBe(200);
    expect(Array.isArray(result.body.data.products.nodes)).toBe(true);
  });

  it('leaves keys outside safelist mode unaffected', async () => {
    const result = await send({ query: UNREGISTERED }, open.key);

    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    expect(Array.isArray(result.body.data.products.nodes)).toBe(true);
  });

  it('applies a change from another replica', async () => {
    // The stack's own gateway is a second replica on the same database.
    const response = await fetch(
      `${stack.gatewayOrigin}/admin/partner-keys/${open.id}/safelist`,
      {
        method: 'PUT',
        headers: {
          'content-type': 'application/json',
          ...(await stack.staffHeaders('admin')),
        },
        body: JSON.stringify({ enabled: true }),
      },
    );
    expect(response.status).toBe(200);

    // SAFELIST_CACHE_MS is 1000 in this file.
    await sleep(1_100);
    const result = await send({ query: UNREGISTERED }, open.key);
    expect(result.status).toBe(403);
    expect(result.body.errors[0].extensions.code).toBe(
      'OPERATION_NOT_IN_SAFELIST',
    );

    const reset = await adminRequest(
      'PUT',
      `/admin/partner-keys/${open.id}/safelist`,
      { enabled: false },
    );
    expect(reset.status).toBe(200);
    const after = await send({ query: UNREGISTERED }, open.key);
    expect(after.status).toBe(200);
  });

  it('rejects an operation after its deletion', async () => {
    const hash = sha256(REGISTERED);
    const deleted = await adminRequest(
      'DELETE',
      `/admin/partner-keys/${safelisted.id}/operations/${hash}`,
    );
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ hash, deleted: true });

    const result = await send({ extensions: persisted(hash) }, safelisted.key);
    expect(result.status).toBe(403);

    const missing = await adminRequest(
      'DELETE',
      `/admin/partner-keys/${safelisted.id}/operations/${hash}`,
    );
    expect(missing.status).toBe(404);
  });

  it('rejects invalid registrations', async () => {
    const invalid = await adminRequest(
      'POST',
      `/admin/partner-keys/${safelisted.id}/operations`,
      { document: '{ products(first: 1) {' },
    );
    expect(invalid.status).toBe(400);
    expect(invalid.body.code).toBe('BAD_USER_INPUT');

    const twoOperations = await adminRequest(
      'POST',
      `/admin/partner-keys/${safelisted.id}/operations`,
      { document: 'query A { __typename } query B { __typename }' },
    );
    expect(twoOperations.status).toBe(400);
    expect(twoOperations.body.error).toMatch(/exactly one operation/);

    const unknownKey = await adminRequest(
      'POST',
      '/admin/partner-keys/00000000-0000-7000-8000-000000000000/operations',
      { document: REGISTERED },
    );
    expect(unknownKey.status).toBe(404);

    const bySupport = await adminRequest(
      'POST',
      `/admin/partner-keys/${safelisted.id}/operations`,
      { document: REGISTERED },
      'support',
    );
    expect(bySupport.status).toBe(403);
    expect(bySupport.body.code).toBe('FORBIDDEN');
  });

  it('rejects anonymous callers on the routes', async () => {
    const response = await fetch(
      `${new URL(gateway.url).origin}/admin/partner-keys/${safelisted.id}/operations`,
    );
    expect(response.status).toBe(401);
  });
});

describe('safelist mode at key creation', () => {
  it('creates a key in safelist mode with its first operations', async () => {
    const created = await adminRequest('POST', '/admin/partner-keys', {
      name: 'Safelisted from the start',
      scopes: ['read_products'],
      safelistMode: true,
      // The same document twice is registered once.
      operations: [{ document: REGISTERED }, { document: REGISTERED }],
    });
    expect(created.status).toBe(201);
    expect(created.body.safelistMode).toBe(true);
    expect(created.body.operations).toHaveLength(1);
    expect(created.body.operations[0]).toMatchObject({
      hash: sha256(REGISTERED),
      operationName: 'FirstProduct',
      document: REGISTERED,
    });
    const { id, key } = created.body as { id: string; key: string };

    const mode = await adminRequest(
      'GET',
      `/admin/partner-keys/${id}/safelist`,
      undefined,
      'support',
    );
    expect(mode.body).toEqual({ id, safelistMode: true });

    // The first request of the key already runs in safelist mode.
    const before = subgraphRequestCount();
    const rejected = await send({ query: UNREGISTERED }, key);
    expect(rejected.status).toBe(403);
    expect(rejected.body.errors[0].extensions.code).toBe(
      'OPERATION_NOT_IN_SAFELIST',
    );
    expect(subgraphRequestCount()).toBe(before);

    const allowed = await send(
      { extensions: persisted(sha256(REGISTERED)) },
      key,
    );
    expect(allowed.status).toBe(200);
    expect(Array.isArray(allowed.body.data.products.nodes)).toBe(true);
  });

  it('registers operations for a key outside safelist mode', async () => {
    const created = await adminRequest('POST', '/admin/partner-keys', {
      name: 'Operations ready, mode off',
      scopes: ['read_products'],
      operations: [{ document: REGISTERED }],
    });
    expect(created.status).toBe(201);
    expect(created.body.safelistMode).toBe(false);
    expect(created.body.operations).toHaveLength(1);

    const result = await send({ query: UNREGISTERED }, created.body.key);
    expect(result.status).toBe(200);

    const listed = await adminRequest(
      'GET',
      `/admin/partner-keys/${created.body.id}/operations`,
    );
    expect(listed.body.operations).toHaveLength(1);
  });

  it('leaves safelist mode off and registers nothing by default', async () => {
    const created = await adminRequest('POST', '/admin/partner-keys', {
      name: 'Default mode',
      scopes: ['read_products'],
    });
    expect(created.status).toBe(201);
    expect(created.body.safelistMode).toBe(false);
    expect(created.body.operations).toEqual([]);
  });

  it('rejects invalid input and then stores no key', async () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      [
        'invalid document',
        {
          safelistMode: true,
          operations: [
            { document: REGISTERED },
            { document: '{ products(first: 1) {' },
          ],
        },
        /operations\[1\]\.document is not valid GraphQL/,
      ],
      [
        'two operations',
        {
          operations: [
            { document: 'query A { __typename } query B { __typename }' },
          ],
        },
        /operations\[0\]\.document must contain exactly one operation/,
      ],
      ['empty document', { operations: [{ document: '' }] }, /operations/],
      ['mode not a boolean', { safelistMode: 'yes' }, /safelistMode/],
    ];
    for (const [label, fields, message] of cases) {
      const name = `Rejected: ${label}`;
      const result = await adminRequest('POST', '/admin/partner-keys', {
        name,
        scopes: ['read_products'],
        ...fields,
      });
      expect(result.status, label).toBe(400);
      expect(result.body.code, label).toBe('BAD_USER_INPUT');
      expect(result.body.error, label).toMatch(message);

      const listed = await adminRequest('GET', '/admin/partner-keys');
      const names = listed.body.partnerKeys.map(
        (view: { name: string }) => view.name,
      );
      expect(names, label).not.toContain(name);
    }
  });

  it('lets only admins create a key in safelist mode', async () => {
    const result = await adminRequest(
      'POST',
      '/admin/partner-keys',
      {
        name: 'By support',
        scopes: ['read_products'],
        safelistMode: true,
      },
      'support',
    );
    expect(result.status).toBe(403);
    expect(result.body.code).toBe('FORBIDDEN');
  });
});

describe('automatic persisted queries', () => {
  const QUERY = '{ products(first: 3) { nodes { id } } }';

  it('registers a query and then runs it by hash', async () => {
    const hash = sha256(QUERY);

    const miss = await send({ extensions: persisted(hash) });
    expect(miss.body.errors[0].extensions.code).toBe(
      'PERSISTED_QUERY_NOT_FOUND',
    );
    expect(miss.body.data).toBeUndefined();

    const register = await send({ query: QUERY, extensions: persisted(hash) });
    expect(register.status).toBe(200);
    expect(register.body.errors).toBeUndefined();
    expect(Array.isArray(register.body.data.products.nodes)).toBe(true);

    const hit = await send({ extensions: persisted(hash) });
    expect(hit.status).toBe(200);
    expect(hit.body.errors).toBeUndefined();
    expect(hit.body.data).toEqual(register.body.data);
  });

  it('rejects a hash that does not match the query', async () => {
    const result = await send({
      query: QUERY,
      extensions: persisted(sha256('{ __typename }')),
    });
    expect(result.status).toBe(400);
    expect(result.body.errors[0].message).toMatch(/does not match/);
    expect(result.body.errors[0].extensions.code).toBe('BAD_REQUEST');
  });
});
