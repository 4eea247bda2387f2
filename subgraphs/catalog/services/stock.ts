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

export interface StockChange {
  stockLevel: StockLevelRow;
  adjustment: StockAdjustmentRow;
}

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
 * Returns null when the change would take on-hand below zero.
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
): Promise<StockChange | null> {
  const current = await lockStockLevel(
    transaction,
    change.variantId,
    change.locationId,
  );
  const quantityAfter =
    'quantity' in change ? change.quantity : current.onHand + change.delta;
  const delta = quantityAfter - current.onHand;
  if (quantityAfter < 0) return null;

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
  return { stockLevel: stockLevel!, adjustment: adjustment! };
}
