import DataLoader from 'dataloader';
import { asc, inArray } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import { byKey, groupByKey } from '../../platform/batching.js';
import type { Database } from '../../platform/database.js';
import { isUuid } from '../../platform/ids.js';
import * as tables from './db/tables.js';
import type { ListingRow, MarketplaceConnectionRow } from './db/tables.js';

type MarketplaceDatabase = Database<typeof tables>;

/**
 * Creates the DataLoaders of one request. Each one sends the keys requested
 * in one tick as a single SQL statement, so the listings of 50 products cost
 * as many statements as those of 5. Keys that are not UUIDs match no row and
 * are left out of the statement, because PostgreSQL rejects them as uuid
 * values.
 */
export function createLoaders(db: MarketplaceDatabase, _config: Config) {
  const connectionById = new DataLoader<
    string,
    MarketplaceConnectionRow | null
  >(async (ids) =>
    byKey(
      ids,
      await db
        .select()
        .from(tables.marketplaceConnections)
        .where(inArray(tables.marketplaceConnections.id, ids.filter(isUuid))),
      (row) => row.id,
    ),
  );

  const listingById = new DataLoader<string, ListingRow | null>(async (ids) =>
    byKey(
      ids,
      await db
        .select()
        .from(tables.listings)
        .where(inArray(tables.listings.id, ids.filter(isUuid))),
      (row) => row.id,
    ),
  );

  const listingsByProductId = new DataLoader<string, ListingRow[]>(
    async (productIds) => {
      const rows = await db
        .select()
        .from(tables.listings)
        .where(inArray(tables.listings.productId, productIds.filter(isUuid)))
        .orderBy(asc(tables.listings.createdAt), asc(tables.listings.id));
      for (const row of rows) listingById.prime(row.id, row);
      return groupByKey(productIds, rows, (row) => row.productId);
    },
  );

  const listingsByVariantId = new DataLoader<string, ListingRow[]>(
    async (variantIds) => {
      const rows = await db
        .select()
        .from(tables.listings)
        .where(inArray(tables.listings.variantId, variantIds.filter(isUuid)))
        .orderBy(asc(tables.listings.createdAt), asc(tables.listings.id));
      for (const row of rows) listingById.prime(row.id, row);
      return groupByKey(variantIds, rows, (row) => row.variantId);
    },
  );

  return {
    connectionById,
    listingById,
    listingsByProductId,
    listingsByVariantId,
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
