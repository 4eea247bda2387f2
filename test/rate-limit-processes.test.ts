import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_NAMES } from '../platform/config.js';
import { createLogger } from '../platform/logger.js';
import {
  startChildService,
  stopChildService,
  waitUntilReady,
  type ChildService,
} from '../scripts/supervisor.js';
import {
  committedSupergraphPath,
  startTestStack,
  type TestStack,
} from './support/stack.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
/** Costs 2: the connection 1, plus 1 node × (Product 1 + id 0). */
const PRODUCTS = '{ products(first: 1) { nodes { id } } }';
const PRODUCTS_COST = 2;
/** Four requests fit, with 1 point left, so the fifth is rejected. */
const CAPACITY = 9;
/** Points restored per second: about 1 in 1,000 s, so none during a test. */
const RESTORE_RATE = 0.001;

let stack: TestStack;
const logger = createLogger('test', 'warn');

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.close();
});

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface GatewayProcess {
  url: string;
  service: ChildService;
}

/**
 * Spawns `node --import tsx gateway/index.ts` as `npm start` does, on the
 * stack's gateway database and subgraphs, with the stack's identity keys.
 * The process is added to `processes` before it is ready, so the caller
 * stops it even when it fails to start.
 */
async function spawnGateway(
  name: string,
  environment: Record<string, string>,
  processes: GatewayProcess[],
): Promise<GatewayProcess> {
  const port = await findFreePort();
  const { config } = stack;
  const service = startChildService(name, 'gateway/index.ts', {
    ...process.env,
    APOLLO_TELEMETRY_DISABLED: 'true',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    GATEWAY_PORT: String(port),
    SUPERGRAPH_PATH: committedSupergraphPath,
    DATABASE_URL: config.DATABASE_URL!,
    DATABASE_PREFIX: config.DATABASE_PREFIX,
    IDENTITY_PRIVATE_KEY: config.IDENTITY_PRIVATE_KEY!,
    IDENTITY_PUBLIC_KEY: config.IDENTITY_PUBLIC_KEY!,
    OPERATION_REPORT_COST: 'true',
    ...Object.fromEntries(
      SERVICE_NAMES.map((service) => [
        `${service.toUpperCase()}_URL`,
        stack.subgraphs[service].url,
      ]),
    ),
    ...environment,
  });
  const gateway = { url: `http://127.0.0.1:${port}/graphql`, service };
  processes.push(gateway);
  await waitUntilReady(service, `http://127.0.0.1:${port}/ready`, 60_000);
  return gateway;
}

async function createPartnerKey(name: string): Promise<string> {
  const response = await fetch(`${stack.gatewayOrigin}/admin/partner-keys`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(await stack.staffHeaders('admin')),
    },
    body: JSON.stringify({ name, scopes: ['read_products'] }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { key: string }).key;
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

async function send(gateway: GatewayProcess, key: string): Promise<HttpResult> {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query: PRODUCTS }),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as HttpResult['body'],
  };
}

/**
 * Sends `count` requests with `key`, alternating between `gateways` and
 * starting with the first, one after another.
 */
async function spendAlternately(
  gateways: GatewayProcess[],
  key: string,
  count: number,
): Promise<HttpResult[]> {
  const results: HttpResult[] = [];
  for (let i = 0; i < count; i += 1) {
    results.push(await send(gateways[i % gateways.length]!, key));
  }
  return results;
}

describe.each(['postgres', 'redis'] as const)(
  'rate limit across gateway processes with %s',
  (store) => {
    const keyPrefix = `test-${randomUUID()}:`;
    const processes: GatewayProcess[] = [];
    let gatewayA: GatewayProcess;
    let gatewayB: GatewayProcess;

    beforeAll(async () => {
      const environment = {
        RATE_LIMIT_STORE: store,
        REDIS_URL,
        RATE_LIMIT_KEY_PREFIX: keyPrefix,
        RATE_LIMIT_PARTNER_CAPACITY: String(CAPACITY),
        RATE_LIMIT_PARTNER_RESTORE_RATE: String(RESTORE_RATE),
      };
      // One after the other: both migrate the same gateway database.
      gatewayA = await spawnGateway(
        `gateway-a-${store}`,
        environment,
        processes,
      );
      gatewayB = await spawnGateway(
        `gateway-b-${store}`,
        environment,
        processes,
      );
    });

    afterAll(async () => {
      await Promise.all(
        processes.map(({ service }) =>
          stopChildService(service, 5_000, logger),
        ),
      );
      if (store === 'redis') {
        const redis = new Redis(REDIS_URL);
        try {
          const keys = await redis.keys(`${keyPrefix}*`);
          if (keys.length > 0) await redis.del(...keys);
        } finally {
          redis.disconnect();
        }
      }
    });

    it('runs two separate gateway processes', () => {
      const pids = processes.map(({ service }) => service.process.pid);
      expect(pids).toHaveLength(2);
      expect(pids[0]).not.toBe(pids[1]);
      expect(pids).not.toContain(process.pid);
    });

    it.each([
      ['A', () => [gatewayA, gatewayB]],
      ['B', () => [gatewayB, gatewayA]],
    ])('rejects the fifth request on gateway %s', async (_process, order) => {
      const key = await createPartnerKey(`Shared budget ${randomUUID()}`);
      const [first, second] = order();

      const results = await spendAlternately([first!, second!], key, 6);

      expect(results.map((result) => result.status)).toEqual([
        200, 200, 200, 200, 429, 429,
      ]);
      // Each process reports what is left in the one shared bucket.
      expect(
        results
          .slice(0, 4)
          .map((result) => result.body.extensions?.cost?.throttleStatus),
      ).toEqual(
        [7, 5, 3, 1].map((currentlyAvailable) => ({
          maximumAvailable: CAPACITY,
          currentlyAvailable,
          restoreRate: RESTORE_RATE,
        })),
      );

      const limited = results[4]!;
      expect(limited.body.data).toBeUndefined();
      const error = limited.body.errors?.[0];
      expect(error?.extensions?.code).toBe('RATE_LIMITED');
      expect(error?.extensions?.cost).toBe(PRODUCTS_COST);
      // One point is left, and the second point takes 1 / 0.001 s to
      // restore, less what the time since the first request restored.
      const retryAfterSeconds = error?.extensions?.retryAfterSeconds;
      expect(retryAfterSeconds).toBeGreaterThanOrEqual(990);
      expect(retryAfterSeconds).toBeLessThanOrEqual(1000);
      expect(limited.retryAfter).toBe(String(retryAfterSeconds));

      const limitedOnOther = results[5]!;
      expect(limitedOnOther.body.errors?.[0]?.extensions?.code).toBe(
        'RATE_LIMITED',
      );
      expect(limitedOnOther.retryAfter).not.toBeNull();
    });
  },
);
