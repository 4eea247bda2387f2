import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Config } from '../../../platform/config.js';
import type { Logger } from '../../../platform/logger.js';
import { appendEvents } from '../../../platform/outbox.js';
import * as tables from '../db/tables.js';
import type { OrderRow, PaymentRow } from '../db/tables.js';
import { ordersDependencies, type OrdersDatabase } from '../dependencies.js';
import {
  InvalidTransitionError,
  transition,
  type FinancialStatus,
} from '../financial-status.js';
import {
  postCapture,
  postManualReceipt,
  type OrdersTransaction,
} from '../ledger/posting.js';
import { PaymentProviderError } from '../payments/provider.js';
import {
  checkIdempotencyKey,
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

/** Builds the outbox event that records a financial status change. */
export function statusEvent(
  order: OrderRow,
  to: FinancialStatus,
  payload: Record<string, unknown> = {},
) {
  const types: Partial<Record<FinancialStatus, string>> = {
    PAID: 'order.paid',
    PARTIALLY_REFUNDED: 'order.partially_refunded',
    REFUNDED: 'order.refunded',
    CANCELLED: 'order.cancelled',
  };
  return {
    type: types[to] ?? 'order.financial_status_changed',
    aggregateId: order.id,
    payload: {
      orderId: order.id,
      // The gateway shows customers the events of their own orders by
      // this id, without asking the orders service.
      customerId: order.customerId,
      number: order.number,
      from: order.financialStatus,
      to,
      ...payload,
    },
  };
}

/**
 * The userError of a status change the state machine rejects, naming both
 * states. `hint` names what to do instead.
 */
export function transitionFailure(
  order: OrderRow,
  to: FinancialStatus,
  hint: string,
): OrderActionResult {
  const message = new InvalidTransitionError(order.financialStatus, to).message;
  return failure(
    ['input', 'orderId'],
    `Order #${order.number}: ${message} ${hint}`,
    'INVALID_TRANSITION',
  );
}

async function lockPayment(
  transaction: OrdersTransaction,
  paymentId: string,
): Promise<PaymentRow> {
  const [payment] = await transaction
    .select()
    .from(tables.payments)
    .where(eq(tables.payments.id, paymentId))
    .for('update');
  return payment!;
}

async function hasCardPayment(
  db: OrdersDatabase,
  orderId: string,
): Promise<boolean> {
  const [card] = await db
    .select({ id: tables.payments.id })
    .from(tables.payments)
    .where(
      and(
        eq(tables.payments.orderId, orderId),
        eq(tables.payments.method, 'CARD'),
      ),
    )
    .limit(1);
  return card !== undefined;
}

export interface CaptureInput {
  orderId: string;
  amount?: string | null;
  idempotencyKey: string;
}

/**
 * Captures an AUTHORIZED order's card payment at the provider, then, in
 * one transaction, records the captured amount and fee on the payment,
 * moves the order to PAID and posts the capture and the fee.
 */
export async function captureOrder(
  db: OrdersDatabase,
  config: Config,
  logger: Logger,
  input: CaptureInput,
): Promise<OrderActionResult> {
  const keyError = checkIdempotencyKey(input.idempotencyKey);
  if (keyError) return { orderId: null, userErrors: [keyError] };
  const order = await findOrder(db, input.orderId);
  if (!order) return orderNotFound(input.orderId);
  let requested: number | null = null;
  if (input.amount != null) {
    const parsed = parsePositiveAmount(
      ['input', 'amount'],
      input.amount,
      order.currencyCode,
    );
    if ('error' in parsed) return { orderId: null, userErrors: [parsed.error] };
    requested = parsed.minor;
  }

  return runOnce(
    db,
    {
      scope: `orderCapture:${order.id}`,
      key: input.idempotencyKey,
      request: { amount: requested },
    },
    async () => {
      const current = (await findOrder(db, order.id))!;
      // A PENDING order may become PAID, so the state machine's message
      // would list PAID among its next states; without a card payment the
      // reason is the payment method, which orderMarkPaid handles instead.
      if (
        current.financialStatus === 'PENDING' &&
        !(await hasCardPayment(db, current.id))
      ) {
        return failure(
          ['input', 'orderId'],
          `Order #${current.number} has no card payment. Bank transfer and cash on delivery payments are marked paid with orderMarkPaid.`,
          'INVALID_PAYMENT_METHOD',
        );
      }
      if (current.financialStatus !== 'AUTHORIZED') {
        return transitionFailure(
          current,
          'PAID',
          'Only an AUTHORIZED order can be captured.',
        );
      }
      const [payment] = await db
        .select()
        .from(tables.payments)
        .where(
          and(
            eq(tables.payments.orderId, order.id),
            eq(tables.payments.method, 'CARD'),
            eq(tables.payments.status, 'AUTHORIZED'),
          ),
        )
        .orderBy(desc(tables.payments.id))
        .limit(1);
      if (!payment?.providerPaymentId) {
        return failure(
          ['input', 'orderId'],
          `Order #${current.number} has no authorized card payment to capture.`,
          'NOT_FOUND',
        );
      }
      const amount = requested ?? payment.amount;
      if (amount > payment.amount) {
        return failure(
          ['input', 'amount'],
          `Capture amount ${formatAmount(amount, current.currencyCode)} exceeds the authorized ${formatAmount(payment.amount, current.currencyCode)}. Capture at most that, or omit amount to capture all of it.`,
          'CAPTURE_EXCEEDS_AUTHORIZED',
        );
      }

      const { payments: provider } = ordersDependencies(db, config);
      let captured;
      try {
        captured = await provider.capture(
          payment.providerPaymentId,
          amount,
          providerIdempotencyKey('capture', order.id, input.idempotencyKey),
        );
      } catch (error) {
        if (!(error instanceof PaymentProviderError)) throw error;
        logActionFailure(logger, 'orderCapture', order.id, error);
        return failure(
          ['input', 'orderId'],
          `The payment provider did not capture the payment: ${error.message}. ${error.retryable ? 'Retry with the same idempotencyKey.' : 'Check the payment at the provider.'}`,
          'PAYMENT_PROVIDER_ERROR',
        );
      }

      return db.transaction(async (transaction) => {
        const locked = await lockOrder(transaction, order.id);
        const lockedPayment = await lockPayment(transaction, payment.id);
        // A provider webhook may have recorded this capture meanwhile.
        if (locked.financialStatus === 'PAID') return success(order.id);
        if (locked.financialStatus !== 'AUTHORIZED') {
          return transitionFailure(
            locked,
            'PAID',
            'Only an AUTHORIZED order can be captured.',
          );
        }
        const to = transition(locked.financialStatus, 'PAID');
        const [updated] = await transaction
          .update(tables.payments)
          .set({
            status: 'CAPTURED',
            capturedAmount: captured.amountCaptured,
            feeAmount: captured.feeAmount ?? 0,
            updatedAt: sql`now()`,
          })
          .where(eq(tables.payments.id, lockedPayment.id))
          .returning();
        await transaction
          .update(tables.orders)
          .set({ financialStatus: to, updatedAt: sql`now()` })
          .where(eq(tables.orders.id, order.id));
        // A card payment is captured once (a partial capture releases the
        // rest of the authorization), so the provider's payment id
        // identifies the capture.
        await postCapture(transaction, {
          order: locked,
          payment: updated!,
          amount: captured.amountCaptured,
          feeAmount: captured.feeAmount ?? 0,
          reference: payment.providerPaymentId!,
        });
        await appendEvents(transaction, [
          statusEvent(locked, to, {
            paymentId: payment.id,
            amount: captured.amountCaptured,
            currencyCode: locked.currencyCode,
          }),
        ]);
        return success(order.id);
      });
    },
  );
}

export interface MarkPaidInput {
  orderId: string;
  idempotencyKey: string;
}

/**
 * Records a bank transfer that arrived or cash collected on delivery: the
 * PENDING manual payment becomes CAPTURED for its whole amount, the order
 * PAID, and the receipt is posted, all in one transaction.
 */
export async function markOrderPaid(
  db: OrdersDatabase,
  input: MarkPaidInput,
): Promise<OrderActionResult> {
  const keyError = checkIdempotencyKey(input.idempotencyKey);
  if (keyError) return { orderId: null, userErrors: [keyError] };
  const order = await findOrder(db, input.orderId);
  if (!order) return orderNotFound(input.orderId);

  return runOnce(
    db,
    {
      scope: `orderMarkPaid:${order.id}`,
      key: input.idempotencyKey,
      request: {},
    },
    () =>
      db.transaction(async (transaction) => {
        const locked = await lockOrder(transaction, order.id);
        const [payment] = await transaction
          .select()
          .from(tables.payments)
          .where(
            and(
              eq(tables.payments.orderId, order.id),
              inArray(tables.payments.method, [
                'BANK_TRANSFER',
                'CASH_ON_DELIVERY',
              ]),
            ),
          )
          .orderBy(desc(tables.payments.id))
          .limit(1)
          .for('update');
        if (!payment) {
          return failure(
            ['input', 'orderId'],
            `Order #${locked.number} has no bank transfer or cash on delivery payment. Card payments are captured with orderCapture.`,
            'INVALID_PAYMENT_METHOD',
          );
        }
        if (
          locked.financialStatus !== 'PENDING' ||
          payment.status !== 'PENDING'
        ) {
          return transitionFailure(
            locked,
            'PAID',
            `Only a PENDING order whose ${payment.method} payment is PENDING can be marked paid; its payment is ${payment.status}.`,
          );
        }
        const to = transition(locked.financialStatus, 'PAID');
        const [updated] = await transaction
          .update(tables.payments)
          .set({
            status: 'CAPTURED',
            capturedAmount: payment.amount,
            updatedAt: sql`now()`,
          })
          .where(eq(tables.payments.id, payment.id))
          .returning();
        await transaction
          .update(tables.orders)
          .set({ financialStatus: to, updatedAt: sql`now()` })
          .where(eq(tables.orders.id, order.id));
        // A manual payment is received once, for its whole amount.
        await postManualReceipt(transaction, {
          order: locked,
          payment: updated!,
          amount: payment.amount,
          reference: 'received',
        });
        await appendEvents(transaction, [
          statusEvent(locked, to, {
            paymentId: payment.id,
            method: payment.method,
            amount: payment.amount,
            currencyCode: locked.currencyCode,
          }),
        ]);
        return success(order.id);
      }),
  );
}
