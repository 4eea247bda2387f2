import DataLoader from 'dataloader';
import { asc, inArray, sql } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import { byKey, groupByKey } from '../../platform/batching.js';
import type { Database } from '../../platform/database.js';
import { isUuid } from '../../platform/ids.js';
import * as tables from './db/tables.js';
import type {
  OrderLineSnapshot,
  ShipmentLineRow,
  ShipmentRow,
  TrackingEventRow,
} from './db/tables.js';

type ShipmentsDatabase = Database<typeof tables>;

/** An order's shipments with their lines, and the order's line snapshot. */
export interface OrderFulfillment {
  /** Oldest first, cancelled ones included. */
  shipments: ShipmentRow[];
  /** Null when no fulfilment took a snapshot of the order's lines. */
  orderLines: OrderLineSnapshot[] | null;
}

/** postgres.js returns json values parsed or as text, depending on its type parsers. */
function parseJson<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/**
 * Creates the DataLoaders of one request. Each one sends the keys requested
 * in one tick as a single SQL statement. Keys that are not UUIDs match no
 * row and are left out of the statement, because PostgreSQL rejects them as
 * uuid values.
 */
export function createLoaders(db: ShipmentsDatabase, _config: Config) {
  const shipmentById = new DataLoader<string, ShipmentRow | null>(async (ids) =>
    byKey(
      ids,
      await db
        .select()
        .from(tables.shipments)
        .where(inArray(tables.shipments.id, ids.filter(isUuid))),
      (row) => row.id,
    ),
  );

  const linesByShipmentId = new DataLoader<string, ShipmentLineRow[]>(
    async (shipmentIds) =>
      groupByKey(
        shipmentIds,
        await db
          .select()
          .from(tables.shipmentLines)
          .where(
            inArray(
              tables.shipmentLines.shipmentId,
              shipmentIds.filter(isUuid),
            ),
          )
          .orderBy(
            asc(tables.shipmentLines.shipmentId),
            asc(tables.shipmentLines.orderLineId),
          ),
        (row) => row.shipmentId,
      ),
  );

  // One statement returns the shipments of every requested order with
  // their lines and their order's snapshot, so `shipments`,
  // `fulfillmentStatus` and `Shipment.lines` of a list of orders cost one
  // query together. Orders without shipments have no snapshot to read.
  const fulfillmentByOrderId = new DataLoader<string, OrderFulfillment>(
    async (orderIds) => {
      const rows = await db
        .select({
          shipment: tables.shipments,
          lines: sql<unknown>`coalesce((
            select json_agg(json_build_object(
                     'shipmentId', l.shipment_id, 'orderLineId', l.order_line_id,
                     'sku', l.sku, 'variantId', l.variant_id, 'quantity', l.quantity)
                   order by l.order_line_id)
              from ${tables.shipmentLines} l
             where l.shipment_id = "shipments"."id"), '[]'::json)`,
          orderLines: sql<unknown>`(
            select s.lines from ${tables.orderSnapshots} s
             where s.order_id = "shipments"."order_id")`,
        })
        .from(tables.shipments)
        .where(inArray(tables.shipments.orderId, orderIds.filter(isUuid)))
        .orderBy(asc(tables.shipments.createdAt), asc(tables.shipments.id));
      const byOrder = new Map<string, OrderFulfillment>();
      for (const row of rows) {
        shipmentById.prime(row.shipment.id, row.shipment);
        linesByShipmentId.prime(
          row.shipment.id,
          parseJson<ShipmentLineRow[]>(row.lines),
        );
        const entry = byOrder.get(row.shipment.orderId) ?? {
          shipments: [],
          orderLines:
            row.orderLines === null
              ? null
              : parseJson<OrderLineSnapshot[]>(row.orderLines),
        };
        entry.shipments.push(row.shipment);
        byOrder.set(row.shipment.orderId, entry);
      }
      return orderIds.map(
        (id) => byOrder.get(id) ?? { shipments: [], orderLines: null },
      );
    },
  );

  const trackingEventsByShipmentId = new DataLoader<string, TrackingEventRow[]>(
    async (shipmentIds) =>
      groupByKey(
        shipmentIds,
        await db
          .select()
          .from(tables.trackingEvents)
          .where(
            inArray(
              tables.trackingEvents.shipmentId,
              shipmentIds.filter(isUuid),
            ),
          )
          .orderBy(
            asc(tables.trackingEvents.occurredAt),
            asc(tables.trackingEvents.id),
          ),
        (row) => row.shipmentId,
      ),
  );

  return {
    shipmentById,
    linesByShipmentId,
    fulfillmentByOrderId,
    trackingEventsByShipmentId,
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
