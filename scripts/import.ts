import { access, constants } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadConfig, type Config } from '../platform/config.js';
import { connectDatabase, serviceDatabaseUrl } from '../platform/database.js';
import type { EmbeddedServer } from '../platform/embedded-postgres.js';
import { createLogger, type Logger } from '../platform/logger.js';
import { resolveDatabaseServer } from '../platform/main.js';
import { isCurrencyCode } from '../platform/money.js';
import { prepareSubgraphDatabase } from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/catalog/db/tables.js';
import { catalogSubgraph } from '../subgraphs/catalog/service.js';
import {
  ImportFileError,
  importCatalogFile,
  type ImportReport,
} from '../subgraphs/catalog/import/index.js';

const USAGE = `Usage: npm run import -- FILE [--currency CODE]

Imports a WooCommerce product export or a Shopify product CSV into the
catalog database. The format is detected from the header row.

Options:
  --currency CODE  ISO 4217 currency of every price in FILE
                   (default: SHOP_CURRENCY, which defaults to USD)
  -h, --help       Print this help

The database is DATABASE_URL (or CATALOG_DATABASE_URL); without one, the
embedded PostgreSQL server under DATA_DIR is used, and started for the
import when it is not running. Migrations are applied first.

Exit status: 0 when at least one product was created, updated or found
unchanged (even if other rows had errors); 1 when the file could not be
read, the arguments or database were unusable, or no product was imported.
`;

/** Rows between progress lines, and the longest silence, for big files. */
const PROGRESS_EVERY_ROWS = 500;
const PROGRESS_EVERY_MS = 1000;

interface Arguments {
  filePath: string;
  currency: string;
}

function parseArguments(argv: string[], config: Config): Arguments | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        currency: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return (error as Error).message;
  }
  if (parsed.values.help) return '';
  if (parsed.positionals.length !== 1) {
    return 'Expected exactly one FILE argument.';
  }
  const currency = (
    parsed.values.currency ?? config.SHOP_CURRENCY
  ).toUpperCase();
  if (!isCurrencyCode(currency)) {
    return `--currency: "${currency}" is not an ISO 4217 code such as USD.`;
  }
  // The catalog keeps every price in the shop currency and converts none,
  // so a file priced in another currency is rejected rather than relabelled.
  if (currency !== config.SHOP_CURRENCY) {
    return `--currency: the file's currency ${currency} differs from the shop currency ${config.SHOP_CURRENCY}; set SHOP_CURRENCY=${currency} for a shop that sells in ${currency}.`;
  }
  return { filePath: parsed.positionals[0]!, currency };
}

/**
 * Creates a logger that writes to stderr, so stdout carries only the
 * report. Info messages repeat the report, so they are shown only when
 * LOG_LEVEL is set explicitly.
 */
function createCliLogger(config: Config): Logger {
  const level = process.env.LOG_LEVEL ? config.LOG_LEVEL : 'warn';
  return createLogger(
    'catalog-import',
    level,
    pino.destination({ dest: 2, sync: true }),
  );
}

/** Writes "Imported 1500 of 3000 rows" to stderr every 500 rows or second. */
function createProgressPrinter() {
  let printedRows = 0;
  let printedAt = Date.now();
  return (done: number, total: number) => {
    const now = Date.now();
    const due =
      done - printedRows >= PROGRESS_EVERY_ROWS ||
      now - printedAt >= PROGRESS_EVERY_MS ||
      (done === total && printedRows > 0);
    if (!due || done === printedRows) return;
    process.stderr.write(`Imported ${done} of ${total} rows\n`);
    printedRows = done;
    printedAt = now;
  };
}

function importedAny(report: ImportReport): boolean {
  const { created, updated, unchanged } = report.products;
  return created + updated + unchanged > 0;
}

function formatReport(filePath: string, report: ImportReport): string {
  const formatName =
    report.format === 'woocommerce' ? 'WooCommerce' : 'Shopify';
  const counts = (label: string, value: ImportReport['products']) =>
    `${label}: ${value.created} created, ${value.updated} updated, ${value.unchanged} unchanged`;
  const lines = [
    `Read ${filePath} (${formatName}, ${report.rows} rows)`,
    counts('Products', report.products),
    counts('Variants', report.variants),
    `Stock adjustments: ${report.stockAdjustments}`,
  ];
  if (report.warnings.length > 0) {
    lines.push(`Warnings: ${report.warnings.length}`);
    for (const warning of report.warnings) {
      lines.push(`  line ${warning.line}: ${warning.message}`);
    }
  }
  lines.push(`Errors: ${report.errors.length}`);
  for (const error of report.errors) {
    lines.push(`  line ${error.line}: ${error.message}`);
  }
  if (!importedAny(report)) lines.push('No product was imported.');
  return `${lines.join('\n')}\n`;
}

/**
 * Connects, migrates and imports. The embedded server is stopped at the
 * end only if this run started it. For a server that was already running,
 * `resolveDatabaseServer` returns a `stop` that leaves it running.
 */
async function runImport(
  args: Arguments,
  config: Config,
  logger: Logger,
  setServer: (server: EmbeddedServer | undefined) => void,
): Promise<number> {
  // CATALOG_DATABASE_URL names the catalog database itself, so no server
  // needs to be found or started for it.
  const server: { url: string; embedded?: EmbeddedServer } =
    config.CATALOG_DATABASE_URL
      ? { url: config.CATALOG_DATABASE_URL }
      : await resolveDatabaseServer(config, logger);
  setServer(server.embedded);
  try {
    const url = serviceDatabaseUrl(config, 'catalog', server.url);
    await prepareSubgraphDatabase(catalogSubgraph, url, logger);
    const database = connectDatabase(url, tables, { poolSize: 1 });
    try {
      const report = await importCatalogFile(database.db, args.filePath, {
        currency: args.currency,
        logger,
        onProgress: createProgressPrinter(),
      });
      process.stdout.write(formatReport(args.filePath, report));
      return importedAny(report) ? 0 : 1;
    } finally {
      await database.close();
    }
  } finally {
    setServer(undefined);
    await server.embedded?.stop();
  }
}

/**
 * Returns the message of the innermost cause. A failed drizzle query puts
 * its SQL and parameters in the outer message and the driver's reason in
 * `cause`.
 */
function rootCauseMessage(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) {
    current = current.cause;
  }
  return current instanceof Error ? current.message : String(current);
}

async function main(argv: string[]): Promise<number> {
  const config = loadConfig();
  const args = parseArguments(argv, config);
  if (typeof args === 'string') {
    if (args !== '') process.stderr.write(`${args}\n\n`);
    process.stderr.write(USAGE);
    return args === '' ? 0 : 1;
  }
  try {
    await access(args.filePath, constants.R_OK);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    process.stderr.write(
      `Import failed: cannot read ${args.filePath}: ${reason}.\n`,
    );
    return 1;
  }

  const logger = createCliLogger(config);
  let embeddedServer: EmbeddedServer | undefined;
  // An interrupted import keeps what it committed: each product is its own
  // transaction. The embedded server started here is stopped on the way out.
  const onSignal = (signal: NodeJS.Signals) => {
    logger.warn({ signal }, 'catalog import interrupted');
    const stop = embeddedServer ? embeddedServer.stop() : Promise.resolve();
    stop.finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    return await runImport(args, config, logger, (server) => {
      embeddedServer = server;
    });
  } catch (error) {
    if (error instanceof ImportFileError || error instanceof RangeError) {
      process.stderr.write(`Import failed: ${error.message}\n`);
    } else {
      logger.error({ err: error }, 'catalog import failed');
      process.stderr.write(`Import failed: ${rootCauseMessage(error)}\n`);
    }
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
