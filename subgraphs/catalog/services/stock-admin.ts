import { eq, TransactionRollbackError } from 'drizzle-orm';
import type { Database } from '../../../platform/database.js';
import { UserErrorCode, type UserError } from '../../../platform/errors.js';
import * as tables from '../db/tables.js';
import type { LocationRow, VariantRow } from '../db/tables.js';
import type {
  StockAdjustInput,
  StockSetInput,
} from '../generated/resolvers.js';
import {
  DEFAULT_LOCATION_CODE,
  MAX_ON_HAND,
  changeOnHand,
  ensureDefaultLocation,
  type StockAdjustmentReason,
  type StockChange,
  type StockChangeResult,
} from './stock.js';

type CatalogDatabase = Database<typeof tables>;

export interface StockResult {
  variant: VariantRow | null;
  change: StockChange | null;
  userErrors: UserError[];
}

function failure(
  field: string,
  message: string,
  code: UserErrorCode,
): StockResult {
  return {
    variant: null,
    change: null,
    userErrors: [{ field: ['input', field], message, code }],
  };
}

async function findTargets(
  db: CatalogDatabase,
  sku: string,
  locationCode: string | null | undefined,
): Promise<{ variant: VariantRow; location: LocationRow } | StockResult> {
  const [variant] = await db
    .select()
    .from(tables.variants)
    .where(eq(tables.variants.sku, sku));
  if (!variant) {
    return failure(
      'sku',
      `No variant has SKU "${sku}".`,
      UserErrorCode.NotFound,
    );
  }
  if (!variant.tracksInventory) {
    return failure(
      'sku',
      `Variant "${sku}" does not track stock; set tracksInventory to true with variantUpdate first.`,
      UserErrorCode.NotTracked,
    );
  }
  const code = locationCode ?? DEFAULT_LOCATION_CODE;
  let [location] = await db
    .select()
    .from(tables.locations)
    .where(eq(tables.locations.code, code));
  if (!location && code === DEFAULT_LOCATION_CODE)
    location = await ensureDefaultLocation(db);
  if (!location) {
    return failure(
      'locationCode',
      `No location has code "${code}".`,
      UserErrorCode.NotFound,
    );
  }
  return { variant, location };
}

/**
 * Runs one change in its own transaction. A rejected change rolls back, so
 * it leaves no stock row, adjustment or event behind.
 */
async function applyChange(
  db: CatalogDatabase,
  input: {
    sku: string;
    locationCode?: string | null;
    reason: StockAdjustmentReason;
    note?: string | null;
  },
  amount: { quantity: number } | { delta: number },
): Promise<StockResult> {
  const targets = await findTargets(db, input.sku, input.locationCode);
  if ('userErrors' in targets) return targets;
  let result: StockChangeResult | undefined;
  try {
    await db.transaction(async (transaction) => {
      result = await changeOnHand(transaction, {
        variantId: targets.variant.id,
        sku: targets.variant.sku,
        locationId: targets.location.id,
        reason: input.reason,
        note: input.note,
        ...amount,
      });
      if (!result.ok) transaction.rollback();
    });
  } catch (error) {
    if (!(error instanceof TransactionRollbackError)) throw error;
  }
  if (!result!.ok) {
    const field = 'quantity' in amount ? 'quantity' : 'delta';
    const change =
      'quantity' in amount
        ? `Setting "${input.sku}" to ${amount.quantity}`
        : `Adjusting "${input.sku}" by ${amount.delta}`;
    return result!.reason === 'BELOW_ZERO'
      ? failure(
          field,
          `${change} would take on-hand below zero.`,
          UserErrorCode.InsufficientStock,
        )
      : failure(
          field,
          `${change} would take on-hand to ${result!.quantityAfter}, above the maximum of ${MAX_ON_HAND}.`,
          UserErrorCode.Invalid,
        );
  }
  return { variant: targets.variant, change: result!.change, userErrors: [] };
}

/** Sets on-hand to a quantity; the difference is recorded as an adjustment. */
export async function setStock(
  db: CatalogDatabase,
  input: StockSetInput,
): Promise<StockResult> {
  if (input.quantity < 0 || input.quantity > MAX_ON_HAND) {
    return failure(
      'quantity',
      `Invalid quantity ${input.quantity}: use a whole number from 0 to ${MAX_ON_HAND}.`,
      UserErrorCode.Invalid,
    );
  }
  return applyChange(db, input, { quantity: input.quantity });
}

/** Adds a signed delta to on-hand; rejected when on-hand would leave 0 to MAX_ON_HAND. */
export async function adjustStock(
  db: CatalogDatabase,
  input: StockAdjustInput,
): Promise<StockResult> {
  if (input.delta === 0 || Math.abs(input.delta) > MAX_ON_HAND) {
    return failure(
      'delta',
      `Invalid delta ${input.delta}: use a non-zero whole number between -${MAX_ON_HAND} and ${MAX_ON_HAND}.`,
      UserErrorCode.Invalid,
    );
  }
  return applyChange(db, input, { delta: input.delta });
}
