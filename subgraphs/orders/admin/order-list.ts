import { and, desc, eq, lt, sql, type SQL } from 'drizzle-orm';
import { badUserInput } from '../../../platform/errors.js';
import { isUuid } from '../../../platform/ids.js';
import {
  parsePageArguments,
  toConnection,
} from '../../../platform/pagination.js';
import * as tables from '../db/tables.js';
import type { OrderRow } from '../db/tables.js';
import type { OrdersDatabase } from '../dependencies.js';
import type { OrderFilter } from '../generated/resolvers.js';

/** Maximum length of the search text, in characters. */
const MAX_QUERY_LENGTH = 200;

/** Largest order number a search compares; numbers are PostgreSQL integers. */
const MAX_ORDER_NUMBER = 2_147_483_647;

/** Escapes the LIKE wildcards `%`, `_` and the escape character `\`. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

/**
 * Builds the condition of `filter.query`: the order number when the text is
 * digits (an optional leading `#` is ignored), or part of the contact
 * email, without case, otherwise.
 */
function queryCondition(query: string): SQL | undefined {
  const text = query.trim();
  if (text === '') return undefined;
  if (text.length > MAX_QUERY_LENGTH) {
    throw badUserInput(
      `Invalid filter.query: it has ${text.length} characters. Search with at most ${MAX_QUERY_LENGTH}.`,
      'filter',
    );
  }
  const digits = /^#?(\d{1,10})$/.exec(text);
  if (digits) {
    const number = Number(digits[1]);
    // A number no order can have matches nothing rather than failing.
    return number <= MAX_ORDER_NUMBER
      ? eq(tables.orders.number, number)
      : sql`false`;
  }
  const pattern = `%${escapeLike(text.toLowerCase())}%`;
  // NOTE: a substring match cannot use the lower(email) index, so it
  // scans the orders newer than the cursor until a page is full.
  return sql`lower(${tables.orders.email}) like ${pattern}`;
}

/**
 * Loads one page of orders, newest first, in one SQL statement. Order ids are
 * UUIDv7, which sort by creation time, so the id is the sort key and the
 * cursor.
 */
export async function listOrders(
  db: OrdersDatabase,
  args: {
    first?: number | null;
    after?: string | null;
    filter?: OrderFilter | null;
  },
) {
  const { first, after } = parsePageArguments(args);
  if (after !== null && !isUuid(after)) {
    throw badUserInput(
      `Invalid after cursor "${args.after}". Pass an endCursor or edge cursor returned by this connection.`,
      'after',
    );
  }
  const filter = args.filter ?? {};
  const conditions = [
    after !== null ? lt(tables.orders.id, after) : undefined,
    filter.query ? queryCondition(filter.query) : undefined,
    filter.financialStatus
      ? eq(tables.orders.financialStatus, filter.financialStatus)
      : undefined,
  ];
  const rows = await db
    .select()
    .from(tables.orders)
    .where(and(...conditions))
    .orderBy(desc(tables.orders.id))
    .limit(first + 1);
  return toConnection<OrderRow>(
    rows,
    first,
    after !== null,
    (order) => order.id,
  );
}
