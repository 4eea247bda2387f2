import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Config } from '../../../platform/config.js';
import type { Logger } from '../../../platform/logger.js';
import { appendEvents } from '../../../platform/outbox.js';
import * as tables from '../db/tables.js';
import type { OrderRow } from '../db/tables.js';
import { ordersDependencies, type OrdersDatabase } from '../dependencies.js';
import { transition } from '../financial-status.js';
import { PaymentProviderError } from '../payments/provider.js';
import { ReservationStateError } from '../stock/stock-client.js';
import {
  checkReason,
  failure,
  findOrder,
  lockOrder,
  logActionFailure,
  orderNotFound,
  providerIdempotencyKey,
  success,
  type OrderActionResult,
} from './common.js';
import { statusEvent, transitionFailure } from './payment-actions.js';

export interface CancelInput {
  orderId: string;
  reason?: string | null;
}

const CANCELLABLE = new Set<OrderRow['financialStatus']>([
  'PENDING',
  'AUTHORIZED',
]);

function notCancellable(order: OrderRow): OrderActionResult {
  const hint =
    order.financialStatus === 'REFUNDED'
      ? 'It is refunded in full already.'
      : 'A paid order is not cancelled: refund it with orderRefund instead.';
  return transitionFailure(order, 'CANCELLED', hint);
}

/**
 * Cancels a PENDING or AUTHORIZED order: voids its card authorization at
 * the provider, releases its stock reservation, then marks the order
 * CANCELLED and its open payments VOIDED with an `order.cancelled` event.
 *
 * Everything happens while the order row is locked and after its status
 * was checked under that lock, so a concurrent orderMarkPaid or payment
 * webhook either runs first (and the order is no longer cancellable, with
 * its stock untouched) or waits and then finds it cancelled.
 *
 * Cancelling a CANCELLED order again returns it unchanged, without a
 * userError and without a second event, so a retry after a timeout is
 * safe. The provider and stock calls are idempotent, so when one fails
 * part-way the order stays as it was and repeating orderCancel finishes
 * the cancellation.
 */
export async function cancelOrder(
  db: OrdersDatabase,
  config: Config,
  logger: Logger,
  input: CancelInput,
): Promise<OrderActionResult> {
  const reasonError = checkReason(input.reason);
  if (reasonError) return { orderId: null, userErrors: [reasonError] };
  const order = await findOrder(db, input.orderId);
  if (!order) return orderNotFound(input.orderId);
  if (order.financialStatus === 'CANCELLED') return success(order.id);
  if (!CANCELLABLE.has(order.financialStatus)) return notCancellable(order);

  const { payments: provider, stock } = ordersDependencies(db, config);
  return db.transaction(async (transaction) => {
    const locked = await lockOrder(transaction, order.id);
    if (locked.financialStatus === 'CANCELLED') return success(order.id);
    if (!CANCELLABLE.has(locked.financialStatus)) return notCancellable(locked);

    const openCardPayments = await transaction
      .select()
      .from(tables.payments)
      .where(
        and(
          eq(tables.payments.orderId, order.id),
          eq(tables.payments.method, 'CARD'),
          inArray(tables.payments.status, ['AUTHORIZED', 'REQUIRES_ACTION']),
        ),
      );
    for (const payment of openCardPayments) {
      if (!payment.providerPaymentId) continue;
      try {
        await provider.void(
          payment.providerPaymentId,
          providerIdempotencyKey('void', order.id, payment.id),
        );
      } catch (error) {
        if (!(error instanceof PaymentProviderError)) throw error;
        logActionFailure(logger, 'orderCancel void', order.id, error);
        return failure(
          ['input', 'orderId'],
          `The payment provider did not void the authorization of order #${locked.number}: ${error.message}. ${error.retryable ? 'Retry orderCancel.' : 'Check the payment at the provider; a captured payment is refunded with orderRefund.'}`,
          'PAYMENT_PROVIDER_ERROR',
        );
      }
    }

    try {
      // The order is being cancelled, so its reservation is released even
      // when it was confirmed.
      await stock.release(order.id, { force: true });
    } catch (error) {
      if (!(error instanceof ReservationStateError)) throw error;
      logActionFailure(logger, 'orderCancel release', order.id, error);
      return failure(
        ['input', 'orderId'],
        `The stock of order #${locked.number} cannot be released: ${error.message}. Its items were already taken from stock for fulfilment, so the order cannot be cancelled.`,
        error.code,
      );
    }

    const to = transition(locked.financialStatus, 'CANCELLED');
    const reason = input.reason ?? null;
    await transaction
      .update(tables.orders)
      .set({
        financialStatus: to,
        cancelledAt: sql`now()`,
        cancelReason: reason,
        updatedAt: sql`now()`,
      })
      .where(eq(tables.orders.id, order.id));
    await transaction
      .update(tables.payments)
      .set({ status: 'VOIDED', updatedAt: sql`now()` })
      .where(
        and(
          eq(tables.payments.orderId, order.id),
          inArray(tables.payments.status, [
            'PENDING',
            'AUTHORIZED',
            'REQUIRES_ACTION',
          ]),
        ),
      );
    await appendEvents(transaction, [statusEvent(locked, to, { reason })]);
    return success(order.id);
  });
}
