import { asc, eq, inArray } from 'drizzle-orm';
import type { Config } from '../../../platform/config.js';
import { badUserInput } from '../../../platform/errors.js';
import * as tables from '../db/tables.js';
import type {
  PricedLineValue,
  ProductRow,
  StockLevelRow,
  VariantRow,
} from '../db/tables.js';
import { quantityAvailable } from './availability.js';
import {
  DEFAULT_LOCATION_CODE,
  MAX_ON_HAND,
  type CatalogTransaction,
} from './stock.js';

/** Maximum number of lines in one pricing or reservation request. */
export const MAX_CHECKOUT_LINES = 250;

export interface StockLineRequest {
  sku: string;
  quantity: number;
}

/** Units of one SKU asked for, summed over the lines that name it. */
export interface SkuDemand {
  sku: string;
  quantity: number;
}

export type LineProblemCode =
  'OUT_OF_STOCK' | 'UNKNOWN_SKU' | 'NOT_PURCHASABLE' | 'NO_PRICE';

export interface LineProblem {
  sku: string;
  code: LineProblemCode;
  message: string;
  /** For OUT_OF_STOCK: units available across all locations. */
  available: number | null;
}

export interface VariantWithProduct {
  variant: VariantRow;
  product: ProductRow;
}

/** A stock row with the code of its location, which orders allocation. */
export interface LocatedStockLevel extends StockLevelRow {
  locationCode: string;
}

type Reader = Pick<CatalogTransaction, 'select'>;

/**
 * Checks the lines and sums their quantities per SKU, in the order each
 * SKU first appears. Throws BAD_USER_INPUT for an empty list, a blank SKU,
 * or a quantity that is not a whole number from 1 to MAX_ON_HAND.
 */
export function sumLinesPerSku(
  lines: readonly StockLineRequest[],
): SkuDemand[] {
  if (lines.length === 0) {
    throw badUserInput('Give at least one line.', 'lines');
  }
  if (lines.length > MAX_CHECKOUT_LINES) {
    throw badUserInput(
      `Too many lines (${lines.length}): send at most ${MAX_CHECKOUT_LINES}, with each SKU once.`,
      'lines',
    );
  }
  const demands = new Map<string, SkuDemand>();
  lines.forEach((line, index) => {
    if (line.sku.trim() === '') {
      throw badUserInput(`Line ${index} has a blank SKU.`, 'lines');
    }
    if (
      !Number.isInteger(line.quantity) ||
      line.quantity < 1 ||
      line.quantity > MAX_ON_HAND
    ) {
      throw badUserInput(
        `Invalid quantity ${line.quantity} for SKU "${line.sku}" in line ${index}: use a whole number from 1 to ${MAX_ON_HAND}.`,
        'lines',
      );
    }
    const demand = demands.get(line.sku);
    if (demand) demand.quantity += line.quantity;
    else demands.set(line.sku, { sku: line.sku, quantity: line.quantity });
  });
  for (const demand of demands.values()) {
    if (demand.quantity > MAX_ON_HAND) {
      throw badUserInput(
        `The lines of SKU "${demand.sku}" ask for ${demand.quantity} units together, more than the maximum of ${MAX_ON_HAND}.`,
        'lines',
      );
    }
  }
  return [...demands.values()];
}

/** Loads the variants of `skus` with their products, keyed by SKU. */
export async function loadVariantsBySku(
  db: Reader,
  skus: string[],
): Promise<Map<string, VariantWithProduct>> {
  const rows = await db
    .select({ variant: tables.variants, product: tables.products })
    .from(tables.variants)
    .innerJoin(
      tables.products,
      eq(tables.products.id, tables.variants.productId),
    )
    .where(inArray(tables.variants.sku, skus));
  return new Map(rows.map((row) => [row.variant.sku, row]));
}

/**
 * Reads the stock rows of `variantIds` with their location codes, in
 * (variant id, location id) order. With `lock`, the rows are locked FOR
 * UPDATE in that order, so transactions that lock several variants always
 * wait for each other in the same order and cannot deadlock.
 */
export async function readStockLevels(
  db: Reader,
  variantIds: string[],
  options: { lock: boolean },
): Promise<Map<string, LocatedStockLevel[]>> {
  const byVariant = new Map<string, LocatedStockLevel[]>();
  if (variantIds.length === 0) return byVariant;
  const query = db
    .select({ level: tables.stockLevels, locationCode: tables.locations.code })
    .from(tables.stockLevels)
    .innerJoin(
      tables.locations,
      eq(tables.locations.id, tables.stockLevels.locationId),
    )
    .where(inArray(tables.stockLevels.variantId, [...new Set(variantIds)]))
    .orderBy(
      asc(tables.stockLevels.variantId),
      asc(tables.stockLevels.locationId),
    );
  const rows = options.lock
    ? await query.for('update', { of: tables.stockLevels })
    : await query;
  for (const row of rows) {
    const levels = byVariant.get(row.level.variantId) ?? [];
    levels.push({ ...row.level, locationCode: row.locationCode });
    byVariant.set(row.level.variantId, levels);
  }
  return byVariant;
}

/** Title of a checkout line: the product's, then the variant's when the product has options. */
export function lineTitle(product: ProductRow, variant: VariantRow): string {
  return product.options.length > 0
    ? `${product.title} - ${variant.title}`
    : product.title;
}

/**
 * Units of a variant that can be sold now: on hand less reserved over all
 * locations, never below 0. Null when the variant does not track stock.
 */
export function sellableQuantity(
  variant: VariantRow,
  levels: StockLevelRow[],
): number | null {
  const available = quantityAvailable(variant, levels);
  return available === null ? null : Math.max(0, available);
}

/**
 * Returns every problem of one SKU: unknown, not for sale here, without a
 * price in the shop currency, or short of stock. Backorder variants
 * (inventory policy CONTINUE) and variants that do not track stock are
 * never short.
 */
export function findProblems(
  demand: SkuDemand,
  found: VariantWithProduct | undefined,
  levels: StockLevelRow[],
  shopCurrency: string,
): LineProblem[] {
  const { sku, quantity } = demand;
  if (!found) {
    return [
      {
        sku,
        code: 'UNKNOWN_SKU',
        message: `No variant has SKU "${sku}"; remove the line or correct the SKU.`,
        available: null,
      },
    ];
  }
  const { variant, product } = found;
  const problems: LineProblem[] = [];
  const notForSale = notPurchasableReason(product, variant);
  if (notForSale) {
    problems.push({
      sku,
      code: 'NOT_PURCHASABLE',
      message: `SKU "${sku}" cannot be bought here: ${notForSale}.`,
      available: null,
    });
  }
  if (variant.priceAmount === null) {
    problems.push({
      sku,
      code: 'NO_PRICE',
      message: `SKU "${sku}" has no price; set one with variantUpdate before selling it.`,
      available: null,
    });
  } else if (variant.currencyCode !== shopCurrency) {
    problems.push({
      sku,
      code: 'NO_PRICE',
      message: `SKU "${sku}" is priced in ${variant.currencyCode}, not the shop currency ${shopCurrency}; re-import it in ${shopCurrency} before selling it.`,
      available: null,
    });
  }
  if (variant.tracksInventory && variant.inventoryPolicy === 'DENY') {
    const available = sellableQuantity(variant, levels)!;
    if (available < quantity) {
      problems.push({
        sku,
        code: 'OUT_OF_STOCK',
        message: `Only ${available} of SKU "${sku}" available, ${quantity} requested; lower the quantity or remove the line.`,
        available,
      });
    }
  }
  return problems;
}

function notPurchasableReason(
  product: ProductRow,
  variant: VariantRow,
): string | null {
  if (product.status !== 'ACTIVE') {
    return `its product is ${product.status.toLowerCase()}, not active`;
  }
  if (product.productType !== 'STANDARD') {
    return `its product is of type ${product.productType}, which is sold elsewhere`;
  }
  if (!variant.purchasable) return 'the variant is not purchasable';
  return null;
}

/** Prices one SKU; call only when `findProblems` found none. */
export function priceLine(
  demand: SkuDemand,
  { variant, product }: VariantWithProduct,
  levels: StockLevelRow[],
): PricedLineValue {
  return {
    sku: variant.sku,
    variantId: variant.id,
    quantity: demand.quantity,
    unitPriceAmount: variant.priceAmount!,
    currencyCode: variant.currencyCode,
    title: lineTitle(product, variant),
    requiresShipping: variant.requiresShipping,
    quantityAvailable: sellableQuantity(variant, levels),
    weight:
      variant.weightValue !== null && variant.weightUnit !== null
        ? { value: trimDecimal(variant.weightValue), unit: variant.weightUnit }
        : null,
  };
}

/** Drops the trailing zeros of a numeric column: "2.5000" becomes "2.5". */
function trimDecimal(value: string): string {
  return value.includes('.') ? value.replace(/\.?0+$/, '') : value;
}

export interface Allocation {
  locationId: string;
  quantity: number;
}

/**
 * Splits `quantity` of a tracked variant over its locations: the default
 * location first, then the others by code, each giving what it has
 * available. Whatever remains (only possible for backorders) goes to the
 * default location, whose reserved count then exceeds its on-hand.
 */
export function allocate(
  levels: LocatedStockLevel[],
  quantity: number,
  defaultLocationId: string | null,
): { allocations: Allocation[]; remainder: number } {
  const ordered = [...levels].sort((left, right) => {
    const leftDefault = left.locationCode === DEFAULT_LOCATION_CODE ? 0 : 1;
    const rightDefault = right.locationCode === DEFAULT_LOCATION_CODE ? 0 : 1;
    if (leftDefault !== rightDefault) return leftDefault - rightDefault;
    return left.locationCode < right.locationCode ? -1 : 1;
  });
  const allocations: Allocation[] = [];
  let remainder = quantity;
  for (const level of ordered) {
    if (remainder === 0) break;
    const take = Math.min(remainder, level.onHand - level.reserved);
    if (take <= 0) continue;
    allocations.push({ locationId: level.locationId, quantity: take });
    remainder -= take;
  }
  if (remainder > 0 && defaultLocationId !== null) {
    const existing = allocations.find(
      (allocation) => allocation.locationId === defaultLocationId,
    );
    if (existing) existing.quantity += remainder;
    else
      allocations.push({ locationId: defaultLocationId, quantity: remainder });
    remainder = 0;
  }
  return { allocations, remainder };
}

export type PriceLinesResult =
  | { ok: true; lines: PricedLineValue[] }
  | { ok: false; problems: LineProblem[] };

/**
 * Prices checkout lines without reserving anything, and returns every
 * problem of every line when any has one. Stock is read without locks, so
 * a later reservation can still find a SKU sold out.
 */
export async function priceCheckoutLines(
  db: Reader,
  config: Pick<Config, 'SHOP_CURRENCY'>,
  lines: readonly StockLineRequest[],
): Promise<PriceLinesResult> {
  const demands = sumLinesPerSku(lines);
  const variants = await loadVariantsBySku(
    db,
    demands.map((demand) => demand.sku),
  );
  const levels = await readStockLevels(
    db,
    [...variants.values()].map(({ variant }) => variant.id),
    { lock: false },
  );
  const problems: LineProblem[] = [];
  const priced: PricedLineValue[] = [];
  for (const demand of demands) {
    const found = variants.get(demand.sku);
    const variantLevels = found ? (levels.get(found.variant.id) ?? []) : [];
    const skuProblems = findProblems(
      demand,
      found,
      variantLevels,
      config.SHOP_CURRENCY,
    );
    problems.push(...skuProblems);
    if (skuProblems.length === 0) {
      priced.push(priceLine(demand, found!, variantLevels));
    }
  }
  return problems.length > 0
    ? { ok: false, problems }
    : { ok: true, lines: priced };
}
