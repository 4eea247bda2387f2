import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { count, eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import type { Config } from '../platform/config.js';
import { connectDatabase, serviceDatabaseUrl } from '../platform/database.js';
import * as tables from '../subgraphs/catalog/db/tables.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';

const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
const samplePath = 'data/woocommerce_sample_products.csv';
const GENERATED_ROWS = 2000;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

let config: Config;
let folder: string;

// Each test gets its own database prefix, which the CLI's migration step
// turns into a fresh catalog database.
beforeEach(() => {
  config = createTestConfig();
  folder = mkdtempSync(path.join(os.tmpdir(), 'catalog-import-cli-'));
});

afterEach(async () => {
  await dropTestDatabases(config);
  rmSync(folder, { recursive: true, force: true });
});

/** Runs `npx tsx scripts/import.ts ...args` against the test server. */
function runCli(args: string[]): Promise<CliResult> {
  const environment: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: inject('databaseServerUrl'),
    DATABASE_PREFIX: config.DATABASE_PREFIX,
  };
  delete environment.CATALOG_DATABASE_URL;
  delete environment.LOG_LEVEL;
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'scripts/import.ts', ...args],
      { cwd: repositoryRoot, env: environment, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error
          ? Number((error as { code?: unknown }).code ?? 1)
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function countCatalogProducts(): Promise<number> {
  const database = connectDatabase(
    serviceDatabaseUrl(config, 'catalog'),
    tables,
    {
      poolSize: 1,
    },
  );
  try {
    const [row] = await database.db
      .select({ value: count() })
      .from(tables.products);
    return row!.value;
  } finally {
    await database.close();
  }
}

/** Writes a WooCommerce file of simple products with the sample's header. */
function writeGeneratedFile(rows: number): string {
  const header = readFileSync(
    path.join(repositoryRoot, samplePath),
    'utf8',
  ).split('\n')[0]!;
  const columns = header.split(',');
  const lines = [header];
  for (let index = 1; index <= rows; index += 1) {
    const values: Record<string, string> = {
      ID: String(10_000 + index),
      Type: 'simple',
      SKU: `generated-${index}`,
      Name: `Generated product ${index}`,
      Published: '1',
      '"Regular price"': `${(index % 90) + 10}.${String(index % 100).padStart(2, '0')}`,
      Stock: String(index % 25),
    };
    lines.push(columns.map((column) => values[column] ?? '').join(','));
  }
  const filePath = path.join(folder, 'generated.csv');
  writeFileSync(filePath, `${lines.join('\n')}\n`);
  return filePath;
}

describe('import CLI', () => {
  it('imports the sample and exits 0', async () => {
    const result = await runCli([samplePath, '--currency', 'USD']);

    // Progress lines appear when the import takes over a second, as it may
    // on a busy machine; nothing else goes to stderr.
    const otherOutput = result.stderr
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('Imported '));
    expect(otherOutput).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        `Read ${samplePath} (WooCommerce, 25 rows)`,
        'Products: 18 created, 0 updated, 0 unchanged',
        'Variants: 22 created, 0 updated, 0 unchanged',
        'Stock adjustments: 0',
        'Errors: 0',
        '',
      ].join('\n'),
    );
    expect(await countCatalogProducts()).toBe(18);
  });

  it('prints bad rows with their lines', async () => {
    const result = await runCli(['test/fixtures/shopify-products.csv']);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      'Products: 4 created, 0 updated, 0 unchanged\n',
    );
    expect(result.stdout).toContain(
      'Errors: 2\n' +
        '  line 10: Variant Price: "12,50" is not a decimal amount such as 42.00.\n' +
        '  line 14: Variant Inventory Qty: "plenty" is not a whole number. ' +
        'Product "wool-socks" on line 13 was not imported.\n',
    );
  });

  it('exits 1 when no product imports', async () => {
    const filePath = path.join(folder, 'all-bad.csv');
    writeFileSync(filePath, 'Handle,Title,Variant Price\nmug,Mug,free\n');

    const result = await runCli([filePath]);

    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      'Errors: 1\n  line 2: Variant Price: "free" is not a decimal amount such as 42.00.\n',
    );
    expect(result.stdout).toContain('No product was imported.\n');
  });

  it('exits 1 for an unknown header', async () => {
    const filePath = path.join(folder, 'unknown.csv');
    writeFileSync(filePath, 'name,price\nLamp,10\n');

    const result = await runCli([filePath]);

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Import failed: Unknown CSV header.');
  });

  it('exits 1 for a missing file', async () => {
    const result = await runCli(['no-such-file.csv']);

    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'Import failed: cannot read no-such-file.csv: ENOENT.\n',
    );
  });

  it('exits 1 for a foreign currency', async () => {
    const result = await runCli([samplePath, '--currency', 'EUR']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "--currency: the file's currency EUR differs from the shop currency USD; set SHOP_CURRENCY=EUR for a shop that sells in EUR.",
    );
  });

  it('exits 1 without a file argument', async () => {
    const result = await runCli([]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Expected exactly one FILE argument.');
    expect(result.stderr).toContain(
      'Usage: npm run import -- FILE [--currency CODE]',
    );
  });

  it('shows progress for a large file', async () => {
    const filePath = writeGeneratedFile(GENERATED_ROWS);

    const result = await runCli([filePath]);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `Products: ${GENERATED_ROWS} created, 0 updated, 0 unchanged\n`,
    );
    const progress = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('Imported '));
    expect(progress.length).toBeGreaterThanOrEqual(GENERATED_ROWS / 500);
    expect(progress.at(-1)).toBe(
      `Imported ${GENERATED_ROWS} of ${GENERATED_ROWS} rows`,
    );
    const done = progress.map((line) => Number(line.split(' ')[1]));
    expect(done).toEqual([...done].sort((a, b) => a - b));

    const database = connectDatabase(
      serviceDatabaseUrl(config, 'catalog'),
      tables,
      {
        poolSize: 1,
      },
    );
    try {
      const [variant] = await database.db
        .select()
        .from(tables.variants)
        .where(eq(tables.variants.sku, 'generated-1999'));
      expect(variant!.priceAmount).toBe(2999);
    } finally {
      await database.close();
    }
  }, 180_000);
});
