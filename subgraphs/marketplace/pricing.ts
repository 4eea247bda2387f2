import type { ListingRow, MarketplaceConnectionRow } from './db/tables.js';

/** Basis points in 100 %. */
const FULL_BASIS_POINTS = 10_000n;

/**
 * Applies a connection's price rule to a catalog price in minor units: the
 * price times (10 000 + basis points) / 10 000, rounded half up to a whole
 * minor unit, plus the fixed adjustment. Integer arithmetic throughout, so
 * 1999 at +1 250 basis points (12.5 %) is 2248.875 → 2249, never a float
 * artefact. Returns null when the result would be negative.
 */
export function applyPriceRule(
  catalogAmount: number,
  rule: Pick<
    MarketplaceConnectionRow,
    'priceAdjustmentBasisPoints' | 'priceFixedAdjustment'
  >,
): number | null {
  const scaled =
    BigInt(catalogAmount) *
    (FULL_BASIS_POINTS + BigInt(rule.priceAdjustmentBasisPoints));
  // Half up for non-negative values: add half the divisor, then floor.
  // `scaled` is never negative, because basis points are at least -9 999.
  const rounded = (scaled * 2n + FULL_BASIS_POINTS) / (FULL_BASIS_POINTS * 2n);
  const amount = Number(rounded) + rule.priceFixedAdjustment;
  return amount < 0 ? null : amount;
}

export interface ListingPrice {
  amount: number;
  currencyCode: string;
}

/**
 * The price a listing is published at: its override when set, else the
 * connection's rule applied to the catalog price. Null when neither gives
 * a price.
 */
export function listingPrice(
  listing: Pick<ListingRow, 'priceOverrideAmount' | 'priceOverrideCurrency'>,
  connection: MarketplaceConnectionRow,
  catalogPrice: ListingPrice | null,
): ListingPrice | { error: string } | null {
  if (
    listing.priceOverrideAmount !== null &&
    listing.priceOverrideCurrency !== null
  ) {
    return {
      amount: listing.priceOverrideAmount,
      currencyCode: listing.priceOverrideCurrency,
    };
  }
  if (!catalogPrice) return null;
  const amount = applyPriceRule(catalogPrice.amount, connection);
  if (amount === null) {
    return {
      error: `The price rule of connection "${connection.name}" makes the price negative; lower the fixed adjustment or set a price override.`,
    };
  }
  return { amount, currencyCode: catalogPrice.currencyCode };
}
