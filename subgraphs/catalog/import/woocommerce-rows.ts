// Groups the rows of a WooCommerce export into products and variations.
import type { RowReader } from './row-reader.js';
import type { RowIssue } from './types.js';
import { splitWooList, type WooMeasureColumns } from './woocommerce-cells.js';

/** Product types of the Type column, besides the downloadable and virtual flags. */
export const KINDS = [
  'simple',
  'variable',
  'grouped',
  'external',
  'variation',
] as const;
export type WooKind = (typeof KINDS)[number];

export interface WooRow {
  reader: RowReader;
  kind: WooKind;
  downloadable: boolean;
  virtual: boolean;
  id: string;
  sku: string;
}

export interface WooProduct {
  row: WooRow;
  sourceRef: string;
  variations: WooRow[];
}

/** Settings and lookups shared by the readers of one file. */
export interface WooContext {
  currency: string;
  today: string;
  measures: WooMeasureColumns;
  attributeNumbers: number[];
  resolveRef(reference: string): WooProduct | undefined;
}

/** Reads the Type, ID and SKU of a row. */
export function readWooRow(reader: RowReader): WooRow {
  const types = splitWooList(reader.text('Type')).map((type) =>
    type.toLowerCase(),
  );
  const named = types.filter(
    (type) => type !== 'downloadable' && type !== 'virtual',
  );
  let kind: WooKind = 'simple';
  if (named.length > 0) {
    const found = KINDS.find((candidate) => candidate === named[0]);
    if (found) {
      kind = found;
    } else {
      reader.error(
        `Type: "${named[0]}" is not supported; expected one of ${KINDS.join(', ')}.`,
      );
    }
  }
  return {
    reader,
    kind,
    downloadable: types.includes('downloadable'),
    virtual: types.includes('virtual'),
    id: reader.text('ID'),
    sku: reader.text('SKU'),
  };
}

/**
 * Gives every product row its source reference and indexes the rows by SKU
 * and ID, the two forms of reference ("woo-hoodie", "id:45") that Parent
 * and Grouped products use.
 */
export function collectProducts(rows: WooRow[]) {
  const list: WooProduct[] = [];
  const bySku = new Map<string, WooProduct>();
  const byId = new Map<string, WooProduct>();
  const lineByRef = new Map<string, number>();

  for (const row of rows) {
    if (row.kind === 'variation') continue;
    const { reader } = row;
    let sourceRef = '';
    if (row.sku !== '') {
      sourceRef = `woocommerce:sku:${row.sku}`;
    } else if (row.id !== '') {
      sourceRef = `woocommerce:id:${row.id}`;
    } else {
      reader.error(
        'SKU and ID are both empty; one of them is needed to match the product on re-import.',
      );
    }
    const firstLine = lineByRef.get(sourceRef);
    if (firstLine !== undefined) {
      const key = row.sku !== '' ? `SKU "${row.sku}"` : `ID ${row.id}`;
      reader.error(
        `${key} is also on line ${firstLine}; each product needs its own.`,
      );
    } else if (sourceRef !== '') {
      lineByRef.set(sourceRef, reader.line);
    }

    const product: WooProduct = { row, sourceRef, variations: [] };
    list.push(product);
    if (row.sku !== '' && !bySku.has(row.sku)) bySku.set(row.sku, product);
    if (row.id !== '' && !byId.has(row.id)) byId.set(row.id, product);
  }

  const resolveRef = (reference: string): WooProduct | undefined => {
    const idMatch = /^id:(\d+)$/.exec(reference);
    return idMatch ? byId.get(idMatch[1]!) : bySku.get(reference);
  };
  return { list, resolveRef };
}

/**
 * Adds each variation to its parent. A variation without a parent in the
 * file cannot be written, so it is reported on its own.
 */
export function attachVariations(
  rows: WooRow[],
  context: WooContext,
): RowIssue[] {
  const errors: RowIssue[] = [];
  for (const row of rows) {
    if (row.kind !== 'variation') continue;
    const { reader } = row;
    const parentRef = reader.text('Parent');
    const parent = parentRef === '' ? undefined : context.resolveRef(parentRef);
    if (parent === undefined) {
      const reason =
        parentRef === ''
          ? 'Parent is missing; a variation names its variable product by SKU or id:<ID>.'
          : `Parent "${parentRef}" is not a product in this file; variations are imported together with their parent.`;
      errors.push({ line: reader.line, message: reason });
      for (const message of reader.errors) {
        errors.push({ line: reader.line, message });
      }
      continue;
    }
    if (parent.row.kind !== 'variable') {
      reader.error(
        `Parent "${parentRef}" is a ${parent.row.kind} product; only variable products have variations.`,
      );
    }
    parent.variations.push(row);
  }
  return errors;
}
