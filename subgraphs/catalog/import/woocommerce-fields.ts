// Readers for the WooCommerce columns that need more than a lookup.
import type { ProductRow, VariantRow } from '../db/tables.js';
import { uniqueValues } from '../services/catalog-values.js';
import type { ExactDecimal } from './decimal.js';
import { isHttpUrl, type RowReader } from './row-reader.js';
import {
  parseWooDate,
  splitWooList,
  SUPPORTED_DIMENSION_LABELS,
  SUPPORTED_WEIGHT_LABELS,
  type MeasureColumn,
  type WooMeasureColumns,
} from './woocommerce-cells.js';

/**
 * Maps "Published". The exporter writes 1 for published, 0 for private,
 * -1 for draft and 2 for pending review; the importer also takes true and
 * false. Only published products are ACTIVE. WooCommerce has no archived
 * state (trashed products are not exported), so ARCHIVED is never set.
 */
export function readWooStatus(reader: RowReader): ProductRow['status'] {
  const value = reader.text('Published').toLowerCase();
  if (value === '' || value === '1' || value === 'true') return 'ACTIVE';
  if (['0', '-1', '2', 'false'].includes(value)) return 'DRAFT';
  reader.error(
    `Published: "${reader.text('Published')}" is not one of 1 (published), 0 (private), -1 (draft).`,
  );
  return 'DRAFT';
}

/**
 * Maps "Published" of a variation: 0 is a disabled variation, which cannot
 * be bought. The exporter writes -1 for every variation of a draft parent,
 * so -1 counts as enabled, as in WooCommerce's importer.
 */
export function readWooVariationEnabled(reader: RowReader): boolean {
  const value = reader.text('Published').toLowerCase();
  if (value === '0' || value === 'false') return false;
  if (['', '1', '-1', '2', 'true'].includes(value)) return true;
  reader.error(
    `Published: "${reader.text('Published')}" is not one of 1 (enabled), 0 (disabled).`,
  );
  return true;
}

/**
 * Maps "Visibility in catalog". Only "hidden" unlists the product. "catalog"
 * (shop pages only) and "search" (search results only) stay listed, because
 * the catalog has one flag for both and the merchant wanted the product
 * findable in one of them.
 */
export function readWooListed(reader: RowReader): boolean {
  const value = reader.text('Visibility in catalog').toLowerCase();
  if (value === 'hidden') return false;
  if (['', 'visible', 'catalog', 'search'].includes(value)) return true;
  reader.error(
    `Visibility in catalog: "${reader.text('Visibility in catalog')}" is not one of visible, catalog, search, hidden.`,
  );
  return true;
}

export interface PriceFields {
  priceAmount: number | null;
  compareAtAmount: number | null;
}

/**
 * Reads the price. While a sale runs, the sale price is the price and the
 * regular price, when higher, the compare-at price. A sale runs when its
 * start and end dates, if any, include `today` (YYYY-MM-DD, UTC).
 */
export function readWooPrice(
  reader: RowReader,
  currency: string,
  today: string,
): PriceFields {
  const regular = reader.money('Regular price', currency);
  const sale = reader.money('Sale price', currency);
  const saleStarts = readDate(reader, 'Date sale price starts');
  const saleEnds = readDate(reader, 'Date sale price ends');
  const saleRuns =
    sale !== null &&
    (saleStarts === null || saleStarts <= today) &&
    (saleEnds === null || saleEnds >= today);
  if (!saleRuns) return { priceAmount: regular, compareAtAmount: null };
  return {
    priceAmount: sale,
    compareAtAmount: regular !== null && regular > sale ? regular : null,
  };
}

function readDate(reader: RowReader, column: string): string | null {
  const value = reader.text(column);
  if (value === '') return null;
  const date = parseWooDate(value);
  if (date === null) {
    reader.error(`${column}: "${value}" is not a date such as 2024-05-31.`);
  }
  return date;
}

export type StockFields = Pick<
  VariantRow,
  'tracksInventory' | 'inventoryPolicy'
> & { onHand: number | null };

/**
 * Reads "Stock", "In stock?" and "Backorders allowed?". A number in Stock
 * means WooCommerce manages the stock, so the variant tracks it with that
 * on-hand quantity. An empty Stock means it is not tracked, except when
 * "In stock?" is 0: the variant then tracks stock at 0 so that it is not
 * sold. "parent" (a variation using its parent's stock) is read only when
 * `isVariation` is true, and yields an untracked variant with a warning.
 */
export function readWooStock(
  reader: RowReader,
  isVariation: boolean,
): StockFields {
  const inventoryPolicy = readBackorders(reader);
  const stock = reader.text('Stock');
  if (isVariation && stock.toLowerCase() === 'parent') {
    reader.warn(
      'Stock: "parent" (stock shared by all variations) is not supported, so this variant does not track stock.',
    );
    return { tracksInventory: false, inventoryPolicy, onHand: null };
  }
  if (stock !== '') {
    const quantity = reader.integer('Stock');
    if (quantity !== null && quantity < 0) {
      reader.warn(
        `Stock: ${quantity} is below zero; on-hand quantities start at 0, so 0 was imported.`,
      );
    }
    return {
      tracksInventory: true,
      inventoryPolicy,
      onHand: quantity === null ? null : Math.max(quantity, 0),
    };
  }

  const inStock = reader.text('In stock?').toLowerCase();
  if (inStock === '0' || inStock === 'false') {
    return { tracksInventory: true, inventoryPolicy, onHand: 0 };
  }
  if (!['', '1', 'true', 'backorder'].includes(inStock)) {
    reader.error(
      `In stock?: "${reader.text('In stock?')}" is not one of 1, 0, backorder.`,
    );
  }
  return { tracksInventory: false, inventoryPolicy, onHand: null };
}

/** "Backorders allowed?": 1 (yes) and notify keep selling below zero. */
function readBackorders(reader: RowReader): VariantRow['inventoryPolicy'] {
  const value = reader.text('Backorders allowed?').toLowerCase();
  if (['1', 'yes', 'true', 'notify'].includes(value)) return 'CONTINUE';
  if (['', '0', 'no', 'false'].includes(value)) return 'DENY';
  reader.error(
    `Backorders allowed?: "${reader.text('Backorders allowed?')}" is not one of 1, 0, notify.`,
  );
  return 'DENY';
}

export type MeasureFields = Pick<
  VariantRow,
  'weightValue' | 'weightUnit' | 'length' | 'width' | 'height' | 'dimensionUnit'
>;

export const NO_MEASURES: MeasureFields = {
  weightValue: null,
  weightUnit: null,
  length: null,
  width: null,
  height: null,
  dimensionUnit: null,
};

/**
 * Reads weight and dimensions in the header's units. A variation passes
 * its parent's values as `fallback`: WooCommerce shows the parent's value
 * for each of them that the variation leaves empty.
 */
export function readWooMeasures(
  reader: RowReader,
  columns: WooMeasureColumns,
  fallback: MeasureFields = NO_MEASURES,
): MeasureFields {
  const weight =
    readMeasure(reader, columns.weight, SUPPORTED_WEIGHT_LABELS) ??
    (fallback.weightValue === null
      ? null
      : { value: fallback.weightValue, unit: fallback.weightUnit! });
  const dimensions = [columns.length, columns.width, columns.height].map(
    (column) => readMeasure(reader, column, SUPPORTED_DIMENSION_LABELS),
  );
  const length = dimensions[0]?.value ?? fallback.length;
  const width = dimensions[1]?.value ?? fallback.width;
  const height = dimensions[2]?.value ?? fallback.height;
  const dimensionUnit =
    dimensions.find((dimension) => dimension)?.unit ?? fallback.dimensionUnit;
  const hasDimensions = length !== null || width !== null || height !== null;
  return {
    weightValue: weight?.value ?? null,
    weightUnit: weight?.unit ?? null,
    length,
    width,
    height,
    dimensionUnit: hasDimensions ? dimensionUnit : null,
  };
}

function readMeasure<TUnit>(
  reader: RowReader,
  column: MeasureColumn<TUnit> | null,
  supportedLabels: string[],
): { value: string; unit: TUnit } | null {
  if (column === null) return null;
  const value: ExactDecimal | null = reader.decimal(column.column);
  if (value === null) return null;
  if (column.unit === null) {
    reader.error(
      `${column.column}: the unit "${column.label}" is not supported; expected one of ${supportedLabels.join(', ')}.`,
    );
    return null;
  }
  const stored = reader.storedDecimal(
    column.column,
    column.unit.convert(value),
  );
  return stored === null ? null : { value: stored, unit: column.unit.unit };
}

/** Reads a list of image URLs, skipping with a warning what is not a URL. */
export function readWooImages(reader: RowReader, column: string): string[] {
  const urls: string[] = [];
  for (const value of splitWooList(reader.text(column))) {
    if (isHttpUrl(value)) {
      urls.push(value);
    } else {
      reader.warn(
        `${column}: "${value}" is not an http or https URL; it was skipped.`,
      );
    }
  }
  return uniqueValues(urls);
}
