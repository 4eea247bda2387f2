import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Logger } from '../../../platform/logger.js';
import { isUuid } from '../../../platform/ids.js';
import {
  formatMinorUnits,
  parseDecimalToMinorUnits,
} from '../../../platform/money.js';
import * as tables from '../db/tables.js';
import type { OrderRow } from '../db/tables.js';
import type { OrdersDatabase } from '../dependencies.js';
import {
  IdempotencyKeyBusyError,
  IdempotencyKeyReusedError,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  withIdempotencyKey,
} from '../idempotency.js';
import type { OrdersTransaction } from '../ledger/posting.js';

/** A `userErrors` item of the order mutations; `code` is a stable identifier. */
export interface OrderUserError {
  field: string[];
  message: string;
  code: string;
}

/**
 * Result of an order mutation, stored for repeats of its idempotency key.
 * It contains ids and errors only, because it must survive a JSON round
 * trip, and the payload loads the rows afterwards.
 */
export interface OrderActionResult {
  orderId: string | null;
  refundId?: string | null;
  userErrors: OrderUserError[];
}

/** Maximum length of a cancel or refund reason, in characters. */
export const MAX_REASON_LENGTH = 1000;

export function failure(
  field: string[],
  message: string,
  code: string,
): OrderActionResult {
  return { orderId: null, userErrors: [{ field, message, code }] };
}

export function success(orderId: string, refundId?: string): OrderActionResult {
  return refundId === undefined
    ? { orderId, userErrors: [] }
    : { orderId, refundId, userErrors: [] };
}

export function orderNotFound(orderId: string): OrderActionResult {
  return failure(
    ['input', 'orderId'],
    `Order ${orderId} was not found. Check the id; orders are listed by the orders query.`,
    'NOT_FOUND',
  );
}

/** Formats minor units with the currency code: 4200 USD → "42.00 USD". */
export function formatAmount(minor: number, currencyCode: string): string {
  return `${formatMinorUnits(minor, currencyCode)} ${currencyCode}`;
}

/** Loads an order by id; ids that are not UUIDs match nothing. */
export async function findOrder(
  db: OrdersDatabase | OrdersTransaction,
  orderId: string,
): Promise<OrderRow | null> {
  if (!isUuid(orderId)) return null;
  const [order] = await db
    .select()
    .from(tables.orders)
    .where(eq(tables.orders.id, orderId));
  return order ?? null;
}

/**
 * Loads and locks an order row until the transaction ends, so status
 * changes of one order are applied one after another.
 */
export async function lockOrder(
  transaction: OrdersTransaction,
  orderId: string,
): Promise<OrderRow> {
  const [order] = await transaction
    .select()
    .from(tables.orders)
    .where(eq(tables.orders.id, orderId))
    .for('update');
  if (!order) throw new Error(`Order ${orderId} disappeared while locked`);
  return order;
}

/**
 * Parses a positive decimal amount in the order's currency, or returns the
 * userError that names the field, the value, the reason and the fix.
 */
export function parsePositiveAmount(
  field: string[],
  text: string,
  currencyCode: string,
): { minor: number } | { error: OrderUserError } {
  const parsed = parseDecimalToMinorUnits(text, currencyCode);
  const example = formatMinorUnits(1000, currencyCode);
  if ('error' in parsed) {
    return {
      error: {
        field,
        message: `Invalid amount: ${parsed.error}. Send a decimal string in ${currencyCode}, such as "${example}".`,
        code: 'INVALID',
      },
    };
  }
  if (parsed.minor <= 0) {
    return {
      error: {
        field,
        message: `Invalid amount "${text}": it must be more than 0. Send a positive decimal string in ${currencyCode}, such as "${example}".`,
        code: 'INVALID',
      },
    };
  }
  return parsed;
}

/** Returns the userError of an idempotency key that is empty or too long, or null. */
export function checkIdempotencyKey(key: string): OrderUserError | null {
  if (key.length >= 1 && key.length <= MAX_IDEMPOTENCY_KEY_LENGTH) return null;
  return {
    field: ['input', 'idempotencyKey'],
    message: `Invalid idempotencyKey: it has ${key.length} characters. Send 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters, new for each action and the same on every retry of it.`,
    code: 'INVALID',
  };
}

/** Returns the userError of a reason longer than MAX_REASON_LENGTH, or null. */
export function checkReason(
  reason: string | null | undefined,
): OrderUserError | null {
  if (reason == null || reason.length <= MAX_REASON_LENGTH) return null;
  return {
    field: ['input', 'reason'],
    message: `Invalid reason: it has ${reason.length} characters. Shorten it to at most ${MAX_REASON_LENGTH}.`,
    code: 'INVALID',
  };
}

/**
 * Derives the idempotency key sent to the payment provider from the
 * operation, the order and the client's key. The sandbox and Stripe
 * accept at most 255 characters, so the parts are hashed into a
 * fixed-length key.
 */
export function providerIdempotencyKey(
  operation: string,
  orderId: string,
  clientKey: string,
): string {
  const digest = createHash('sha256')
    .update(`${operation}\n${orderId}\n${clientKey}`)
    .digest('hex');
  return `${operation}-${digest.slice(0, 48)}`;
}

/**
 * Runs an order mutation once per (operation, order, key) with
 * withIdempotencyKey. Only results without userErrors are kept, so a
 * request rejected because of the order's state or a provider failure
 * runs again when retried with the same key. A key reused with other
 * parameters, or one whose first request is still running, becomes a
 * userError on `input.idempotencyKey`.
 */
export async function runOnce(
  db: OrdersDatabase,
  options: { scope: string; key: string; request: unknown },
  run: () => Promise<OrderActionResult>,
): Promise<OrderActionResult> {
  try {
    return await withIdempotencyKey(
      db,
      { ...options, keep: (result) => result.userErrors.length === 0 },
      run,
    );
  } catch (error) {
    if (
      error instanceof IdempotencyKeyReusedError ||
      error instanceof IdempotencyKeyBusyError
    ) {
      return failure(['input', 'idempotencyKey'], error.message, error.code);
    }
    throw error;
  }
}

/** Logs a provider or stock failure that becomes a userError. */
export function logActionFailure(
  logger: Logger,
  action: string,
  orderId: string,
  error: unknown,
): void {
  logger.warn({ orderId, err: error }, `${action} failed`);
}
