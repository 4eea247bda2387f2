import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../gateway/caller.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import { SERVICE_NAMES, type Config } from '../platform/config.js';
import { createLogger } from '../platform/logger.js';
import {
  callerHeaders,
  committedSupergraphPath,
  postGraphQL,
  STAFF_ADMIN,
  startTestStack,
  type GraphQLResponse,
  type TestStack,
} from './support/stack.js';

// Gateways with catalog behind a proxy that delays every GraphQL request by
// PROXY_DELAY_MS, so that two requests sent together overlap at catalog.

const PROXY_DELAY_MS = 200;
const SKU = 'dedup-mug-green';
const INITIAL_STOCK = 10;

const VARIANT_QUERY = `query Variant($sku: String) {
  variant(sku: $sku) { sku title price { amount currencyCode } }
}`;

const STOCK_QUERY = `query Stock($sku: String) {
  variant(sku: $sku) { sku stockLevels { onHand } }
}`;

const ADJUST_STOCK = `mutation Adjust($input: StockAdjustInput!) {
  stockAdjust(input: $input) { stockLevel { onHand } userErrors { message } }
}`;

function partner(subject: string): CallerIdentity {
  return {
    kind: 'partner',
    subject,
    scopes: ['read_products', 'read_inventory'],
    roles: [],
  };
}

interface DelayingProxy {
  url: string;
  /** GraphQL requests (POST) received since the last reset. */
  graphqlRequests: number;
  /** When set, GraphQL requests get this status and a text body, unforwarded. */
  failWithStatus: number | undefined;
  close(): Promise<void>;
}

/**
 * Starts an HTTP proxy in front of a subgraph that counts GraphQL requests
 * and delays each by PROXY_DELAY_MS before forwarding it.
 */
async function startDelayingProxy(target: string): Promise<DelayingProxy> {
  const proxy: DelayingProxy = {
    url: '',
    graphqlRequests: 0,
    failWithStatus: undefined,
    close: async () => {},
  };
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const isGraphQL = request.method === 'POST';
    if (isGraphQL) {
      proxy.graphqlRequests += 1;
      await sleep(PROXY_DELAY_MS);
      if (proxy.failWithStatus !== undefined) {
        response.writeHead(proxy.failWithStatus, {
          'content-type': 'text/plain',
        });
        response.end('unavailable');
        return;
      }
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value !== 'string') continue;
      if (['host', 'connection', 'content-length'].includes(name)) continue;
      headers[name] = value;
    }
    const upstream = await fetch(new URL(request.url ?? '/', target), {
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

let stack: TestStack;
let proxy: DelayingProxy;
/** Gateway with the default configuration: deduplication on. */
let deduplicating: RunningGateway;
/** Gateway with GATEWAY_DEDUPLICATE_QUERIES=false. */
let plain: RunningGateway;

async function startProxiedGateway(
  overrides: Partial<Config>,
): Promise<RunningGateway> {
  const config = { ...stack.config, ...overrides } as Config;
  return startGateway({
    config,
    logger: createLogger('test', config.LOG_LEVEL),
    supergraphPath: committedSupergraphPath,
    subgraphUrls: {
      ...Object.fromEntries(
        SERVICE_NAMES.map((name) => [name, stack.subgraphs[name].url]),
      ),
      catalog: proxy.url,
    },
    host: '127.0.0.1',
    port: 0,
    acceptTestCallerHeader: true,
  });
}

/** Sends the same request twice at once to `gateway`. */
function sendTwice(
  gateway: RunningGateway,
  document: string,
  variables: Record<string, unknown>,
  headers: [Record<string, string>, Record<string, string>] = [{}, {}],
): Promise<[GraphQLResponse, GraphQLResponse]> {
  return Promise.all([
    postGraphQL<Record<string, any>>(
      gateway.url,
      document,
      variables,
      headers[0],
    ),
    postGraphQL<Record<string, any>>(
      gateway.url,
      document,
      variables,
      headers[1],
    ),
  ]);
}

async function stockOnHand(): Promise<number> {
  const result = await stack.query(
    STOCK_QUERY,
    { sku: SKU },
    callerHeaders(STAFF_ADMIN),
  );
  expect(result.errors).toBeUndefined();
  return result.data!.variant.stockLevels[0].onHand;
}

beforeAll(async () => {
  stack = await startTestStack();
  const created = await stack.query(
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { userErrors { message } }
    }`,
    {
      input: {
        title: 'Green mug',
        status: 'ACTIVE',
        variants: [{ sku: SKU, price: { amount: '14.00' } }],
      },
    },
    callerHeaders(STAFF_ADMIN),
  );
  expect(created.errors).toBeUndefined();
  const stocked = await stack.query(
    `mutation ($input: StockSetInput!) {
      stockSet(input: $input) { userErrors { message } }
    }`,
    { input: { sku: SKU, quantity: INITIAL_STOCK, reason: 'RECEIVED' } },
    callerHeaders(STAFF_ADMIN),
  );
  expect(stocked.data?.stockSet.userErrors).toEqual([]);

  proxy = await startDelayingProxy(stack.subgraphs.catalog.url);
  deduplicating = await startProxiedGateway({});
  plain = await startProxiedGateway({ GATEWAY_DEDUPLICATE_QUERIES: false });
});

beforeEach(() => {
  proxy.graphqlRequests = 0;
  proxy.failWithStatus = undefined;
});

afterAll(async () => {
  await deduplicating?.close();
  await plain?.close();
  await proxy?.close();
  await stack?.close();
});

describe('subgraph query deduplication', () => {
  it('is on by default', () => {
    expect(stack.config.GATEWAY_DEDUPLICATE_QUERIES).toBe(true);
  });

  it('sends identical concurrent queries once', async () => {
    const expected = await stack.query(VARIANT_QUERY, { sku: SKU });
    expect(expected.errors).toBeUndefined();

    const [first, second] = await sendTwice(deduplicating, VARIANT_QUERY, {
      sku: SKU,
    });

    expect(proxy.graphqlRequests).toBe(1);
    expect(first.status).toBe(200);
    expect(first.errors).toBeUndefined();
    expect(first.data).toEqual(expected.data);
    expect(second.status).toBe(200);
    expect(second.errors).toBeUndefined();
    expect(second.data).toEqual(expected.data);
  });

  it('ignores the key order of variables', async () => {
    const document = `query Search($filter: ProductFilter) {
      products(first: 5, filter: $filter) { nodes { title } }
    }`;

    const [first, second] = await Promise.all([
      postGraphQL<Record<string, any>>(deduplicating.url, document, {
        filter: { search: 'Green', availableForSale: true },
      }),
      postGraphQL<Record<string, any>>(deduplicating.url, document, {
        filter: { availableForSale: true, search: 'Green' },
      }),
    ]);

    expect(proxy.graphqlRequests).toBe(1);
    expect(first.errors).toBeUndefined();
    expect(first.data?.products.nodes).toEqual([{ title: 'Green mug' }]);
    expect(second.data).toEqual(first.data);
  });

  it('sends the query again once the first has settled', async () => {
    const first = await postGraphQL(deduplicating.url, VARIANT_QUERY, {
      sku: SKU,
    });
    const second = await postGraphQL(deduplicating.url, VARIANT_QUERY, {
      sku: SKU,
    });

    expect(proxy.graphqlRequests).toBe(2);
    expect(first.data).toEqual(second.data);
  });

  it('sends identical concurrent mutations twice', async () => {
    const before = await stockOnHand();
    const input = { sku: SKU, delta: 1, reason: 'OTHER' };

    const results = await sendTwice(deduplicating, ADJUST_STOCK, { input }, [
      callerHeaders(STAFF_ADMIN),
      callerHeaders(STAFF_ADMIN),
    ]);

    expect(proxy.graphqlRequests).toBe(2);
    for (const result of results) {
      expect(result.errors).toBeUndefined();
      expect(result.data?.stockAdjust.userErrors).toEqual([]);
    }
    const reported = results
      .map((result) => result.data?.stockAdjust.stockLevel.onHand)
      .sort();
    expect(reported).toEqual([before + 1, before + 2]);
    expect(await stockOnHand()).toBe(before + 2);
  });

  it('sends concurrent queries of two callers separately', async () => {
    const callers = [
      partner('00000000-0000-7000-8000-0000000000d1'),
      partner('00000000-0000-7000-8000-0000000000d2'),
    ];

    const [first, second] = await sendTwice(
      deduplicating,
      STOCK_QUERY,
      { sku: SKU },
      [callerHeaders(callers[0]!), callerHeaders(callers[1]!)],
    );

    expect(proxy.graphqlRequests).toBe(2);
    expect(first.errors).toBeUndefined();
    expect(second.errors).toBeUndefined();
    expect(first.data?.variant.sku).toBe(SKU);
    expect(second.data).toEqual(first.data);
  });

  it('shares the query of one partner sent twice', async () => {
    const caller = partner('00000000-0000-7000-8000-0000000000d3');

    const [first, second] = await sendTwice(
      deduplicating,
      STOCK_QUERY,
      { sku: SKU },
      [callerHeaders(caller), callerHeaders(caller)],
    );

    expect(proxy.graphqlRequests).toBe(1);
    expect(first.errors).toBeUndefined();
    expect(first.data?.variant.stockLevels).toHaveLength(1);
    expect(second.data).toEqual(first.data);
  });

  it('passes a failed request to every waiter', async () => {
    proxy.failWithStatus = 503;

    const results = await sendTwice(deduplicating, VARIANT_QUERY, {
      sku: SKU,
    });

    expect(proxy.graphqlRequests).toBe(1);
    for (const result of results) {
      expect(result.data).toEqual({ variant: null });
      expect(result.errors).toHaveLength(1);
      expect(result.errors![0]!.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
      expect(result.errors![0]!.message).toBe(
        'The catalog subgraph responded with HTTP 503.',
      );
    }
  });

  it('sends every query when turned off', async () => {
    const [first, second] = await sendTwice(plain, VARIANT_QUERY, {
      sku: SKU,
    });

    expect(proxy.graphqlRequests).toBe(2);
    expect(first.errors).toBeUndefined();
    expect(second.data).toEqual(first.data);
  });
});
