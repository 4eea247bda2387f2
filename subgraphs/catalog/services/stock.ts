import { and, eq, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/database.js';
import { uuidv7 } from '../../../platform/ids.js';
import { appendEvents } from '../../../platform/outbox.js';
import * as tables from '../db/tables.js';
import type {
  LocationRow,
  StockAdjustmentRow,
  StockLevelRow,
} from '../db/tables.js';

type CatalogDatabase = Database<typeof tables>;
/** A transaction handle; every stock write runs inside one. */
export type CatalogTransaction = Parameters<
  Parameters<CatalogDatabase['transaction']>[0]
>[0];

export const DEFAULT_LOCATION_CODE = 'default';

export type StockAdjustmentReason = StockAdjustmentRow['reason'];

/**
 * Largest on-hand quantity of one variant at one location. The column is a
 * PostgreSQL `integer` (up to 2^31 - 1); the lower limit leaves room for
 * sums over a few locations.
 */
export const MAX_ON_HAND = 1_000_000_000;

export interface StockChange {
  stockLevel: StockLevelRow;
  /** Null when the quantity was already as requested, so nothing changed. */
  adjustment: StockAdjustmentRow | null;
}

export type StockChangeResult =
  | { ok: true; change: StockChange }
  | {
      ok: false;
      reason: 'BELOW_ZERO' | 'ABOVE_MAXIMUM';
      quantityAfter: number;
    };

/** Returns the default location, creating it on first use. */
export async function ensureDefaultLocation(
  db: CatalogDatabase | CatalogTransaction,
): Promise<LocationRow> {
  await db
    .insert(tables.locations)
    .values({
      id: uuidv7(),
      code: DEFAULT_LOCATION_CODE,
      name: 'Default location',
    })
    .onConflictDoNothing({ target: tables.locations.code });
  const [location] = await db
    .select()
    .from(tables.locations)
    .where(eq(tables.locations.code, DEFAULT_LOCATION_CODE));
  return location!;
}

/**
 * Locks the stock row of a variant at a location, creating it at zero when
 * missing. Later writes in the same transaction see no concurrent change.
 */
async function lockStockLevel(
  transaction: CatalogTransaction,
  variantId: string,
  locationId: string,
): Promise<StockLevelRow> {
  await transaction
    .insert(tables.stockLevels)
    .values({ variantId, locationId })
    .onConflictDoNothing();
  const [row] = await transaction
    .select()
    .from(tables.stockLevels)
    .where(
      and(
        eq(tables.stockLevels.variantId, variantId),
        eq(tables.stockLevels.locationId, locationId),
      ),
    )
    .for('update');
  return row!;
}

/**
 * Applies a change of on-hand quantity: updates the stock row, records the
 * adjustment and appends a `stock.changed` event, all in `transaction`.
 * Fails without writing when on-hand would leave 0 to MAX_ON_HAND, and
 * writes nothing when the quantity is already as requested.
 */
export async function changeOnHand(
  transaction: CatalogTransaction,
  change: {
    variantId: string;
    sku: string;
    locationId: string;
    reason: StockAdjustmentReason;
    note?: string | null;
  } & ({ quantity: number } | { delta: number }),
): Promise<StockChangeResult> {
  const current = await lockStockLevel(
    transaction,
    change.variantId,
    change.locationId,
  );
  const quantityAfter =
    'quantity' in change ? change.quantity : current.onHand + change.delta;
  const delta = quantityAfter - current.onHand;
  if (quantityAfter < 0)
    return { ok: false, reason: 'BELOW_ZERO', quantityAfter };
  if (quantityAfter > MAX_ON_HAND) {
    return { ok: false, reason: 'ABOVE_MAXIMUM', quantityAfter };
  }
  if (delta === 0) {
    return { ok: true, change: { stockLevel: current, adjustment: null } };
  }

  const [stockLevel] = await transaction
    .update(tables.stockLevels)
    .set({ onHand: quantityAfter, updatedAt: sql`now()` })
    .where(
      and(
        eq(tables.stockLevels.variantId, change.variantId),
        eq(tables.stockLevels.locationId, change.locationId),
      ),
    )
    .returning();
  const [adjustment] = await transaction
    .insert(tables.stockAdjustments)
    .values({
      id: uuidv7(),
      variantId: change.variantId,
      locationId: change.locationId,
      delta,
      quantityAfter,
      reason: change.reason,
      note: change.note ?? null,
    })
    .returning();
  await appendEvents(transaction, [
    {
      type: 'stock.changed',
      aggregateId: change.variantId,
      payload: {
        variantId: change.variantId,
        sku: change.sku,
        locationId: change.locationId,
        onHand: stockLevel!.onHand,
        reserved: stockLevel!.reserved,
        available: stockLevel!.onHand - stockLevel!.reserved,
        delta,
        reason: change.reason,
      },
    },
  ]);
  return {
    ok: true,
    change: { stockLevel: stockLevel!, adjustment: adjustment! },
  };
}
