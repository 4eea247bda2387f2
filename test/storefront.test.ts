import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../platform/logger.js';
import {
  importSampleCatalogIfEmpty,
  seedDemoListingsAt,
} from '../scripts/sample-data.js';
import { serviceDatabaseUrl } from '../platform/database.js';
import { startTestStack, type TestStack } from './support/stack.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
  const logger = createLogger('test', stack.config.LOG_LEVEL);
  await importSampleCatalogIfEmpty(
    stack.config,
    serviceDatabaseUrl(stack.config, 'catalog'),
    logger,
  );
  await seedDemoListingsAt(
    stack.config,
    serviceDatabaseUrl(stack.config, 'marketplace'),
    stack.subgraphs.catalog.url,
    logger,
  );
});

afterAll(async () => {
  await stack?.close();
});

/** Active products of the sample file, less the one hidden from the catalog. */
const LISTED_SAMPLE_TITLES = [
  'Awesome V-Neck T-Shirt',
  'Hoodie',
  'Hoodie with Logo',
  'T-Shirt',
  'Beanie',
  'Belt',
  'Cap',
  'Sunglasses',
  'Hoodie with Zipper',
  'Long Sleeve Tee',
  'Polo',
  'Album',
  'Single',
  'T-Shirt with Logo',
  'Beanie with Logo',
  'Logo Collection',
  'WordPress Pennant',
];

describe('storefront through the gateway', () => {
  it('returns a variant by SKU with sale and regular price', async () => {
    const result = await stack.query(`{
      variant(sku: "woo-hoodie-red") {
        sku title availableForSale quantityAvailable
        price { amount currencyCode }
        compareAtPrice { amount currencyCode }
        selectedOptions { name value }
        product { title handle }
      }
    }`);
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
    expect(result.data!.variant).toEqual({
      sku: 'woo-hoodie-red',
      title: expect.any(String),
      availableForSale: true,
      quantityAvailable: null,
      price: { amount: '42.00', currencyCode: 'USD' },
      compareAtPrice: { amount: '45.00', currencyCode: 'USD' },
      selectedOptions: [
        { name: 'Color', value: 'Red' },
        { name: 'Logo', value: 'No' },
      ],
      product: { title: 'Hoodie', handle: expect.any(String) },
    });
  });

  it('lists every active listed product of the sample', async () => {
    const result = await stack.query(`{ products(first: 50) {
      nodes { title status }
      pageInfo { hasNextPage hasPreviousPage }
    } }`);
    expect(result.errors).toBeUndefined();
    const nodes = result.data!.products.nodes;
    expect(nodes.map((node: any) => node.title).sort()).toEqual(
      [...LISTED_SAMPLE_TITLES].sort(),
    );
    expect(new Set(nodes.map((node: any) => node.status))).toEqual(
      new Set(['ACTIVE']),
    );
    expect(result.data!.products.pageInfo).toEqual({
      hasNextPage: false,
      hasPreviousPage: false,
    });
  });

  it('pages through products with cursors', async () => {
    const first = await stack.query(
      `{ products(first: 5) { nodes { title } pageInfo { hasNextPage endCursor } } }`,
    );
    const page1 = first.data!.products;
    expect(page1.nodes).toHaveLength(5);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const second = await stack.query(
      `query ($after: String) { products(first: 50, after: $after) { nodes { title } pageInfo { hasNextPage hasPreviousPage } } }`,
      { after: page1.pageInfo.endCursor },
    );
    const page2 = second.data!.products;
    expect(page2.nodes).toHaveLength(LISTED_SAMPLE_TITLES.length - 5);
    expect(page2.pageInfo).toEqual({
      hasNextPage: false,
      hasPreviousPage: true,
    });
    const all = [...page1.nodes, ...page2.nodes].map((node: any) => node.title);
    expect(new Set(all).size).toBe(LISTED_SAMPLE_TITLES.length);
  });

  it('filters by category path and its subcategories', async () => {
    const hoodies = await stack.query(
      `{ products(first: 50, filter: { category: "Clothing > Hoodies" }) { nodes { title } } }`,
    );
    expect(
      hoodies.data!.products.nodes.map((node: any) => node.title).sort(),
    ).toEqual(['Hoodie', 'Hoodie with Logo', 'Hoodie with Zipper']);
    const clothing = await stack.query(
      `{ products(first: 50, filter: { category: "clothing" }) { nodes { title } } }`,
    );
    expect(clothing.data!.products.nodes).toHaveLength(14);
    const music = await stack.query(
      `{ products(first: 50, filter: { category: "Music" }) { nodes { title categories } } }`,
    );
    expect(music.data!.products.nodes).toEqual([
      { title: 'Album', categories: ['Music'] },
      { title: 'Single', categories: ['Music'] },
    ]);
  });

  it('searches titles, descriptions and SKUs', async () => {
    const result = await stack.query(
      `{ products(first: 50, filter: { search: "hoodie logo" }) { nodes { title } } }`,
    );
    expect(
      result.data!.products.nodes.map((node: any) => node.title).sort(),
    ).toEqual(['Hoodie', 'Hoodie with Logo']);
    const bySku = await stack.query(
      `{ products(first: 50, filter: { search: "woo-vneck-tee-green" }) { nodes { title } } }`,
    );
    expect(bySku.data!.products.nodes).toEqual([
      { title: 'Awesome V-Neck T-Shirt' },
    ]);
  });

  it('filters on availability for sale', async () => {
    const available = await stack.query(
      `{ products(first: 50, filter: { availableForSale: true }) { nodes { title availableForSale } } }`,
    );
    const titles = available.data!.products.nodes.map(
      (node: any) => node.title,
    );
    expect(titles).not.toContain('WordPress Pennant');
    expect(titles).toContain('Logo Collection');
    expect(titles).toHaveLength(LISTED_SAMPLE_TITLES.length - 1);
    const unavailable = await stack.query(
      `{ products(first: 50, filter: { availableForSale: false }) { nodes { title availableForSale externalUrl } } }`,
    );
    expect(unavailable.data!.products.nodes).toEqual([
      {
        title: 'WordPress Pennant',
        availableForSale: false,
        externalUrl:
          'https://mercantile.wordpress.org/product/wordpress-pennant/',
      },
    ]);
  });

  it('resolves a hidden product by handle and SKU only', async () => {
    const result = await stack.query(`{
      variant(sku: "woo-hoodie-with-pocket") { product { title listed handle } }
      products(first: 50, filter: { search: "pocket" }) { nodes { title } }
    }`);
    expect(result.data!.variant.product).toMatchObject({
      title: 'Hoodie with Pocket',
      listed: false,
    });
    expect(result.data!.products.nodes).toEqual([]);
    const byHandle = await stack.query(
      `query ($handle: String) { product(handle: $handle) { title } }`,
      { handle: result.data!.variant.product.handle },
    );
    expect(byHandle.data!.product).toEqual({ title: 'Hoodie with Pocket' });
  });

  it('joins catalog and marketplace fields in one query', async () => {
    const result = await stack.query(`{
      product(handle: "hoodie") {
        title
        variants { sku price { amount } listings { status price { amount } marketplace { name kind } } }
        listings { status }
      }
    }`);
    expect(result.errors).toBeUndefined();
    const product = result.data!.product;
    expect(product.title).toBe('Hoodie');
    const red = product.variants.find(
      (variant: any) => variant.sku === 'woo-hoodie-red',
    );
    expect(red.listings).toEqual([
      {
        status: 'ACTIVE',
        price: { amount: '42.00' },
        marketplace: { name: 'Sandbox marketplace', kind: 'SANDBOX' },
      },
    ]);
    expect(product.listings).toHaveLength(product.variants.length);
  });

  it('rejects bad arguments with a coded error', async () => {
    const result = await stack.query(
      `{ products(first: 1000) { nodes { id } } }`,
    );
    expect(result.errors).toEqual([
      expect.objectContaining({
        message: 'Invalid first: 1000. Use a whole number from 0 to 250.',
        extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }),
      }),
    ]);
  });
});

describe('client mistakes through the gateway', () => {
  it('rejects a NUL character in variables', async () => {
    const result = await stack.query(
      `query ($sku: String) { variant(sku: $sku) { sku } }`,
      { sku: 'woo-hoodie-red\u0000' },
    );
    expect(result.status).toBe(400);
    expect(result.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });

  it('reports two operations without a name as a client error', async () => {
    const result = await stack.query(
      `query A { locations { code } } query B { locations { code } }`,
    );
    expect(result.status).toBe(400);
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.message).toBe(
      'Must provide operation name if query contains multiple operations.',
    );
    expect(result.errors![0]!.extensions!.code).toBe('INVALID_GRAPHQL');
  });
});

describe('one subgraph down', () => {
  it('returns catalog data and an error naming marketplace', async () => {
    await stack.subgraphs.marketplace.close();
    const result = await stack.query(
      `{ variant(sku: "woo-hoodie-red") { sku listings { status } } }`,
    );
    expect(result.status).toBe(200);
    expect(result.data).toEqual({
      variant: { sku: 'woo-hoodie-red', listings: null },
    });
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions).toMatchObject({
      code: 'SUBGRAPH_UNAVAILABLE',
      serviceName: 'marketplace',
    });
    expect(result.errors![0]!.message).toContain('marketplace');
  });
});
