import path from 'node:path';
import type { Database } from '../../../platform/database.js';
import { isCurrencyCode } from '../../../platform/money.js';
import type * as tables from '../db/tables.js';
import { ensureDefaultLocation } from '../services/stock.js';
import { readCsvFile, type CsvTable } from './csv-table.js';
import { detectFormat } from './detect-format.js';
import {
  ProductWriteError,
  writeProductDraft,
  type WriteOutcome,
  type WriteSettings,
} from './product-writer.js';
import { readShopifyDrafts } from './shopify.js';
import type {
  CatalogFormat,
  DraftSet,
  ImportOptions,
  ImportReport,
  ProductDraft,
  RowIssue,
} from './types.js';
import { readWooCommerceDrafts } from './woocommerce.js';

type CatalogDatabase = Database<typeof tables>;

/**
 * Imports a WooCommerce product export or a Shopify product CSV into the
 * catalog. Each product is written with its variants, stock and group
 * members in its own transaction, so an invalid row skips only its own
 * product. Products are matched by source reference and variants by SKU;
 * importing the same file twice changes nothing the second time. Products
 * and variants that the file no longer contains are left as they are.
 *
 * Throws ImportFileError when the file cannot be read, is not CSV or has
 * an unknown header, and RangeError for an unknown currency. Invalid rows
 * do not throw; they are listed in the report's `errors`.
 */
export async function importCatalogFile(
  db: CatalogDatabase,
  filePath: string,
  options: ImportOptions,
): Promise<ImportReport> {
  if (!isCurrencyCode(options.currency)) {
    throw new RangeError(
      `Unknown currency code "${options.currency}"; use an ISO 4217 code such as USD.`,
    );
  }
  const logger = options.logger.child({ file: filePath });
  const table = await readCsvFile(filePath);
  const format = detectFormat(table.header);
  logger.info({ format, rows: table.rows.length }, 'catalog import started');

  const drafts = readDrafts(format, table, options.currency);
  const report: ImportReport = {
    format,
    rows: table.rows.length,
    products: { created: 0, updated: 0, unchanged: 0 },
    variants: { created: 0, updated: 0, unchanged: 0 },
    stockAdjustments: 0,
    errors: [...drafts.errors],
    warnings: drafts.warnings,
  };

  const location = await ensureDefaultLocation(db);
  const settings: WriteSettings = {
    currency: options.currency,
    locationId: location.id,
    sourceName: path.basename(filePath),
  };
  const progress = createProgress(table.rows.length, drafts, options);
  for (const draft of orderForWriting(drafts.drafts)) {
    const outcome = await writeInTransaction(db, draft, settings, logger);
    if ('error' in outcome) {
      report.errors.push(outcome.error);
    } else {
      addOutcome(report, outcome);
    }
    progress.advance(draft.rowCount);
  }
  progress.finish();

  report.errors.sort((a, b) => a.line - b.line);
  logger.info(
    {
      products: report.products,
      variants: report.variants,
      stockAdjustments: report.stockAdjustments,
      errors: report.errors.length,
    },
    'catalog import finished',
  );
  return report;
}

function readDrafts(
  format: CatalogFormat,
  table: CsvTable,
  currency: string,
): DraftSet {
  if (format === 'shopify') return readShopifyDrafts(table, { currency });
  // Sale dates in WooCommerce are days in the shop's time zone, which the
  // file does not state; the UTC date is used instead.
  const today = new Date().toISOString().slice(0, 10);
  return readWooCommerceDrafts(table, { currency, today });
}

/** Puts grouped products last, so members from the same file exist first. */
function orderForWriting(drafts: ProductDraft[]): ProductDraft[] {
  const grouped = drafts.filter(
    (draft) => draft.fields.productType === 'GROUPED',
  );
  const others = drafts.filter(
    (draft) => draft.fields.productType !== 'GROUPED',
  );
  return [...others, ...grouped];
}

/**
 * Writes one product in its own transaction. A ProductWriteError or a
 * database error rolls the product back and becomes a row error; the
 * import goes on with the next product.
 */
async function writeInTransaction(
  db: CatalogDatabase,
  draft: ProductDraft,
  settings: WriteSettings,
  logger: ImportOptions['logger'],
): Promise<WriteOutcome | { error: RowIssue }> {
  try {
    return await db.transaction((transaction) =>
      writeProductDraft(transaction, draft, settings),
    );
  } catch (error) {
    if (error instanceof ProductWriteError) {
      return { error: { line: error.line, message: error.message } };
    }
    logger.error(
      { err: error, line: draft.line, sourceRef: draft.sourceRef },
      'catalog import failed to write a product',
    );
    return {
      error: {
        line: draft.line,
        message: `Writing the product failed: ${describeDatabaseError(error)}.`,
      },
    };
  }
}

/**
 * Returns the PostgreSQL message of a failed query without the SQL text
 * and parameters that drizzle adds to its own error message.
 */
function describeDatabaseError(error: unknown): string {
  let current: unknown = error;
  while (current instanceof Error) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string')
      return `${current.message} (SQLSTATE ${code})`;
    current = current.cause;
  }
  return error instanceof Error ? error.name : String(error);
}

function addOutcome(report: ImportReport, outcome: WriteOutcome): void {
  report.products[outcome.product] += 1;
  report.variants.created += outcome.variants.created;
  report.variants.updated += outcome.variants.updated;
  report.variants.unchanged += outcome.variants.unchanged;
  report.stockAdjustments += outcome.stockAdjustments;
}

/**
 * Counts rows for `onProgress`. Rows that were reported before writing
 * (their product has errors, or a variation has no parent) count at once.
 */
function createProgress(
  total: number,
  drafts: DraftSet,
  options: ImportOptions,
) {
  const written = drafts.drafts.reduce((sum, draft) => sum + draft.rowCount, 0);
  let done = total - written;
  return {
    advance(rows: number) {
      done += rows;
      options.onProgress?.(done, total);
    },
    finish() {
      if (drafts.drafts.length === 0) options.onProgress?.(total, total);
    },
  };
}
