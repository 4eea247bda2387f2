import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asc, count } from 'drizzle-orm';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import { catalogSubgraph } from '../subgraphs/catalog/service.js';
import * as tables from '../subgraphs/catalog/db/tables.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { requestSubgraph, startTestSubgraph } from './support/subgraph.js';

const config = createTestConfig();
let catalog: RunningSubgraph<typeof tables>;

beforeAll(async () => {
  catalog = await startTestSubgraph(catalogSubgraph, config);
});

afterAll(async () => {
  await catalog?.close();
  await dropTestDatabases(config);
});

const request = <T = any>(
  document: string,
  variables?: Record<string, unknown>,
) => requestSubgraph<T>(catalog, config, document, variables);

const CREATE = `mutation ($input: ProductCreateInput!) {
  productCreate(input: $input) {
    product { id handle status variants { id sku title price { amount currencyCode } } }
    userErrors { field message code }
  }
}`;

const SET_STOCK = `mutation ($input: StockSetInput!) {
  stockSet(input: $input) {
    stockLevel { onHand reserved available location { code } }
    adjustment { delta quantityAfter reason note }
    userErrors { field message code }
  }
}`;

const ADJUST_STOCK = `mutation ($input: StockAdjustInput!) {
  stockAdjust(input: $input) {
    stockLevel { onHand available }
    adjustment { delta quantityAfter }
    userErrors { field message code }
  }
}`;

async function countRows() {
  const db = catalog.database.db;
  const [products] = await db.select({ n: count() }).from(tables.products);
  const [variants] = await db.select({ n: count() }).from(tables.variants);
  const [events] = await db.select({ n: count() }).from(tables.outboxEvents);
  return { products: products!.n, variants: variants!.n, events: events!.n };
}

describe('productCreate', () => {
  it('creates a product with variants and a handle from the title', async () => {
    const result = await request(CREATE, {
      input: {
        title: 'Wool Scarf',
        status: 'ACTIVE',
        options: [{ name: 'Color', values: ['Grey', 'Navy'] }],
        variants: [
          {
            sku: 'scarf-grey',
            price: { amount: '24.5' },
            selectedOptions: [{ name: 'Color', value: 'Grey' }],
          },
          {
            sku: 'scarf-navy',
            price: { amount: '24.50' },
            selectedOptions: [{ name: 'Color', value: 'Navy' }],
          },
        ],
      },
    });
    const payload = result.data!.productCreate;
    expect(payload.userErrors).toEqual([]);
    expect(payload.product.handle).toBe('wool-scarf');
    expect(payload.product.status).toBe('ACTIVE');
    expect(
      payload.product.variants.map((variant: any) => variant.title),
    ).toEqual(['Grey', 'Navy']);
    expect(payload.product.variants[0].price).toEqual({
      amount: '24.50',
      currencyCode: 'USD',
    });
  });

  it('rejects invalid input with field errors and writes nothing', async () => {
    const before = await countRows();
    const result = await request(CREATE, {
      input: {
        title: '  ',
        handle: 'Not A Handle',
        variants: [
          { sku: 'ok-sku', price: { amount: '1.999' } },
          { sku: 'ok-sku', price: { amount: '5', currencyCode: 'EUR' } },
        ],
      },
    });
    const payload = result.data!.productCreate;
    expect(payload.product).toBeNull();
    expect(payload.userErrors).toEqual([
      {
        field: ['input', 'title'],
        message: 'Title is required.',
        code: 'REQUIRED',
      },
      {
        field: ['input', 'handle'],
        message:
          'Invalid handle "Not A Handle": use at most 100 lower-case letters, digits and single hyphens, such as "blue-hoodie".',
        code: 'INVALID',
      },
      {
        field: ['input', 'variants', '0', 'price', 'amount'],
        message:
          'Invalid amount: "1.999" has more than 2 decimal places, the most USD allows.',
        code: 'INVALID',
      },
      {
        field: ['input', 'variants', '1', 'price', 'currencyCode'],
        message: 'Prices are in the shop currency USD; got EUR.',
        code: 'INVALID',
      },
      {
        field: ['input', 'variants', '1', 'sku'],
        message: 'SKU "ok-sku" appears twice in this input.',
        code: 'INVALID',
      },
    ]);
    expect(await countRows()).toEqual(before);
  });

  it('rejects a taken SKU without a partial product', async () => {
    const before = await countRows();
    const result = await request(CREATE, {
      input: {
        title: 'Copy',
        variants: [{ sku: 'fresh-sku' }, { sku: 'scarf-grey' }],
      },
    });
    expect(result.data!.productCreate.userErrors).toEqual([
      {
        field: ['input', 'variants'],
        message: 'SKU is already taken by another variant.',
        code: 'TAKEN',
      },
    ]);
    expect(await countRows()).toEqual(before);
  });

  it('keeps draft products from the storefront', async () => {
    await request(CREATE, {
      input: {
        title: 'Secret Sneaker',
        variants: [{ sku: 'secret-1', price: { amount: '80' } }],
      },
    });
    const result = await request(
      `{ product(handle: "secret-sneaker") { id } variant(sku: "secret-1") { id } }`,
    );
    expect(result.data).toEqual({ product: null, variant: null });
  });
});

describe('stock', () => {
  it('records each set and adjustment with a stock event', async () => {
    const set = await request(SET_STOCK, {
      input: {
        sku: 'scarf-grey',
        quantity: 10,
        reason: 'RECEIVED',
        note: 'PO 1001',
      },
    });
    expect(set.data!.stockSet).toEqual({
      stockLevel: {
        onHand: 10,
        reserved: 0,
        available: 10,
        location: { code: 'default' },
      },
      adjustment: {
        delta: 10,
        quantityAfter: 10,
        reason: 'RECEIVED',
        note: 'PO 1001',
      },
      userErrors: [],
    });
    const adjust = await request(ADJUST_STOCK, {
      input: { sku: 'scarf-grey', delta: -3, reason: 'DAMAGED' },
    });
    expect(adjust.data!.stockAdjust.stockLevel).toEqual({
      onHand: 7,
      available: 7,
    });

    const history = await catalog.database.db
      .select()
      .from(tables.stockAdjustments)
      .orderBy(asc(tables.stockAdjustments.createdAt));
    expect(
      history.map((row) => [row.delta, row.quantityAfter, row.reason]),
    ).toEqual([
      [10, 10, 'RECEIVED'],
      [-3, 7, 'DAMAGED'],
    ]);
    const events = await catalog.database.db
      .select()
      .from(tables.outboxEvents)
      .orderBy(asc(tables.outboxEvents.sequence));
    const stockEvents = events.filter(
      (event) => event.type === 'stock.changed',
    );
    expect(stockEvents.map((event) => (event.payload as any).onHand)).toEqual([
      10, 7,
    ]);
    expect(stockEvents[1]!.sequence).toBeGreaterThan(stockEvents[0]!.sequence);
  });

  it('rejects an adjustment below zero and an unknown SKU', async () => {
    const below = await request(ADJUST_STOCK, {
      input: { sku: 'scarf-grey', delta: -8, reason: 'LOST' },
    });
    expect(below.data!.stockAdjust.userErrors).toEqual([
      {
        field: ['input', 'delta'],
        message: 'Adjusting "scarf-grey" by -8 would take on-hand below zero.',
        code: 'INSUFFICIENT_STOCK',
      },
    ]);
    const unknown = await request(SET_STOCK, {
      input: { sku: 'nope', quantity: 1, reason: 'RECEIVED' },
    });
    expect(unknown.data!.stockSet.userErrors).toEqual([
      {
        field: ['input', 'sku'],
        message: 'No variant has SKU "nope".',
        code: 'NOT_FOUND',
      },
    ]);
    const location = await request(SET_STOCK, {
      input: {
        sku: 'scarf-grey',
        quantity: 1,
        reason: 'RECEIVED',
        locationCode: 'berlin',
      },
    });
    expect(location.data!.stockSet.userErrors).toEqual([
      {
        field: ['input', 'locationCode'],
        message: 'No location has code "berlin".',
        code: 'NOT_FOUND',
      },
    ]);
  });

  it('applies concurrent decrements exactly once each', async () => {
    await request(SET_STOCK, {
      input: { sku: 'scarf-navy', quantity: 10, reason: 'CYCLE_COUNT' },
    });
    const results = await Promise.all(
      Array.from({ length: 25 }, () =>
        request(ADJUST_STOCK, {
          input: { sku: 'scarf-navy', delta: -1, reason: 'OTHER' },
        }),
      ),
    );
    const succeeded = results.filter(
      (result) => result.data!.stockAdjust.userErrors.length === 0,
    );
    const rejected = results.filter(
      (result) =>
        result.data!.stockAdjust.userErrors[0]?.code === 'INSUFFICIENT_STOCK',
    );
    expect(succeeded).toHaveLength(10);
    expect(rejected).toHaveLength(15);
    const after = await request(
      `{ variant(sku: "scarf-navy") { quantityAvailable availableForSale } }`,
    );
    expect(after.data!.variant).toEqual({
      quantityAvailable: 0,
      availableForSale: false,
    });
  });
});
