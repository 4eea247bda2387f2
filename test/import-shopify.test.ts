import { fileURLToPath } from 'node:url';
import { asc, count, eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../platform/config.js';
import {
  connectDatabase,
  serviceDatabaseUrl,
  type DatabaseHandle,
} from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import { prepareSubgraphDatabase } from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/catalog/db/tables.js';
import { importCatalogFile } from '../subgraphs/catalog/import/index.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';

const migrationsFolder = fileURLToPath(
  new URL('../subgraphs/catalog/migrations/', import.meta.url),
);
const fixturePath = fileURLToPath(
  new URL('./fixtures/shopify-products.csv', import.meta.url),
);
const logger = createLogger('import-test', 'silent');

let config: Config;
let database: DatabaseHandle<typeof tables>;

beforeEach(async () => {
  config = createTestConfig();
  const url = serviceDatabaseUrl(config, 'catalog');
  await prepareSubgraphDatabase(
    { name: 'catalog', migrationsFolder },
    url,
    logger,
  );
  database = connectDatabase(url, tables, { poolSize: 2 });
});

afterEach(async () => {
  await database.close();
  await dropTestDatabases(config);
});

function importFixture() {
  return importCatalogFile(database.db, fixturePath, {
    currency: 'USD',
    logger,
  });
}

async function productByHandle(handle: string) {
  const [product] = await database.db
    .select()
    .from(tables.products)
    .where(eq(tables.products.sourceRef, `shopify:handle:${handle}`));
  return product;
}

async function variantsOf(productId: string) {
  return database.db
    .select()
    .from(tables.variants)
    .where(eq(tables.variants.productId, productId))
    .orderBy(asc(tables.variants.position));
}

async function onHand(variantId: string) {
  const [level] = await database.db
    .select({ onHand: tables.stockLevels.onHand })
    .from(tables.stockLevels)
    .where(eq(tables.stockLevels.variantId, variantId));
  return level?.onHand;
}

describe('Shopify import', () => {
  it('reports counts and bad rows', async () => {
    const report = await importFixture();

    expect(report.format).toBe('shopify');
    expect(report.rows).toBe(12);
    expect(report.products).toEqual({ created: 4, updated: 0, unchanged: 0 });
    expect(report.variants).toEqual({ created: 8, updated: 0, unchanged: 0 });
    expect(report.stockAdjustments).toBe(5);
    expect(report.errors).toEqual([
      {
        line: 10,
        message:
          'Variant Price: "12,50" is not a decimal amount such as 42.00.',
      },
      {
        line: 14,
        message:
          'Variant Inventory Qty: "plenty" is not a whole number. ' +
          'Product "wool-socks" on line 13 was not imported.',
      },
    ]);
    expect(await productByHandle('enamel-mug')).toBeUndefined();
    expect(await productByHandle('wool-socks')).toBeUndefined();
  });

  it('maps a product with two options', async () => {
    await importFixture();

    const hoodie = (await productByHandle('trail-hoodie'))!;
    expect(hoodie.handle).toBe('trail-hoodie');
    expect(hoodie.title).toBe('Trail Hoodie');
    expect(hoodie.description).toBe(
      '<p>Brushed fleece hoodie for cold mornings.</p>\n' +
        '<ul><li>Kangaroo pocket</li><li>Drawcord hood</li></ul>',
    );
    expect(hoodie.vendor).toBe('Northwind Outfitters');
    expect(hoodie.status).toBe('ACTIVE');
    expect(hoodie.categories).toEqual([
      'Apparel & Accessories > Clothing > Activewear',
      'Hoodies',
    ]);
    expect(hoodie.tags).toEqual(['fleece', 'outdoor', 'winter']);
    expect(hoodie.options).toEqual([
      { name: 'Color', values: ['Black', 'Grey'] },
      { name: 'Size', values: ['S', 'M'] },
    ]);

    const variants = await variantsOf(hoodie.id);
    expect(variants.map((variant) => variant.title)).toEqual([
      'Black / S',
      'Black / M',
      'Grey / S',
      'Grey / M',
    ]);
    const [blackSmall, , greySmall] = variants;
    expect(blackSmall!.sku).toBe('TH-BLK-S');
    expect(blackSmall!.priceAmount).toBe(5900);
    expect(blackSmall!.compareAtAmount).toBe(6900);
    expect(blackSmall!.weightValue).toBe('680.0000');
    expect(blackSmall!.weightUnit).toBe('GRAMS');
    expect(blackSmall!.barcode).toBe('0123456789012');
    expect(blackSmall!.tracksInventory).toBe(true);
    expect(await onHand(blackSmall!.id)).toBe(12);
    expect(greySmall!.compareAtAmount).toBeNull();
    expect(greySmall!.inventoryPolicy).toBe('CONTINUE');
    expect(greySmall!.imageUrl).toBe(
      'https://cdn.example.com/files/trail-hoodie-grey.jpg',
    );
    // Quantity 0 equals the absent stock row, so nothing is recorded.
    expect(await onHand(greySmall!.id)).toBeUndefined();
  });

  it('collects images from image-only rows', async () => {
    await importFixture();

    const hoodie = (await productByHandle('trail-hoodie'))!;
    expect(hoodie.images).toEqual([
      {
        url: 'https://cdn.example.com/files/trail-hoodie-black.jpg',
        altText: 'Trail Hoodie in black',
      },
      {
        url: 'https://cdn.example.com/files/trail-hoodie-grey.jpg',
        altText: 'Trail Hoodie in grey',
      },
      {
        url: 'https://cdn.example.com/files/trail-hoodie-back.jpg',
        altText: 'Back view',
      },
    ]);
  });

  it('leaves a variant without tracker untracked', async () => {
    await importFixture();

    const tote = (await productByHandle('canvas-tote'))!;
    expect(tote.options).toEqual([]);
    const [variant] = await variantsOf(tote.id);
    expect(variant!.title).toBe('Canvas Tote');
    expect(variant!.selectedOptions).toEqual([]);
    expect(variant!.tracksInventory).toBe(false);
    expect(await onHand(variant!.id)).toBeUndefined();
  });

  it('maps draft and archived status', async () => {
    await importFixture();

    const ebook = (await productByHandle('field-guide-ebook'))!;
    expect(ebook.status).toBe('DRAFT');
    const [ebookVariant] = await variantsOf(ebook.id);
    expect(ebookVariant!.requiresShipping).toBe(false);
    expect(ebookVariant!.priceAmount).toBe(999);

    const beanie = (await productByHandle('summit-beanie'))!;
    expect(beanie.status).toBe('ARCHIVED');
  });

  it('changes nothing on re-import', async () => {
    await importFixture();
    const [eventsBefore] = await database.db
      .select({ value: count() })
      .from(tables.outboxEvents);
    const [adjustmentsBefore] = await database.db
      .select({ value: count() })
      .from(tables.stockAdjustments);

    const report = await importFixture();

    expect(report.products).toEqual({ created: 0, updated: 0, unchanged: 4 });
    expect(report.variants).toEqual({ created: 0, updated: 0, unchanged: 8 });
    expect(report.stockAdjustments).toBe(0);
    const [eventsAfter] = await database.db
      .select({ value: count() })
      .from(tables.outboxEvents);
    const [adjustmentsAfter] = await database.db
      .select({ value: count() })
      .from(tables.stockAdjustments);
    expect(eventsAfter).toEqual(eventsBefore);
    expect(adjustmentsAfter).toEqual(adjustmentsBefore);
  });

  it('records imported stock as adjustments', async () => {
    await importFixture();

    const adjustments = await database.db
      .select({
        sku: tables.variants.sku,
        delta: tables.stockAdjustments.delta,
        quantityAfter: tables.stockAdjustments.quantityAfter,
        reason: tables.stockAdjustments.reason,
        note: tables.stockAdjustments.note,
      })
      .from(tables.stockAdjustments)
      .innerJoin(
        tables.variants,
        eq(tables.variants.id, tables.stockAdjustments.variantId),
      )
      .orderBy(asc(tables.variants.sku));
    expect(adjustments).toEqual([
      {
        sku: 'BEANIE-NAVY',
        delta: 2,
        quantityAfter: 2,
        reason: 'IMPORT',
        note: 'Catalog import of shopify-products.csv, line 12',
      },
      {
        sku: 'BEANIE-RED',
        delta: 5,
        quantityAfter: 5,
        reason: 'IMPORT',
        note: 'Catalog import of shopify-products.csv, line 11',
      },
      {
        sku: 'TH-BLK-M',
        delta: 8,
        quantityAfter: 8,
        reason: 'IMPORT',
        note: 'Catalog import of shopify-products.csv, line 4',
      },
      {
        sku: 'TH-BLK-S',
        delta: 12,
        quantityAfter: 12,
        reason: 'IMPORT',
        note: 'Catalog import of shopify-products.csv, line 2',
      },
      {
        sku: 'TH-GRY-M',
        delta: 3,
        quantityAfter: 3,
        reason: 'IMPORT',
        note: 'Catalog import of shopify-products.csv, line 6',
      },
    ]);
    const stockEvents = await database.db
      .select()
      .from(tables.outboxEvents)
      .where(eq(tables.outboxEvents.type, 'stock.changed'));
    expect(stockEvents).toHaveLength(5);
  });
});
