import DataLoader from 'dataloader';
import { asc, inArray } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import { byKey, groupByKey } from '../../platform/batching.js';
import type { Database } from '../../platform/database.js';
import * as tables from './db/tables.js';
import type {
  LocationRow,
  ProductRow,
  StockLevelRow,
  VariantRow,
} from './db/tables.js';

type CatalogDatabase = Database<typeof tables>;

/**
 * Per-request loaders. Each one batches the keys asked for in one tick
 * into a single SQL statement, so a page costs the same number of
 * statements however many products it shows.
 */
export function createLoaders(db: CatalogDatabase, _config: Config) {
  const productById = new DataLoader<string, ProductRow | null>(async (ids) =>
    byKey(
      ids,
      await db
        .select()
        .from(tables.products)
        .where(inArray(tables.products.id, [...ids])),
      (row) => row.id,
    ),
  );

  const productByHandle = new DataLoader<string, ProductRow | null>(
    async (handles) => {
      const rows = await db
        .select()
        .from(tables.products)
        .where(inArray(tables.products.handle, [...handles]));
      for (const row of rows) productById.prime(row.id, row);
      return byKey(handles, rows, (row) => row.handle);
    },
  );

  const variantById = new DataLoader<string, VariantRow | null>(async (ids) =>
    byKey(
      ids,
      await db
        .select()
        .from(tables.variants)
        .where(inArray(tables.variants.id, [...ids])),
      (row) => row.id,
    ),
  );

  const variantBySku = new DataLoader<string, VariantRow | null>(
    async (skus) => {
      const rows = await db
        .select()
        .from(tables.variants)
        .where(inArray(tables.variants.sku, [...skus]));
      for (const row of rows) variantById.prime(row.id, row);
      return byKey(skus, rows, (row) => row.sku);
    },
  );

  const variantsByProductId = new DataLoader<string, VariantRow[]>(
    async (productIds) => {
      const rows = await db
        .select()
        .from(tables.variants)
        .where(inArray(tables.variants.productId, [...productIds]))
        .orderBy(asc(tables.variants.position), asc(tables.variants.id));
      for (const row of rows) variantById.prime(row.id, row);
      return groupByKey(productIds, rows, (row) => row.productId);
    },
  );

  const stockLevelsByVariantId = new DataLoader<string, StockLevelRow[]>(
    async (variantIds) =>
      groupByKey(
        variantIds,
        await db
          .select()
          .from(tables.stockLevels)
          .where(inArray(tables.stockLevels.variantId, [...variantIds]))
          .orderBy(asc(tables.stockLevels.locationId)),
        (row) => row.variantId,
      ),
  );

  const locationById = new DataLoader<string, LocationRow | null>(async (ids) =>
    byKey(
      ids,
      await db
        .select()
        .from(tables.locations)
        .where(inArray(tables.locations.id, [...ids])),
      (row) => row.id,
    ),
  );

  const groupMemberIdsByGroupId = new DataLoader<string, string[]>(
    async (groupIds) => {
      const rows = await db
        .select()
        .from(tables.productGroupMembers)
        .where(inArray(tables.productGroupMembers.groupId, [...groupIds]))
        .orderBy(asc(tables.productGroupMembers.position));
      return groupByKey(groupIds, rows, (row) => row.groupId).map((group) =>
        group.map((row) => row.memberId),
      );
    },
  );

  return {
    productById,
    productByHandle,
    variantById,
    variantBySku,
    variantsByProductId,
    stockLevelsByVariantId,
    locationById,
    groupMemberIdsByGroupId,
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
