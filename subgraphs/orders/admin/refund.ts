import { createHash } from 'node:crypto';
import { and, desc, eq, inArray, ne, sql } from 'drizzle-orm';
import type { Config } from '../../../platform/config.js';
import type { Logger } from '../../../platform/logger.js';
import * as tables from '../db/tables.js';
import type { OrderRow, PaymentRow, RefundRow } from '../db/tables.js';
import { ordersDependencies, type OrdersDatabase } from '../dependencies.js';
import type { OrdersTransaction } from '../ledger/posting.js';
import {
  PaymentProviderError,
  type ProviderRefund,
} from '../payments/provider.js';
import {
  checkIdempotencyKey,
  checkReason,
  failure,
  findOrder,
  formatAmount,
  lockOrder,
  logActionFailure,
  orderNotFound,
  parsePositiveAmount,
  providerIdempotencyKey,
  runOnce,
  success,
  type OrderActionResult,
} from './common.js';
import { settleRefund } from '../refund-settlement.js';
import { transitionFailure } from './payment-actions.js';

export interface RefundInput {
  orderId: string;
  amount: string;
  reason?: string | null;
  idempotencyKey: string;
}

/**
 * The id of the refund that (order, idempotency key) creates: a UUID in
 * the version 8 layout of RFC 9562 made from a SHA-256 digest. A retry
 * whose first attempt stopped part-way finds and finishes the same refund
 * instead of reserving the amount twice.
 */
export function refundIdFor(orderId: string, key: string): string {
  const bytes = createHash('sha256')
    .update(`orderRefund\n${orderId}\n${key}`)
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    hex.slice(12, 16),
    hex.slice(16, 20),
    hex.slice(20),
  ].join('-');
}

type Reservation =
  | { done: true; result: OrderActionResult }
  | { done: false; payment: PaymentRow; refund: RefundRow };

/**
 * Refunds part or all of an order's captured payment.
 *
 * Concurrent refunds never exceed the captured amount, because the amount
 * is reserved first. Under a lock on the order row, a PENDING refund row
 * is inserted only when the amount is at most the payment's captured
 * amount less its refunded amount and its PENDING refunds. Then the provider refunds the card (cash
 * and bank transfer payments are paid back by hand and only recorded),
 * and one transaction marks the refund SUCCEEDED, adds it to the payment's
 * refunded amount, moves the order to PARTIALLY_REFUNDED or REFUNDED,
 * posts the refund to the ledger and appends the outbox event
 * (`settleRefund`). A refund the provider answers `pending` stays PENDING
 * until its webhook or the reconciliation pass settles it the same way.
 */
export async function refundOrder(
  db: OrdersDatabase,
  config: Config,
  logger: Logger,
  input: RefundInput,
): Promise<OrderActionResult> {
  const inputError =
    checkIdempotencyKey(input.idempotencyKey) ?? checkReason(input.reason);
  if (inputError) return { orderId: null, userErrors: [inputError] };
  const order = await findOrder(db, input.orderId);
  if (!order) return orderNotFound(input.orderId);
  const parsed = parsePositiveAmount(
    ['input', 'amount'],
    input.amount,
    order.currencyCode,
  );
  if ('error' in parsed) return { orderId: null, userErrors: [parsed.error] };
  const amount = parsed.minor;
  const reason = input.reason ?? null;

  return runOnce(
    db,
    {
      scope: `orderRefund:${order.id}`,
      key: input.idempotencyKey,
      request: { amount, reason },
    },
    async () => {
      const refundId = refundIdFor(order.id, input.idempotencyKey);
      const reservation = await db.transaction((transaction) =>
        reserveRefund(transaction, order.id, refundId, amount, reason),
      );
      if (reservation.done) return reservation.result;
      const { payment, refund } = reservation;

      let providerRefund: ProviderRefund | null = null;
      if (payment.method === 'CARD') {
        const { payments: provider } = ordersDependencies(db, config);
        try {
          providerRefund = await provider.refund(
            payment.providerPaymentId!,
            amount,
            providerIdempotencyKey('refund', order.id, input.idempotencyKey),
            refund.id,
          );
        } catch (error) {
          if (!(error instanceof PaymentProviderError)) throw error;
          logActionFailure(logger, 'orderRefund', order.id, error);
          // A retryable error leaves it unknown whether the provider
          // refunded, so the refund stays PENDING and keeps its amount
          // reserved until a retry with the same key finds out.
          if (!error.retryable) {
            await settle(db, order.id, refund.id, 'failed', null);
          }
          return failure(
            ['input', 'amount'],
            `The payment provider did not refund ${formatAmount(amount, order.currencyCode)}: ${error.message}. ${error.retryable ? 'Retry with the same idempotencyKey.' : 'Check the payment at the provider.'}`,
            'PAYMENT_PROVIDER_ERROR',
          );
        }
        if (providerRefund.status === 'failed') {
          await settle(
            db,
            order.id,
            refund.id,
            'failed',
            providerRefund.providerRefundId,
          );
          return failure(
            ['input', 'amount'],
            `The payment provider rejected the refund of ${formatAmount(amount, order.currencyCode)}. Check the payment at the provider.`,
            'PAYMENT_PROVIDER_ERROR',
          );
        }
        if (providerRefund.status === 'pending') {
          // The refund stays PENDING, holding its amount, until the
          // provider's refund webhook or the reconciliation pass settles
          // it (refund-settlement.ts); either may have done so already.
          await db
            .update(tables.refunds)
            .set({
              providerRefundId: providerRefund.providerRefundId,
              updatedAt: sql`now()`,
            })
            .where(
              and(
                eq(tables.refunds.id, refund.id),
                eq(tables.refunds.status, 'PENDING'),
              ),
            );
          return success(order.id, refund.id);
        }
      }

      await settle(
        db,
        order.id,
        refund.id,
        'succeeded',
        providerRefund?.providerRefundId ?? null,
      );
      return success(order.id, refund.id);
    },
  );
}

/**
 * Inserts the PENDING refund when the amount fits, or returns the result
 * that ends the request: a refund already completed, or a userError.
 */
async function reserveRefund(
  transaction: OrdersTransaction,
  orderId: string,
  refundId: string,
  amount: number,
  reason: string | null,
): Promise<Reservation> {
  const order = await lockOrder(transaction, orderId);
  const [existing] = await transaction
    .select()
    .from(tables.refunds)
    .where(eq(tables.refunds.id, refundId));
  if (existing?.status === 'SUCCEEDED') {
    return { done: true, result: success(orderId, refundId) };
  }
  if (
    order.financialStatus !== 'PAID' &&
    order.financialStatus !== 'PARTIALLY_REFUNDED'
  ) {
    return {
      done: true,
      result: transitionFailure(
        order,
        'PARTIALLY_REFUNDED',
        order.financialStatus === 'REFUNDED'
          ? 'It is refunded in full already.'
          : 'Only a PAID or PARTIALLY_REFUNDED order can be refunded; an unpaid order is cancelled with orderCancel.',
      ),
    };
  }
  const [payment] = await transaction
    .select()
    .from(tables.payments)
    .where(
      and(
        eq(tables.payments.orderId, orderId),
        inArray(tables.payments.status, ['CAPTURED', 'PARTIALLY_REFUNDED']),
      ),
    )
    .orderBy(desc(tables.payments.id))
    .limit(1)
    .for('update');
  if (!payment) {
    return {
      done: true,
      result: failure(
        ['input', 'orderId'],
        `Order #${order.number} has no captured payment to refund.`,
        'NOT_FOUND',
      ),
    };
  }
  if (existing?.status === 'PENDING') {
    return { done: false, payment, refund: existing };
  }

  const [pending] = await transaction
    .select({
      amount: sql<string>`coalesce(sum(${tables.refunds.amount}), 0)`,
    })
    .from(tables.refunds)
    .where(
      and(
        eq(tables.refunds.paymentId, payment.id),
        eq(tables.refunds.status, 'PENDING'),
        ne(tables.refunds.id, refundId),
      ),
    );
  const pendingAmount = Number(pending!.amount);
  const refundable =
    payment.capturedAmount - payment.refundedAmount - pendingAmount;
  if (amount > refundable) {
    return {
      done: true,
      result: refundExceedsCaptured(order, payment, amount, pendingAmount),
    };
  }

  const values = {
    paymentId: payment.id,
    orderId,
    amount,
    status: 'PENDING' as const,
    reason,
    providerRefundId: null,
    updatedAt: sql`now()`,
  };
  const [refund] = existing
    ? await transaction
        .update(tables.refunds)
        .set(values)
        .where(eq(tables.refunds.id, refundId))
        .returning()
    : await transaction
        .insert(tables.refunds)
        .values({ id: refundId, ...values })
        .returning();
  return { done: false, payment, refund: refund! };
}

function refundExceedsCaptured(
  order: OrderRow,
  payment: PaymentRow,
  amount: number,
  pendingAmount: number,
): OrderActionResult {
  const money = (minor: number) => formatAmount(minor, order.currencyCode);
  const refundable = Math.max(
    0,
    payment.capturedAmount - payment.refundedAmount - pendingAmount,
  );
  const inProgress =
    pendingAmount > 0 ? `, ${money(pendingAmount)} in refunds in progress` : '';
  return failure(
    ['input', 'amount'],
    `Refund amount ${money(amount)} exceeds the ${money(refundable)} that can still be refunded of order #${order.number} (${money(payment.capturedAmount)} captured, ${money(payment.refundedAmount)} refunded${inProgress}). Refund at most ${money(refundable)}.`,
    'REFUND_EXCEEDS_CAPTURED',
  );
}

/**
 * Settles the refund in one transaction. A webhook or reconciliation pass
 * that settled it first wins, and this changes nothing.
 */
async function settle(
  db: OrdersDatabase,
  orderId: string,
  refundId: string,
  outcome: 'succeeded' | 'failed',
  providerRefundId: string | null,
): Promise<void> {
  await db.transaction((transaction) =>
    settleRefund(transaction, { orderId, refundId, outcome, providerRefundId }),
  );
}
