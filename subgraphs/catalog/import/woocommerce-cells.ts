// Cell formats of WooCommerce's product CSV exporter and importer, as in
// plugins/woocommerce/includes/export/ and includes/import/ of the
// woocommerce/woocommerce repository.
import type { VariantRow } from '../db/tables.js';
import { multiplyDecimal, shiftDecimal, type ExactDecimal } from './decimal.js';

type WeightUnit = NonNullable<VariantRow['weightUnit']>;
type LengthUnit = NonNullable<VariantRow['dimensionUnit']>;

/**
 * Undoes the exporter's guard against spreadsheet formulas: a cell that
 * starts with =, +, -, @, tab or CR is written with a leading "'".
 */
export function unescapeWooCell(value: string): string {
  return /^'[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}

/**
 * Splits a list cell such as "Clothing > Hoodies, Music". The exporter
 * joins values with ", " and writes a comma inside a value as "\,".
 */
export function splitWooList(value: string): string[] {
  const placeholder = '\u0000';
  return value
    .replaceAll('\\,', placeholder)
    .split(',')
    .map((part) => part.replaceAll(placeholder, ',').trim())
    .filter((part) => part !== '');
}

/**
 * Restores the line breaks of a description. The exporter writes a line
 * break as the two characters `\n` and a literal `\n` as `\\n`.
 */
export function decodeWooDescription(value: string): string {
  return value
    .split('\\\\n')
    .map((part) => part.replaceAll('\\n', '\n'))
    .join('\\n');
}

/** Reads "Date sale price starts/ends" ("2024-05-31" or "2024-05-31 0:00:00"). */
export function parseWooDate(value: string): string | null {
  const match = /^(\d{4}-\d{2}-\d{2})(?:[ T][\d:]+)?$/.exec(value.trim());
  return match ? match[1]! : null;
}

export interface MeasureUnit<TUnit> {
  unit: TUnit;
  /** Converts a value written in the header's unit to `unit`, exactly. */
  convert(value: ExactDecimal): ExactDecimal;
}

const same = (value: ExactDecimal) => value;

/** Weight units the exporter writes in "Weight (<unit>)". */
const WEIGHT_UNITS: Record<string, MeasureUnit<WeightUnit>> = {
  kg: { unit: 'KILOGRAMS', convert: same },
  g: { unit: 'GRAMS', convert: same },
  lbs: { unit: 'POUNDS', convert: same },
  lb: { unit: 'POUNDS', convert: same },
  oz: { unit: 'OUNCES', convert: same },
};

/**
 * Dimension units the exporter writes in "Length (<unit>)". The catalog
 * stores centimetres or inches, so metres, millimetres and yards are
 * converted without rounding.
 */
const DIMENSION_UNITS: Record<string, MeasureUnit<LengthUnit>> = {
  cm: { unit: 'CENTIMETERS', convert: same },
  in: { unit: 'INCHES', convert: same },
  m: { unit: 'CENTIMETERS', convert: (value) => shiftDecimal(value, 2) },
  mm: { unit: 'CENTIMETERS', convert: (value) => shiftDecimal(value, -1) },
  yd: { unit: 'INCHES', convert: (value) => multiplyDecimal(value, 36n) },
};

export interface MeasureColumn<TUnit> {
  column: string;
  /** Null when the header names a unit the catalog cannot store. */
  unit: MeasureUnit<TUnit> | null;
  label: string;
}

function findMeasureColumn<TUnit>(
  header: string[],
  name: string,
  units: Record<string, MeasureUnit<TUnit>>,
): MeasureColumn<TUnit> | null {
  const pattern = new RegExp(`^${name} \\((.+)\\)$`);
  for (const column of header) {
    const match = pattern.exec(column);
    if (match) {
      const label = match[1]!.trim();
      return { column, label, unit: units[label.toLowerCase()] ?? null };
    }
  }
  return null;
}

export interface WooMeasureColumns {
  weight: MeasureColumn<WeightUnit> | null;
  length: MeasureColumn<LengthUnit> | null;
  width: MeasureColumn<LengthUnit> | null;
  height: MeasureColumn<LengthUnit> | null;
}

/** Finds the weight and dimension columns and their units in the header. */
export function findWooMeasureColumns(header: string[]): WooMeasureColumns {
  return {
    weight: findMeasureColumn(header, 'Weight', WEIGHT_UNITS),
    length: findMeasureColumn(header, 'Length', DIMENSION_UNITS),
    width: findMeasureColumn(header, 'Width', DIMENSION_UNITS),
    height: findMeasureColumn(header, 'Height', DIMENSION_UNITS),
  };
}

export const SUPPORTED_WEIGHT_LABELS = Object.keys(WEIGHT_UNITS);
export const SUPPORTED_DIMENSION_LABELS = Object.keys(DIMENSION_UNITS);

/** One "Attribute N name" / "Attribute N value(s)" pair of a row. */
export interface WooAttribute {
  name: string;
  /** The value(s) cell as written; a variation's empty value means "any". */
  values: string;
}

/** Returns the attribute column numbers in the header, in order. */
export function findWooAttributeNumbers(header: string[]): number[] {
  const numbers: number[] = [];
  for (const column of header) {
    const match = /^Attribute (\d+) name$/.exec(column);
    if (match) numbers.push(Number(match[1]));
  }
  return numbers.sort((a, b) => a - b);
}
