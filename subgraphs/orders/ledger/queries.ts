import DataLoader from 'dataloader';
import { and, asc, desc, eq, gte, inArray, lt, sql } from 'drizzle-orm';
import { groupByKey } from '../../../platform/batching.js';
import type { Database } from '../../../platform/database.js';
import { isUuid } from '../../../platform/ids.js';
import * as tables from '../db/tables.js';
import type {
  JournalEntryRow,
  JournalLineRow,
  LedgerAccountRow,
} from '../db/tables.js';
import type { ExportLine } from './csv.js';
import type { Period } from './period.js';

type OrdersDatabase = Database<typeof tables>;

/** A journal line with its account. */
export interface LineWithAccount {
  line: JournalLineRow;
  account: LedgerAccountRow;
}

/** Order of an entry's lines: debits before credits, then by account code. */
const lineOrder = [
  desc(sql`${tables.journalLines.debit} > 0`),
  asc(tables.journalLines.accountCode),
  asc(tables.journalLines.id),
];

function inPeriod(period: Period) {
  return and(
    gte(tables.journalEntries.occurredAt, period.from),
    lt(tables.journalEntries.occurredAt, period.to),
  );
}

/**
 * Returns up to `limit` entries of the period after the entry numbered
 * `afterNumber`, oldest first by (occurred_at, number). The cursor entry
 * is looked up in the database rather than carried in the cursor, because
 * occurred_at has microseconds and a JavaScript Date only milliseconds.
 */
export async function selectEntryPage(
  db: OrdersDatabase,
  period: Period,
  afterNumber: number | null,
  limit: number,
): Promise<JournalEntryRow[]> {
  const entries = tables.journalEntries;
  return db
    .select()
    .from(entries)
    .where(
      and(
        inPeriod(period),
        afterNumber === null
          ? undefined
          : sql`(${entries.occurredAt}, ${entries.number}) > (select c.occurred_at, c.number from journal_entries c where c.number = ${afterNumber})`,
      ),
    )
    .orderBy(asc(entries.occurredAt), asc(entries.number))
    .limit(limit);
}

/** Creates a loader of the lines of entries by entry id: one statement per batch. */
export function createLinesByEntryLoader(db: OrdersDatabase) {
  return new DataLoader<string, LineWithAccount[]>(async (entryIds) =>
    groupByKey(
      entryIds,
      await db
        .select({ line: tables.journalLines, account: tables.ledgerAccounts })
        .from(tables.journalLines)
        .innerJoin(
          tables.ledgerAccounts,
          eq(tables.ledgerAccounts.code, tables.journalLines.accountCode),
        )
        .where(inArray(tables.journalLines.entryId, entryIds.filter(isUuid)))
        .orderBy(...lineOrder),
      (row) => row.line.entryId,
    ),
  );
}

/** Debit and credit sums of one account in one currency over a period. */
export interface AccountTotals {
  account: LedgerAccountRow;
  currencyCode: string;
  debit: number;
  credit: number;
}

function toSafeInteger(text: string, what: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`${what} ${text} exceeds the safe integer range`);
  }
  return value;
}

/**
 * Sums the debits and credits of every account with lines in the period,
 * per currency, in one aggregate statement, ordered by account code.
 */
export async function selectAccountTotals(
  db: OrdersDatabase,
  period: Period,
): Promise<AccountTotals[]> {
  const rows = await db.execute<{
    code: string;
    name: string;
    type: LedgerAccountRow['type'];
    currency_code: string;
    debit: string;
    credit: string;
  }>(sql`
    select a.code, a.name, a.type, e.currency_code,
      sum(l.debit)::text as debit, sum(l.credit)::text as credit
    from journal_lines l
    join journal_entries e on e.id = l.entry_id
    join ledger_accounts a on a.code = l.account_code
    where e.occurred_at >= ${period.from.toISOString()}
      and e.occurred_at < ${period.to.toISOString()}
    group by a.code, a.name, a.type, e.currency_code
    order by a.code, e.currency_code
  `);
  return rows.map((row) => ({
    account: { code: row.code, name: row.name, type: row.type },
    currencyCode: row.currency_code,
    debit: toSafeInteger(row.debit, `Debits of account ${row.code}`),
    credit: toSafeInteger(row.credit, `Credits of account ${row.code}`),
  }));
}

/**
 * Returns every journal line of the period with its entry, order number
 * and account, in export order: entries by (occurred_at, number), lines
 * as in `JournalEntry.lines`.
 */
export async function selectExportLines(
  db: OrdersDatabase,
  period: Period,
): Promise<ExportLine[]> {
  const entries = tables.journalEntries;
  return db
    .select({
      occurredAt: entries.occurredAt,
      entryNumber: entries.number,
      entryId: entries.id,
      kind: entries.kind,
      orderNumber: tables.orders.number,
      accountCode: tables.journalLines.accountCode,
      accountName: tables.ledgerAccounts.name,
      debit: tables.journalLines.debit,
      credit: tables.journalLines.credit,
      currencyCode: entries.currencyCode,
      description: entries.description,
    })
    .from(tables.journalLines)
    .innerJoin(entries, eq(entries.id, tables.journalLines.entryId))
    .innerJoin(
      tables.ledgerAccounts,
      eq(tables.ledgerAccounts.code, tables.journalLines.accountCode),
    )
    .leftJoin(tables.orders, eq(tables.orders.id, entries.orderId))
    .where(inPeriod(period))
    .orderBy(asc(entries.occurredAt), asc(entries.number), ...lineOrder);
}
