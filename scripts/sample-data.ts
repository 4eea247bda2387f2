import { fileURLToPath } from 'node:url';
import { count } from 'drizzle-orm';
import type { Config } from '../platform/config.js';
import { connectDatabase } from '../platform/database.js';
import { signServiceIdentity } from '../platform/identity.js';
import type { Logger } from '../platform/logger.js';
import * as catalogTables from '../subgraphs/catalog/db/tables.js';
import { importCatalogFile } from '../subgraphs/catalog/import/index.js';
import * as marketplaceTables from '../subgraphs/marketplace/db/tables.js';
import { seedDemoListings } from '../subgraphs/marketplace/demo-listings.js';

/** WooCommerce's own sample export, shipped in data/ with its licence noted there. */
export const sampleCatalogPath = fileURLToPath(
  new URL('../data/woocommerce_sample_products.csv', import.meta.url),
);

/** Imports the sample catalog when the catalog has no product yet. */
export async function importSampleCatalogIfEmpty(
  config: Config,
  catalogDatabaseUrl: string,
  logger: Logger,
): Promise<void> {
  const database = connectDatabase(catalogDatabaseUrl, catalogTables, {
    poolSize: 2,
  });
  try {
    const [row] = await database.db
      .select({ products: count() })
      .from(catalogTables.products);
    if (row!.products > 0) return;
    logger.info(
      { file: sampleCatalogPath },
      'catalog is empty; importing the sample catalog',
    );
    const report = await importCatalogFile(database.db, sampleCatalogPath, {
      currency: config.SHOP_CURRENCY,
      logger,
    });
    logger.info(
      {
        products: report.products,
        variants: report.variants,
        errors: report.errors.length,
      },
      'sample catalog imported',
    );
  } finally {
    await database.close();
  }
}

/**
 * Creates the sandbox marketplace's listings for the catalog on first
 * start. The catalog is read as the `marketplace` service, signed with
 * the identity key of `config`.
 */
export async function seedDemoListingsAt(
  config: Config,
  marketplaceDatabaseUrl: string,
  catalogUrl: string,
  logger: Logger,
): Promise<void> {
  const database = connectDatabase(marketplaceDatabaseUrl, marketplaceTables, {
    poolSize: 2,
  });
  try {
    await seedDemoListings({
      db: database.db,
      catalogUrl,
      logger,
      requestHeaders: () => signServiceIdentity(config, 'marketplace'),
    });
  } finally {
    await database.close();
  }
}
