import DataLoader from 'dataloader';
import { asc, inArray } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import { byKey, groupByKey } from '../../platform/batching.js';
import type { Database } from '../../platform/database.js';
import { isUuid } from '../../platform/ids.js';
import * as tables from './db/tables.js';
import type { ShipmentRow, TrackingEventRow } from './db/tables.js';

type ShipmentsDatabase = Database<typeof tables>;

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

  const shipmentsByOrderId = new DataLoader<string, ShipmentRow[]>(
    async (orderIds) => {
      const rows = await db
        .select()
        .from(tables.shipments)
        .where(inArray(tables.shipments.orderId, orderIds.filter(isUuid)))
        .orderBy(asc(tables.shipments.createdAt), asc(tables.shipments.id));
      for (const row of rows) shipmentById.prime(row.id, row);
      return groupByKey(orderIds, rows, (row) => row.orderId);
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

  return { shipmentById, shipmentsByOrderId, trackingEventsByShipmentId };
}

export type Loaders = ReturnType<typeof createLoaders>;
