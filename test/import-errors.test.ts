import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { count, eq } from 'drizzle-orm';
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
import {
  ImportFileError,
  importCatalogFile,
} from '../subgraphs/catalog/import/index.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';

const migrationsFolder = fileURLToPath(
  new URL('../subgraphs/catalog/migrations/', import.meta.url),
);
const fixturePath = fileURLToPath(
  new URL('./fixtures/woocommerce-bad-rows.csv', import.meta.url),
);
const logger = createLogger('import-test', 'silent');

const EXPECTED_ERRORS = [
  {
    line: 4,
    message: 'Regular price: "abc" is not a decimal amount such as 42.00.',
  },
  {
    line: 6,
    message:
      'SKU is missing; variants are matched on their SKU on re-import. ' +
      'Product "shade" on line 5 was not imported.',
  },
  {
    line: 8,
    message:
      'Parent "bulbs" is not a product in this file; variations are imported together with their parent.',
  },
  { line: 9, message: 'Weight (kg): "heavy" is not a number such as 1.5.' },
  {
    line: 15,
    message:
      'Grouped products: "lamp-floor" not found; a member must be a valid product in the file or already imported.',
  },
];

let config: Config;
let database: DatabaseHandle<typeof tables>;
let folder: string;

beforeEach(async () => {
  config = createTestConfig();
  const url = serviceDatabaseUrl(config, 'catalog');
  await prepareSubgraphDatabase(
    { name: 'catalog', migrationsFolder },
    url,
    logger,
  );
  database = connectDatabase(url, tables, { poolSize: 2 });
  folder = mkdtempSync(path.join(os.tmpdir(), 'catalog-import-'));
});

afterEach(async () => {
  await database.close();
  await dropTestDatabases(config);
  rmSync(folder, { recursive: true, force: true });
});

function importFile(filePath: string, currency = 'USD') {
  return importCatalogFile(database.db, filePath, { currency, logger });
}

function writeTemporaryFile(name: string, content: string): string {
  const filePath = path.join(folder, name);
  writeFileSync(filePath, content);
  return filePath;
}

async function productBySourceRef(sourceRef: string) {
  const [product] = await database.db
    .select()
    .from(tables.products)
    .where(eq(tables.products.sourceRef, sourceRef));
  return product;
}

async function variantBySku(sku: string) {
  const [variant] = await database.db
    .select()
    .from(tables.variants)
    .where(eq(tables.variants.sku, sku));
  return variant!;
}

async function onHand(sku: string) {
  const [level] = await database.db
    .select({ onHand: tables.stockLevels.onHand })
    .from(tables.stockLevels)
    .innerJoin(
      tables.variants,
      eq(tables.variants.id, tables.stockLevels.variantId),
    )
    .where(eq(tables.variants.sku, sku));
  return level?.onHand;
}

describe('bad rows', () => {
  it('reports each with its line', async () => {
    const report = await importFile(fixturePath);

    expect(report.errors).toEqual(EXPECTED_ERRORS);
    expect(report.products).toEqual({ created: 4, updated: 0, unchanged: 0 });
    expect(report.variants).toEqual({ created: 4, updated: 0, unchanged: 0 });
  });

  it('counts lines the same in CRLF files', async () => {
    const crlf = readFileSync(fixturePath, 'utf8').replaceAll('\n', '\r\n');
    const report = await importFile(writeTemporaryFile('crlf.csv', crlf));

    expect(report.errors.map((error) => error.line)).toEqual(
      EXPECTED_ERRORS.map((error) => error.line),
    );
  });

  it('writes nothing of a failed product', async () => {
    await importFile(fixturePath);

    for (const sku of ['lamp-floor', 'shade', 'cable', 'lighting-set']) {
      expect(
        await productBySourceRef(`woocommerce:sku:${sku}`),
      ).toBeUndefined();
    }
    const [blackShade] = await database.db
      .select({ value: count() })
      .from(tables.variants)
      .where(eq(tables.variants.sku, 'shade-black'));
    expect(blackShade!.value).toBe(0);
    const events = await database.db
      .select({ value: count() })
      .from(tables.outboxEvents);
    // Four product.created events and one stock.changed for the desk lamp.
    expect(events[0]!.value).toBe(5);
  });

  it('warns about negative stock', async () => {
    const report = await importFile(fixturePath);

    expect(report.warnings).toEqual([
      {
        line: 13,
        message:
          'Stock: -2 is below zero; on-hand quantities start at 0, so 0 was imported.',
      },
    ]);
  });
});

describe('WooCommerce fixture rows', () => {
  it('tracks a stock number', async () => {
    const report = await importFile(fixturePath);

    const lamp = await variantBySku('lamp-desk');
    expect(lamp.tracksInventory).toBe(true);
    expect(lamp.inventoryPolicy).toBe('CONTINUE');
    expect(await onHand('lamp-desk')).toBe(7);
    expect(report.stockAdjustments).toBe(1);
    const [adjustment] = await database.db
      .select()
      .from(tables.stockAdjustments);
    expect(adjustment!.reason).toBe('IMPORT');
    expect(adjustment!.delta).toBe(7);
  });

  it('tracks out of stock at zero', async () => {
    await importFile(fixturePath);

    const cord = await variantBySku('cord');
    expect(cord.tracksInventory).toBe(true);
    expect(await onHand('cord')).toBeUndefined();
  });

  it('reads units, lists and text', async () => {
    await importFile(fixturePath);

    const product = (await productBySourceRef('woocommerce:sku:lamp-desk'))!;
    expect(product.summary).toBe('Bright.\nAdjustable.');
    expect(product.description).toBe('Adjustable arm.\nWarm light.');
    expect(product.categories).toEqual(['Lighting > Desk', 'Home > Office']);
    expect(product.tags).toEqual(['lamp', 'office']);
    expect(product.images.map((image) => image.url)).toEqual([
      'https://shop.example.com/wp-content/uploads/lamp-desk.jpg',
      'https://shop.example.com/wp-content/uploads/lamp-desk-side.jpg',
    ]);
    const lamp = await variantBySku('lamp-desk');
    expect(lamp.weightValue).toBe('1.2500');
    expect(lamp.weightUnit).toBe('KILOGRAMS');
    expect([lamp.length, lamp.width, lamp.height]).toEqual([
      '30.0000',
      '15.0000',
      '45.0000',
    ]);
    expect(lamp.dimensionUnit).toBe('CENTIMETERS');
    expect(lamp.priceAmount).toBe(3550);

    const cord = (await productBySourceRef('woocommerce:sku:cord'))!;
    expect(cord.description).toBe(
      'Three metres.\n\nSay "hello" to tidy desks.',
    );
  });

  it('unescapes a draft with search visibility', async () => {
    await importFile(fixturePath);

    const product = (await productBySourceRef('woocommerce:sku:switch'))!;
    expect(product.status).toBe('DRAFT');
    expect(product.listed).toBe(true);
    expect(await onHand('switch')).toBeUndefined();
    expect((await variantBySku('switch')).tracksInventory).toBe(true);
  });

  it('identifies a product without SKU by ID', async () => {
    await importFile(fixturePath);

    const guide = (await productBySourceRef('woocommerce:id:110'))!;
    expect(guide.productType).toBe('EXTERNAL');
    expect(guide.externalButtonText).toBe('Read the guide');
    expect(guide.listed).toBe(true);
    const variant = await variantBySku('woocommerce-id-110');
    expect(variant.productId).toBe(guide.id);
    expect(variant.priceAmount).toBe(0);
    expect(variant.purchasable).toBe(false);
  });

  it('adjusts only changed stock on re-import', async () => {
    await importFile(fixturePath);
    const changed = readFileSync(fixturePath, 'utf8').replace(
      'Warm light.",,,1,7,notify,',
      'Warm light.",,,1,4,notify,',
    );

    const report = await importFile(writeTemporaryFile('stock.csv', changed));

    expect(report.stockAdjustments).toBe(1);
    expect(report.variants).toEqual({ created: 0, updated: 0, unchanged: 4 });
    expect(report.products).toEqual({ created: 0, updated: 0, unchanged: 4 });
    expect(await onHand('lamp-desk')).toBe(4);
    const adjustments = await database.db
      .select({ delta: tables.stockAdjustments.delta })
      .from(tables.stockAdjustments)
      .orderBy(tables.stockAdjustments.createdAt);
    expect(adjustments).toEqual([{ delta: 7 }, { delta: -3 }]);
  });

  it('rejects a SKU owned by another product', async () => {
    await importFile(fixturePath);
    const header = readFileSync(fixturePath, 'utf8').split('\n')[0]!;
    const columns = header.split(',');
    const cells = columns.map(
      (column) =>
        ({ ID: '300', Type: 'variable', SKU: 'desk-kit', Name: 'Desk Kit' })[
          column
        ] ?? '',
    );
    const variation = columns.map(
      (column) =>
        ({
          ID: '301',
          Type: 'variation',
          SKU: 'lamp-desk',
          Parent: 'desk-kit',
        })[column] ?? '',
    );
    const filePath = writeTemporaryFile(
      'conflict.csv',
      `${header}\n${cells.join(',')}\n${variation.join(',')}\n`,
    );

    const report = await importFile(filePath);

    expect(report.errors).toEqual([
      {
        line: 3,
        message:
          'SKU "lamp-desk" already belongs to the product with handle "desk-lamp"; ' +
          'change the SKU in the file or remove that variant first.',
      },
    ]);
    expect(
      await productBySourceRef('woocommerce:sku:desk-kit'),
    ).toBeUndefined();
  });
});

describe('file errors', () => {
  it('names the expected headers', async () => {
    const filePath = writeTemporaryFile('other.csv', 'name,price\nLamp,10\n');

    await expect(importFile(filePath)).rejects.toThrow(ImportFileError);
    await expect(importFile(filePath)).rejects.toThrow(
      'Unknown CSV header. Expected a WooCommerce product export (columns Type, SKU, Name) ' +
        'or a Shopify product CSV (columns Handle, Title); the header has "name", "price".',
    );
  });

  it('reports a missing file', async () => {
    const filePath = path.join(folder, 'missing.csv');

    await expect(importFile(filePath)).rejects.toThrow(
      `Cannot read ${filePath}: ENOENT.`,
    );
  });

  it('reports broken CSV quoting', async () => {
    const filePath = writeTemporaryFile(
      'broken.csv',
      'Handle,Title\nmug,"Mug\n',
    );

    await expect(importFile(filePath)).rejects.toThrow(
      /^The file is not valid CSV: /,
    );
  });

  it('rejects an unknown currency', async () => {
    await expect(importFile(fixturePath, 'XYZ')).rejects.toThrow(
      'Unknown currency code "XYZ"; use an ISO 4217 code such as USD.',
    );
  });
});
