import { and, asc, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Config } from '../../../platform/config.js';
import type { Logger } from '../../../platform/logger.js';
import * as tables from '../db/tables.js';
import type { OrdersDatabase, OrdersDependencies } from '../dependencies.js';
import { holdOrderStock } from './order-stock.js';
import {
  applyPaymentState,
  followUpStock,
  type StockFollowUp,
} from './payment-updates.js';
import { cancelUnpaidOrder } from './order-stock.js';

/** Orders and payments looked at per pass and kind. */
const BATCH_SIZE = 50;

export interface ReconciliationReport {
  /** Orders whose stock is now held until fulfilment. */
  confirmed: number;
  /** Orders whose stock was gone: cancelled when unpaid, noted otherwise. */
  flagged: number;
  /** Payments awaiting action past the reservation's lifetime, settled. */
  settled: number;
}

/**
 * One pass over what a crash, a lost webhook or an abandoned payment can
 * leave behind:
 * - orders that should hold stock but whose reservation was never
 *   confirmed: confirm it, reserve again after an expiry, or flag the order;
 * - payments still awaiting the customer's action after the reservation's
 *   lifetime: ask the provider and apply its answer, or cancel the order
 *   and release its stock.
 * Rows are locked with SKIP LOCKED, so replicas share the work.
 */
export async function reconcileCheckouts(
  db: OrdersDatabase,
  dependencies: OrdersDependencies,
  config: Pick<Config, 'STOCK_RESERVATION_TTL_SECONDS'>,
  logger: Logger,
): Promise<ReconciliationReport> {
  const report: ReconciliationReport = { confirmed: 0, flagged: 0, settled: 0 };
  for (const { id } of await ordersAwaitingStock(db)) {
    try {
      const outcome = await holdOrderStock(db, dependencies, logger, id, {
        skipLocked: true,
      });
      if (outcome === 'confirmed') report.confirmed += 1;
      if (outcome === 'flagged') report.flagged += 1;
    } catch (error) {
      logger.warn(
        { err: error, orderId: id },
        'reconciling order stock failed',
      );
    }
  }
  for (const { id } of await stalePaymentsAwaitingAction(db, config)) {
    try {
      if (await settleStalePayment(db, dependencies, config, logger, id)) {
        report.settled += 1;
      }
    } catch (error) {
      logger.warn({ err: error, paymentId: id }, 'settling a payment failed');
    }
  }
  return report;
}

/**
 * Orders from checkouts that should hold stock without a confirmed
 * reservation: not cancelled, and not waiting for a payment confirmation
 * (those hold stock only once confirmed).
 */
function ordersAwaitingStock(db: OrdersDatabase) {
  return db
    .select({ id: tables.orders.id })
    .from(tables.orders)
    .where(
      and(
        isNull(tables.orders.reservationConfirmedAt),
        isNull(tables.orders.cancelledAt),
        isNotNull(tables.orders.checkoutId),
        inArray(tables.orders.financialStatus, [
          'PENDING',
          'AUTHORIZED',
          'PAID',
        ]),
        sql`not exists (select 1 from ${tables.payments} where ${tables.payments.orderId} = ${tables.orders.id} and ${tables.payments.status} = 'REQUIRES_ACTION')`,
      ),
    )
    .orderBy(asc(tables.orders.id))
    .limit(BATCH_SIZE);
}

function stalePaymentsAwaitingAction(
  db: OrdersDatabase,
  config: Pick<Config, 'STOCK_RESERVATION_TTL_SECONDS'>,
) {
  return db
    .select({ id: tables.payments.id })
    .from(tables.payments)
    .where(
      and(
        eq(tables.payments.status, 'REQUIRES_ACTION'),
        sql`${tables.payments.createdAt} < now() - make_interval(secs => ${config.STOCK_RESERVATION_TTL_SECONDS})`,
      ),
    )
    .orderBy(asc(tables.payments.id))
    .limit(BATCH_SIZE);
}

/**
 * Asks the provider about a payment still awaiting the customer's action.
 * A final answer is applied as a webhook would; a payment still waiting
 * is voided and its order cancelled, because its stock is no longer held.
 */
async function settleStalePayment(
  db: OrdersDatabase,
  dependencies: OrdersDependencies,
  config: Pick<Config, 'STOCK_RESERVATION_TTL_SECONDS'>,
  logger: Logger,
  paymentId: string,
): Promise<boolean> {
  const settled = await db.transaction(async (transaction) => {
    const [candidate] = await transaction
      .select({ orderId: tables.payments.orderId })
      .from(tables.payments)
      .where(eq(tables.payments.id, paymentId));
    const [order] = await transaction
      .select()
      .from(tables.orders)
      .where(eq(tables.orders.id, candidate!.orderId))
      .for('update', { skipLocked: true });
    if (!order) return null;
    const [payment] = await transaction
      .select()
      .from(tables.payments)
      .where(eq(tables.payments.id, paymentId))
      .for('update');
    if (!payment || payment.status !== 'REQUIRES_ACTION') return null;
    const remote = await dependencies.payments.status(
      payment.providerPaymentId!,
    );
    if (remote.status === 'requires_action' || remote.status === 'processing') {
      await cancelUnpaidOrder(transaction, dependencies, logger, order, {
        reason: `The payment was not confirmed within ${config.STOCK_RESERVATION_TTL_SECONDS} seconds.`,
        paymentStatus: 'VOIDED',
      });
      return { orderId: order.id, stock: 'release' as StockFollowUp };
    }
    const applied = await applyPaymentState(
      transaction,
      dependencies,
      logger,
      order,
      payment,
      remote,
    );
    return { orderId: order.id, stock: applied.stock };
  });
  if (!settled) return false;
  await followUpStock(db, dependencies, logger, settled.orderId, settled.stock);
  return true;
}

/**
 * Runs `reconcileCheckouts` every CHECKOUT_RECONCILE_INTERVAL_MS (0 turns
 * it off) until stopped; a pass never overlaps the next.
 */
export function startCheckoutReconciliation(options: {
  db: OrdersDatabase;
  dependencies: OrdersDependencies;
  config: Config;
  logger: Logger;
}): { stop(): Promise<void> } {
  const { config, logger } = options;
  const intervalMs = config.CHECKOUT_RECONCILE_INTERVAL_MS;
  if (intervalMs === 0) return { stop: async () => {} };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const pass = async () => {
    try {
      const report = await reconcileCheckouts(
        options.db,
        options.dependencies,
        config,
        logger,
      );
      if (report.confirmed + report.flagged + report.settled > 0) {
        logger.info(report, 'checkout reconciliation pass');
      }
    } catch (error) {
      logger.error({ err: error }, 'checkout reconciliation pass failed');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass().finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
