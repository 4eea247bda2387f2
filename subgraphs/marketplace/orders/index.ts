import type { Config } from '../../../platform/config.js';
import {
  startEventConsumer,
  type EventConsumer,
} from '../../../platform/event-consumer.js';
import type { Logger } from '../../../platform/logger.js';
import { eventsUrl, OrdersImportClient } from './clients.js';
import {
  recordShipmentLabels,
  pushPendingFulfillments,
  SHIPMENT_STATUS_CHANGED,
} from './fulfillment.js';
import {
  importPendingOrders,
  pollConnections,
  type AdapterLookup,
  type MarketplaceDatabase,
} from './import.js';

export interface MarketplaceOrderWork {
  /** Runs a pass soon, such as after a shipment was recorded. */
  wake(): void;
  /** Stops polling and the consumer; resolves once a running pass ends. */
  stop(): Promise<void>;
}

/** Delay between a wake-up and its pass, so the waking transaction has committed. */
const WAKE_DELAY_MS = 50;

/**
 * Starts the order side of the marketplace service:
 * - every MARKETPLACE_ORDER_POLL_INTERVAL_MS, a pass that polls each
 *   ACTIVE connection for orders, imports the paid ones into the orders
 *   service and reports recorded shipments, retrying failures with backoff;
 * - a consumer of the shipments stream that records a report for every
 *   label bought for an imported order, and wakes the pass.
 * An interval of 0 starts neither.
 */
export function startMarketplaceOrderWork(options: {
  db: MarketplaceDatabase;
  config: Config;
  logger: Logger;
  adapterFor: AdapterLookup;
}): MarketplaceOrderWork {
  const { db, config, adapterFor } = options;
  const logger = options.logger.child({ component: 'marketplace-orders' });
  const intervalMs = config.MARKETPLACE_ORDER_POLL_INTERVAL_MS;
  if (intervalMs === 0) {
    return { wake() {}, stop: async () => {} };
  }
  const orders = new OrdersImportClient(config);
  let stopped = false;
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;

  async function pass(): Promise<void> {
    try {
      await pollConnections(db, adapterFor, config, logger);
      await importPendingOrders(db, orders, logger);
      await pushPendingFulfillments(db, adapterFor, logger);
    } catch (error) {
      logger.warn({ err: error }, 'marketplace order pass failed');
    }
  }

  function schedule(delayMs: number): void {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, delayMs);
  }

  function run(): void {
    timer = null;
    if (stopped) return;
    if (running) {
      schedule(WAKE_DELAY_MS);
      return;
    }
    running = pass().finally(() => {
      running = null;
      // Passes run at least every interval; retries due sooner wait for
      // the next pass, so their delay is rounded up to the interval.
      if (!timer) schedule(intervalMs);
    });
  }

  const consumer: EventConsumer = startEventConsumer({
    name: 'marketplace.fulfillment-reports',
    caller: 'marketplace',
    source: { service: 'shipments', url: eventsUrl(config, 'shipments') },
    types: [SHIPMENT_STATUS_CHANGED],
    db,
    config,
    logger,
    handle: async (events, transaction) => {
      await recordShipmentLabels(events, transaction, logger);
      schedule(WAKE_DELAY_MS);
    },
  });

  schedule(0);
  return {
    wake: () => schedule(WAKE_DELAY_MS),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await consumer.stop();
      await running;
      await orders.close();
    },
  };
}
