/**
 * Settling refunds, whichever path learns the outcome first: the staff
 * mutation that called the provider (admin/refund.ts), a provider webhook
 * (checkout/payment-updates.ts) or the reconciliation pass. Each settles a
 * refund under the lock of its order and of the refund row, and only a
 * PENDING refund changes, so an outcome is applied once.
 */

import { and, eq, sql } from 'drizzle-orm';
import { isUuid, uuidv7 } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import { appendEvents } from '../../platform/outbox.js';
import { lockOrder } from './admin/common.js';
import { statusEvent } from './admin/payment-actions.js';
import * as tables from './db/tables.js';
import type { OrderRow, PaymentRow, RefundRow } from './db/tables.js';
import { canTransition } from './financial-status.js';
import { postRefund, type OrdersTransaction } from './ledger/posting.js';
import type { ProviderRefund } from './payments/provider.js';

/** The reason recorded on a refund made at the provider, outside the graph. */
export const REFUNDED_AT_PROVIDER = 'refunded at the provider';

/**
 * Moves a PENDING refund to SUCCEEDED or FAILED and returns whether it
 * did; a refund settled before is left alone.
 *
 * SUCCEEDED, in the caller's transaction: adds the amount to the
 * payment's refunded amount, moves the order to PARTIALLY_REFUNDED or
 * REFUNDED, posts the refund to the ledger and appends the order's status
 * event. FAILED releases the amount the refund held, so it can be
 * refunded again. `providerRefundId` is recorded when given.
 */
export async function settleRefund(
  transaction: OrdersTransaction,
  settlement: {
    orderId: string;
    refundId: string;
    outcome: 'succeeded' | 'failed';
    providerRefundId: string | null;
  },
): Promise<boolean> {
  // The order first, then the refund: the order every writer locks in.
  const order = await lockOrder(transaction, settlement.orderId);
  const [refund] = await transaction
    .select()
    .from(tables.refunds)
    .where(eq(tables.refunds.id, settlement.refundId))
    .for('update');
  if (!refund || refund.status !== 'PENDING') return false;
  const providerRefundId =
    settlement.providerRefundId ?? refund.providerRefundId;

  if (settlement.outcome === 'failed') {
    await transaction
      .update(tables.refunds)
      .set({ status: 'FAILED', providerRefundId, updatedAt: sql`now()` })
      .where(eq(tables.refunds.id, refund.id));
    return true;
  }

  const [payment] = await transaction
    .update(tables.payments)
    .set({
      refundedAmount: sql`${tables.payments.refundedAmount} + ${refund.amount}`,
      status: sql`case when ${tables.payments.refundedAmount} + ${refund.amount} = ${tables.payments.capturedAmount} then 'REFUNDED'::payment_status else 'PARTIALLY_REFUNDED'::payment_status end`,
      updatedAt: sql`now()`,
    })
    .where(eq(tables.payments.id, refund.paymentId))
    .returning();
  const [completed] = await transaction
    .update(tables.refunds)
    .set({ status: 'SUCCEEDED', providerRefundId, updatedAt: sql`now()` })
    .where(eq(tables.refunds.id, refund.id))
    .returning();

  const [remaining] = await transaction
    .select({
      amount: sql<string>`coalesce(sum(${tables.payments.capturedAmount} - ${tables.payments.refundedAmount}), 0)`,
    })
    .from(tables.payments)
    .where(eq(tables.payments.orderId, order.id));
  const target =
    Number(remaining!.amount) === 0 ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
  // A refund exists only for a PAID or PARTIALLY_REFUNDED order, which can
  // always make this move. The check keeps a webhook from failing forever
  // should the status have changed some other way.
  const to = canTransition(order.financialStatus, target)
    ? target
    : order.financialStatus;
  await transaction
    .update(tables.orders)
    .set({ financialStatus: to, updatedAt: sql`now()` })
    .where(eq(tables.orders.id, order.id));
  await postRefund(transaction, {
    order,
    payment: payment!,
    refund: completed!,
  });
  await appendEvents(transaction, [
    statusEvent(order, to, {
      refundId: refund.id,
      paymentId: refund.paymentId,
      amount: refund.amount,
      currencyCode: order.currencyCode,
    }),
  ]);
  return true;
}

/**
 * Applies the provider's refunds of `payment` (order and payment locked by
 * the caller) and returns whether anything changed.
 *
 * Each provider refund is matched to the shop's refund by provider refund
 * id, or by the reference the shop created it with (its refund id) while
 * the shop has not recorded the provider's id yet. A match still PENDING
 * is settled. A refund without a match was made at the provider, such as
 * in its dashboard. It is recorded under its own provider refund id with
 * the reason REFUNDED_AT_PROVIDER, so a replayed report finds it and
 * records nothing twice.
 */
export async function syncProviderRefunds(
  transaction: OrdersTransaction,
  logger: Logger,
  order: OrderRow,
  payment: PaymentRow,
  remotes: readonly ProviderRefund[],
): Promise<boolean> {
  let changed = false;
  for (const remote of remotes) {
    const local = await findLocalRefund(transaction, payment.id, remote);
    if (local) {
      if (local.status !== 'PENDING') continue;
      if (remote.status === 'pending') {
        if (local.providerRefundId === null) {
          await transaction
            .update(tables.refunds)
            .set({
              providerRefundId: remote.providerRefundId,
              updatedAt: sql`now()`,
            })
            .where(eq(tables.refunds.id, local.id));
          changed = true;
        }
        continue;
      }
      changed =
        (await settleRefund(transaction, {
          orderId: order.id,
          refundId: local.id,
          outcome: remote.status,
          providerRefundId: remote.providerRefundId,
        })) || changed;
      continue;
    }
    if (remote.status === 'failed') continue;
    if (
      await recordRefundAtProvider(
        transaction,
        logger,
        order,
        payment.id,
        remote,
      )
    ) {
      changed = true;
    }
  }
  return changed;
}

/** Finds and locks the shop's refund that matches a provider refund. */
async function findLocalRefund(
  transaction: OrdersTransaction,
  paymentId: string,
  remote: ProviderRefund,
): Promise<RefundRow | undefined> {
  const [byId] = await transaction
    .select()
    .from(tables.refunds)
    .where(
      and(
        eq(tables.refunds.paymentId, paymentId),
        eq(tables.refunds.providerRefundId, remote.providerRefundId),
      ),
    )
    .for('update');
  if (byId) return byId;
  const reference = remote.reference;
  if (!reference || !isUuid(reference)) return undefined;
  const [byReference] = await transaction
    .select()
    .from(tables.refunds)
    .where(
      and(
        eq(tables.refunds.id, reference),
        eq(tables.refunds.paymentId, paymentId),
      ),
    )
    .for('update');
  // A refund recorded with another provider refund id is a different one.
  if (
    byReference?.providerRefundId &&
    byReference.providerRefundId !== remote.providerRefundId
  ) {
    return undefined;
  }
  return byReference;
}

/**
 * Records a refund made at the provider: PENDING while the provider works
 * on it (holding its amount), settled at once when it succeeded.
 */
async function recordRefundAtProvider(
  transaction: OrdersTransaction,
  logger: Logger,
  order: OrderRow,
  paymentId: string,
  remote: ProviderRefund,
): Promise<boolean> {
  // Read again: a refund settled earlier in this transaction changed it.
  const [payment] = await transaction
    .select()
    .from(tables.payments)
    .where(eq(tables.payments.id, paymentId))
    .for('update');
  if (!payment) return false;
  const refundable = payment.capturedAmount - payment.refundedAmount;
  if (remote.amount > refundable) {
    // The provider refunds at most what it captured, so the shop's records
    // are behind, such as a capture not yet applied. A later report
    // records the refund.
    logger.warn(
      {
        orderId: order.id,
        paymentId: payment.id,
        providerRefundId: remote.providerRefundId,
        amount: remote.amount,
        refundable,
      },
      'a refund made at the provider exceeds what the shop can refund; not recorded',
    );
    return false;
  }
  const id = uuidv7();
  await transaction.insert(tables.refunds).values({
    id,
    paymentId: payment.id,
    orderId: order.id,
    amount: remote.amount,
    status: 'PENDING',
    reason: REFUNDED_AT_PROVIDER,
    providerRefundId: remote.providerRefundId,
  });
  if (remote.status === 'succeeded') {
    await settleRefund(transaction, {
      orderId: order.id,
      refundId: id,
      outcome: 'succeeded',
      providerRefundId: remote.providerRefundId,
    });
  }
  return true;
}
