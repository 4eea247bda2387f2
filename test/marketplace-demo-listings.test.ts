import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { asc, count } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../platform/config.js';
import { serviceDatabaseUrl } from '../platform/database.js';
import { uuidv7 } from '../platform/ids.js';
import { createLogger } from '../platform/logger.js';
import {
  startSubgraph,
  type RunningSubgraph,
} from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/marketplace/db/tables.js';
import { seedDemoListings } from '../subgraphs/marketplace/demo-listings.js';
import { marketplaceSubgraph } from '../subgraphs/marketplace/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { identityHeaders } from './support/identity.js';

interface FakeVariant {
  id: string;
  sku: string;
  price: { amount: string; currencyCode: string } | null;
  quantityAvailable: number | null;
}

const catalogProducts: { id: string; variants: FakeVariant[] }[] = [
  {
    id: uuidv7(),
    variants: [
      {
        id: uuidv7(),
        sku: 'HOODIE-M',
        price: { amount: '49.00', currencyCode: 'USD' },
        quantityAvailable: 7,
      },
      {
        id: uuidv7(),
        sku: 'HOODIE-L',
        price: { amount: '49.50', currencyCode: 'USD' },
        quantityAvailable: -2,
      },
    ],
  },
  {
    id: uuidv7(),
    variants: [
      {
        id: uuidv7(),
        sku: 'EBOOK',
        price: { amount: '1500', currencyCode: 'JPY' },
        quantityAvailable: null,
      },
    ],
  },
  { id: uuidv7(), variants: [] },
  {
    id: uuidv7(),
    variants: [
      { id: uuidv7(), sku: 'SAMPLE', price: null, quantityAvailable: 3 },
    ],
  },
];
const catalogVariants = catalogProducts.flatMap((product) => product.variants);

/**
 * Starts a catalog stand-in that serves `products(first, after)` from the list
 * above, with the index of the last product as cursor. While `failWith` is
 * set, it responds with that message as a GraphQL error instead.
 */
function startFakeCatalog() {
  const state = { requests: 0, failWith: null as string | null };
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      state.requests += 1;
      const { variables } = JSON.parse(body) as {
        variables: { first: number; after: string | null };
      };
      response.setHeader('content-type', 'application/json');
      if (state.failWith) {
        response.end(JSON.stringify({ errors: [{ message: state.failWith }] }));
        return;
      }
      const start = variables.after === null ? 0 : Number(variables.after) + 1;
      const nodes = catalogProducts.slice(start, start + variables.first);
      const end = start + nodes.length;
      response.end(
        JSON.stringify({
          data: {
            products: {
              pageInfo: {
                hasNextPage: end < catalogProducts.length,
                endCursor: nodes.length > 0 ? String(end - 1) : null,
              },
              nodes,
            },
          },
        }),
      );
    });
  });
  const listening = new Promise<string>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${port}/graphql`);
    });
  });
  return {
    state,
    url: listening,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let config: Config;
let running: RunningSubgraph<typeof tables>;
let catalog: ReturnType<typeof startFakeCatalog>;
let catalogUrl: string;
const logger = createLogger('marketplace', 'silent');

async function countRows() {
  const { db } = running.database;
  const [connections] = await db
    .select({ value: count() })
    .from(tables.marketplaceConnections);
  const [listings] = await db.select({ value: count() }).from(tables.listings);
  return { connections: connections!.value, listings: listings!.value };
}

beforeAll(async () => {
  config = createTestConfig();
  running = await startSubgraph(marketplaceSubgraph, {
    config,
    logger,
    databaseUrl: serviceDatabaseUrl(config, 'marketplace'),
    host: '127.0.0.1',
    port: 0,
  });
  catalog = startFakeCatalog();
  catalogUrl = await catalog.url;
});

// Every test starts from an empty marketplace.
beforeEach(async () => {
  await running.database.db.delete(tables.marketplaceConnections);
  catalog.state.requests = 0;
  catalog.state.failWith = null;
});

afterAll(async () => {
  await catalog?.close();
  await running?.close();
  if (config) await dropTestDatabases(config);
});

describe('seedDemoListings', () => {
  it('creates one listing per catalog variant', async () => {
    const { db } = running.database;

    const result = await seedDemoListings({
      db,
      catalogUrl,
      logger,
      pageSize: 2,
    });

    expect(result).toEqual({ created: catalogVariants.length });
    expect(catalog.state.requests).toBe(2);
    const connections = await db.select().from(tables.marketplaceConnections);
    expect(connections).toHaveLength(1);
    expect(connections[0]).toMatchObject({
      name: 'Sandbox marketplace',
      kind: 'SANDBOX',
      status: 'ACTIVE',
      safetyStock: 0,
    });

    const listings = await db
      .select()
      .from(tables.listings)
      .orderBy(asc(tables.listings.id));
    const byVariant = new Map(listings.map((row) => [row.variantId, row]));
    expect(listings).toHaveLength(catalogVariants.length);
    for (const listing of listings) {
      expect(listing.connectionId).toBe(connections[0]!.id);
    }
    const [hoodieM, hoodieL, ebook, sample] = catalogVariants;
    expect(byVariant.get(hoodieM!.id)).toMatchObject({
      productId: catalogProducts[0]!.id,
      priceAmount: 4900,
      currencyCode: 'USD',
      quantity: 7,
      status: 'ACTIVE',
      externalId: expect.stringMatching(/^sandbox-/),
      lastSyncedAt: expect.any(Date),
      lastError: null,
    });
    expect(byVariant.get(hoodieL!.id)).toMatchObject({
      priceAmount: 4950,
      quantity: 0,
    });
    expect(byVariant.get(ebook!.id)).toMatchObject({
      productId: catalogProducts[1]!.id,
      priceAmount: 1500,
      currencyCode: 'JPY',
      quantity: 0,
      status: 'ACTIVE',
    });
    expect(byVariant.get(sample!.id)).toMatchObject({
      priceAmount: null,
      currencyCode: null,
      quantity: 3,
      status: 'DRAFT',
      externalId: null,
      lastSyncedAt: null,
    });
  });

  it('creates nothing on a second run', async () => {
    const { db } = running.database;
    await seedDemoListings({ db, catalogUrl, logger });
    const before = await countRows();
    catalog.state.requests = 0;

    const second = await seedDemoListings({ db, catalogUrl, logger });

    expect(second).toEqual({ created: 0 });
    expect(await countRows()).toEqual(before);
    expect(catalog.state.requests).toBe(0);
  });

  it('seeds once when two runs start together', async () => {
    const { db } = running.database;

    const results = await Promise.all([
      seedDemoListings({ db, catalogUrl, logger }),
      seedDemoListings({ db, catalogUrl, logger }),
    ]);

    const created = results.map((result) => result.created).sort();
    expect(created).toEqual([0, catalogVariants.length]);
    expect(await countRows()).toEqual({
      connections: 1,
      listings: catalogVariants.length,
    });
  });

  it('creates nothing when the catalog fails', async () => {
    catalog.state.failWith = 'catalog is down';

    await expect(
      seedDemoListings({ db: running.database.db, catalogUrl, logger }),
    ).rejects.toThrow(/returned errors: catalog is down/);

    expect(await countRows()).toEqual({ connections: 0, listings: 0 });
  });

  it('exposes seeded listings on Variant.listings', async () => {
    await seedDemoListings({ db: running.database.db, catalogUrl, logger });
    const [hoodieM] = catalogVariants;

    const response = await fetch(running.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(await identityHeaders(config)),
      },
      body: JSON.stringify({
        query: `query ($representations: [_Any!]!) {
          _entities(representations: $representations) {
            ... on Variant {
              listings { marketplace { name kind } price { amount } quantity status }
            }
          }
        }`,
        variables: {
          representations: [{ __typename: 'Variant', id: hoodieM!.id }],
        },
      }),
    });
    const result = (await response.json()) as {
      data: { _entities: { listings: unknown[] }[] };
    };

    expect(result.data._entities[0]!.listings).toEqual([
      {
        marketplace: { name: 'Sandbox marketplace', kind: 'SANDBOX' },
        price: { amount: '49.00' },
        quantity: 7,
        status: 'ACTIVE',
      },
    ]);
  });
});
