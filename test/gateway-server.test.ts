import { mkdtempSync, rmSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { composeServices } from '@apollo/composition';
import { ApolloServer } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { GraphQLError, parse } from 'graphql';
import { pino } from 'pino';
import { describe, expect, onTestFinished, test } from 'vitest';
import { loadConfig } from '../platform/config.js';
import {
  createGraphQLHttpHandler,
  listen,
  sendJson,
} from '../platform/http-server.js';
import { startGateway } from '../gateway/server.js';

// Two small subgraphs stand in for catalog and marketplace: catalog owns
// products, marketplace adds `Product.listingCount` through an entity
// reference, so a query for both crosses the two services.

const FEDERATION_LINK =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])';

/** Catalog SDL; `extraFields` are added to Product. */
function catalogTypeDefs(extraFields = ''): string {
  return `${FEDERATION_LINK}
    type Query {
      products: [Product!]!
      slowProducts(delayMs: Int!): [Product!]!
      archivedProduct: Product
      brokenProduct: Product
    }
    type Product @key(fields: "id") {
      id: ID!
      title: String!
      ${extraFields}
    }`;
}

const MARKETPLACE_TYPE_DEFS = `${FEDERATION_LINK}
  type Product @key(fields: "id") {
    id: ID!
    listingCount: Int
  }`;

const PRODUCTS = [
  { id: 'p1', title: 'Mug', description: 'Stoneware, 350 ml' },
  { id: 'p2', title: 'Poster', description: 'A2, matte' },
];
const LISTING_COUNTS: Record<string, number> = { p1: 3, p2: 0 };

/** Served by catalog from the start, but only in some test supergraphs. */
const DESCRIPTION_FIELD = 'description: String';

/** Routing URL in the test supergraph; the gateway must override it. */
const UNUSED_ROUTING_URL = 'http://127.0.0.1:9/graphql';

interface TestSubgraph {
  url: string;
  /** TCP connections the subgraph accepted. */
  connections: number;
  /** Headers of every GraphQL request the subgraph received. */
  requestHeaders: IncomingHttpHeaders[];
  /** Calls of `slowProducts` that have started. */
  slowCalls: number;
  /** Delay in ms before marketplace resolves a product reference. */
  referenceDelayMs: number;
  /** Whether `/ready` responds 200 (true) or 503 (false). */
  ready: boolean;
  close(): Promise<void>;
}

const silentLogger = pino({ level: 'silent' });

async function startTestSubgraph(
  typeDefs: string,
  createResolvers: (state: TestSubgraph) => object,
): Promise<TestSubgraph> {
  const state: TestSubgraph = {
    url: '',
    connections: 0,
    requestHeaders: [],
    slowCalls: 0,
    referenceDelayMs: 0,
    ready: true,
    close: async () => {},
  };
  const apollo = new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: parse(typeDefs),
      resolvers: createResolvers(state) as never,
    }),
    csrfPrevention: false,
    logger: silentLogger,
  });
  await apollo.start();
  const handler = createGraphQLHttpHandler({
    apollo,
    bodyLimitBytes: 1_000_000,
    logger: silentLogger,
    createContext: async (request) => {
      state.requestHeaders.push(request.headers);
      return {};
    },
    routes: {
      '/ready': (_request, response) =>
        sendJson(response, state.ready ? 200 : 503, { ready: state.ready }),
    },
  });
  const http = await listen(handler, '127.0.0.1', 0);
  http.server.on('connection', () => {
    state.connections += 1;
  });
  state.url = http.url;
  state.close = async () => {
    await http.close(0);
    await apollo.stop();
  };
  return state;
}

function startCatalog(): Promise<TestSubgraph> {
  return startTestSubgraph(catalogTypeDefs(DESCRIPTION_FIELD), (state) => ({
    Query: {
      products: () => PRODUCTS,
      slowProducts: async (_: unknown, args: { delayMs: number }) => {
        state.slowCalls += 1;
        await sleep(args.delayMs);
        return PRODUCTS;
      },
      archivedProduct: () => {
        throw new GraphQLError('Product p9 is archived.', {
          extensions: { code: 'PRODUCT_ARCHIVED' },
        });
      },
      brokenProduct: () => {
        throw new Error(
          'connect ECONNREFUSED postgres://app:hunter2@db/catalog',
        );
      },
    },
    Product: {
      __resolveReference: (reference: { id: string }) =>
        PRODUCTS.find((product) => product.id === reference.id),
    },
  }));
}

function startMarketplace(): Promise<TestSubgraph> {
  return startTestSubgraph(MARKETPLACE_TYPE_DEFS, (state) => ({
    Product: {
      __resolveReference: async (reference: { id: string }) => {
        if (state.referenceDelayMs > 0) await sleep(state.referenceDelayMs);
        return { id: reference.id, listingCount: LISTING_COUNTS[reference.id] };
      },
    },
  }));
}

/** Composes the test supergraph; `extraCatalogFields` are added to Product. */
function composeTestSupergraph(extraCatalogFields = ''): string {
  const result = composeServices([
    {
      name: 'catalog',
      url: UNUSED_ROUTING_URL,
      typeDefs: parse(catalogTypeDefs(extraCatalogFields)),
    },
    {
      name: 'marketplace',
      url: UNUSED_ROUTING_URL,
      typeDefs: parse(MARKETPLACE_TYPE_DEFS),
    },
  ]);
  if (result.errors) throw new Error(result.errors.map(String).join('\n'));
  return result.supergraphSdl;
}

interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/**
 * Starts both subgraphs and a gateway on a temporary supergraph file, and
 * stops them when the test finishes. `settings` are configuration variables.
 */
async function startFixture(settings: Record<string, string> = {}) {
  const catalog = await startCatalog();
  const marketplace = await startMarketplace();
  const folder = mkdtempSync(path.join(os.tmpdir(), 'gateway-test-'));
  const supergraphPath = path.join(folder, 'supergraph.graphql');
  await writeFile(supergraphPath, composeTestSupergraph());

  const logs: LogRecord[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => logs.push(JSON.parse(line) as LogRecord) },
  );
  const config = loadConfig({
    SUBGRAPH_TIMEOUT_MS: '3000',
    SHUTDOWN_GRACE_MS: '5000',
    ...settings,
  });
  const gateway = await startGateway({
    config,
    logger,
    supergraphPath,
    subgraphUrls: { catalog: catalog.url, marketplace: marketplace.url },
    host: '127.0.0.1',
    port: 0,
  });
  const origin = new URL(gateway.url).origin;

  onTestFinished(async () => {
    await gateway.close();
    await catalog.close();
    await marketplace.close();
    rmSync(folder, { recursive: true, force: true });
  });
  return { catalog, marketplace, gateway, origin, supergraphPath, logs };
}

async function postQuery(
  url: string,
  query: string,
  headers: Record<string, string> = {},
) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as {
      data?: Record<string, unknown> | null;
      errors?: Array<Record<string, unknown>>;
    },
  };
}

async function getJson(url: string) {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as unknown };
}

/** Replaces a file by a rename, as `npm run compose` does. */
async function replaceFile(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

async function waitFor<T>(
  description: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${description}.`,
      );
    }
    await sleep(25);
  }
}

const PRODUCTS_WITH_LISTINGS = '{ products { id title listingCount } }';

describe('gateway queries', () => {
  test('query across two subgraphs', async () => {
    const { gateway, catalog, marketplace } = await startFixture();

    const result = await postQuery(gateway.url, PRODUCTS_WITH_LISTINGS);

    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      data: {
        products: [
          { id: 'p1', title: 'Mug', listingCount: 3 },
          { id: 'p2', title: 'Poster', listingCount: 0 },
        ],
      },
    });
    expect(catalog.requestHeaders).toHaveLength(1);
    expect(marketplace.requestHeaders).toHaveLength(1);
  });

  test('routes by CATALOG_URL when no option is given', async () => {
    const other = await startCatalog();
    onTestFinished(() => other.close());
    const folder = mkdtempSync(path.join(os.tmpdir(), 'gateway-test-'));
    onTestFinished(() => rmSync(folder, { recursive: true, force: true }));
    const supergraphPath = path.join(folder, 'supergraph.graphql');
    await writeFile(supergraphPath, composeTestSupergraph());
    const gateway = await startGateway({
      config: loadConfig({ CATALOG_URL: other.url }),
      logger: silentLogger,
      supergraphPath,
      host: '127.0.0.1',
      port: 0,
    });
    onTestFinished(() => gateway.close());

    const result = await postQuery(gateway.url, '{ products { id } }');

    expect(result.body).toEqual({
      data: { products: [{ id: 'p1' }, { id: 'p2' }] },
    });
    expect(other.requestHeaders).toHaveLength(1);
  });

  test('forwards the caller request id', async () => {
    const { gateway, catalog } = await startFixture();

    const result = await postQuery(gateway.url, '{ products { id } }', {
      'x-request-id': 'req-42',
    });

    expect(result.status).toBe(200);
    expect(result.headers.get('x-request-id')).toBe('req-42');
    expect(catalog.requestHeaders[0]?.['x-request-id']).toBe('req-42');
  });

  test('replaces a malformed request id', async () => {
    const { gateway, catalog } = await startFixture();

    const result = await postQuery(gateway.url, '{ products { id } }', {
      'x-request-id': 'not a valid id',
    });

    const generated = result.headers.get('x-request-id');
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    expect(catalog.requestHeaders[0]?.['x-request-id']).toBe(generated);
  });

  test('subgraph error keeps its code', async () => {
    const { gateway } = await startFixture();

    const result = await postQuery(gateway.url, '{ archivedProduct { id } }');

    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      data: { archivedProduct: null },
      errors: [
        {
          message: 'Product p9 is archived.',
          path: ['archivedProduct'],
          extensions: { code: 'PRODUCT_ARCHIVED', serviceName: 'catalog' },
        },
      ],
    });
  });

  test('unexpected subgraph error is masked', async () => {
    const { gateway, logs } = await startFixture();

    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ brokenProduct { id } }' }),
    });
    const text = await response.text();
    const requestId = response.headers.get('x-request-id');

    expect(response.status).toBe(200);
    expect(text).not.toContain('hunter2');
    expect(JSON.parse(text)).toEqual({
      data: { brokenProduct: null },
      errors: [
        {
          message: `Internal server error (request id ${requestId})`,
          path: ['brokenProduct'],
          extensions: {
            code: 'INTERNAL_SERVER_ERROR',
            serviceName: 'catalog',
            requestId,
          },
        },
      ],
    });
    const logged = logs.find(
      (log) => log.msg === 'unexpected error from subgraph',
    );
    expect(logged?.message).toBe(
      'connect ECONNREFUSED postgres://app:***@db/catalog',
    );
    expect(JSON.stringify(logs)).not.toContain('hunter2');
  });
  test('subgraph validation error keeps its code', async () => {
    const { gateway, supergraphPath, logs } = await startFixture();
    // A supergraph ahead of the running subgraph: catalog has no `sku` yet,
    // so catalog rejects the fetch with HTTP 400 and a GraphQL error.
    await replaceFile(
      supergraphPath,
      composeTestSupergraph(`${DESCRIPTION_FIELD}\nsku: String`),
    );
    await waitFor('the supergraph to be reloaded', () =>
      logs.some((log) => log.msg === 'supergraph reloaded'),
    );

    const result = await postQuery(gateway.url, '{ products { id sku } }');

    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      data: null,
      errors: [
        {
          message: 'Cannot query field "sku" on type "Product".',
          extensions: {
            code: 'GRAPHQL_VALIDATION_FAILED',
            serviceName: 'catalog',
          },
        },
      ],
    });
  });
});

describe('gateway with a subgraph down', () => {
  test('stopped subgraph gives partial data', async () => {
    const { gateway, marketplace } = await startFixture();
    await marketplace.close();

    const result = await postQuery(gateway.url, PRODUCTS_WITH_LISTINGS);

    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      data: {
        products: [
          { id: 'p1', title: 'Mug', listingCount: null },
          { id: 'p2', title: 'Poster', listingCount: null },
        ],
      },
      errors: [
        {
          message:
            'Could not reach the marketplace subgraph: connection refused.',
          extensions: {
            code: 'SUBGRAPH_UNAVAILABLE',
            serviceName: 'marketplace',
          },
        },
      ],
    });
  });

  test('repeated failures warn once', async () => {
    const { gateway, marketplace, logs } = await startFixture();
    await marketplace.close();

    for (let i = 0; i < 3; i += 1) {
      await postQuery(gateway.url, PRODUCTS_WITH_LISTINGS, {
        'x-request-id': `req-${i}`,
      });
    }

    const failures = logs.filter(
      (log) => log.msg === 'subgraph request failed',
    );
    expect(failures.map((log) => [log.level, log.requestId])).toEqual([
      [40, 'req-0'],
      [20, 'req-1'],
      [20, 'req-2'],
    ]);
    expect(failures[0]).toMatchObject({
      subgraph: 'marketplace',
      reason: 'connection refused',
      url: marketplace.url,
      suppressedSinceLastWarning: 0,
    });
  });

  test('slow subgraph times out', async () => {
    const { gateway, marketplace } = await startFixture({
      SUBGRAPH_TIMEOUT_MS: '300',
    });
    marketplace.referenceDelayMs = 2_000;

    const startedAt = Date.now();
    const result = await postQuery(gateway.url, PRODUCTS_WITH_LISTINGS);
    const elapsedMs = Date.now() - startedAt;

    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      data: {
        products: [
          { id: 'p1', title: 'Mug', listingCount: null },
          { id: 'p2', title: 'Poster', listingCount: null },
        ],
      },
      errors: [
        {
          message: 'The marketplace subgraph did not respond within 300 ms.',
          extensions: {
            code: 'SUBGRAPH_UNAVAILABLE',
            serviceName: 'marketplace',
          },
        },
      ],
    });
    expect(elapsedMs).toBeLessThan(1_500);
  });

  test('stopped root subgraph gives null data', async () => {
    const { gateway, catalog } = await startFixture();
    await catalog.close();

    const result = await postQuery(gateway.url, '{ products { id } }');

    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      data: null,
      errors: [
        {
          message: 'Could not reach the catalog subgraph: connection refused.',
          extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'catalog' },
        },
      ],
    });
  });
});

describe('gateway health and readiness', () => {
  test('health responds 200', async () => {
    const { origin } = await startFixture();

    const result = await getJson(`${origin}/health`);

    expect(result.status).toBe(200);
    expect(result.body).toEqual({ status: 'ok', service: 'gateway' });
  });

  test('ready when every subgraph is ready', async () => {
    const { origin } = await startFixture();

    const result = await getJson(`${origin}/ready`);

    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      status: 'ready',
      subgraphs: ['catalog', 'marketplace'],
    });
  });

  test('not ready names a stopped subgraph', async () => {
    const { origin, marketplace } = await startFixture();
    await marketplace.close();

    const result = await getJson(`${origin}/ready`);

    expect(result.status).toBe(503);
    expect(result.body).toEqual({
      status: 'unavailable',
      unavailableSubgraphs: [
        { name: 'marketplace', reason: 'connection refused' },
      ],
    });
  });

  test('not ready names an unready subgraph', async () => {
    const { origin, catalog } = await startFixture();
    catalog.ready = false;

    const notReady = await getJson(`${origin}/ready`);
    catalog.ready = true;
    const ready = await getJson(`${origin}/ready`);

    expect(notReady.status).toBe(503);
    expect(notReady.body).toEqual({
      status: 'unavailable',
      unavailableSubgraphs: [{ name: 'catalog', reason: 'HTTP 503' }],
    });
    expect(ready.status).toBe(200);
  });
});

describe('gateway supergraph reload', () => {
  test('reload serves a new field', async () => {
    const { gateway, catalog, supergraphPath, logs } = await startFixture();
    const slowRequest = postQuery(
      gateway.url,
      '{ slowProducts(delayMs: 1500) { id title } }',
    );
    let slowRequestDone = false;
    void slowRequest.then(() => {
      slowRequestDone = true;
    });
    await waitFor(
      'the slow request to reach catalog',
      () => catalog.slowCalls === 1,
    );

    const before = await postQuery(gateway.url, '{ products { description } }');
    await replaceFile(supergraphPath, composeTestSupergraph(DESCRIPTION_FIELD));
    const after = await waitFor('the new field to answer', async () => {
      const result = await postQuery(
        gateway.url,
        '{ products { id description } }',
      );
      return result.status === 200 ? result : undefined;
    });
    const reloadedBeforeSlowRequestEnded = !slowRequestDone;
    const slow = await slowRequest;

    expect(before.status).toBe(400);
    expect(before.body.errors?.[0]?.extensions).toEqual({
      code: 'GRAPHQL_VALIDATION_FAILED',
    });
    expect(after.body).toEqual({
      data: {
        products: [
          { id: 'p1', description: 'Stoneware, 350 ml' },
          { id: 'p2', description: 'A2, matte' },
        ],
      },
    });
    expect(reloadedBeforeSlowRequestEnded).toBe(true);
    expect(slow.status).toBe(200);
    expect(slow.body).toEqual({
      data: {
        slowProducts: [
          { id: 'p1', title: 'Mug' },
          { id: 'p2', title: 'Poster' },
        ],
      },
    });
    expect(
      logs.filter((log) => log.msg === 'supergraph reloaded'),
    ).toHaveLength(1);
  });

  test('invalid file keeps the old supergraph', async () => {
    const { gateway, supergraphPath, logs } = await startFixture();

    await replaceFile(supergraphPath, 'type Query { this is not a supergraph');
    const failure = await waitFor('the reload failure to be logged', () =>
      logs.find((log) => log.msg.startsWith('supergraph reload failed')),
    );
    const during = await postQuery(gateway.url, '{ products { id title } }');
    await replaceFile(supergraphPath, composeTestSupergraph(DESCRIPTION_FIELD));
    await waitFor('the valid file to be reloaded', () =>
      logs.some((log) => log.msg === 'supergraph reloaded'),
    );
    const after = await postQuery(
      gateway.url,
      '{ products { id description } }',
    );

    expect(failure.msg).toBe(
      'supergraph reload failed: the file is not a valid supergraph. The previous supergraph is still served.',
    );
    expect(failure.level).toBe(50);
    expect(failure.supergraphPath).toBe(supergraphPath);
    expect(during.status).toBe(200);
    expect(during.body).toEqual({
      data: {
        products: [
          { id: 'p1', title: 'Mug' },
          { id: 'p2', title: 'Poster' },
        ],
      },
    });
    expect(after.status).toBe(200);
  });

  test('missing file fails the start', async () => {
    const missing = path.join(
      os.tmpdir(),
      'gateway-test-missing',
      'supergraph.graphql',
    );

    await expect(
      startGateway({
        config: loadConfig({}),
        logger: silentLogger,
        supergraphPath: missing,
        host: '127.0.0.1',
        port: 0,
      }),
    ).rejects.toThrow(
      `Failed to load the supergraph from ${missing}: ` +
        `Supergraph file not found: ${missing}. ` +
        'Run `npm run compose` or pass --supergraph FILE.',
    );
  });
});

describe('gateway shutdown and connections', () => {
  test('close waits for a request in flight', async () => {
    const { gateway, catalog } = await startFixture();
    const slowRequest = postQuery(
      gateway.url,
      '{ slowProducts(delayMs: 800) { id } }',
    );
    await waitFor(
      'the slow request to reach catalog',
      () => catalog.slowCalls === 1,
    );

    // The subgraph holds the request for 800 ms, so a close that waits for
    // it takes several hundred ms; one that does not returns at once. The
    // client's own timing is not compared: it may read the response a
    // moment after the server has finished closing.
    const closeStartedAt = performance.now();
    await gateway.close();
    const closeDuration = performance.now() - closeStartedAt;
    const slow = await slowRequest;

    expect(slow.status).toBe(200);
    expect(slow.body).toEqual({
      data: { slowProducts: [{ id: 'p1' }, { id: 'p2' }] },
    });
    expect(closeDuration).toBeGreaterThan(300);
    await expect(postQuery(gateway.url, '{ products { id } }')).rejects.toThrow(
      'fetch failed',
    );
  });

  test('close cuts requests after the grace period', async () => {
    const { gateway, catalog } = await startFixture({
      SHUTDOWN_GRACE_MS: '200',
    });
    const slowRequest = postQuery(
      gateway.url,
      '{ slowProducts(delayMs: 3000) { id } }',
    );
    const outcome = slowRequest.then(
      () => 'completed',
      () => 'cut off',
    );
    await waitFor(
      'the slow request to reach catalog',
      () => catalog.slowCalls === 1,
    );

    const startedAt = performance.now();
    await gateway.close();
    const closeMs = performance.now() - startedAt;

    expect(closeMs).toBeGreaterThanOrEqual(190);
    expect(closeMs).toBeLessThan(1_500);
    expect(await outcome).toBe('cut off');
  });

  test('keeps subgraph connections alive', async () => {
    const { gateway, catalog, marketplace } = await startFixture();

    for (let i = 0; i < 20; i += 1) {
      const result = await postQuery(gateway.url, PRODUCTS_WITH_LISTINGS);
      expect(result.status).toBe(200);
    }

    expect(catalog.requestHeaders).toHaveLength(20);
    expect(catalog.connections).toBe(1);
    expect(marketplace.connections).toBe(1);
  });
});
