import { GraphQLError } from 'graphql';
import { badUserInput, ErrorCode } from '../../../platform/errors.js';
import { toMoney } from '../../../platform/money.js';
import {
  encodeCursor,
  parsePageArguments,
} from '../../../platform/pagination.js';
import { requirePermission } from '../../../platform/permissions.js';
import { visibleTo } from '../access.js';
import type { Context } from '../context.js';
import type { JournalEntryRow } from '../db/tables.js';
import type { Resolvers } from '../generated/resolvers.js';
import { formatLedgerCsv } from './csv.js';
import { parsePeriod } from './period.js';
import {
  createLinesByEntryLoader,
  selectAccountTotals,
  selectEntryPage,
  selectExportLines,
} from './queries.js';

/**
 * The lines loader of each request, kept beside the request's own loaders
 * (a fresh object per request), so it is created on first use and never
 * shared between requests.
 */
const linesLoaders = new WeakMap<
  object,
  ReturnType<typeof createLinesByEntryLoader>
>();

function linesLoaderOf(context: Context) {
  let loader = linesLoaders.get(context.loaders);
  if (!loader) {
    loader = createLinesByEntryLoader(context.db);
    linesLoaders.set(context.loaders, loader);
  }
  return loader;
}

function cursorOf(entry: JournalEntryRow): string {
  return encodeCursor(String(entry.number));
}

/** Returns the entry number of a decoded `after` cursor key. */
function entryNumberOfCursor(
  after: string | null,
  cursor: string | null | undefined,
): number | null {
  if (after === null) return null;
  const number = /^[1-9]\d{0,15}$/.test(after) ? Number(after) : NaN;
  if (!Number.isSafeInteger(number)) {
    throw badUserInput(
      `Invalid after cursor "${cursor}". Pass an endCursor or edge cursor returned by ledgerEntries.`,
      'after',
    );
  }
  return number;
}

/** Formats a period boundary for a file name: its UTC date. */
function fileDate(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

export const ledgerResolvers: Resolvers = {
  Query: {
    ledgerEntries: async (_parent, args, { db, caller }) => {
      requirePermission(caller, 'read_accounting');
      const period = parsePeriod(args);
      const { first, after } = parsePageArguments(args);
      const afterNumber = entryNumberOfCursor(after, args.after);
      const rows = await selectEntryPage(db, period, afterNumber, first + 1);
      const page = rows.slice(0, first);
      const edges = page.map((node) => ({ cursor: cursorOf(node), node }));
      return {
        edges,
        nodes: page,
        pageInfo: {
          hasNextPage: rows.length > first,
          hasPreviousPage: afterNumber !== null,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },

    trialBalance: async (_parent, args, { db, caller, config }) => {
      requirePermission(caller, 'read_accounting');
      const period = parsePeriod(args);
      const currency = config.SHOP_CURRENCY;
      const totals = await selectAccountTotals(db, period);
      const foreign = totals.find((row) => row.currencyCode !== currency);
      if (foreign) {
        // Sums across currencies are meaningless, and leaving the entries
        // out would show a balance that is not the ledger's.
        throw new GraphQLError(
          `The period contains journal entries in ${foreign.currencyCode}, but the trial balance is computed in the shop currency ${currency} only. Use ledgerExport, whose rows name their currency.`,
          { extensions: { code: ErrorCode.BadUserInput } },
        );
      }
      const totalDebit = totals.reduce((sum, row) => sum + row.debit, 0);
      const totalCredit = totals.reduce((sum, row) => sum + row.credit, 0);
      return {
        from: period.from.toISOString(),
        to: period.to.toISOString(),
        lines: totals.map((row) => ({
          account: row.account,
          debit: toMoney(row.debit, currency),
          credit: toMoney(row.credit, currency),
          balance: toMoney(row.debit - row.credit, currency),
        })),
        totalDebit: toMoney(totalDebit, currency),
        totalCredit: toMoney(totalCredit, currency),
        balanced: totalDebit === totalCredit,
      };
    },

    ledgerExport: async (_parent, args, { db, caller }) => {
      requirePermission(caller, 'read_accounting');
      const period = parsePeriod(args);
      const lines = await selectExportLines(db, period);
      return {
        filename: `ledger-${fileDate(period.from)}-${fileDate(period.to)}.csv`,
        csv: formatLedgerCsv(lines),
        entryCount: new Set(lines.map((line) => line.entryId)).size,
      };
    },
  },

  JournalEntry: {
    occurredAt: (entry) => entry.occurredAt.toISOString(),
    order: async (entry, _args, { loaders, caller }) =>
      entry.orderId
        ? visibleTo(
            caller,
            await loaders.orderById.load(entry.orderId),
            (order) => order.customerId,
          )
        : null,
    lines: async (entry, _args, context) => {
      const lines = await linesLoaderOf(context).load(entry.id);
      return lines.map(({ line, account }) => ({
        account,
        debit: toMoney(line.debit, entry.currencyCode),
        credit: toMoney(line.credit, entry.currencyCode),
      }));
    },
  },
};
