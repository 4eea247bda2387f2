import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count } from 'drizzle-orm';
import { createLogger } from '../platform/logger.js';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/catalog/db/tables.js';
import { catalogSubgraph } from '../subgraphs/catalog/service.js';
import { importCatalogFile } from '../subgraphs/catalog/import/index.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
    product { id handle variants { id sku title } }
    userErrors { field message code }
  }
}`;
const UPDATE = `mutation ($input: ProductUpdateInput!) {
  productUpdate(input: $input) { product { id } userErrors { field message code } }
}`;
const CREATE_VARIANT = `mutation ($input: VariantCreateInput!) {
  variantCreate(input: $input) { variant { sku position: title } userErrors { field message code } }
}`;
const SET_STOCK = `mutation ($input: StockSetInput!) {
  stockSet(input: $input) {
    stockLevel { onHand }
    adjustment { delta }
    userErrors { field message code }
  }
}`;
const ADJUST_STOCK = `mutation ($input: StockAdjustInput!) {
  stockAdjust(input: $input) { stockLevel { onHand } userErrors { field message code } }
}`;

async function createShirt(handle: string) {
  const result = await request(CREATE, {
    input: {
      title: 'Shirt',
      handle,
      status: 'ACTIVE',
      options: [{ name: 'Size', values: ['S', 'M', 'M'] }],
      variants: [
        { sku: `${handle}-s`, selectedOptions: [{ name: 'Size', value: 'S' }] },
      ],
    },
  });
  expect(result.data!.productCreate.userErrors).toEqual([]);
  return result.data!.productCreate.product;
}

describe('catalog input rules', () => {
  it('rejects a NUL character before any lookup', async () => {
    const result = await request(
      `{ a: product(handle: "hoodie") { id } b: product(handle: "x\\u0000") { id } }`,
    );
    expect(result.status).toBe(400);
    expect(result.errors).toEqual([
      {
        message:
          'The request contains a NUL character (U+0000), which no text field can store; remove it and retry.',
        extensions: { code: 'BAD_USER_INPUT' },
      },
    ]);
  });

  it('gives concurrent creates of one title distinct handles', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        request(CREATE, {
          input: { title: 'Same Title', variants: [{ sku: `same-${index}` }] },
        }),
      ),
    );
    const errors = results.flatMap(
      (result) => result.data!.productCreate.userErrors,
    );
    expect(errors).toEqual([]);
    const handles = results.map(
      (result) => result.data!.productCreate.product.handle,
    );
    expect(new Set(handles).size).toBe(12);
    expect(handles).toContain('same-title');
  });

  it('rejects two variants with the same options', async () => {
    const result = await request(CREATE, {
      input: {
        title: 'Twin',
        options: [{ name: 'Size', values: ['S'] }],
        variants: [
          { sku: 'twin-1', selectedOptions: [{ name: 'Size', value: 'S' }] },
          { sku: 'twin-2', selectedOptions: [{ name: 'Size', value: 'S' }] },
        ],
      },
    });
    expect(result.data!.productCreate.userErrors).toEqual([
      {
        field: ['input', 'variants', '1', 'selectedOptions'],
        message:
          'Another variant already has the options S; give each variant its own combination.',
        code: 'INVALID',
      },
    ]);
    const shirt = await createShirt('shirt-a');
    const copy = await request(CREATE_VARIANT, {
      input: {
        productId: shirt.id,
        variant: {
          sku: 'shirt-a-s2',
          selectedOptions: [{ name: 'Size', value: 'S' }],
        },
      },
    });
    expect(copy.data!.variantCreate.userErrors).toEqual([
      {
        field: ['input', 'variant', 'selectedOptions'],
        message:
          'Another variant already has the options S; give each variant its own combination.',
        code: 'TAKEN',
      },
    ]);
  });

  it('keeps option values that variants select', async () => {
    const shirt = await createShirt('shirt-b');
    const result = await request(UPDATE, {
      input: { id: shirt.id, options: [{ name: 'Size', values: ['M'] }] },
    });
    expect(result.data!.productUpdate.userErrors).toEqual([
      {
        field: ['input', 'options'],
        message:
          'Variant "shirt-b-s" selects Size S; keep that option value or change the variant first.',
        code: 'INVALID',
      },
    ]);
  });

  it('keeps the URL of an external product', async () => {
    const created = await request(CREATE, {
      input: {
        title: 'Pennant',
        productType: 'EXTERNAL',
        externalUrl: 'https://shop.example/pennant',
      },
    });
    const result = await request(UPDATE, {
      input: { id: created.data!.productCreate.product.id, externalUrl: null },
    });
    expect(result.data!.productUpdate.userErrors).toEqual([
      {
        field: ['input', 'externalUrl'],
        message:
          'An external product needs an externalUrl; it cannot be removed.',
        code: 'REQUIRED',
      },
    ]);
  });

  it('limits list fields and variant counts', async () => {
    const result = await request(CREATE, {
      input: {
        title: 'Big',
        categories: ['x'.repeat(300)],
        tags: Array.from({ length: 251 }, (_, index) => `t${index}`),
        variants: Array.from({ length: 251 }, (_, index) => ({
          sku: `big-${index}`,
        })),
      },
    });
    expect(result.data!.productCreate.userErrors).toEqual([
      {
        field: ['input', 'categories', '0'],
        message: 'Entry has 300 characters; use at most 255.',
        code: 'INVALID',
      },
      {
        field: ['input', 'tags'],
        message: 'Too many entries: 251; use at most 250.',
        code: 'INVALID',
      },
      {
        field: ['input', 'variants'],
        message: 'Too many variants: 251; use at most 250.',
        code: 'INVALID',
      },
    ]);
  });

  it('bounds on-hand and writes nothing for a rejected change', async () => {
    await createShirt('shirt-c');
    const [before] = await catalog.database.db
      .select({ n: count() })
      .from(tables.stockAdjustments);
    const first = await request(SET_STOCK, {
      input: { sku: 'shirt-c-s', quantity: 1_000_000_000, reason: 'RECEIVED' },
    });
    expect(first.data!.stockSet.userErrors).toEqual([]);
    const over = await request(ADJUST_STOCK, {
      input: { sku: 'shirt-c-s', delta: 1, reason: 'RECEIVED' },
    });
    expect(over.data!.stockAdjust.userErrors).toEqual([
      {
        field: ['input', 'delta'],
        message:
          'Adjusting "shirt-c-s" by 1 would take on-hand to 1000000001, above the maximum of 1000000000.',
        code: 'INVALID',
      },
    ]);
    const same = await request(SET_STOCK, {
      input: {
        sku: 'shirt-c-s',
        quantity: 1_000_000_000,
        reason: 'CYCLE_COUNT',
      },
    });
    expect(same.data!.stockSet).toEqual({
      stockLevel: { onHand: 1_000_000_000 },
      adjustment: null,
      userErrors: [],
    });
    const [after] = await catalog.database.db
      .select({ n: count() })
      .from(tables.stockAdjustments);
    expect(after!.n).toBe(before!.n + 1);
  });

  it('resolves malformed entity representations to null', async () => {
    await createShirt('shirt-d');
    const result = await request(
      `query ($representations: [_Any!]!) {
        _entities(representations: $representations) { ... on Variant { sku } }
      }`,
      {
        representations: [
          { __typename: 'Variant' },
          { __typename: 'Variant', sku: null },
          { __typename: 'Variant', sku: 'shirt-d-s' },
          { __typename: 'Variant', id: 'not-a-uuid' },
        ],
      },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      null,
      null,
      { sku: 'shirt-d-s' },
      null,
    ]);
  });

  it('treats an upper-case ID as unknown', async () => {
    const shirt = await createShirt('shirt-e');
    const lower = await request(
      `query ($id: ID) { product(id: $id) { handle } }`,
      {
        id: shirt.id,
      },
    );
    expect(lower.data!.product).toEqual({ handle: 'shirt-e' });
    const upper = await request(
      `query ($id: ID) { product(id: $id) { handle } }`,
      {
        id: shirt.id.toUpperCase(),
      },
    );
    expect(upper.data!.product).toBeNull();
    const update = await request(UPDATE, {
      input: { id: shirt.id.toUpperCase(), title: 'Renamed' },
    });
    expect(update.data!.productUpdate.userErrors[0].code).toBe('NOT_FOUND');
  });

  it('applies the same rules to imported rows', async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'catalog-rules-'));
    const file = path.join(folder, 'rules.csv');
    writeFileSync(
      file,
      [
        'ID,Type,SKU,Name,Published,"Regular price"',
        `1,simple,long-title,${'T'.repeat(300)},1,5`,
        '2,simple,sku with spaces,Spaced,1,5',
        '3,simple,fine-sku,Fine,1,5',
      ].join('\n') + '\n',
    );
    const report = await importCatalogFile(catalog.database.db, file, {
      currency: 'USD',
      logger: createLogger('test', 'silent'),
    });
    expect(report.errors).toEqual([
      { line: 2, message: 'Title has 300 characters; use at most 255.' },
      {
        line: 3,
        message:
          'Invalid SKU "sku with spaces": use at most 100 characters without spaces or control characters.',
      },
    ]);
    expect(report.products.created).toBe(1);
  });
});
