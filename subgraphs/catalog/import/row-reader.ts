import { parseDecimalToMinorUnits } from '../../../platform/money.js';
import type { CsvRow } from './csv-table.js';
import {
  formatStoredDecimal,
  parseExactDecimal,
  type ExactDecimal,
} from './decimal.js';

/**
 * Reads typed values from one CSV row and collects what is wrong with them.
 * Each reader returns null for an empty or invalid cell; an invalid cell
 * also adds a message naming the column and the value.
 */
export class RowReader {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];

  /**
   * @param clean applied to every cell before it is read; WooCommerce uses
   *   it to undo the exporter's spreadsheet-formula escaping.
   */
  constructor(
    readonly row: CsvRow,
    private readonly clean: (value: string) => string = (value) => value,
  ) {
    if (row.fieldCountError) this.errors.push(row.fieldCountError);
  }

  get line(): number {
    return this.row.line;
  }

  /** Returns the cell as written, without surrounding whitespace. */
  text(column: string): string {
    return this.clean(this.row.get(column)).trim();
  }

  /** Returns the cell as written, whitespace included (descriptions). */
  rawText(column: string): string {
    return this.clean(this.row.get(column));
  }

  optionalText(column: string): string | null {
    const value = this.text(column);
    return value === '' ? null : value;
  }

  /** Reads a price into minor units of `currency`; negative prices are invalid. */
  money(column: string, currency: string): number | null {
    const value = this.text(column);
    if (value === '') return null;
    const parsed = parseDecimalToMinorUnits(value, currency);
    if ('error' in parsed) {
      this.errors.push(`${column}: ${parsed.error}.`);
      return null;
    }
    if (parsed.minor < 0) {
      this.errors.push(
        `${column}: "${value}" is negative; prices must be 0 or more.`,
      );
      return null;
    }
    return parsed.minor;
  }

  /** Reads a non-negative decimal such as a weight. */
  decimal(column: string): ExactDecimal | null {
    const value = this.text(column);
    if (value === '') return null;
    const parsed = parseExactDecimal(value);
    if (!parsed) {
      this.errors.push(`${column}: "${value}" is not a number such as 1.5.`);
      return null;
    }
    if (parsed.units < 0n) {
      this.errors.push(`${column}: "${value}" is negative.`);
      return null;
    }
    return parsed;
  }

  /** Formats a decimal for a numeric(12, 4) column, reporting overflow. */
  storedDecimal(column: string, value: ExactDecimal | null): string | null {
    if (value === null) return null;
    const stored = formatStoredDecimal(value);
    if (stored === null) {
      this.errors.push(
        `${column}: "${this.text(column)}" is too large; the maximum is 99999999.9999.`,
      );
    }
    return stored;
  }

  /** Reads a whole number such as a stock quantity ("12", "-3", "12.0"). */
  integer(column: string): number | null {
    const value = this.text(column);
    if (value === '') return null;
    const match = /^([+-]?\d+)(?:\.0*)?$/.exec(value);
    const parsed = match ? Number(match[1]) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || Math.abs(parsed) > 2_147_483_647) {
      this.errors.push(`${column}: "${value}" is not a whole number.`);
      return null;
    }
    return parsed;
  }

  /**
   * Reads a yes/no cell: 1, true or yes; 0, false or no (any case). Returns
   * `fallback` for an empty cell and for an invalid one, which is reported.
   */
  flag(column: string, fallback: boolean): boolean {
    const value = this.text(column).toLowerCase();
    if (value === '') return fallback;
    if (value === '1' || value === 'true' || value === 'yes') return true;
    if (value === '0' || value === 'false' || value === 'no') return false;
    this.errors.push(
      `${column}: "${this.text(column)}" is not a yes/no value such as 1 or 0.`,
    );
    return fallback;
  }

  /** Reads a URL cell, reporting values that are not absolute http(s) URLs. */
  url(column: string): string | null {
    const value = this.text(column);
    if (value === '') return null;
    if (!isHttpUrl(value)) {
      this.errors.push(`${column}: "${value}" is not an http or https URL.`);
      return null;
    }
    return value;
  }

  error(message: string): void {
    this.errors.push(message);
  }

  warn(message: string): void {
    this.warnings.push(message);
  }
}

export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
