import type { Config } from '../../../platform/config.js';
import type { Database } from '../../../platform/database.js';
import {
  startEventConsumer,
  type EventConsumer,
} from '../../../platform/event-consumer.js';
import type { Logger } from '../../../platform/logger.js';
import type * as tables from '../db/tables.js';
import {
  collectCashOnDelivery,
  SHIPMENT_DELIVERED,
} from './cash-on-delivery.js';
import { eventsUrlBeside } from '../../../platform/event-stream-client.js';

/**
 * URL of the shipments service's event stream: SHIPMENTS_URL (its GraphQL
 * URL, as the gateway uses it) with `/graphql` replaced by `/events`, else
 * `http://<HOST>:<SHIPMENTS_PORT>/events`, with a wildcard HOST (0.0.0.0
 * or ::) replaced by 127.0.0.1.
 */
export function shipmentsEventsUrl(config: Config): string {
  if (config.SHIPMENTS_URL) return eventsUrlBeside(config.SHIPMENTS_URL);
  const host =
    config.HOST === '0.0.0.0' || config.HOST === '::'
      ? '127.0.0.1'
      : config.HOST.includes(':')
        ? `[${config.HOST}]`
        : config.HOST;
  return `http://${host}:${config.SHIPMENTS_PORT}/events`;
}

/**
 * Starts the orders service's consumers of other services' events: cash on
 * delivery is recorded as collected when shipments reports a delivery.
 */
export function startOrdersEventConsumers(options: {
  db: Database<typeof tables>;
  config: Config;
  logger: Logger;
}): EventConsumer {
  const logger = options.logger.child({ component: 'events' });
  return startEventConsumer({
    name: 'orders.cash-on-delivery',
    caller: 'orders',
    source: { service: 'shipments', url: shipmentsEventsUrl(options.config) },
    types: [SHIPMENT_DELIVERED],
    db: options.db,
    config: options.config,
    logger,
    handle: (events, transaction) =>
      collectCashOnDelivery(events, transaction, logger),
  });
}
