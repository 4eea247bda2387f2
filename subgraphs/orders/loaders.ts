import DataLoader from 'dataloader';
import { asc, inArray } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import { byKey, groupByKey } from '../../platform/batching.js';
import type { Database } from '../../platform/database.js';
import { isUuid } from '../../platform/ids.js';
import * as tables from './db/tables.js';
import type {
  CustomerRow,
  OrderLineRow,
  OrderNoteRow,
  OrderRow,
  PaymentRow,
  RefundRow,
} from './db/tables.js';

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

  const paymentById = new DataLoader<string, PaymentRow | null>(async (ids) =>
    byKey(
      ids,
      await db
        .select()
        .from(tables.payments)
        .where(inArray(tables.payments.id, ids.filter(isUuid))),
      (row) => row.id,
    ),
  );

  // Payments, refunds and notes of an order, oldest first (UUIDv7 ids sort
  // by creation time).
  const paymentsByOrderId = new DataLoader<string, PaymentRow[]>(
    async (orderIds) =>
      groupByKey(
        orderIds,
        await db
          .select()
          .from(tables.payments)
          .where(inArray(tables.payments.orderId, orderIds.filter(isUuid)))
          .orderBy(asc(tables.payments.id)),
        (row) => row.orderId,
      ),
  );

  const refundsByOrderId = new DataLoader<string, RefundRow[]>(
    async (orderIds) =>
      groupByKey(
        orderIds,
        await db
          .select()
          .from(tables.refunds)
          .where(inArray(tables.refunds.orderId, orderIds.filter(isUuid)))
          .orderBy(asc(tables.refunds.createdAt), asc(tables.refunds.id)),
        (row) => row.orderId,
      ),
  );

  const notesByOrderId = new DataLoader<string, OrderNoteRow[]>(
    async (orderIds) =>
      groupByKey(
        orderIds,
        await db
          .select()
          .from(tables.orderNotes)
          .where(inArray(tables.orderNotes.orderId, orderIds.filter(isUuid)))
          .orderBy(asc(tables.orderNotes.createdAt), asc(tables.orderNotes.id)),
        (row) => row.orderId,
      ),
  );

  return {
    orderById,
    customerById,
    linesByOrderId,
    paymentById,
    paymentsByOrderId,
    refundsByOrderId,
    notesByOrderId,
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
