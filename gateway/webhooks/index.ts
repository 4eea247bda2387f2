import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Sql } from 'postgres';
import type { Config, ServiceName } from '../../platform/config.js';
import { ErrorCode, summarizeError } from '../../platform/errors.js';
import type { EventConsumer } from '../../platform/event-consumer.js';
import { createEventStreamRoute } from '../../platform/event-stream.js';
import { sendJson } from '../../platform/http-server.js';
import { createSubgraphAuthenticator } from '../../platform/identity.js';
import type { Logger } from '../../platform/logger.js';
import type { CallerIdentity } from '../caller.js';
import type { GatewayDatabase } from '../db/database.js';
import { startDeliveryConsumer, startWebhookConsumers } from './consumer.js';
import type { EventSource } from './event-types.js';
import { createWebhookRoutes } from './routes.js';
import { startDeliveryWorker } from './worker.js';
import type { PrepareDocument } from './documents.js';
import { eventsUrlBeside } from '../../platform/event-stream-client.js';

const EVENTS_PATH = '/events';

export interface Webhooks {
  /**
   * Serves `/admin/webhooks` routes and the gateway's event stream at
   * `GET /events`; returns false for other paths.
   */
  handleRequest(
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<boolean>;
  /**
   * Starts the consumer of the gateway's own stream, which delivers
   * `webhook.endpoint_disabled` to staff endpoints. Call it once the
   * gateway listens at `gatewayUrl`, its GraphQL URL.
   */
  consumeGatewayStream(gatewayUrl: string): void;
  /**
   * Ends requests waiting on `/events`, then stops the consumers and the
   * delivery worker. Call it before the HTTP server closes, so no waiting
   * stream request delays the close.
   */
  close(): Promise<void>;
}

/**
 * Starts webhooks in the gateway: the admin routes, one event consumer per
 * subgraph stream and one of the gateway's own stream that record
 * deliveries, the delivery worker, and the gateway's `GET /events`, which
 * serves the gateway database's outbox to signed service identities as the
 * subgraphs' route does (docs/events.md).
 */
export function startWebhooks(options: {
  config: Config;
  logger: Logger;
  db: GatewayDatabase;
  authenticate(request: IncomingMessage): Promise<CallerIdentity>;
  /** GraphQL URL of a subgraph; its `/events` route is beside it. */
  subgraphUrl(service: ServiceName): string;
  /** Plans subscription documents that shape endpoints' payloads. */
  prepareDocument?: PrepareDocument;
}): Webhooks {
  const { config, db } = options;
  const logger = options.logger.child({ component: 'webhooks' });
  let gatewayEventsUrl: string | undefined;
  const eventsUrl = (source: EventSource): string | undefined =>
    source === 'gateway'
      ? gatewayEventsUrl
      : eventsUrlBeside(options.subgraphUrl(source));

  const consumers: EventConsumer[] = startWebhookConsumers({
    config,
    logger,
    db,
    eventsUrl: (service) => eventsUrl(service)!,
    prepareDocument: options.prepareDocument,
  });
  const worker = startDeliveryWorker({
    config,
    logger,
    db,
    prepareDocument: options.prepareDocument,
  });

  // The stream route verifies service identities as the subgraphs do,
  // with the verification keys of IDENTITY_PUBLIC_KEY or the gateway's own.
  let serviceAuthenticator:
    ReturnType<typeof createSubgraphAuthenticator> | undefined;
  const eventStream = createEventStreamRoute({
    db,
    // drizzle() keeps the postgres.js client it was given as `$client`.
    sql: (db as unknown as { $client: Sql }).$client,
    authenticate: async (request) => {
      serviceAuthenticator ??= createSubgraphAuthenticator(config).catch(
        (error: unknown) => {
          serviceAuthenticator = undefined;
          throw error;
        },
      );
      return (await serviceAuthenticator).authenticate(request);
    },
    logger: logger.child({ component: 'event-stream' }),
  });

  const handleWebhookRequest = createWebhookRoutes({
    config,
    db,
    authenticate: options.authenticate,
    logger,
    eventsUrl,
    prepareDocument: options.prepareDocument,
  });

  async function handleEventStreamRequest(
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    const method = request.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      sendJson(response, 405, {
        error: 'Use GET on this route.',
        code: 'METHOD_NOT_ALLOWED',
      });
      return;
    }
    try {
      await eventStream.route(request, response);
    } catch (error) {
      logger.error(
        { err: summarizeError(error), path: EVENTS_PATH },
        'event stream request failed',
      );
      if (response.headersSent) {
        response.destroy();
        return;
      }
      sendJson(response, 500, {
        error: 'Internal server error.',
        code: ErrorCode.InternalServerError,
      });
    }
  }

  let closed = false;
  return {
    async handleRequest(request, response) {
      const url = request.url ?? '/';
      const queryStart = url.indexOf('?');
      const pathname = queryStart === -1 ? url : url.slice(0, queryStart);
      if (pathname === EVENTS_PATH) {
        await handleEventStreamRequest(request, response);
        return true;
      }
      return handleWebhookRequest(request, response);
    },
    consumeGatewayStream(gatewayUrl) {
      if (closed || gatewayEventsUrl !== undefined) return;
      gatewayEventsUrl = eventsUrlBeside(gatewayUrl);
      consumers.push(
        startDeliveryConsumer(
          { config, logger, db },
          'gateway',
          gatewayEventsUrl,
        ),
      );
    },
    async close() {
      closed = true;
      await Promise.all([
        eventStream.close(),
        ...consumers.map((consumer) => consumer.stop()),
        worker.stop(),
      ]);
    },
  };
}
