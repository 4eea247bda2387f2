import { and, asc, eq, inArray, isNotNull, isNull, or, sql } from 'drizzle-orm';
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
import { attemptsToUndo, undoAttempt } from './payment-attempts.js';
import { syncProviderRefunds } from '../refund-settlement.js';

/** Maximum number of rows read per pass for each kind of work. */
const BATCH_SIZE = 50;

export interface ReconciliationReport {
  /** Number of orders whose stock is now reserved until fulfilment. */
  confirmed: number;
  /** Number of orders whose stock was gone, cancelled when unpaid and noted otherwise. */
  flagged: number;
  /** Number of settled payments that awaited action past the reservation's lifetime. */
  settled: number;
  /** Number of settled pending refunds that the provider has finished. */
  refunds: number;
  /** Number of refunded or voided payment attempts that were not the order's payment. */
  returned: number;
}

/**
 * Age after which a PENDING card refund without a provider refund id is
 * looked up at the provider by its reference. A younger one may still be
 * waiting for the provider's response to the staff mutation.
 */
const UNANSWERED_REFUND_AGE_SECONDS = 300;

/**
 * Runs one pass over what a crash, a lost webhook or an abandoned payment
 * can leave behind:
 * - Orders that should reserve stock but whose reservation was never
 *   confirmed. The pass confirms it, reserves again after an expiry, or
 *   flags the order.
 * - Payments still awaiting the customer's action after the reservation's
 *   lifetime. The pass reads the payment at the provider and applies its
 *   state, or cancels the order and releases its stock.
 * - Card refunds still PENDING, because the provider returned `pending` or
 *   its response was lost. The pass reads them at the provider and settles
 *   those it has finished, in case their webhook was lost.
 * - Card payment attempts that did not become the order's payment (a lost
 *   response, a retry with another cart or card). The pass voids or
 *   refunds them (`payment-attempts.ts`).
 * Rows are locked with SKIP LOCKED, so replicas share the work.
 */
export async function reconcileCheckouts(
  db: OrdersDatabase,
  dependencies: OrdersDependencies,
  config: Pick<Config, 'STOCK_RESERVATION_TTL_SECONDS'>,
  logger: Logger,
): Promise<ReconciliationReport> {
  const report: ReconciliationReport = {
    confirmed: 0,
    flagged: 0,
    settled: 0,
    refunds: 0,
    returned: 0,
  };
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
  for (const { id } of await pendingCardRefunds(db)) {
    try {
      if (await settlePendingRefund(db, dependencies, logger, id)) {
        report.refunds += 1;
      }
    } catch (error) {
      logger.warn({ err: error, refundId: id }, 'settling a refund failed');
    }
  }
  for (const { id } of await attemptsToUndo(db)) {
    if (await undoAttempt(db, dependencies, logger, id)) report.returned += 1;
  }
  return report;
}

/**
 * Selects orders from checkouts that should reserve stock but have no
 * confirmed reservation. These orders are not cancelled and not waiting
 * for a payment confirmation, because such orders reserve stock only once
 * confirmed.
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
 * Reads a payment still awaiting the customer's action at the provider.
 * A final state is applied as a webhook would apply it. A payment still
 * waiting is voided and its order cancelled, because its stock is no
 * longer reserved.
 * When the void fails because the customer confirmed the payment just
 * now, the capture is applied instead and the order keeps its stock.
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
      const cancel = await cancelUnpaidOrder(
        transaction,
        dependencies,
        logger,
        order,
        {
          reason: `The payment was not confirmed within ${config.STOCK_RESERVATION_TTL_SECONDS} seconds.`,
          paymentStatus: 'VOIDED',
        },
      );
      if (cancel.cancelled) {
        return { orderId: order.id, stock: 'release' as StockFollowUp };
      }
      const applied = await applyPaymentState(
        transaction,
        dependencies,
        logger,
        order,
        cancel.payment,
        cancel.remote,
      );
      return { orderId: order.id, stock: applied.stock };
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
 * Selects PENDING card refunds: those the provider returned as `pending`,
 * and those whose response never arrived (no provider refund id) after
 * UNANSWERED_REFUND_AGE_SECONDS.
 */
function pendingCardRefunds(db: OrdersDatabase) {
  return db
    .select({ id: tables.refunds.id })
    .from(tables.refunds)
    .innerJoin(
      tables.payments,
      eq(tables.payments.id, tables.refunds.paymentId),
    )
    .where(
      and(
        eq(tables.refunds.status, 'PENDING'),
        eq(tables.payments.method, 'CARD'),
        or(
          isNotNull(tables.refunds.providerRefundId),
          sql`${tables.refunds.updatedAt} < now() - make_interval(secs => ${UNANSWERED_REFUND_AGE_SECONDS})`,
        ),
      ),
    )
    .orderBy(asc(tables.refunds.updatedAt))
    .limit(BATCH_SIZE);
}

/**
 * Reads one PENDING refund at the provider and settles it when the
 * provider has finished it. The refund is looked up by its provider refund
 * id, or by reference among the payment's refunds when it has no id. An
 * order locked by another replica or a webhook is skipped, because that
 * process settles it.
 */
async function settlePendingRefund(
  db: OrdersDatabase,
  dependencies: OrdersDependencies,
  logger: Logger,
  refundId: string,
): Promise<boolean> {
  return db.transaction(async (transaction) => {
    const [candidate] = await transaction
      .select({
        orderId: tables.refunds.orderId,
        paymentId: tables.refunds.paymentId,
      })
      .from(tables.refunds)
      .where(eq(tables.refunds.id, refundId));
    if (!candidate) return false;
    const [order] = await transaction
      .select()
      .from(tables.orders)
      .where(eq(tables.orders.id, candidate.orderId))
      .for('update', { skipLocked: true });
    if (!order) return false;
    const [payment] = await transaction
      .select()
      .from(tables.payments)
      .where(eq(tables.payments.id, candidate.paymentId))
      .for('update');
    const [refund] = await transaction
      .select()
      .from(tables.refunds)
      .where(eq(tables.refunds.id, refundId))
      .for('update');
    if (!payment?.providerPaymentId || refund?.status !== 'PENDING') {
      return false;
    }
    const remote = refund.providerRefundId
      ? [await dependencies.payments.refundStatus(refund.providerRefundId)]
      : (await dependencies.payments.refunds(payment.providerPaymentId)).filter(
          (candidate) => candidate.reference === refund.id,
        );
    const finished = remote.filter((item) => item.status !== 'pending');
    if (finished.length === 0) return false;
    return syncProviderRefunds(transaction, logger, order, payment, finished);
  });
}

/**
 * Runs `reconcileCheckouts` every CHECKOUT_RECONCILE_INTERVAL_MS until
 * stopped, and never starts a pass while the previous one runs. An
 * interval of 0 turns it off.
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
      const total =
        report.confirmed +
        report.flagged +
        report.settled +
        report.refunds +
        report.returned;
      if (total > 0) {
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
