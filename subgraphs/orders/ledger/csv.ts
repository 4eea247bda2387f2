import { formatMinorUnits } from '../../../platform/money.js';

/** One journal line with what the export shows of its entry, order and account. */
export interface ExportLine {
  occurredAt: Date;
  entryNumber: number;
  entryId: string;
  kind: string;
  orderNumber: number | null;
  accountCode: string;
  accountName: string;
  debit: number;
  credit: number;
  currencyCode: string;
  description: string;
}

export const EXPORT_HEADER = [
  'date',
  'entry_number',
  'entry_id',
  'kind',
  'order_number',
  'account_code',
  'account_name',
  'debit',
  'credit',
  'currency',
  'description',
] as const;

/**
 * Characters that make a spreadsheet read a cell as a formula (OWASP's
 * CSV injection list: = + - @, tab and carriage return).
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * Prefixes an apostrophe to a value a spreadsheet would run as a formula.
 * Amounts and numbers are never negative here, so only text can start so.
 */
export function neutralizeFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** Quotes a field as RFC 4180 requires: when it has a comma, quote, CR or LF. */
export function quoteField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function amountField(minor: number, currencyCode: string): string {
  return minor === 0 ? '' : formatMinorUnits(minor, currencyCode);
}

/** Returns the fields of one row, before formula neutralizing and quoting. */
function rowFields(line: ExportLine): string[] {
  return [
    line.occurredAt.toISOString().slice(0, 10),
    String(line.entryNumber),
    line.entryId,
    line.kind,
    line.orderNumber === null ? '' : String(line.orderNumber),
    line.accountCode,
    line.accountName,
    amountField(line.debit, line.currencyCode),
    amountField(line.credit, line.currencyCode),
    line.currencyCode,
    line.description,
  ];
}

/**
 * Formats journal lines as RFC 4180 CSV: a header row, one row per line,
 * CRLF after every row. Debit and credit have the currency's minor digits
 * ("42.00", "1500" for JPY), and the side a line does not use is empty.
 */
export function formatLedgerCsv(lines: readonly ExportLine[]): string {
  const rows = [
    [...EXPORT_HEADER],
    ...lines.map((line) => rowFields(line).map(neutralizeFormula)),
  ];
  return rows
    .map((fields) => fields.map(quoteField).join(',') + '\r\n')
    .join('');
}
