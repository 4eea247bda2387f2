import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../platform/config.js';
import { IDENTITY_HEADER } from '../platform/identity.js';
import { uuidv7 } from '../platform/ids.js';
import { ServiceRequestError } from '../platform/service-client.js';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import type * as tables from '../subgraphs/catalog/db/tables.js';
import { catalogSubgraph } from '../subgraphs/catalog/service.js';
import {
  CatalogStockClient,
  catalogGraphQLUrl,
} from '../subgraphs/orders/stock/catalog-stock-client.js';
import { ReservationStateError } from '../subgraphs/orders/stock/stock-client.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { querySubgraph, startTestSubgraph } from './support/subgraph.js';

const config = createTestConfig();
let catalog: RunningSubgraph<typeof tables>;
let client: CatalogStockClient;

beforeAll(async () => {
  catalog = await startTestSubgraph(catalogSubgraph, config);
  client = new CatalogStockClient({ ...config, CATALOG_URL: catalog.url });
  await createProduct('client-bowl', '19.99', 6);
  await createProduct('client-plate', '7.05', 1);
});

afterAll(async () => {
  await client?.close();
  await catalog?.close();
  await dropTestDatabases(config);
});

async function createProduct(sku: string, price: string, onHand: number) {
  const created = await querySubgraph(
    catalog,
    config,
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { userErrors { message } }
    }`,
    {
      input: {
        title: `Product ${sku}`,
        status: 'ACTIVE',
        options: [{ name: 'Size', values: ['Large'] }],
        variants: [
          {
            sku,
            title: 'Large',
            price: { amount: price },
            selectedOptions: [{ name: 'Size', value: 'Large' }],
          },
        ],
      },
    },
  );
  expect(created.data!.productCreate.userErrors).toEqual([]);
  const stocked = await querySubgraph(
    catalog,
    config,
    `mutation ($input: StockSetInput!) { stockSet(input: $input) { userErrors { message } } }`,
    { input: { sku, quantity: onHand, reason: 'RECEIVED' } },
  );
  expect(stocked.data!.stockSet.userErrors).toEqual([]);
}

describe('CatalogStockClient against the catalog subgraph', () => {
  it('prices lines in minor units', async () => {
    const result = await client.priceLines([
      { sku: 'client-bowl', quantity: 2 },
    ]);
    expect(result).toEqual({
      ok: true,
      lines: [
        {
          sku: 'client-bowl',
          variantId: expect.any(String),
          quantity: 2,
          unitPriceAmount: 1999,
          currencyCode: 'USD',
          title: 'Product client-bowl - Large',
          requiresShipping: true,
          quantityAvailable: 6,
          weight: null,
        },
      ],
    });
  });

  it('returns line problems without reserving', async () => {
    const orderId = uuidv7();
    const result = await client.reserve(orderId, [
      { sku: 'client-plate', quantity: 2 },
      { sku: 'client-missing', quantity: 1 },
    ]);
    expect(result).toEqual({
      ok: false,
      problems: [
        {
          sku: 'client-plate',
          code: 'OUT_OF_STOCK',
          message: expect.stringContaining('Only 1 of SKU "client-plate"'),
          available: 1,
        },
        {
          sku: 'client-missing',
          code: 'UNKNOWN_SKU',
          message: expect.any(String),
        },
      ],
    });
    expect(await client.release(orderId)).toBeNull();
  });

  it('reserves, confirms and commits idempotently', async () => {
    const orderId = uuidv7();
    const lines = [{ sku: 'client-bowl', quantity: 2 }];
    const reserved = await client.reserve(orderId, lines, { ttlSeconds: 60 });
    expect(reserved.ok).toBe(true);
    if (!reserved.ok) return;
    expect(reserved.reservation).toMatchObject({
      orderId,
      status: 'ACTIVE',
      lines: [{ sku: 'client-bowl', quantity: 2, unitPriceAmount: 1999 }],
    });
    const expiresInMs =
      Date.parse(reserved.reservation.expiresAt!) - Date.now();
    expect(expiresInMs).toBeGreaterThan(50_000);
    expect(expiresInMs).toBeLessThanOrEqual(60_000);
    expect(await client.reserve(orderId, lines)).toEqual(reserved);

    expect(await client.confirm(orderId)).toMatchObject({
      status: 'ACTIVE',
      expiresAt: null,
    });
    expect((await client.commit(orderId))!.status).toBe('COMMITTED');
    expect((await client.commit(orderId))!.status).toBe('COMMITTED');

    const error = await client.release(orderId).catch((caught) => caught);
    expect(error).toBeInstanceOf(ReservationStateError);
    expect(error.code).toBe('RESERVATION_COMMITTED');
    expect(error.reservation.status).toBe('COMMITTED');
  });

  it('rejects a commit after release', async () => {
    const orderId = uuidv7();
    await client.reserve(orderId, [{ sku: 'client-bowl', quantity: 1 }]);
    expect((await client.release(orderId))!.status).toBe('RELEASED');
    expect((await client.release(orderId))!.status).toBe('RELEASED');
    const error = await client.commit(orderId).catch((caught) => caught);
    expect(error).toBeInstanceOf(ReservationStateError);
    expect(error.code).toBe('RESERVATION_RELEASED');
    expect(error.message).toContain(orderId);
  });

  it('names the service and operation of a GraphQL error', async () => {
    const error = await client
      .confirm('not-an-order-id')
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(ServiceRequestError);
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.message).toMatch(
      /^catalog request StockReservationConfirm to http:\/\/127\.0\.0\.1:\d+\/graphql failed: BAD_USER_INPUT: Invalid orderId "not-an-order-id"/,
    );
  });
});

describe('service client failures', () => {
  let silent: Server;
  let received: IncomingMessage | undefined;

  beforeAll(async () => {
    // Accepts requests and never responds.
    silent = createServer((request) => {
      received = request;
    });
    await new Promise<void>((resolve) =>
      silent.listen(0, '127.0.0.1', resolve),
    );
  });

  afterAll(async () => {
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('times out without the identity token in the error', async () => {
    const { port } = silent.address() as AddressInfo;
    const slow = new CatalogStockClient(config, {
      url: `http://127.0.0.1:${port}/graphql`,
      timeoutMs: 200,
    });
    try {
      const error = await slow
        .reserve(uuidv7(), [{ sku: 'client-bowl', quantity: 1 }])
        .catch((caught) => caught);
      expect(error).toBeInstanceOf(ServiceRequestError);
      expect(error.failure).toBe('unreachable');
      expect(error.message).toBe(
        `catalog request StockReserve to http://127.0.0.1:${port}/graphql failed: timed out after 200 ms`,
      );
      const token = received!.headers[IDENTITY_HEADER] as string;
      expect(token.length).toBeGreaterThan(20);
      expect(error.message).not.toContain(token);
      expect(String(error.stack)).not.toContain(token);
      expect(JSON.stringify(error)).not.toContain(token);
    } finally {
      await slow.close();
    }
  });

  it('reports a refused connection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) =>
      closed.listen(0, '127.0.0.1', resolve),
    );
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = new CatalogStockClient(config, {
      url: `http://127.0.0.1:${port}/graphql`,
    });
    try {
      const error = await unreachable
        .priceLines([{ sku: 'client-bowl', quantity: 1 }])
        .catch((caught) => caught);
      expect(error).toBeInstanceOf(ServiceRequestError);
      expect(error.message).toBe(
        `catalog request CheckoutLines to http://127.0.0.1:${port}/graphql failed: connection refused`,
      );
    } finally {
      await unreachable.close();
    }
  });
});

describe('catalogGraphQLUrl', () => {
  it('prefers CATALOG_URL', () => {
    const configured = loadConfig({
      CATALOG_URL: 'http://catalog.internal:8080/graphql',
    });
    expect(catalogGraphQLUrl(configured)).toBe(
      'http://catalog.internal:8080/graphql',
    );
  });

  it('falls back to HOST and CATALOG_PORT', () => {
    expect(
      catalogGraphQLUrl(
        loadConfig({ HOST: '127.0.0.1', CATALOG_PORT: '4701' }),
      ),
    ).toBe('http://127.0.0.1:4701/graphql');
    expect(
      catalogGraphQLUrl(loadConfig({ HOST: '0.0.0.0', CATALOG_PORT: '4701' })),
    ).toBe('http://127.0.0.1:4701/graphql');
  });
});
