import type { ProductRow, StockLevelRow, VariantRow } from '../db/tables.js';

/** Units on hand less units reserved, summed over locations. */
export function sumAvailable(levels: StockLevelRow[]): number {
  let total = 0;
  for (const level of levels) total += level.onHand - level.reserved;
  return total;
}

/** Largest value of a GraphQL Int. */
const GRAPHQL_INT_MAX = 2_147_483_647;

/**
 * Units available to sell, or null when the variant does not track stock.
 * A sum over several full locations can pass the GraphQL Int range, so it
 * is capped at the largest Int.
 */
export function quantityAvailable(
  variant: VariantRow,
  levels: StockLevelRow[],
): number | null {
  if (!variant.tracksInventory) return null;
  return Math.min(sumAvailable(levels), GRAPHQL_INT_MAX);
}

/**
 * Decides whether a variant is for sale. Its product must be active and
 * sold here and the variant must have a price. Then it is for sale when it
 * has stock available, does not track stock, or allows backorders.
 */
export function isVariantAvailable(
  product: ProductRow,
  variant: VariantRow,
  levels: StockLevelRow[],
): boolean {
  if (product.status !== 'ACTIVE' || product.productType !== 'STANDARD') {
    return false;
  }
  if (!variant.purchasable || variant.priceAmount === null) return false;
  if (!variant.tracksInventory || variant.inventoryPolicy === 'CONTINUE') {
    return true;
  }
  return sumAvailable(levels) > 0;
}
