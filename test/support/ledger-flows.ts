import { eq, sql } from 'drizzle-orm';
import type { Database } from '../../platform/database.js';
import { uuidv7 } from '../../platform/ids.js';
import * as tables from '../../subgraphs/orders/db/tables.js';
import type {
  OrderRow,
  PaymentRow,
  RefundRow,
} from '../../subgraphs/orders/db/tables.js';
import {
  postCapture,
  postManualReceipt,
  postRefund,
} from '../../subgraphs/orders/ledger/posting.js';

// Test versions of the order flows' money movements: each changes the
// order and payment rows and posts to the ledger in one transaction, with
// the payment row locked, as the checkout and order admin flows do.

type OrdersDatabase = Database<typeof tables>;
type PaymentMethod = PaymentRow['method'];

export interface OrderAmounts {
  subtotal: number;
  discount?: number;
  shipping?: number;
  tax?: number;
  currencyCode?: string;
}

/** Inserts an order and its payment, authorized for cards and pending otherwise. */
export async function createOrderWithPayment(
  db: OrdersDatabase,
  amounts: OrderAmounts,
  method: PaymentMethod = 'CARD',
  provider = method === 'CARD' ? 'sandbox' : 'manual',
): Promise<{ order: OrderRow; payment: PaymentRow }> {
  const discount = amounts.discount ?? 0;
  const shipping = amounts.shipping ?? 0;
  const tax = amounts.tax ?? 0;
  const total = amounts.subtotal - discount + shipping + tax;
  const currencyCode = amounts.currencyCode ?? 'USD';
  return db.transaction(async (transaction) => {
    const [order] = await transaction
      .insert(tables.orders)
      .values({
        id: uuidv7(),
        email: 'ledger@example.com',
        financialStatus: method === 'CARD' ? 'AUTHORIZED' : 'PENDING',
        currencyCode,
        subtotalAmount: amounts.subtotal,
        discountAmount: discount,
        shippingAmount: shipping,
        taxAmount: tax,
        totalAmount: total,
      })
      .returning();
    const [payment] = await transaction
      .insert(tables.payments)
      .values({
        id: uuidv7(),
        orderId: order!.id,
        method,
        provider,
        providerPaymentId: method === 'CARD' ? `pi_${uuidv7()}` : null,
        status: method === 'CARD' ? 'AUTHORIZED' : 'PENDING',
        currencyCode,
        amount: total,
      })
      .returning();
    return { order: order!, payment: payment! };
  });
}

async function lockPayment(
  transaction: Parameters<Parameters<OrdersDatabase['transaction']>[0]>[0],
  paymentId: string,
): Promise<PaymentRow> {
  const [payment] = await transaction
    .select()
    .from(tables.payments)
    .where(eq(tables.payments.id, paymentId))
    .for('update');
  return payment!;
}

/**
 * Captures the whole payment: a card capture with `feeAmount`, or cash or
 * a bank transfer received. `reference` names the capture, so calling it
 * again with the same reference repeats a report of the same capture.
 */
export async function captureInFull(
  db: OrdersDatabase,
  order: OrderRow,
  paymentId: string,
  options: { feeAmount?: number; reference?: string; occurredAt?: Date } = {},
): Promise<void> {
  await db.transaction(async (transaction) => {
    const payment = await lockPayment(transaction, paymentId);
    const feeAmount = options.feeAmount ?? 0;
    const reference = options.reference ?? 'capture-1';
    await transaction
      .update(tables.payments)
      .set({
        capturedAmount: payment.amount,
        feeAmount: payment.method === 'CARD' ? feeAmount : 0,
        status: 'CAPTURED',
        updatedAt: sql`now()`,
      })
      .where(eq(tables.payments.id, paymentId));
    await transaction
      .update(tables.orders)
      .set({ financialStatus: 'PAID', updatedAt: sql`now()` })
      .where(eq(tables.orders.id, order.id));
    if (payment.method === 'CARD') {
      await postCapture(transaction, {
        order,
        payment,
        amount: payment.amount,
        feeAmount,
        reference,
        occurredAt: options.occurredAt,
      });
    } else {
      await postManualReceipt(transaction, {
        order,
        payment,
        amount: payment.amount,
        reference,
        occurredAt: options.occurredAt,
      });
    }
  });
}

/** Refunds `amount` of the payment, successfully, and posts the refund. */
export async function refundPayment(
  db: OrdersDatabase,
  order: OrderRow,
  paymentId: string,
  amount: number,
  options: { occurredAt?: Date; reason?: string } = {},
): Promise<RefundRow> {
  return db.transaction(async (transaction) => {
    const payment = await lockPayment(transaction, paymentId);
    const refunded = payment.refundedAmount + amount;
    const [refund] = await transaction
      .insert(tables.refunds)
      .values({
        id: uuidv7(),
        paymentId,
        orderId: order.id,
        amount,
        status: 'SUCCEEDED',
        reason: options.reason ?? null,
      })
      .returning();
    const full = refunded === payment.capturedAmount;
    await transaction
      .update(tables.payments)
      .set({
        refundedAmount: refunded,
        status: full ? 'REFUNDED' : 'PARTIALLY_REFUNDED',
        updatedAt: sql`now()`,
      })
      .where(eq(tables.payments.id, paymentId));
    await transaction
      .update(tables.orders)
      .set({
        financialStatus: full ? 'REFUNDED' : 'PARTIALLY_REFUNDED',
        updatedAt: sql`now()`,
      })
      .where(eq(tables.orders.id, order.id));
    await postRefund(transaction, {
      order,
      payment,
      refund: refund!,
      occurredAt: options.occurredAt,
    });
    return refund!;
  });
}

/** Cancels an order that was not paid: voids the payment; nothing is posted. */
export async function cancelUnpaid(
  db: OrdersDatabase,
  order: OrderRow,
  paymentId: string,
): Promise<void> {
  await db.transaction(async (transaction) => {
    await lockPayment(transaction, paymentId);
    await transaction
      .update(tables.payments)
      .set({ status: 'VOIDED', updatedAt: sql`now()` })
      .where(eq(tables.payments.id, paymentId));
    await transaction
      .update(tables.orders)
      .set({
        financialStatus: 'CANCELLED',
        cancelledAt: sql`now()`,
        cancelReason: 'customer',
        updatedAt: sql`now()`,
      })
      .where(eq(tables.orders.id, order.id));
  });
}
