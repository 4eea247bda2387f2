import { and, desc, eq, sql } from 'drizzle-orm';
import { uuidv7 } from '../../platform/ids.js';
import { appendEvents, type DomainEvent } from '../../platform/outbox.js';
import type { TrackingStatus, TrackingUpdate } from './carriers/carrier.js';
import * as tables from './db/tables.js';
import type { ShipmentRow } from './db/tables.js';
import type { ShipmentsDatabase } from './dependencies.js';

type ShipmentsTransaction = Parameters<
  Parameters<ShipmentsDatabase['transaction']>[0]
>[0];
type ShipmentStatus = ShipmentRow['status'];

/** The shipment status each carrier tracking status moves a shipment to. */
const STATUS_OF_TRACKING: Record<TrackingStatus, ShipmentStatus> = {
  PRE_TRANSIT: 'LABEL_CREATED',
  IN_TRANSIT: 'IN_TRANSIT',
  OUT_FOR_DELIVERY: 'OUT_FOR_DELIVERY',
  DELIVERED: 'DELIVERED',
  EXCEPTION: 'FAILED',
  RETURNED: 'RETURNED',
};

export function shipmentStatusOf(status: TrackingStatus): ShipmentStatus {
  return STATUS_OF_TRACKING[status];
}

/**
 * Identity of one carrier scan across deliveries: its time (normalised to
 * ISO 8601 UTC), the carrier's status and the message.
 */
export function trackingDedupeKey(detail: {
  occurredAt: Date;
  carrierStatus: string;
  message: string | null;
}): string {
  return `${detail.occurredAt.toISOString()}|${detail.carrierStatus}|${detail.message ?? ''}`;
}

export interface TrackingOutcome {
  /** Tracking events stored now; 0 when every detail was already stored. */
  added: number;
  from: ShipmentStatus;
  to: ShipmentStatus;
}

/**
 * Merges a carrier's tracking update into the history of a shipment that
 * the transaction has locked, and sets the shipment's status from the
 * newest event stored. Each detail is stored once (by its dedupe key), so
 * a redelivered or older update adds only the details that are missing
 * and never moves the status back. An update without details counts as
 * one detail at its `updatedAt`.
 *
 * A status change appends `shipment.status_changed`, and
 * `shipment.delivered` on delivery, to the outbox. A cancelled shipment
 * keeps its status; its history still records what the carrier reports.
 */
export async function applyTrackingUpdate(
  transaction: ShipmentsTransaction,
  shipment: ShipmentRow,
  update: TrackingUpdate,
  source: 'webhook' | 'poll',
): Promise<TrackingOutcome> {
  const details =
    update.details.length > 0
      ? update.details
      : [
          {
            status: update.status,
            carrierStatus: update.carrierStatus,
            message: null,
            location: null,
            occurredAt: update.updatedAt,
          },
        ];
  const rows = details
    .map((detail) => ({ detail, occurredAt: new Date(detail.occurredAt) }))
    .filter(({ occurredAt }) => !Number.isNaN(occurredAt.getTime()))
    .map(({ detail, occurredAt }) => ({
      id: uuidv7(),
      shipmentId: shipment.id,
      status: shipmentStatusOf(detail.status),
      carrierStatus: detail.carrierStatus,
      message: detail.message,
      location: detail.location,
      occurredAt,
      dedupeKey: trackingDedupeKey({
        occurredAt,
        carrierStatus: detail.carrierStatus,
        message: detail.message,
      }),
    }));
  const inserted =
    rows.length === 0
      ? []
      : await transaction
          .insert(tables.trackingEvents)
          .values(rows)
          .onConflictDoNothing({
            target: [
              tables.trackingEvents.shipmentId,
              tables.trackingEvents.dedupeKey,
            ],
          })
          .returning({ id: tables.trackingEvents.id });

  const [newest] = await transaction
    .select({
      status: tables.trackingEvents.status,
      occurredAt: tables.trackingEvents.occurredAt,
    })
    .from(tables.trackingEvents)
    .where(eq(tables.trackingEvents.shipmentId, shipment.id))
    .orderBy(
      desc(tables.trackingEvents.occurredAt),
      desc(tables.trackingEvents.id),
    )
    .limit(1);

  const from = shipment.status;
  const to =
    newest && from !== 'CANCELLED' && from !== 'PENDING' ? newest.status : from;
  await transaction
    .update(tables.shipments)
    .set({
      status: to,
      latestEventAt: newest?.occurredAt ?? shipment.latestEventAt,
      trackingUrl: shipment.trackingUrl ?? update.trackingUrl,
      ...(to !== from || inserted.length > 0 ? { updatedAt: sql`now()` } : {}),
    })
    .where(eq(tables.shipments.id, shipment.id));

  if (to !== from) {
    await appendEvents(
      transaction,
      statusChangeEvents(shipment, from, to, {
        source,
        occurredAt: newest!.occurredAt.toISOString(),
      }),
    );
  }
  return { added: inserted.length, from, to };
}

/**
 * The outbox events of a status change: `shipment.status_changed`, and
 * `shipment.delivered` when it became DELIVERED.
 */
export function statusChangeEvents(
  shipment: Pick<ShipmentRow, 'id' | 'orderId'>,
  from: ShipmentStatus,
  to: ShipmentStatus,
  extra: Record<string, unknown> = {},
): DomainEvent[] {
  const payload = {
    shipmentId: shipment.id,
    orderId: shipment.orderId,
    from,
    to,
    ...extra,
  };
  const events: DomainEvent[] = [
    { type: 'shipment.status_changed', aggregateId: shipment.id, payload },
  ];
  if (to === 'DELIVERED') {
    events.push({
      type: 'shipment.delivered',
      aggregateId: shipment.id,
      payload,
    });
  }
  return events;
}

/**
 * Locks the shipment whose label `carrierProvider` bought with
 * `trackingNumber`. When tracking numbers of two carriers collide, the
 * shipment whose carrier name matches `carrier` (case-insensitively) wins.
 */
export async function lockShipmentByTracking(
  transaction: ShipmentsTransaction,
  carrierProvider: string,
  trackingNumber: string,
  carrier: string,
): Promise<ShipmentRow | null> {
  const [row] = await transaction
    .select()
    .from(tables.shipments)
    .where(
      and(
        eq(tables.shipments.carrierProvider, carrierProvider),
        eq(tables.shipments.trackingNumber, trackingNumber),
      ),
    )
    .orderBy(
      sql`lower(${tables.shipments.carrier}) = lower(${carrier}) desc`,
      desc(tables.shipments.createdAt),
    )
    .limit(1)
    .for('update');
  return row ?? null;
}

export type { ShipmentsTransaction };
