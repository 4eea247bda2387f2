import type { MarketplaceConnectionRow } from '../db/tables.js';
import type { CatalogListingVariant } from '../catalog-client.js';

/**
 * Units a listing offers:
 *
 * - 0 when the variant cannot be bought (inactive product, external
 *   product, not purchasable).
 * - For a variant that tracks stock: available less the connection's
 *   safety stock, never below 0. Backorder variants (inventory policy
 *   CONTINUE) count the same way, so a marketplace never sells units that
 *   are not in stock: marketplaces expect dispatch within their handling
 *   time, which a backorder cannot promise.
 * - For a variant that does not track stock: the connection's
 *   `untrackedQuantity`, because a marketplace needs a finite number.
 */
export function listingQuantity(
  variant: Pick<
    CatalogListingVariant,
    'purchasable' | 'tracksInventory' | 'quantityAvailable'
  >,
  connection: Pick<
    MarketplaceConnectionRow,
    'safetyStock' | 'untrackedQuantity'
  >,
): number {
  if (!variant.purchasable) return 0;
  if (!variant.tracksInventory || variant.quantityAvailable === null) {
    return connection.untrackedQuantity;
  }
  return Math.max(0, variant.quantityAvailable - connection.safetyStock);
}
