import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
const samplePath = fileURLToPath(
  new URL('../data/woocommerce_sample_products.csv', import.meta.url),
);
const logger = createLogger('import-test', 'silent');

let config: Config;
let database: DatabaseHandle<typeof tables>;

// Every test gets fresh databases, so none depends on what another wrote.
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

function importFile(filePath: string) {
  return importCatalogFile(database.db, filePath, { currency: 'USD', logger });
}

async function productBySku(sku: string) {
  const [product] = await database.db
    .select()
    .from(tables.products)
    .where(eq(tables.products.sourceRef, `woocommerce:sku:${sku}`));
  return product!;
}

async function variantBySku(sku: string) {
  const [variant] = await database.db
    .select()
    .from(tables.variants)
    .where(eq(tables.variants.sku, sku));
  return variant!;
}

async function countRows(
  table: typeof tables.outboxEvents | typeof tables.stockAdjustments,
) {
  const [row] = await database.db.select({ value: count() }).from(table);
  return row!.value;
}

describe('WooCommerce sample import', () => {
  it('reports counts of the sample', async () => {
    const report = await importFile(samplePath);

    expect(report.format).toBe('woocommerce');
    expect(report.rows).toBe(25);
    expect(report.errors).toEqual([]);
    expect(report.warnings).toEqual([]);
    expect(report.products).toEqual({ created: 18, updated: 0, unchanged: 0 });
    expect(report.variants).toEqual({ created: 22, updated: 0, unchanged: 0 });
    expect(report.stockAdjustments).toBe(0);
    expect(await countRows(tables.outboxEvents)).toBe(18);
  });

  it('maps the hoodie variation prices', async () => {
    await importFile(samplePath);

    const hoodie = await productBySku('woo-hoodie');
    const red = await variantBySku('woo-hoodie-red');
    expect(hoodie.title).toBe('Hoodie');
    expect(hoodie.handle).toBe('hoodie');
    expect(hoodie.status).toBe('ACTIVE');
    expect(hoodie.categories).toEqual(['Clothing > Hoodies']);
    expect(hoodie.options).toEqual([
      { name: 'Color', values: ['Blue', 'Green', 'Red'] },
      { name: 'Logo', values: ['Yes', 'No'] },
    ]);
    expect(hoodie.images).toHaveLength(4);
    expect(red.productId).toBe(hoodie.id);
    expect(red.priceAmount).toBe(4200);
    expect(red.compareAtAmount).toBe(4500);
    expect(red.currencyCode).toBe('USD');
    expect(red.title).toBe('Red / No');
    expect(red.selectedOptions).toEqual([
      { name: 'Color', value: 'Red' },
      { name: 'Logo', value: 'No' },
    ]);
    // The variation has no weight of its own, so it shows the parent's.
    expect(red.weightValue).toBe('1.5000');
    expect(red.weightUnit).toBe('POUNDS');
    expect(red.dimensionUnit).toBe('INCHES');
  });

  it('orders variations by position', async () => {
    await importFile(samplePath);

    const hoodie = await productBySku('woo-hoodie');
    const variants = await database.db
      .select()
      .from(tables.variants)
      .where(eq(tables.variants.productId, hoodie.id))
      .orderBy(asc(tables.variants.position));
    expect(variants.map((variant) => variant.sku)).toEqual([
      'woo-hoodie-blue-logo',
      'woo-hoodie-red',
      'woo-hoodie-green',
      'woo-hoodie-blue',
    ]);
  });

  it('stores an empty attribute value as null', async () => {
    await importFile(samplePath);

    const red = await variantBySku('woo-vneck-tee-red');
    expect(red.selectedOptions).toEqual([
      { name: 'Color', value: 'Red' },
      { name: 'Size', value: null },
    ]);
    expect(red.title).toBe('Red / Any Size');
  });

  it('maps a simple product to one variant', async () => {
    await importFile(samplePath);

    const beanie = await productBySku('woo-beanie');
    const variant = await variantBySku('woo-beanie');
    expect(beanie.productType).toBe('STANDARD');
    expect(beanie.options).toEqual([]);
    expect(variant.productId).toBe(beanie.id);
    expect(variant.title).toBe('Beanie');
    expect(variant.priceAmount).toBe(1800);
    expect(variant.compareAtAmount).toBe(2000);
    expect(variant.selectedOptions).toEqual([]);
    expect(variant.length).toBe('4.0000');
    expect(variant.height).toBe('0.5000');

    const sunglasses = await variantBySku('woo-sunglasses');
    expect(sunglasses.priceAmount).toBe(9000);
    expect(sunglasses.compareAtAmount).toBeNull();
  });

  it('links grouped members without a price', async () => {
    await importFile(samplePath);

    const group = await productBySku('logo-collection');
    expect(group.productType).toBe('GROUPED');
    const variants = await database.db
      .select()
      .from(tables.variants)
      .where(eq(tables.variants.productId, group.id));
    expect(variants).toEqual([]);

    const members = await database.db
      .select({ sourceRef: tables.products.sourceRef })
      .from(tables.productGroupMembers)
      .innerJoin(
        tables.products,
        eq(tables.products.id, tables.productGroupMembers.memberId),
      )
      .where(eq(tables.productGroupMembers.groupId, group.id))
      .orderBy(asc(tables.productGroupMembers.position));
    expect(members.map((member) => member.sourceRef)).toEqual([
      'woocommerce:sku:woo-hoodie-with-logo',
      'woocommerce:sku:woo-tshirt',
      'woocommerce:sku:woo-beanie',
    ]);
  });

  it('marks the external product not purchasable', async () => {
    await importFile(samplePath);

    const pennant = await productBySku('wp-pennant');
    const variant = await variantBySku('wp-pennant');
    expect(pennant.productType).toBe('EXTERNAL');
    expect(pennant.externalUrl).toBe(
      'https://mercantile.wordpress.org/product/wordpress-pennant/',
    );
    expect(pennant.externalButtonText).toBe('Buy on the WordPress swag store!');
    expect(variant.purchasable).toBe(false);
    expect(variant.priceAmount).toBe(1105);
    expect(variant.tracksInventory).toBe(false);
  });

  it('keeps a hidden product unlisted', async () => {
    await importFile(samplePath);

    const pocket = await productBySku('woo-hoodie-with-pocket');
    const zipper = await productBySku('woo-hoodie-with-zipper');
    expect(pocket.listed).toBe(false);
    expect(pocket.status).toBe('ACTIVE');
    expect(pocket.handle).toBe('hoodie-with-pocket');
    expect(zipper.listed).toBe(true);
  });

  it('leaves empty stock untracked', async () => {
    await importFile(samplePath);

    const tshirt = await variantBySku('woo-tshirt');
    expect(tshirt.tracksInventory).toBe(false);
    expect(tshirt.inventoryPolicy).toBe('DENY');
    const levels = await database.db.select().from(tables.stockLevels);
    expect(levels).toEqual([]);
  });

  it('ships no downloadable virtual items', async () => {
    await importFile(samplePath);

    const album = await variantBySku('woo-album');
    const single = await variantBySku('woo-single');
    for (const variant of [album, single]) {
      expect(variant.downloadable).toBe(true);
      expect(variant.requiresShipping).toBe(false);
      expect(variant.weightValue).toBeNull();
    }
    expect(single.priceAmount).toBe(200);
    expect(single.compareAtAmount).toBe(300);

    const hoodie = await variantBySku('woo-hoodie-with-logo');
    expect(hoodie.downloadable).toBe(false);
    expect(hoodie.requiresShipping).toBe(true);
  });

  it('writes product.created events', async () => {
    await importFile(samplePath);

    const hoodie = await productBySku('woo-hoodie');
    const events = await database.db
      .select()
      .from(tables.outboxEvents)
      .where(eq(tables.outboxEvents.aggregateId, hoodie.id));
    expect(events).toHaveLength(1);
    expect(events[0]!.type).toBe('product.created');
    expect(events[0]!.payload).toMatchObject({
      productId: hoodie.id,
      handle: 'hoodie',
      sourceRef: 'woocommerce:sku:woo-hoodie',
      variantSkus: [
        'woo-hoodie-blue-logo',
        'woo-hoodie-red',
        'woo-hoodie-green',
        'woo-hoodie-blue',
      ],
    });
  });
});

describe('WooCommerce re-import', () => {
  let folder: string;

  beforeEach(() => {
    folder = mkdtempSync(path.join(os.tmpdir(), 'catalog-import-'));
  });

  afterEach(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  it('changes nothing for the same file', async () => {
    await importFile(samplePath);
    const hoodieBefore = await productBySku('woo-hoodie');
    const redBefore = await variantBySku('woo-hoodie-red');
    const eventsBefore = await countRows(tables.outboxEvents);

    const report = await importFile(samplePath);

    expect(report.products).toEqual({ created: 0, updated: 0, unchanged: 18 });
    expect(report.variants).toEqual({ created: 0, updated: 0, unchanged: 22 });
    expect(report.stockAdjustments).toBe(0);
    expect(report.errors).toEqual([]);
    expect(await countRows(tables.outboxEvents)).toBe(eventsBefore);
    expect(await countRows(tables.stockAdjustments)).toBe(0);
    const hoodieAfter = await productBySku('woo-hoodie');
    const redAfter = await variantBySku('woo-hoodie-red');
    expect(hoodieAfter.updatedAt).toEqual(hoodieBefore.updatedAt);
    expect(redAfter.updatedAt).toEqual(redBefore.updatedAt);
  });

  it('updates a changed price and title in place', async () => {
    await importFile(samplePath);
    const hoodieBefore = await productBySku('woo-hoodie');
    const redBefore = await variantBySku('woo-hoodie-red');
    const productCount = await database.db
      .select({ value: count() })
      .from(tables.products);

    const changedPath = path.join(folder, 'changed.csv');
    writeFileSync(
      changedPath,
      replaceOnce(
        replaceOnce(
          readFileSync(samplePath, 'utf8'),
          '45,variable,woo-hoodie,Hoodie,',
          '45,variable,woo-hoodie,"Zip Hoodie",',
        ),
        ',0,,42,45,,,,https://woocommercecore.mystagingwebsite.com/wp-content/uploads/2017/12/hoodie-2.jpg,',
        ',0,,39.5,45,,,,https://woocommercecore.mystagingwebsite.com/wp-content/uploads/2017/12/hoodie-2.jpg,',
      ),
    );
    const report = await importFile(changedPath);

    expect(report.products).toEqual({ created: 0, updated: 1, unchanged: 17 });
    expect(report.variants).toEqual({ created: 0, updated: 1, unchanged: 21 });
    const hoodieAfter = await productBySku('woo-hoodie');
    const redAfter = await variantBySku('woo-hoodie-red');
    expect(hoodieAfter.id).toBe(hoodieBefore.id);
    expect(hoodieAfter.title).toBe('Zip Hoodie');
    // Handles are URLs, so a new title keeps the old one.
    expect(hoodieAfter.handle).toBe('hoodie');
    expect(hoodieAfter.updatedAt.getTime()).toBeGreaterThan(
      hoodieBefore.updatedAt.getTime(),
    );
    expect(redAfter.id).toBe(redBefore.id);
    expect(redAfter.priceAmount).toBe(3950);
    expect(redAfter.compareAtAmount).toBe(4500);
    expect(
      await database.db.select({ value: count() }).from(tables.products),
    ).toEqual(productCount);

    const [event] = await database.db
      .select()
      .from(tables.outboxEvents)
      .where(eq(tables.outboxEvents.type, 'product.updated'));
    expect(event!.aggregateId).toBe(hoodieBefore.id);
    expect(event!.payload).toMatchObject({
      changedFields: ['title'],
      variantsCreated: [],
      variantsUpdated: ['woo-hoodie-red'],
    });
  });

  it('leaves products missing from the file', async () => {
    await importFile(samplePath);
    const lines = readFileSync(samplePath, 'utf8').split('\n');
    const withoutBelt = lines.filter(
      (line) => !line.startsWith('58,simple,woo-belt,'),
    );
    expect(withoutBelt).toHaveLength(lines.length - 1);
    const partialPath = path.join(folder, 'partial.csv');
    writeFileSync(partialPath, withoutBelt.join('\n'));

    const report = await importFile(partialPath);

    expect(report.products.unchanged).toBe(17);
    const belt = await productBySku('woo-belt');
    expect(belt.status).toBe('ACTIVE');
  });

  it('gives a second product a numbered handle', async () => {
    await importFile(samplePath);
    const copyPath = path.join(folder, 'copy.csv');
    const [header] = readFileSync(samplePath, 'utf8').split('\n');
    const columns = header!.split(',');
    const cells = columns.map((column) => {
      const values: Record<string, string> = {
        ID: '999',
        Type: 'simple',
        SKU: 'other-hoodie',
        Name: 'Hoodie',
        '"Regular price"': '10',
      };
      return values[column] ?? '';
    });
    writeFileSync(copyPath, `${header}\n${cells.join(',')}\n`);

    const report = await importFile(copyPath);

    expect(report.errors).toEqual([]);
    const other = await productBySku('other-hoodie');
    expect(other.handle).toBe('hoodie-2');
  });
});

function replaceOnce(
  text: string,
  search: string,
  replacement: string,
): string {
  const index = text.indexOf(search);
  if (index === -1 || text.indexOf(search, index + 1) !== -1) {
    throw new Error(`Expected exactly one "${search}" in the sample file.`);
  }
  return text.slice(0, index) + replacement + text.slice(index + search.length);
}
