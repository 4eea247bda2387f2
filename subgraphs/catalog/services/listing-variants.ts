import { eq, inArray, or } from 'drizzle-orm';
import { badUserInput } from '../../../platform/errors.js';
import { isUuid } from '../../../platform/ids.js';
import * as tables from '../db/tables.js';
import type { ProductRow, StockLevelRow, VariantRow } from '../db/tables.js';
import { quantityAvailable } from './availability.js';
import type { CatalogTransaction } from './stock.js';

/** Maximum number of variant and product ids in one `variantsForListing` request. */
export const MAX_LISTING_VARIANT_IDS = 500;

/** Grams per unit of each catalog weight unit. */
const GRAMS_PER_UNIT = {
  GRAMS: 1,
  KILOGRAMS: 1000,
  POUNDS: 453.59237,
  OUNCES: 28.349523125,
} as const;

/** What a marketplace listing of one variant needs from the catalog. */
export interface ListingVariantValue {
  id: string;
  productId: string;
  sku: string;
  title: string;
  description: string;
  imageUrls: string[];
  brand: string | null;
  barcode: string | null;
  weightGrams: number | null;
  priceAmount: number | null;
  currencyCode: string;
  quantityAvailable: number | null;
  tracksInventory: boolean;
  inventoryPolicy: VariantRow['inventoryPolicy'];
  purchasable: boolean;
}

type Reader = Pick<CatalogTransaction, 'select'>;

/**
 * Reads the variants with `variantIds` and every variant of the products
 * with `productIds`, with their stock summed over locations, in one pass
 * of three statements. Ids that match nothing are left out of the result.
 * Throws BAD_USER_INPUT for more than MAX_LISTING_VARIANT_IDS ids or an id
 * that is not a UUID.
 */
export async function readListingVariants(
  db: Reader,
  variantIds: readonly string[],
  productIds: readonly string[],
): Promise<ListingVariantValue[]> {
  if (variantIds.length + productIds.length > MAX_LISTING_VARIANT_IDS) {
    throw badUserInput(
      `Too many ids (${variantIds.length + productIds.length}): send at most ${MAX_LISTING_VARIANT_IDS} variant and product ids together.`,
      'ids',
    );
  }
  for (const id of [...variantIds, ...productIds]) {
    if (!isUuid(id)) {
      throw badUserInput(`Invalid id "${id}": use a lower-case UUID.`, 'ids');
    }
  }
  if (variantIds.length === 0 && productIds.length === 0) return [];

  const conditions = [];
  if (variantIds.length > 0) {
    conditions.push(inArray(tables.variants.id, [...new Set(variantIds)]));
  }
  if (productIds.length > 0) {
    conditions.push(
      inArray(tables.variants.productId, [...new Set(productIds)]),
    );
  }
  const rows = await db
    .select({ variant: tables.variants, product: tables.products })
    .from(tables.variants)
    .innerJoin(
      tables.products,
      eq(tables.products.id, tables.variants.productId),
    )
    .where(or(...conditions))
    .orderBy(tables.variants.productId, tables.variants.position);
  if (rows.length === 0) return [];

  const levels = await db
    .select()
    .from(tables.stockLevels)
    .where(
      inArray(
        tables.stockLevels.variantId,
        rows.map((row) => row.variant.id),
      ),
    );
  const levelsByVariant = new Map<string, StockLevelRow[]>();
  for (const level of levels) {
    const list = levelsByVariant.get(level.variantId) ?? [];
    list.push(level);
    levelsByVariant.set(level.variantId, list);
  }
  return rows.map(({ variant, product }) =>
    toListingVariant(product, variant, levelsByVariant.get(variant.id) ?? []),
  );
}

function toListingVariant(
  product: ProductRow,
  variant: VariantRow,
  levels: StockLevelRow[],
): ListingVariantValue {
  const images = product.images.map((image) => image.url);
  // The variant's own image comes first, because marketplaces show the
  // first image as the listing's picture.
  const imageUrls = variant.imageUrl
    ? [variant.imageUrl, ...images.filter((url) => url !== variant.imageUrl)]
    : images;
  return {
    id: variant.id,
    productId: product.id,
    sku: variant.sku,
    title:
      product.options.length > 0
        ? `${product.title} - ${variant.title}`
        : product.title,
    description: product.description,
    imageUrls,
    brand: product.vendor,
    barcode: variant.barcode,
    weightGrams: weightInGrams(variant),
    priceAmount: variant.priceAmount,
    currencyCode: variant.currencyCode,
    quantityAvailable: quantityAvailable(variant, levels),
    tracksInventory: variant.tracksInventory,
    inventoryPolicy: variant.inventoryPolicy,
    purchasable:
      product.status === 'ACTIVE' &&
      product.productType === 'STANDARD' &&
      variant.purchasable,
  };
}

/** The variant's weight in whole grams, rounded half up; null when unknown. */
function weightInGrams(variant: VariantRow): number | null {
  if (variant.weightValue === null || variant.weightUnit === null) return null;
  const value = Number(variant.weightValue);
  if (!Number.isFinite(value)) return null;
  return Math.round(value * GRAMS_PER_UNIT[variant.weightUnit]);
}
