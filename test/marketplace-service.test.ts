import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../platform/config.js';
import { uuidv7 } from '../platform/ids.js';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/marketplace/db/tables.js';
import { marketplaceSubgraph } from '../subgraphs/marketplace/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { querySubgraph, startTestSubgraph } from './support/subgraph.js';

let config: Config;
let running: RunningSubgraph<typeof tables>;

const connectionId = uuidv7();
/** 50 products, each with a variant listing and a whole-product listing. */
const products = Array.from({ length: 50 }, () => ({
  id: uuidv7(),
  variantId: uuidv7(),
}));

function queryGraphQL(query: string, variables: Record<string, unknown> = {}) {
  return querySubgraph(running, config, query, variables);
}

const PRODUCT_LISTINGS_QUERY = `query ($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Product {
      id
      listings {
        id
        marketplace { id name kind }
        externalId
        price { amount currencyCode }
        quantity
        status
        lastSyncedAt
        lastError
        product { id }
        variant { id }
      }
    }
  }
}`;

function productRepresentations(count: number) {
  return products
    .slice(0, count)
    .map((product) => ({ __typename: 'Product', id: product.id }));
}

beforeAll(async () => {
  config = createTestConfig();
  running = await startTestSubgraph(marketplaceSubgraph, config);

  const { db } = running.database;
  await db.insert(tables.marketplaceConnections).values({
    id: connectionId,
    name: 'Test eBay',
    kind: 'EBAY',
    safetyStock: 2,
  });
  await db.insert(tables.listings).values(
    products.flatMap((product, index) => [
      {
        id: uuidv7(),
        connectionId,
        productId: product.id,
        variantId: product.variantId,
        externalId: `ebay-${index}`,
        priceAmount: 1000 + index,
        currencyCode: 'USD',
        quantity: index,
        status: 'ACTIVE' as const,
        lastSyncedAt: new Date('2025-03-01T10:00:00Z'),
        createdAt: new Date('2025-03-01T09:00:00Z'),
      },
      {
        id: uuidv7(),
        connectionId,
        productId: product.id,
        status: 'ERROR' as const,
        lastError: 'Category is required.',
        createdAt: new Date('2025-03-02T09:00:00Z'),
      },
    ]),
  );
});

afterAll(async () => {
  await running?.close();
  if (config) await dropTestDatabases(config);
});

describe('marketplace service', () => {
  it('answers /health', async () => {
    const response = await fetch(new URL('/health', running.url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'ok',
      service: 'marketplace',
    });
  });

  it('answers /ready once migrated', async () => {
    const response = await fetch(new URL('/ready', running.url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'ready',
      service: 'marketplace',
    });
  });

  it('resolves Product.listings through _entities', async () => {
    const result = await queryGraphQL(PRODUCT_LISTINGS_QUERY, {
      representations: [
        ...productRepresentations(2),
        { __typename: 'Product', id: uuidv7() },
      ],
    });
    expect(result.errors).toBeUndefined();
    const [first, second, unlisted] = result.data!._entities;

    expect(first.id).toBe(products[0]!.id);
    expect(first.listings).toHaveLength(2);
    expect(first.listings[0]).toMatchObject({
      marketplace: { id: connectionId, name: 'Test eBay', kind: 'EBAY' },
      externalId: 'ebay-0',
      price: { amount: '10.00', currencyCode: 'USD' },
      quantity: 0,
      status: 'ACTIVE',
      lastSyncedAt: '2025-03-01T10:00:00.000Z',
      lastError: null,
      product: { id: products[0]!.id },
      variant: { id: products[0]!.variantId },
    });
    expect(first.listings[1]).toMatchObject({
      externalId: null,
      price: null,
      status: 'ERROR',
      lastSyncedAt: null,
      lastError: 'Category is required.',
      variant: null,
    });
    expect(second.listings[0].price).toEqual({
      amount: '10.01',
      currencyCode: 'USD',
    });
    expect(unlisted).toEqual({ id: expect.any(String), listings: [] });
  });

  it('resolves Variant.listings through _entities', async () => {
    const result = await queryGraphQL(
      `query ($representations: [_Any!]!) {
        _entities(representations: $representations) {
          ... on Variant { id listings { externalId quantity } }
        }
      }`,
      {
        representations: [
          { __typename: 'Variant', id: products[3]!.variantId },
          { __typename: 'Variant', id: uuidv7() },
          { __typename: 'Variant', id: 'not-a-uuid' },
        ],
      },
    );
    expect(result.errors).toBeUndefined();
    const listings = result.data!._entities.map(
      (variant: { listings: unknown[] }) => variant.listings,
    );
    expect(listings).toEqual([[{ externalId: 'ebay-3', quantity: 3 }], [], []]);
  });

  it('costs the same statements for 5 and 50 products', async () => {
    running.database.queries.reset();
    const few = await queryGraphQL(PRODUCT_LISTINGS_QUERY, {
      representations: productRepresentations(5),
    });
    const statementsForFive = running.database.queries.count;

    running.database.queries.reset();
    const many = await queryGraphQL(PRODUCT_LISTINGS_QUERY, {
      representations: productRepresentations(50),
    });
    const statementsForFifty = running.database.queries.count;

    expect(few.errors).toBeUndefined();
    expect(many.errors).toBeUndefined();
    expect(many.data!._entities).toHaveLength(50);
    expect(
      many.data!._entities.every(
        (product: { listings: unknown[] }) => product.listings.length === 2,
      ),
    ).toBe(true);
    // One statement for the listings and one for their connections.
    expect(statementsForFive).toBe(2);
    expect(statementsForFifty).toBe(statementsForFive);
  });

  it('lists connections and finds a listing by ID', async () => {
    const [stored] = await running.database.db
      .select()
      .from(tables.listings)
      .limit(1);
    const result = await queryGraphQL(
      `query ($id: ID!, $unknown: ID!) {
        marketplaceConnections { id name kind status safetyStock createdAt }
        listing(id: $id) { id status }
        unknown: listing(id: $unknown) { id }
      }`,
      { id: stored!.id, unknown: uuidv7() },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.marketplaceConnections).toEqual([
      {
        id: connectionId,
        name: 'Test eBay',
        kind: 'EBAY',
        status: 'ACTIVE',
        safetyStock: 2,
        createdAt: expect.stringMatching(/Z$/),
      },
    ]);
    expect(result.data!.listing).toEqual({
      id: stored!.id,
      status: stored!.status,
    });
    expect(result.data!.unknown).toBeNull();
  });
});
