import { eq } from 'drizzle-orm';
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
  changeOnHand,
  ensureDefaultLocation,
  type StockChange,
} from './stock.js';

type CatalogDatabase = Database<typeof tables>;

export interface StockResult {
  variant: VariantRow | null;
  change: StockChange | null;
  userErrors: UserError[];
}

/** Largest on-hand quantity accepted; PostgreSQL `integer` holds up to 2^31 - 1. */
const MAX_QUANTITY = 1_000_000_000;

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

/** Sets on-hand to a quantity; the difference is recorded as an adjustment. */
export async function setStock(
  db: CatalogDatabase,
  input: StockSetInput,
): Promise<StockResult> {
  if (input.quantity < 0 || input.quantity > MAX_QUANTITY) {
    return failure(
      'quantity',
      `Invalid quantity ${input.quantity}: use a whole number from 0 to ${MAX_QUANTITY}.`,
      UserErrorCode.Invalid,
    );
  }
  const targets = await findTargets(db, input.sku, input.locationCode);
  if ('userErrors' in targets) return targets;
  const change = await db.transaction((transaction) =>
    changeOnHand(transaction, {
      variantId: targets.variant.id,
      sku: targets.variant.sku,
      locationId: targets.location.id,
      quantity: input.quantity,
      reason: input.reason,
      note: input.note,
    }),
  );
  return { variant: targets.variant, change, userErrors: [] };
}

/** Adds a signed delta to on-hand; rejected when on-hand would drop below zero. */
export async function adjustStock(
  db: CatalogDatabase,
  input: StockAdjustInput,
): Promise<StockResult> {
  if (input.delta === 0 || Math.abs(input.delta) > MAX_QUANTITY) {
    return failure(
      'delta',
      `Invalid delta ${input.delta}: use a non-zero whole number between -${MAX_QUANTITY} and ${MAX_QUANTITY}.`,
      UserErrorCode.Invalid,
    );
  }
  const targets = await findTargets(db, input.sku, input.locationCode);
  if ('userErrors' in targets) return targets;
  const change = await db.transaction((transaction) =>
    changeOnHand(transaction, {
      variantId: targets.variant.id,
      sku: targets.variant.sku,
      locationId: targets.location.id,
      delta: input.delta,
      reason: input.reason,
      note: input.note,
    }),
  );
  if (!change) {
    return failure(
      'delta',
      `Adjusting "${input.sku}" by ${input.delta} would take on-hand below zero.`,
      UserErrorCode.InsufficientStock,
    );
  }
  return { variant: targets.variant, change, userErrors: [] };
}
