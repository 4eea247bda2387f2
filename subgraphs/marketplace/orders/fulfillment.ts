import { and, asc, eq, lte, sql } from 'drizzle-orm';
import type {
  DatabaseTransaction,
  StreamEvent,
} from '../../../platform/event-consumer.js';
import type { Logger } from '../../../platform/logger.js';
import * as tables from '../db/tables.js';
import {
  describeFailure,
  retryDelayMs,
  type AdapterLookup,
  type MarketplaceDatabase,
} from './import.js';

/** The shipments event that carries a new label's tracking number. */
export const SHIPMENT_STATUS_CHANGED = 'shipment.status_changed';

/** Shipments per pass of the pusher. */
const BATCH_SIZE = 25;

interface LabelPayload {
  shipmentId: string;
  orderId: string;
  carrier: string;
  trackingNumber: string;
  lines: { orderLineId: string; sku: string; quantity: number }[] | null;
}

function labelPayload(event: StreamEvent): LabelPayload | null {
  const payload = event.payload as Record<string, unknown> | null;
  if (!payload || payload.to !== 'LABEL_CREATED') return null;
  const { shipmentId, orderId, carrier, trackingNumber, lines } = payload;
  if (
    typeof shipmentId !== 'string' ||
    typeof orderId !== 'string' ||
    typeof trackingNumber !== 'string' ||
    trackingNumber === ''
  ) {
    return null;
  }
  return {
    shipmentId,
    orderId,
    carrier: typeof carrier === 'string' ? carrier : '',
    trackingNumber,
    lines: Array.isArray(lines) ? (lines as LabelPayload['lines']) : null,
  };
}

/**
 * Records a fulfilment to report for every label bought for an imported
 * order, in the consumer's transaction. The shipped order lines are mapped
 * to the marketplace's line ids recorded at import. Events of orders
 * placed elsewhere are ignored. Each shipment gets one row, so an event
 * delivered again records nothing new.
 */
export async function recordShipmentLabels(
  events: StreamEvent[],
  transaction: DatabaseTransaction<typeof tables>,
  logger: Logger,
): Promise<void> {
  for (const event of events) {
    const label = labelPayload(event);
    if (!label) continue;
    const [imported] = await transaction
      .select()
      .from(tables.marketplaceOrders)
      .where(eq(tables.marketplaceOrders.orderId, label.orderId));
    // NOTE: a label bought before this service recorded the order's import
    // (a crash between the orders service's answer and that record) is
    // skipped here and never reported.
    if (!imported) continue;
    const byOrderLine = new Map(
      imported.lines.map((line) => [line.orderLineId, line.externalLineId]),
    );
    const lines: { externalLineId: string; quantity: number }[] = [];
    for (const line of label.lines ?? []) {
      const externalLineId = byOrderLine.get(line.orderLineId);
      if (externalLineId) {
        lines.push({ externalLineId, quantity: line.quantity });
      } else {
        logger.warn(
          { shipmentId: label.shipmentId, orderLineId: line.orderLineId },
          'shipped order line has no marketplace line; left out of the report',
        );
      }
    }
    if (label.lines !== null && label.lines.length > 0 && lines.length === 0) {
      continue;
    }
    await transaction
      .insert(tables.marketplaceFulfillments)
      .values({
        shipmentId: label.shipmentId,
        marketplaceOrderId: imported.id,
        carrier: label.carrier,
        trackingNumber: label.trackingNumber,
        lines,
        shippedAt: new Date(event.occurredAt),
      })
      .onConflictDoNothing();
  }
}

/**
 * Reports recorded fulfilments whose attempt is due to their marketplaces
 * with `pushFulfillment`, each once: a row stays locked (SKIP LOCKED)
 * while it is reported and becomes PUSHED when the adapter accepts it.
 * Failures are retried with backoff, honouring a Retry-After. Returns the
 * number reported.
 */
export async function pushPendingFulfillments(
  db: MarketplaceDatabase,
  adapterFor: AdapterLookup,
  logger: Logger,
): Promise<number> {
  const due = await db
    .select({ shipmentId: tables.marketplaceFulfillments.shipmentId })
    .from(tables.marketplaceFulfillments)
    .where(
      and(
        eq(tables.marketplaceFulfillments.status, 'PENDING'),
        lte(tables.marketplaceFulfillments.nextAttemptAt, sql`now()`),
      ),
    )
    .orderBy(asc(tables.marketplaceFulfillments.nextAttemptAt))
    .limit(BATCH_SIZE);
  let pushed = 0;
  for (const { shipmentId } of due) {
    if (await pushOne(db, adapterFor, logger, shipmentId)) pushed += 1;
  }
  return pushed;
}

async function pushOne(
  db: MarketplaceDatabase,
  adapterFor: AdapterLookup,
  logger: Logger,
  shipmentId: string,
): Promise<boolean> {
  return db.transaction(async (transaction) => {
    const [row] = await transaction
      .select()
      .from(tables.marketplaceFulfillments)
      .where(
        and(
          eq(tables.marketplaceFulfillments.shipmentId, shipmentId),
          eq(tables.marketplaceFulfillments.status, 'PENDING'),
          lte(tables.marketplaceFulfillments.nextAttemptAt, sql`now()`),
        ),
      )
      .for('update', { skipLocked: true });
    if (!row) return false;
    const [order] = await transaction
      .select()
      .from(tables.marketplaceOrders)
      .where(eq(tables.marketplaceOrders.id, row.marketplaceOrderId));
    const [connection] = order
      ? await transaction
          .select()
          .from(tables.marketplaceConnections)
          .where(eq(tables.marketplaceConnections.id, order.connectionId))
      : [];
    if (!order || !connection) return false;
    try {
      const adapter = await adapterFor(connection);
      await adapter.pushFulfillment({
        externalOrderId: order.externalOrderId,
        lines: row.lines,
        carrier: row.carrier,
        trackingNumber: row.trackingNumber,
        shippedAt: row.shippedAt.toISOString(),
      });
    } catch (error) {
      const attempts = row.attempts + 1;
      const delayMs = retryDelayMs(attempts, error);
      logger.warn(
        {
          connectionId: connection.id,
          externalOrderId: order.externalOrderId,
          shipmentId,
          attempts,
          retryInMs: delayMs,
          reason: describeFailure(error),
        },
        'reporting a shipment to the marketplace failed; retrying later',
      );
      await transaction
        .update(tables.marketplaceFulfillments)
        .set({
          attempts,
          lastError: describeFailure(error),
          nextAttemptAt: sql`now() + make_interval(secs => ${delayMs / 1000})`,
          updatedAt: sql`now()`,
        })
        .where(eq(tables.marketplaceFulfillments.shipmentId, shipmentId));
      return false;
    }
    await transaction
      .update(tables.marketplaceFulfillments)
      .set({
        status: 'PUSHED',
        attempts: row.attempts + 1,
        lastError: null,
        pushedAt: sql`now()`,
        updatedAt: sql`now()`,
      })
      .where(eq(tables.marketplaceFulfillments.shipmentId, shipmentId));
    logger.info(
      {
        connectionId: connection.id,
        externalOrderId: order.externalOrderId,
        shipmentId,
      },
      'shipment reported to the marketplace',
    );
    return true;
  });
}
