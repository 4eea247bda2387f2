import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config, ServiceName } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import type { CallerIdentity } from '../caller.js';
import type { GatewayDatabase } from '../db/database.js';
import { startWebhookConsumers } from './consumer.js';
import { createWebhookRoutes } from './routes.js';
import { startDeliveryWorker } from './worker.js';

export interface Webhooks {
  /** Serves `/admin/webhooks` routes; returns false for other paths. */
  handleRequest(
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<boolean>;
  /** Stops the consumers and the delivery worker. */
  close(): Promise<void>;
}

/**
 * Starts webhooks in the gateway: the admin routes, one event consumer per
 * subgraph stream that records deliveries, and the delivery worker.
 */
export function startWebhooks(options: {
  config: Config;
  logger: Logger;
  db: GatewayDatabase;
  authenticate(request: IncomingMessage): Promise<CallerIdentity>;
  /** GraphQL URL of a subgraph; its `/events` route is beside it. */
  subgraphUrl(service: ServiceName): string;
}): Webhooks {
  const logger = options.logger.child({ component: 'webhooks' });
  const consumers = startWebhookConsumers({
    config: options.config,
    logger,
    db: options.db,
    eventsUrl: (service) => {
      const url = new URL(options.subgraphUrl(service));
      url.pathname = url.pathname.replace(/\/graphql\/?$/, '') + '/events';
      return url.toString();
    },
  });
  const worker = startDeliveryWorker({
    config: options.config,
    logger,
    db: options.db,
  });
  return {
    handleRequest: createWebhookRoutes({
      config: options.config,
      db: options.db,
      authenticate: options.authenticate,
      logger,
    }),
    async close() {
      await Promise.all([
        ...consumers.map((consumer) => consumer.stop()),
        worker.stop(),
      ]);
    },
  };
}
