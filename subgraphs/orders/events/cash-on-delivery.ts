import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { StreamEvent } from '../../../platform/event-consumer.js';
import { isUuid } from '../../../platform/ids.js';
import type { Logger } from '../../../platform/logger.js';
import { appendEvents } from '../../../platform/outbox.js';
import { statusEvent } from '../admin/payment-actions.js';
import * as tables from '../db/tables.js';
import { canTransition, transition } from '../financial-status.js';
import {
  postManualReceipt,
  type OrdersTransaction,
} from '../ledger/posting.js';

/** The shipments event that means the parcel reached the customer. */
export const SHIPMENT_DELIVERED = 'shipment.delivered';

/** Fields of a `shipment.delivered` payload this consumer reads. */
interface ShipmentDeliveredPayload {
  orderId: string;
  shipmentId: string | null;
  /** Time of the delivery as the carrier reported it; null when absent. */
  deliveredAt: Date | null;
}

function deliveredPayload(event: StreamEvent): ShipmentDeliveredPayload | null {
  const payload = event.payload as Record<string, unknown> | null;
  const orderId = payload?.orderId;
  if (typeof orderId !== 'string' || !isUuid(orderId)) return null;
  const shipmentId = payload?.shipmentId;
  const occurredAt =
    typeof payload?.occurredAt === 'string'
      ? new Date(payload.occurredAt)
      : null;
  return {
    orderId,
    shipmentId: typeof shipmentId === 'string' ? shipmentId : null,
    deliveredAt:
      occurredAt && !Number.isNaN(occurredAt.getTime()) ? occurredAt : null,
  };
}

/**
 * Records cash collected on delivery: for each `shipment.delivered` event,
 * the order's PENDING cash on delivery payment becomes CAPTURED for its
 * whole amount, the order PAID, and the receipt is posted with the
 * reference `received`.
 *
 * Staff's orderMarkPaid uses the same payment and reference, so the
 * ledger's unique source key posts the receipt once, whichever comes
 * first. The other finds the payment no longer PENDING and changes
 * nothing. A second delivery of the same order (another shipment, or the
 * same event delivered again) changes nothing either. Orders without such
 * a payment, and events without a valid order id, are skipped: waiting
 * would not make them applicable.
 */
export async function collectCashOnDelivery(
  events: StreamEvent[],
  transaction: OrdersTransaction,
  logger: Logger,
): Promise<void> {
  for (const event of events) {
    if (event.type !== SHIPMENT_DELIVERED) continue;
    const delivered = deliveredPayload(event);
    if (!delivered) {
      logger.warn(
        { eventId: event.id, position: event.position },
        `${SHIPMENT_DELIVERED} event without a valid orderId skipped`,
      );
      continue;
    }
    await collect(transaction, delivered, event, logger);
  }
}

async function collect(
  transaction: OrdersTransaction,
  delivered: ShipmentDeliveredPayload,
  event: StreamEvent,
  logger: Logger,
): Promise<void> {
  const [order] = await transaction
    .select()
    .from(tables.orders)
    .where(eq(tables.orders.id, delivered.orderId))
    .for('update');
  if (!order) {
    logger.warn(
      { eventId: event.id, orderId: delivered.orderId },
      'delivered shipment names an unknown order; skipped',
    );
    return;
  }
  // The same payment orderMarkPaid selects: the order's latest manual one.
  const [payment] = await transaction
    .select()
    .from(tables.payments)
    .where(
      and(
        eq(tables.payments.orderId, order.id),
        inArray(tables.payments.method, ['BANK_TRANSFER', 'CASH_ON_DELIVERY']),
      ),
    )
    .orderBy(desc(tables.payments.id))
    .limit(1)
    .for('update');
  if (payment?.method !== 'CASH_ON_DELIVERY' || payment.status !== 'PENDING') {
    return;
  }
  if (!canTransition(order.financialStatus, 'PAID')) {
    logger.warn(
      { eventId: event.id, orderId: order.id, status: order.financialStatus },
      `order #${order.number} is ${order.financialStatus}; cash collected on delivery not recorded`,
    );
    return;
  }
  const to = transition(order.financialStatus, 'PAID');
  const [captured] = await transaction
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
  await postManualReceipt(transaction, {
    order,
    payment: captured!,
    amount: payment.amount,
    reference: 'received',
    occurredAt: delivered.deliveredAt ?? new Date(event.occurredAt),
  });
  await appendEvents(transaction, [
    statusEvent(order, to, {
      paymentId: payment.id,
      method: payment.method,
      amount: payment.amount,
      currencyCode: order.currencyCode,
      shipmentId: delivered.shipmentId,
    }),
  ]);
  logger.info(
    { orderId: order.id, paymentId: payment.id, eventId: event.id },
    `cash on delivery collected for order #${order.number}`,
  );
}
