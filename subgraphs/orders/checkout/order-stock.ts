import { and, asc, eq, sql } from 'drizzle-orm';
import { uuidv7 } from '../../../platform/ids.js';
import type { Logger } from '../../../platform/logger.js';
import { appendEvents } from '../../../platform/outbox.js';
import * as tables from '../db/tables.js';
import type { OrderRow, PaymentRow } from '../db/tables.js';
import type { OrdersDatabase, OrdersDependencies } from '../dependencies.js';
import { transition } from '../financial-status.js';
import type { OrdersTransaction } from '../ledger/posting.js';
import type { ProviderPayment } from '../payments/index.js';
import {
  ReservationStateError,
  type LineProblem,
  type StockLineInput,
} from '../stock/stock-client.js';
import { applyPaymentState } from './payment-updates.js';

/** Author name on the order notes that the orders service writes itself. */
export const SYSTEM_NOTE_AUTHOR = 'system:checkout';

export type StockHoldOutcome =
  /** Reservation confirmed, so the stock is reserved until commit or release. */
  | 'confirmed'
  /** No change, because the order is already confirmed, cancelled, or locked by a replica. */
  | 'unchanged'
  /** Stock no longer available, so the order was flagged for staff. */
  | 'flagged';

/**
 * Makes the catalog reserve an order's stock until fulfilment. Confirms
 * the order's reservation, or reserves again when the reservation expired
 * or was released. When the stock is gone, the order is flagged so that
 * nothing is ever sold twice. An unpaid order is cancelled and its
 * authorization voided, and a paid one gets a note for staff.
 *
 * The order row stays locked meanwhile, so checkout, webhooks and the
 * reconciliation of every replica never work on one order at once.
 */
export async function holdOrderStock(
  db: OrdersDatabase,
  dependencies: OrdersDependencies,
  logger: Logger,
  orderId: string,
  options: { skipLocked?: boolean } = {},
): Promise<StockHoldOutcome> {
  return db.transaction(async (transaction) => {
    const locking = transaction
      .select()
      .from(tables.orders)
      .where(eq(tables.orders.id, orderId));
    const [order] = options.skipLocked
      ? await locking.for('update', { skipLocked: true })
      : await locking.for('update');
    if (!order || order.reservationConfirmedAt || order.cancelledAt) {
      return 'unchanged';
    }
    const { stock } = dependencies;
    if (await confirmReservation(dependencies, orderId)) {
      await markConfirmed(transaction, orderId);
      return 'confirmed';
    }
    const reserved = await stock.reserve(
      orderId,
      await orderStockLines(transaction, orderId),
    );
    if (reserved.ok && (await confirmReservation(dependencies, orderId))) {
      await markConfirmed(transaction, orderId);
      return 'confirmed';
    }
    const problems = reserved.ok ? [] : reserved.problems;
    await flagOrder(transaction, dependencies, logger, order, problems);
    return 'flagged';
  });
}

/** Confirms the reservation and reports whether it is now kept without expiry. */
async function confirmReservation(
  dependencies: OrdersDependencies,
  orderId: string,
): Promise<boolean> {
  try {
    const reservation = await dependencies.stock.confirm(orderId);
    return (
      reservation !== null &&
      (reservation.status === 'ACTIVE' || reservation.status === 'COMMITTED')
    );
  } catch (error) {
    if (error instanceof ReservationStateError) return false;
    throw error;
  }
}

async function markConfirmed(
  transaction: OrdersTransaction,
  orderId: string,
): Promise<void> {
  await transaction
    .update(tables.orders)
    .set({ reservationConfirmedAt: new Date(), updatedAt: new Date() })
    .where(eq(tables.orders.id, orderId));
}

/** Sums the order's line quantities per SKU, as the catalog reserves them. */
export async function orderStockLines(
  transaction: Pick<OrdersDatabase, 'select'>,
  orderId: string,
): Promise<StockLineInput[]> {
  const lines = await transaction
    .select({
      sku: tables.orderLines.sku,
      quantity: tables.orderLines.quantity,
    })
    .from(tables.orderLines)
    .where(eq(tables.orderLines.orderId, orderId))
    .orderBy(asc(tables.orderLines.position));
  const bySku = new Map<string, number>();
  for (const line of lines) {
    bySku.set(line.sku, (bySku.get(line.sku) ?? 0) + line.quantity);
  }
  return [...bySku].map(([sku, quantity]) => ({ sku, quantity }));
}

async function flagOrder(
  transaction: OrdersTransaction,
  dependencies: OrdersDependencies,
  logger: Logger,
  order: OrderRow,
  problems: LineProblem[],
): Promise<void> {
  const shortage =
    problems.length > 0
      ? problems.map((problem) => problem.message).join(' ')
      : 'The catalog did not confirm the reservation.';
  let unpaid =
    order.financialStatus === 'PENDING' ||
    order.financialStatus === 'AUTHORIZED';
  if (unpaid) {
    const cancel = await cancelUnpaidOrder(
      transaction,
      dependencies,
      logger,
      order,
      {
        reason: 'Out of stock before the order could be confirmed.',
        paymentStatus: 'VOIDED',
      },
    );
    if (cancel.cancelled) {
      await dependencies.stock.release(order.id, { force: true });
    } else {
      // The payment was captured before it could be voided, so the order is
      // paid now, and staff restock or refund it.
      await applyPaymentState(
        transaction,
        dependencies,
        logger,
        order,
        cancel.payment,
        cancel.remote,
      );
      unpaid = false;
    }
  }
  const body = unpaid
    ? `Stock could not be held, so the order was cancelled and its payment voided. ${shortage}`
    : `Stock could not be held for this paid order: restock the items or refund the order. ${shortage}`;
  const [existing] = await transaction
    .select({ id: tables.orderNotes.id })
    .from(tables.orderNotes)
    .where(
      and(
        eq(tables.orderNotes.orderId, order.id),
        eq(tables.orderNotes.authorId, SYSTEM_NOTE_AUTHOR),
      ),
    )
    .limit(1);
  if (!existing) {
    await transaction.insert(tables.orderNotes).values({
      id: uuidv7(),
      orderId: order.id,
      authorId: SYSTEM_NOTE_AUTHOR,
      body,
    });
  }
  logger.warn(
    { orderId: order.id, cancelled: unpaid },
    'stock could not be held for an order',
  );
}

/**
 * Result of `cancelUnpaidOrder`. Either the order was cancelled, or one of
 * its payments was captured while it was being voided and nothing was
 * changed.
 */
export type CancelOutcome =
  | { cancelled: true }
  | { cancelled: false; payment: PaymentRow; remote: ProviderPayment };

/**
 * Cancels an order that took no money: cancels its open provider payments
 * (an authorization, or a PaymentIntent awaiting confirmation that the
 * storefront could still confirm with another card), marks them
 * `paymentStatus` and the order CANCELLED. The caller releases the
 * reservation with `force` after the change.
 *
 * When a void fails, the payment is read again. A capture (the customer
 * confirmed meanwhile) changes nothing here and is returned for the caller
 * to apply. A payment with nothing authorized lets the cancellation go on.
 * Any other state rethrows the error, so the caller retries later.
 */
export async function cancelUnpaidOrder(
  transaction: OrdersTransaction,
  dependencies: OrdersDependencies,
  logger: Logger,
  order: OrderRow,
  options: { reason: string; paymentStatus: 'VOIDED' | 'DECLINED' },
): Promise<CancelOutcome> {
  const status = transition(order.financialStatus, 'CANCELLED');
  const open = await transaction
    .select()
    .from(tables.payments)
    .where(
      and(
        eq(tables.payments.orderId, order.id),
        sql`${tables.payments.status} in ('PENDING', 'REQUIRES_ACTION', 'AUTHORIZED')`,
      ),
    )
    .for('update');
  for (const payment of open) {
    if (payment.providerPaymentId === null || payment.status === 'PENDING') {
      continue;
    }
    const captured = await voidOrReadCapture(dependencies, logger, payment);
    if (captured) return { cancelled: false, payment, remote: captured };
  }
  for (const payment of open) {
    await transaction
      .update(tables.payments)
      .set({ status: options.paymentStatus, updatedAt: new Date() })
      .where(eq(tables.payments.id, payment.id));
  }
  const now = new Date();
  await transaction
    .update(tables.orders)
    .set({
      financialStatus: status,
      cancelledAt: now,
      cancelReason: options.reason,
      updatedAt: now,
    })
    .where(eq(tables.orders.id, order.id));
  await appendEvents(transaction, [
    {
      type: 'order.cancelled',
      aggregateId: order.id,
      payload: {
        orderId: order.id,
        customerId: order.customerId,
        reason: options.reason,
      },
    },
  ]);
  return { cancelled: true };
}

/**
 * Voids one payment at the provider. Returns the payment when the void
 * failed because it is captured, and null when nothing is authorized on
 * the card.
 */
async function voidOrReadCapture(
  dependencies: OrdersDependencies,
  logger: Logger,
  payment: PaymentRow,
): Promise<ProviderPayment | null> {
  const providerPaymentId = payment.providerPaymentId!;
  try {
    await dependencies.payments.void(providerPaymentId, `void-${payment.id}`);
    return null;
  } catch (voidError) {
    const now = await dependencies.payments.status(providerPaymentId);
    if (now.status === 'captured') {
      logger.warn(
        { paymentId: payment.id, orderId: payment.orderId },
        'a payment was captured while its order was being cancelled',
      );
      return now;
    }
    // A payment declined or cancelled at the provider has nothing
    // authorized. A payment still processing cannot be cancelled, so a
    // later capture of it is refunded when the provider reports it
    // (payment-updates.ts).
    if (
      now.status === 'declined' ||
      now.status === 'canceled' ||
      now.status === 'processing'
    ) {
      logger.warn(
        { err: voidError, paymentId: payment.id, providerStatus: now.status },
        'voiding a payment of a cancelled order failed; nothing is held',
      );
      return null;
    }
    throw voidError;
  }
}
