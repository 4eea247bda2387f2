import { readFile } from 'node:fs/promises';
import { CsvError, parse, type Info } from 'csv-parse/sync';

/** The file cannot be imported at all: unreadable, not CSV, or unknown columns. */
export class ImportFileError extends Error {
  override name = 'ImportFileError';
}

export interface CsvRow {
  /** Physical line where the record starts; the header is line 1. */
  line: number;
  /** Returns the cell under a header name as written, or '' when absent. */
  get(column: string): string;
  /** Set when the record has a different number of fields than the header. */
  fieldCountError: string | null;
}

export interface CsvTable {
  header: string[];
  rows: CsvRow[];
}

/**
 * Reads a CSV file with a header row. Blank lines and records whose fields
 * are all empty are skipped, as WooCommerce's importer does.
 */
export async function readCsvFile(filePath: string): Promise<CsvTable> {
  let content: Buffer;
  try {
    content = await readFile(filePath);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ImportFileError(`Cannot read ${filePath}: ${reason}.`);
  }
  return parseCsv(content);
}

/** Parses CSV text; see `readCsvFile`. */
export function parseCsv(content: Buffer): CsvTable {
  let records: Array<{ record: string[]; info: Info }>;
  try {
    // The typings of csv-parse 6.2.1 do not model `info: true`, which turns
    // each record into `{ record, info }`.
    records = parse(content, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as typeof records;
  } catch (error) {
    if (error instanceof CsvError) {
      throw new ImportFileError(`The file is not valid CSV: ${error.message}`);
    }
    throw error;
  }
  if (records.length === 0) {
    throw new ImportFileError('The file is empty; expected a header row.');
  }

  const header = records[0]!.record.map((name) => name.trim());
  const columnIndex = new Map<string, number>();
  header.forEach((name, index) => {
    if (!columnIndex.has(name)) columnIndex.set(name, index);
  });

  const lines = new LineCounter(content);
  const rows: CsvRow[] = [];
  for (let index = 1; index < records.length; index += 1) {
    const { record } = records[index]!;
    // `info.bytes` is the offset just past the previous record's delimiter,
    // so the record starts there once blank lines are skipped. Counting
    // line breaks in the bytes stays right for quoted fields with newlines,
    // which csv-parse's own `info.lines` miscounts in CRLF files (6.2.1).
    const line = lines.lineAt(records[index - 1]!.info.bytes);
    if (record.every((value) => value.trim() === '')) continue;
    rows.push({
      line,
      get: (column) => {
        const position = columnIndex.get(column);
        return position === undefined ? '' : (record[position] ?? '');
      },
      fieldCountError:
        record.length === header.length
          ? null
          : `The row has ${record.length} fields but the header has ${header.length}.`,
    });
  }
  return { header, rows };
}

/**
 * Maps byte offsets to line numbers. Offsets must be asked for in rising
 * order, so the whole file is scanned once. CRLF, LF and a lone CR each end
 * one line.
 */
class LineCounter {
  private offset = 0;
  private line = 1;

  constructor(private readonly content: Buffer) {}

  /** Returns the line of the first non-blank byte at or after `offset`. */
  lineAt(offset: number): number {
    this.advanceTo(offset);
    while (this.offset < this.content.length) {
      const byte = this.content[this.offset];
      if (byte !== 0x0a && byte !== 0x0d) break;
      this.advanceTo(this.offset + 1);
    }
    return this.line;
  }

  private advanceTo(target: number): void {
    const end = Math.min(target, this.content.length);
    while (this.offset < end) {
      const byte = this.content[this.offset];
      if (byte === 0x0a) {
        this.line += 1;
      } else if (byte === 0x0d && this.content[this.offset + 1] !== 0x0a) {
        this.line += 1;
      }
      this.offset += 1;
    }
  }
}
