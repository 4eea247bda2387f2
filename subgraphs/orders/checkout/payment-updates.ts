import { and, eq } from 'drizzle-orm';
import type { Logger } from '../../../platform/logger.js';
import { appendEvents, type DomainEvent } from '../../../platform/outbox.js';
import { statusEvent } from '../admin/payment-actions.js';
import * as tables from '../db/tables.js';
import type { OrderRow, PaymentRow } from '../db/tables.js';
import type { OrdersDatabase, OrdersDependencies } from '../dependencies.js';
import { canTransition, transition } from '../financial-status.js';
import { postCapture, type OrdersTransaction } from '../ledger/posting.js';
import {
  PaymentProviderError,
  type ProviderPayment,
  type ProviderRefund,
} from '../payments/index.js';
import { syncProviderRefunds } from '../refund-settlement.js';
import { uuidv7 } from '../../../platform/ids.js';
import {
  cancelUnpaidOrder,
  holdOrderStock,
  SYSTEM_NOTE_AUTHOR,
} from './order-stock.js';

/** Stock action to run on the order once the payment change has committed. */
export type StockFollowUp = 'hold' | 'release' | null;

export type PaymentUpdateOutcome =
  /** The change was written. */
  | 'applied'
  /** The event was applied before, so nothing changed. */
  | 'duplicate'
  /** No payment of this shop has the provider's id. */
  | 'unknown'
  /** The payment was already in that state. */
  | 'unchanged';

/**
 * Applies the state a provider reports for one of the shop's payments. The
 * state may be an asynchronous confirmation that succeeded or failed, a
 * capture, the outcome of a pending refund, or a refund made at the
 * provider. When `event` is given, the event is recorded in the same
 * transaction, so a replayed event changes nothing.
 */
export async function applyProviderPayment(
  db: OrdersDatabase,
  dependencies: OrdersDependencies,
  logger: Logger,
  update: {
    providerPaymentId: string;
    /** Payment state after the event, fetched from the provider when null. */
    payment: ProviderPayment | null;
    /** Refund state after the event, for an event about one refund. */
    refund?: ProviderRefund | null;
    event?: { id: string; type: string };
  },
): Promise<PaymentUpdateOutcome> {
  const provider = dependencies.payments.name;
  const result = await db.transaction(async (transaction) => {
    const [found] = await transaction
      .select({ id: tables.payments.id, orderId: tables.payments.orderId })
      .from(tables.payments)
      .where(
        and(
          eq(tables.payments.provider, provider),
          eq(tables.payments.providerPaymentId, update.providerPaymentId),
        ),
      );

    // An event about a payment not (yet) recorded is not marked applied,
    // so a redelivery after the order commits still applies it.
    if (!found) {
      return { outcome: 'unknown' as const, followUp: null, orderId: null };
    }

    if (update.event) {
      const recorded = await transaction
        .insert(tables.providerWebhookEvents)
        .values({
          provider,
          eventId: update.event.id,
          type: update.event.type,
        })
        .onConflictDoNothing()
        .returning({ eventId: tables.providerWebhookEvents.eventId });
      if (recorded.length === 0) {
        return { outcome: 'duplicate' as const, followUp: null, orderId: null };
      }
    }

    // Every writer locks the order first and then its payment, so this
    // order of locks avoids deadlocks.
    const [order] = await transaction
      .select()
      .from(tables.orders)
      .where(eq(tables.orders.id, found.orderId))
      .for('update');
    const [payment] = await transaction
      .select()
      .from(tables.payments)
      .where(eq(tables.payments.id, found.id))
      .for('update');

    if (update.refund) {
      const changed = await syncProviderRefunds(
        transaction,
        logger,
        order!,
        payment!,
        [update.refund],
      );
      return {
        outcome: changed ? ('applied' as const) : ('unchanged' as const),
        followUp: null,
        orderId: null,
      };
    }

    const remote =
      update.payment ??
      (await dependencies.payments.status(update.providerPaymentId));
    const followUp = await applyPaymentState(
      transaction,
      dependencies,
      logger,
      order!,
      payment!,
      remote,
    );
    return {
      outcome: followUp.changed ? ('applied' as const) : ('unchanged' as const),
      followUp: followUp.stock,
      orderId: order!.id,
    };
  });

  if (result.orderId) {
    await followUpStock(
      db,
      dependencies,
      logger,
      result.orderId,
      result.followUp,
    );
  }
  return result.outcome;
}

/** Holds or releases an order's stock after a committed payment change. */
export async function followUpStock(
  db: OrdersDatabase,
  dependencies: OrdersDependencies,
  logger: Logger,
  orderId: string,
  followUp: StockFollowUp,
): Promise<void> {
  try {
    if (followUp === 'hold') {
      await holdOrderStock(db, dependencies, logger, orderId);
    } else if (followUp === 'release') {
      // Only a cancelled order requests a release, so its reservation is
      // released even when it was confirmed.
      await dependencies.stock.release(orderId, { force: true });
    }
  } catch (error) {
    // The error is not rethrown because the reconciliation pass finds the
    // order again and retries.
    logger.warn(
      { err: error, orderId, followUp },
      'changing the stock of an order after a payment update failed',
    );
  }
}

/**
 * Moves `payment` and `order` (both locked) to the provider's state.
 * Captures post to the ledger. A failed confirmation cancels the order and
 * cancels the payment at the provider. Money that the provider reports
 * captured or held for a payment the shop declined or voided, or for a
 * cancelled order, is refunded or voided (`returnMoney`).
 * When the provider reports more refunded than the shop recorded, its
 * refunds are read and applied by provider refund id
 * (`syncProviderRefunds`): pending refunds of the shop that finished are
 * settled, and refunds made at the provider are recorded once.
 */
export async function applyPaymentState(
  transaction: OrdersTransaction,
  dependencies: OrdersDependencies,
  logger: Logger,
  order: OrderRow,
  payment: PaymentRow,
  remote: ProviderPayment,
): Promise<{ changed: boolean; stock: StockFollowUp }> {
  const open =
    payment.status === 'REQUIRES_ACTION' || payment.status === 'AUTHORIZED';
  const closed =
    payment.status === 'DECLINED' ||
    payment.status === 'VOIDED' ||
    (order.financialStatus === 'CANCELLED' && payment.status !== 'CAPTURED');
  if (
    closed &&
    (remote.status === 'captured' || remote.status === 'authorized')
  ) {
    const returned = await returnMoney(
      transaction,
      dependencies,
      logger,
      order,
      payment,
      remote,
    );
    return { changed: returned, stock: null };
  }
  const events: DomainEvent[] = [];
  let changed = false;
  let stock: StockFollowUp = null;
  const now = new Date();

  if (remote.status === 'authorized' && payment.status === 'REQUIRES_ACTION') {
    await setPayment(transaction, payment, { status: 'AUTHORIZED' });
    const authorized = await setOrderStatus(transaction, order, 'AUTHORIZED');
    events.push(paymentEvent('payment.authorized', order, payment));
    if (authorized !== order) {
      events.push(statusEvent(order, 'AUTHORIZED', { paymentId: payment.id }));
      order = authorized;
    }
    changed = true;
    stock = 'hold';
  }

  if (remote.status === 'captured' && open) {
    const amount = remote.amountCaptured - payment.capturedAmount;
    const feeAmount = remote.feeAmount ?? 0;
    const [captured] = await transaction
      .update(tables.payments)
      .set({
        status: 'CAPTURED',
        capturedAmount: remote.amountCaptured,
        feeAmount,
        updatedAt: now,
      })
      .where(eq(tables.payments.id, payment.id))
      .returning();
    const paid = await setOrderStatus(transaction, order, 'PAID');
    // The order's own event, beside the payment's: subscribers to order
    // status changes learn that a confirmed payment paid the order.
    const paidEvent =
      paid !== order
        ? statusEvent(order, 'PAID', {
            paymentId: payment.id,
            amount: remote.amountCaptured,
            currencyCode: order.currencyCode,
          })
        : null;
    if (amount > 0) {
      await postCapture(transaction, {
        order: paid,
        payment: captured!,
        amount,
        feeAmount,
        reference: remote.providerPaymentId,
      });
    }
    events.push(paymentEvent('payment.captured', order, captured!));
    if (paidEvent) events.push(paidEvent);
    order = paid;
    payment = captured!;
    changed = true;
    stock = 'hold';
  }

  if (
    (remote.status === 'declined' || remote.status === 'canceled') &&
    (open || payment.status === 'PENDING') &&
    canTransition(order.financialStatus, 'CANCELLED')
  ) {
    await transaction
      .update(tables.payments)
      .set({
        declineCode: remote.declineCode,
        declineMessage: remote.declineMessage,
        updatedAt: now,
      })
      .where(eq(tables.payments.id, payment.id));
    const cancel = await cancelUnpaidOrder(
      transaction,
      dependencies,
      logger,
      order,
      {
        reason:
          remote.status === 'declined'
            ? `Payment declined: ${remote.declineMessage ?? remote.declineCode ?? 'no reason given'}`
            : 'Payment cancelled at the provider.',
        paymentStatus: remote.status === 'declined' ? 'DECLINED' : 'VOIDED',
      },
    );
    if (!cancel.cancelled) {
      // The customer confirmed again (such as with another card) before the
      // failed PaymentIntent could be cancelled, so the capture counts.
      return applyPaymentState(
        transaction,
        dependencies,
        logger,
        order,
        cancel.payment,
        cancel.remote,
      );
    }
    events.push(paymentEvent('payment.declined', order, payment));
    changed = true;
    stock = 'release';
  }

  const refunded = remote.amountRefunded ?? 0;
  if (refunded > payment.refundedAmount && payment.capturedAmount > 0) {
    const refunds = await dependencies.payments.refunds(
      remote.providerPaymentId,
    );
    if (
      await syncProviderRefunds(transaction, logger, order, payment, refunds)
    ) {
      changed = true;
    }
  }

  await appendEvents(transaction, events);
  return { changed, stock };
}

/**
 * Returns to the customer money that the provider captured or authorized
 * for a payment the shop no longer counts. Refunds the captured amount not
 * yet refunded, or voids an authorization. The idempotency keys are
 * derived from the payment, so a repeated event never returns money twice.
 * Reads the payment at the provider first, because an event may be older
 * than a refund already made. Records an order note and a
 * `payment.returned` event, and returns true when money was returned.
 */
async function returnMoney(
  transaction: OrdersTransaction,
  dependencies: OrdersDependencies,
  logger: Logger,
  order: OrderRow,
  payment: PaymentRow,
  reported: ProviderPayment,
): Promise<boolean> {
  const { payments } = dependencies;
  const remote = await payments.status(reported.providerPaymentId);
  let action: 'REFUNDED' | 'VOIDED';
  let amount: number;
  if (remote.status === 'captured') {
    amount = remote.amountCaptured - (remote.amountRefunded ?? 0);
    if (amount <= 0) return false;
    const refund = await payments.refund(
      remote.providerPaymentId,
      amount,
      `return-${payment.id}`,
    );
    if (refund.status === 'failed') {
      throw new PaymentProviderError(
        `The refund ${refund.providerRefundId} of payment ${remote.providerPaymentId} failed at the provider`,
        false,
      );
    }
    action = 'REFUNDED';
  } else if (remote.status === 'authorized') {
    await payments.void(remote.providerPaymentId, `return-void-${payment.id}`);
    amount = remote.amount;
    action = 'VOIDED';
  } else {
    return false;
  }
  const money = `${amount} ${remote.currencyCode} (minor units)`;
  await transaction.insert(tables.orderNotes).values({
    id: uuidv7(),
    orderId: order.id,
    authorId: SYSTEM_NOTE_AUTHOR,
    body:
      action === 'REFUNDED'
        ? `The payment provider captured ${money} for payment ${remote.providerPaymentId} after the shop had ${order.financialStatus === 'CANCELLED' ? 'cancelled the order' : 'closed the payment'}; it was refunded in full.`
        : `The payment provider held ${money} for payment ${remote.providerPaymentId} after the shop had ${order.financialStatus === 'CANCELLED' ? 'cancelled the order' : 'closed the payment'}; the hold was voided.`,
  });
  await appendEvents(transaction, [
    {
      type: 'payment.returned',
      aggregateId: order.id,
      payload: {
        orderId: order.id,
        paymentId: payment.id,
        provider: payment.provider,
        providerPaymentId: remote.providerPaymentId,
        action,
        amount,
        currencyCode: remote.currencyCode,
        reason: 'Money taken for a closed payment or a cancelled order.',
      },
    },
  ]);
  logger.warn(
    { orderId: order.id, paymentId: payment.id, action },
    'gave back money taken for a closed payment',
  );
  return true;
}

async function setPayment(
  transaction: OrdersTransaction,
  payment: PaymentRow,
  values: Partial<PaymentRow>,
): Promise<void> {
  await transaction
    .update(tables.payments)
    .set({ ...values, updatedAt: new Date() })
    .where(eq(tables.payments.id, payment.id));
}

/** Moves the order through the state machine and returns the new row. */
async function setOrderStatus(
  transaction: OrdersTransaction,
  order: OrderRow,
  to: OrderRow['financialStatus'],
): Promise<OrderRow> {
  if (order.financialStatus === to) return order;
  const [updated] = await transaction
    .update(tables.orders)
    .set({
      financialStatus: transition(order.financialStatus, to),
      updatedAt: new Date(),
    })
    .where(eq(tables.orders.id, order.id))
    .returning();
  return updated!;
}

function paymentEvent(
  type: string,
  order: OrderRow,
  payment: PaymentRow,
): DomainEvent {
  return {
    type,
    aggregateId: order.id,
    payload: {
      orderId: order.id,
      paymentId: payment.id,
      provider: payment.provider,
      amount: payment.amount,
      currencyCode: payment.currencyCode,
    },
  };
}
