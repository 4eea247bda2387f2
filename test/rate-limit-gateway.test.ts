import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_NAMES, type Config } from '../platform/config.js';
import { connectDatabase } from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import { gatewayDatabaseUrl, tables } from '../gateway/db/database.js';
import type { CallerIdentity } from '../gateway/caller.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import {
  callerHeaders,
  committedSupergraphPath,
  startTestStack,
  type TestStack,
} from './support/stack.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
/** Costs 2: the connection 1, plus 1 node × (Product 1 + id 0). */
const PRODUCTS = '{ products(first: 1) { nodes { id } } }';
const PRODUCTS_COST = 2;
/** Restore rate so slow that no point flows back during a test, per second. */
const NO_REFILL = '0.001';

let stack: TestStack;
let redis: Redis;
let database: ReturnType<typeof connectDatabase<typeof tables>>;
/** Counts the requests that the gateways in this file send to catalog. */
let catalogProxy: CountingProxy;
let gateways: RunningGateway[] = [];
let keyPrefixes: string[] = [];

beforeAll(async () => {
  stack = await startTestStack();
  catalogProxy = await startCountingProxy(stack.subgraphs.catalog.url);
  redis = new Redis(REDIS_URL);
  database = connectDatabase(gatewayDatabaseUrl(stack.config)!, tables, {
    poolSize: 1,
  });
});

afterEach(async () => {
  await Promise.all(gateways.map((gateway) => gateway.close()));
  gateways = [];
  for (const prefix of keyPrefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await database.sql`delete from rate_limit_buckets where starts_with(key, ${prefix})`;
  }
  keyPrefixes = [];
});

afterAll(async () => {
  await database?.close();
  redis?.disconnect();
  await catalogProxy?.close();
  await stack?.close();
});

interface CountingProxy {
  url: string;
  requests: number;
  close(): Promise<void>;
}

/** Starts an HTTP proxy in front of a subgraph that counts its requests. */
async function startCountingProxy(target: string): Promise<CountingProxy> {
  const proxy: CountingProxy = { url: '', requests: 0, close: async () => {} };
  const server: Server = createServer(async (request, response) => {
    proxy.requests += 1;
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value !== 'string') continue;
      if (['host', 'connection', 'content-length'].includes(name)) continue;
      headers[name] = value;
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
  proxy.url = `http://127.0.0.1:${port}/graphql`;
  proxy.close = () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    });
  return proxy;
}

/**
 * Starts a gateway replica on the stack's database, with catalog behind the
 * counting proxy and `overrides` applied to the configuration.
 */
async function startReplica(
  overrides: Partial<Config>,
): Promise<RunningGateway> {
  const config = {
    ...stack.config,
    OPERATION_REPORT_COST: true,
    ...overrides,
  } as Config;
  const gateway = await startGateway({
    config,
    logger: createLogger('test', config.LOG_LEVEL),
    supergraphPath: committedSupergraphPath,
    subgraphUrls: {
      ...Object.fromEntries(
        SERVICE_NAMES.map((name) => [name, stack.subgraphs[name].url]),
      ),
      catalog: catalogProxy.url,
    },
    host: '127.0.0.1',
    port: 0,
    acceptTestCallerHeader: true,
  });
  gateways.push(gateway);
  return gateway;
}

/** Returns a configuration with a new key prefix, cleaned up after the test. */
function limits(
  store: 'postgres' | 'redis',
  values: Record<string, string | number>,
): Partial<Config> {
  const prefix = `test-${randomUUID()}:`;
  keyPrefixes.push(prefix);
  const numeric = Object.fromEntries(
    Object.entries(values).map(([name, value]) => [name, Number(value)]),
  );
  return {
    RATE_LIMIT_STORE: store,
    REDIS_URL,
    RATE_LIMIT_KEY_PREFIX: prefix,
    ...numeric,
  };
}

function partner(subject = randomUUID()): CallerIdentity {
  return { kind: 'partner', subject, scopes: [], roles: [] };
}

interface HttpResult {
  status: number;
  retryAfter: string | null;
  body: {
    data?: unknown;
    errors?: Array<{ message: string; extensions?: Record<string, any> }>;
    extensions?: Record<string, any>;
  };
}

async function send(
  gateway: RunningGateway,
  headers: Record<string, string> = {},
  document = PRODUCTS,
): Promise<HttpResult> {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: document }),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as HttpResult['body'],
  };
}

describe.each(['postgres', 'redis'] as const)('rate limit with %s', (store) => {
  it('rejects a partner over budget', async () => {
    const gateway = await startReplica(
      limits(store, {
        RATE_LIMIT_PARTNER_CAPACITY: 5,
        RATE_LIMIT_PARTNER_RESTORE_RATE: NO_REFILL,
      }),
    );
    const headers = callerHeaders(partner());

    const first = await send(gateway, headers);
    expect(first.status).toBe(200);
    expect(first.body.extensions?.cost).toEqual({
      requestedQueryCost: PRODUCTS_COST,
      actualQueryCost: null,
      throttleStatus: {
        maximumAvailable: 5,
        currentlyAvailable: 3,
        restoreRate: 0.001,
      },
    });
    expect((await send(gateway, headers)).status).toBe(200);

    const requestsBefore = catalogProxy.requests;
    const limited = await send(gateway, headers);
    expect(limited.status).toBe(429);
    expect(catalogProxy.requests).toBe(requestsBefore);
    expect(limited.body.data).toBeUndefined();
    const error = limited.body.errors?.[0];
    expect(error?.extensions?.code).toBe('RATE_LIMITED');
    // One point is left and the second point takes 1 / 0.001 s to restore,
    // less what the time since the first request restored.
    const retryAfterSeconds = error?.extensions?.retryAfterSeconds;
    expect(retryAfterSeconds).toBeGreaterThanOrEqual(990);
    expect(retryAfterSeconds).toBeLessThanOrEqual(1000);
    expect(limited.retryAfter).toBe(String(retryAfterSeconds));
    expect(limited.body.extensions?.cost?.throttleStatus).toEqual({
      maximumAvailable: 5,
      currentlyAvailable: 1,
      restoreRate: 0.001,
    });
  });

  it('refills the budget over time', async () => {
    const gateway = await startReplica(
      limits(store, {
        RATE_LIMIT_PARTNER_CAPACITY: 4,
        RATE_LIMIT_PARTNER_RESTORE_RATE: 1,
      }),
    );
    const headers = callerHeaders(partner());
    // Each request takes 2 points and 1 point flows back per second, so
    // requests sent faster than one per 2 s run the bucket dry.
    let limited: HttpResult | undefined;
    for (let i = 0; i < 10 && !limited; i += 1) {
      const result = await send(gateway, headers);
      if (result.status === 429) limited = result;
    }
    expect(limited).toBeDefined();
    const retryAfterSeconds = Number(limited!.retryAfter);
    expect(retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(retryAfterSeconds).toBeLessThanOrEqual(2);

    await sleep(retryAfterSeconds * 1_000 + 100);
    const refilled = await send(gateway, headers);
    expect(refilled.status).toBe(200);
  });

  it('shares one budget between replicas', async () => {
    const settings = limits(store, {
      RATE_LIMIT_PARTNER_CAPACITY: 6,
      RATE_LIMIT_PARTNER_RESTORE_RATE: NO_REFILL,
    });
    const replicaA = await startReplica(settings);
    const replicaB = await startReplica(settings);
    const headers = callerHeaders(partner());

    expect((await send(replicaA, headers)).status).toBe(200);
    expect((await send(replicaB, headers)).status).toBe(200);
    expect((await send(replicaA, headers)).status).toBe(200);
    expect((await send(replicaB, headers)).status).toBe(429);
    expect((await send(replicaA, headers)).status).toBe(429);
  });

  it('never overspends under concurrency', async () => {
    const budget = 10;
    const requests = 40;
    const settings = limits(store, {
      RATE_LIMIT_PARTNER_CAPACITY: budget,
      RATE_LIMIT_PARTNER_RESTORE_RATE: NO_REFILL,
    });
    const replicas = [
      await startReplica(settings),
      await startReplica(settings),
    ];
    const headers = callerHeaders(partner());

    // `__typename` costs 0 and is charged the minimum of 1 point.
    const results = await Promise.all(
      Array.from({ length: requests }, (_, i) =>
        send(replicas[i % 2]!, headers, '{ __typename }'),
      ),
    );
    const statuses = results.map((result) => result.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(budget);
    expect(statuses.filter((status) => status === 429)).toHaveLength(
      requests - budget,
    );
  });

  it('keeps separate buckets per caller', async () => {
    const gateway = await startReplica(
      limits(store, {
        RATE_LIMIT_PARTNER_CAPACITY: PRODUCTS_COST,
        RATE_LIMIT_PARTNER_RESTORE_RATE: NO_REFILL,
        RATE_LIMIT_CUSTOMER_CAPACITY: PRODUCTS_COST,
        RATE_LIMIT_CUSTOMER_RESTORE_RATE: NO_REFILL,
        RATE_LIMIT_ANONYMOUS_CAPACITY: PRODUCTS_COST,
        RATE_LIMIT_ANONYMOUS_RESTORE_RATE: NO_REFILL,
      }),
    );
    const subject = randomUUID();
    const partnerA = callerHeaders(partner(subject));
    const partnerB = callerHeaders(partner());
    const customer = callerHeaders({
      kind: 'customer',
      subject,
      scopes: [],
      roles: [],
    });

    expect((await send(gateway, partnerA)).status).toBe(200);
    expect((await send(gateway, partnerA)).status).toBe(429);
    expect((await send(gateway, partnerB)).status).toBe(200);
    expect((await send(gateway, customer)).status).toBe(200);
    expect((await send(gateway, customer)).status).toBe(429);
    expect((await send(gateway)).status).toBe(200);
    expect((await send(gateway)).status).toBe(429);
  });

  it('leaves staff unlimited by default', async () => {
    const gateway = await startReplica(limits(store, {}));
    const staff = callerHeaders({
      kind: 'staff',
      subject: randomUUID(),
      scopes: [],
      roles: ['support'],
    });
    for (let i = 0; i < 3; i += 1) {
      const result = await send(gateway, staff);
      expect(result.status).toBe(200);
      expect(result.body.extensions?.cost?.throttleStatus).toBeNull();
    }
  });
});

describe('rate limit capacity', () => {
  it('rejects an operation costing more than capacity', async () => {
    const gateway = await startReplica(
      limits('postgres', {
        RATE_LIMIT_PARTNER_CAPACITY: PRODUCTS_COST - 1,
        RATE_LIMIT_PARTNER_RESTORE_RATE: NO_REFILL,
      }),
    );
    const requestsBefore = catalogProxy.requests;
    const result = await send(gateway, callerHeaders(partner()));
    expect(result.status).toBe(400);
    expect(result.retryAfter).toBeNull();
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'MAX_COST_EXCEEDED',
      value: PRODUCTS_COST,
      maximum: PRODUCTS_COST - 1,
    });
    expect(catalogProxy.requests).toBe(requestsBefore);
  });
});

describe('rate limit client address', () => {
  const anonymousLimits = () =>
    limits('postgres', {
      RATE_LIMIT_ANONYMOUS_CAPACITY: PRODUCTS_COST,
      RATE_LIMIT_ANONYMOUS_RESTORE_RATE: NO_REFILL,
    });

  it('ignores x-forwarded-for without trusted proxies', async () => {
    const gateway = await startReplica(anonymousLimits());
    const first = await send(gateway, { 'x-forwarded-for': '203.0.113.1' });
    const second = await send(gateway, { 'x-forwarded-for': '203.0.113.2' });
    expect(first.status).toBe(200);
    expect(second.status).toBe(429);
  });

  it('keys by x-forwarded-for behind a trusted proxy', async () => {
    const gateway = await startReplica({
      ...anonymousLimits(),
      RATE_LIMIT_TRUSTED_PROXY_HOPS: 1,
    });
    // The client wrote the left entry itself; the proxy appended the right one.
    const first = await send(gateway, {
      'x-forwarded-for': '198.51.100.7, 203.0.113.1',
    });
    const second = await send(gateway, {
      'x-forwarded-for': '198.51.100.7, 203.0.113.2',
    });
    const third = await send(gateway, {
      'x-forwarded-for': '198.51.100.8, 203.0.113.1',
    });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(third.status).toBe(429);
  });
});

describe('rate limit store failure', () => {
  it('lets requests through when Redis is unreachable', async () => {
    // A port that was free a moment ago, so nothing listens on it.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const gateway = await startReplica({
      ...limits('redis', {
        RATE_LIMIT_PARTNER_CAPACITY: PRODUCTS_COST,
        RATE_LIMIT_PARTNER_RESTORE_RATE: NO_REFILL,
      }),
      REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    const headers = callerHeaders(partner());
    for (let i = 0; i < 3; i += 1) {
      const result = await send(gateway, headers);
      expect(result.status).toBe(200);
      expect(result.body.extensions?.cost?.throttleStatus).toBeNull();
    }
  });
});
