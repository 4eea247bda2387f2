import { and, asc, eq, lte, sql } from 'drizzle-orm';
import type { Config } from '../../../platform/config.js';
import type { Database } from '../../../platform/database.js';
import { uuidv7 } from '../../../platform/ids.js';
import type { Logger } from '../../../platform/logger.js';
import {
  MarketplaceError,
  type MarketplaceAdapter,
} from '../adapters/adapter.js';
import * as tables from '../db/tables.js';
import type { MarketplaceConnectionRow } from '../db/tables.js';
import type { OrdersImportClient } from './clients.js';

export type MarketplaceDatabase = Database<typeof tables>;

/** Creates the adapter of a connection (sync/adapters.ts in the service). */
export type AdapterLookup = (
  connection: MarketplaceConnectionRow,
) => Promise<MarketplaceAdapter>;

/** Pages read from one connection per poll, so one busy account cannot hold the worker. */
const MAX_PAGES_PER_POLL = 20;
/** Orders imported, or shipments reported, per pass. */
const BATCH_SIZE = 25;
/** First retry delay after a failure, doubled per failure up to RETRY_MAX_MS. */
export const RETRY_MIN_MS = 1_000;
export const RETRY_MAX_MS = 15 * 60_000;

/**
 * Delay before the next attempt after `failures` failures in a row, at
 * least what the marketplace asked for with Retry-After.
 */
export function retryDelayMs(failures: number, error: unknown): number {
  const backoff = Math.min(
    RETRY_MAX_MS,
    RETRY_MIN_MS * 2 ** Math.min(Math.max(failures - 1, 0), 20),
  );
  const asked =
    error instanceof MarketplaceError && error.retryAfterMs !== null
      ? error.retryAfterMs
      : 0;
  return Math.max(backoff, asked);
}

/**
 * Returns the error's message, cut to 500 characters, for logs and
 * `last_error`. Adapters and service clients keep credentials out of their
 * messages.
 */
export function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.slice(0, 500);
}

/**
 * Polls every ACTIVE connection whose next poll is due: reads pages of
 * orders from its cursor and records the paid ones as PENDING imports,
 * storing the cursor after each page in the same transaction. The poll
 * row of the connection stays locked (FOR UPDATE SKIP LOCKED) while its
 * pages are read, so two replicas never poll one connection at once.
 * Unpaid orders are skipped; marketplaces return an order again when it
 * changes, such as when its payment is confirmed. Returns the number of
 * orders recorded.
 */
export async function pollConnections(
  db: MarketplaceDatabase,
  adapterFor: AdapterLookup,
  config: Pick<Config, 'MARKETPLACE_ORDER_POLL_INTERVAL_MS'>,
  logger: Logger,
): Promise<number> {
  await db.execute(sql`
    insert into marketplace_order_polls (connection_id)
    select id from marketplace_connections where status = 'ACTIVE'
    on conflict (connection_id) do nothing`);
  const due = await db
    .select({ connectionId: tables.marketplaceOrderPolls.connectionId })
    .from(tables.marketplaceOrderPolls)
    .innerJoin(
      tables.marketplaceConnections,
      eq(
        tables.marketplaceConnections.id,
        tables.marketplaceOrderPolls.connectionId,
      ),
    )
    .where(
      and(
        eq(tables.marketplaceConnections.status, 'ACTIVE'),
        lte(tables.marketplaceOrderPolls.nextPollAt, sql`now()`),
      ),
    )
    .orderBy(asc(tables.marketplaceOrderPolls.nextPollAt));
  let recorded = 0;
  for (const { connectionId } of due) {
    recorded += await pollConnection(
      db,
      adapterFor,
      config,
      logger,
      connectionId,
    );
  }
  return recorded;
}

async function pollConnection(
  db: MarketplaceDatabase,
  adapterFor: AdapterLookup,
  config: Pick<Config, 'MARKETPLACE_ORDER_POLL_INTERVAL_MS'>,
  logger: Logger,
  connectionId: string,
): Promise<number> {
  return db.transaction(async (transaction) => {
    const [poll] = await transaction
      .select()
      .from(tables.marketplaceOrderPolls)
      .where(
        and(
          eq(tables.marketplaceOrderPolls.connectionId, connectionId),
          lte(tables.marketplaceOrderPolls.nextPollAt, sql`now()`),
        ),
      )
      .for('update', { skipLocked: true });
    if (!poll) return 0;
    const [connection] = await transaction
      .select()
      .from(tables.marketplaceConnections)
      .where(eq(tables.marketplaceConnections.id, connectionId));
    if (!connection || connection.status !== 'ACTIVE') return 0;

    let cursor = poll.cursor;
    let recorded = 0;
    try {
      const adapter = await adapterFor(connection);
      for (let page = 0; page < MAX_PAGES_PER_POLL; page++) {
        const result = await adapter.fetchOrders(cursor);
        const paid = result.orders.filter((order) => order.paid);
        if (paid.length > 0) {
          const inserted = await transaction
            .insert(tables.marketplaceOrders)
            .values(
              paid.map((order) => ({
                id: uuidv7(),
                connectionId,
                externalOrderId: order.externalOrderId,
                order,
              })),
            )
            .onConflictDoNothing()
            .returning({ id: tables.marketplaceOrders.id });
          recorded += inserted.length;
        }
        if (result.nextCursor === null) break;
        cursor = result.nextCursor;
      }
    } catch (error) {
      const failures = poll.failures + 1;
      const delayMs = retryDelayMs(failures, error);
      logger.warn(
        {
          connectionId,
          failures,
          retryInMs: delayMs,
          reason: describeFailure(error),
        },
        'fetching marketplace orders failed; retrying later',
      );
      // Orders of pages read before the failure stay recorded, and the
      // cursor keeps its place after them.
      await transaction
        .update(tables.marketplaceOrderPolls)
        .set({
          cursor,
          failures,
          lastError: describeFailure(error),
          nextPollAt: sql`now() + make_interval(secs => ${delayMs / 1000})`,
          updatedAt: sql`now()`,
        })
        .where(eq(tables.marketplaceOrderPolls.connectionId, connectionId));
      return recorded;
    }
    await transaction
      .update(tables.marketplaceOrderPolls)
      .set({
        cursor,
        failures: 0,
        lastError: null,
        lastPolledAt: sql`now()`,
        nextPollAt: sql`now() + make_interval(secs => ${config.MARKETPLACE_ORDER_POLL_INTERVAL_MS / 1000})`,
        updatedAt: sql`now()`,
      })
      .where(eq(tables.marketplaceOrderPolls.connectionId, connectionId));
    if (recorded > 0) {
      logger.info({ connectionId, recorded }, 'marketplace orders fetched');
    }
    return recorded;
  });
}

/**
 * Imports recorded orders whose attempt is due through the orders
 * service's `marketplaceOrderImport`, which returns the same order for a
 * repeat. Each row stays locked (SKIP LOCKED) during its import. A
 * failure or a rejection is logged and retried with backoff. A rejection
 * (such as an unknown SKU) needs a change in the catalog or on the
 * marketplace before a retry can succeed. Returns the number imported.
 */
export async function importPendingOrders(
  db: MarketplaceDatabase,
  orders: OrdersImportClient,
  logger: Logger,
): Promise<number> {
  const due = await db
    .select({ id: tables.marketplaceOrders.id })
    .from(tables.marketplaceOrders)
    .where(
      and(
        eq(tables.marketplaceOrders.status, 'PENDING'),
        lte(tables.marketplaceOrders.nextAttemptAt, sql`now()`),
      ),
    )
    .orderBy(asc(tables.marketplaceOrders.nextAttemptAt))
    .limit(BATCH_SIZE);
  let imported = 0;
  for (const { id } of due) {
    if (await importOne(db, orders, logger, id)) imported += 1;
  }
  return imported;
}

async function importOne(
  db: MarketplaceDatabase,
  orders: OrdersImportClient,
  logger: Logger,
  id: string,
): Promise<boolean> {
  return db.transaction(async (transaction) => {
    const [row] = await transaction
      .select()
      .from(tables.marketplaceOrders)
      .where(
        and(
          eq(tables.marketplaceOrders.id, id),
          eq(tables.marketplaceOrders.status, 'PENDING'),
          lte(tables.marketplaceOrders.nextAttemptAt, sql`now()`),
        ),
      )
      .for('update', { skipLocked: true });
    if (!row) return false;
    const [connection] = await transaction
      .select()
      .from(tables.marketplaceConnections)
      .where(eq(tables.marketplaceConnections.id, row.connectionId));
    if (!connection) return false;

    let failure: { reason: string; error: unknown } | null = null;
    try {
      const outcome = await orders.importOrder(connection, row.order);
      if (outcome.orderId !== null && outcome.userErrors.length === 0) {
        await transaction
          .update(tables.marketplaceOrders)
          .set({
            status: 'IMPORTED',
            orderId: outcome.orderId,
            orderNumber: outcome.orderNumber,
            needsAttention: outcome.needsAttention,
            lines: outcome.lines,
            lastError: null,
            importedAt: sql`now()`,
            updatedAt: sql`now()`,
          })
          .where(eq(tables.marketplaceOrders.id, row.id));
        logger.info(
          {
            connectionId: row.connectionId,
            externalOrderId: row.externalOrderId,
            orderId: outcome.orderId,
            needsAttention: outcome.needsAttention,
          },
          'marketplace order imported',
        );
        return true;
      }
      failure = {
        reason: `orders rejected the order: ${outcome.userErrors
          .map((error) => `${error.code} ${error.message}`)
          .join('; ')}`,
        error: null,
      };
    } catch (error) {
      failure = { reason: describeFailure(error), error };
    }
    const attempts = row.attempts + 1;
    const delayMs = retryDelayMs(attempts, failure.error);
    logger.warn(
      {
        connectionId: row.connectionId,
        externalOrderId: row.externalOrderId,
        attempts,
        retryInMs: delayMs,
        reason: failure.reason,
      },
      'importing a marketplace order failed; retrying later',
    );
    await transaction
      .update(tables.marketplaceOrders)
      .set({
        attempts,
        lastError: failure.reason,
        nextAttemptAt: sql`now() + make_interval(secs => ${delayMs / 1000})`,
        updatedAt: sql`now()`,
      })
      .where(eq(tables.marketplaceOrders.id, row.id));
    return false;
  });
}
