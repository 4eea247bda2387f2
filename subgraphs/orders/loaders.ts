import DataLoader from 'dataloader';
import { asc, inArray } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import { byKey, groupByKey } from '../../platform/batching.js';
import type { Database } from '../../platform/database.js';
import { isUuid } from '../../platform/ids.js';
import * as tables from './db/tables.js';
import type { CustomerRow, OrderLineRow, OrderRow } from './db/tables.js';

type OrdersDatabase = Database<typeof tables>;

/**
 * Creates the DataLoaders of one request. Each one sends the keys requested
 * in one tick as a single SQL statement. Keys that are not UUIDs match no
 * row and are left out of the statement, because PostgreSQL rejects them as
 * uuid values.
 */
export function createLoaders(db: OrdersDatabase, _config: Config) {
  const orderById = new DataLoader<string, OrderRow | null>(async (ids) =>
    byKey(
      ids,
      await db
        .select()
        .from(tables.orders)
        .where(inArray(tables.orders.id, ids.filter(isUuid))),
      (row) => row.id,
    ),
  );

  const customerById = new DataLoader<string, CustomerRow | null>(async (ids) =>
    byKey(
      ids,
      await db
        .select()
        .from(tables.customers)
        .where(inArray(tables.customers.id, ids.filter(isUuid))),
      (row) => row.id,
    ),
  );

  const linesByOrderId = new DataLoader<string, OrderLineRow[]>(
    async (orderIds) =>
      groupByKey(
        orderIds,
        await db
          .select()
          .from(tables.orderLines)
          .where(inArray(tables.orderLines.orderId, orderIds.filter(isUuid)))
          .orderBy(asc(tables.orderLines.position), asc(tables.orderLines.id)),
        (row) => row.orderId,
      ),
  );

  return { orderById, customerById, linesByOrderId };
}

export type Loaders = ReturnType<typeof createLoaders>;
