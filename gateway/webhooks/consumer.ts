import { and, eq, isNull, or, sql } from 'drizzle-orm';
import { SERVICE_NAMES, type Config } from '../../platform/config.js';
import {
  startEventConsumer,
  type EventConsumer,
} from '../../platform/event-consumer.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import { tables, type GatewayDatabase } from '../db/database.js';
import { prepareEndpointDocument, type PrepareDocument } from './documents.js';
import {
  eventTypesOf,
  WEBHOOK_EVENT_TYPES,
  type EventSource,
} from './event-types.js';

interface ConsumerOptions {
  config: Config;
  logger: Logger;
  db: GatewayDatabase;
  /** Plans the subscription documents of endpoints that have one. */
  prepareDocument?: PrepareDocument;
}

/**
 * Starts one event consumer per subgraph stream, each recording deliveries
 * as `startDeliveryConsumer` describes.
 */
export function startWebhookConsumers(
  options: ConsumerOptions & {
    /** URL of a subgraph's `/events` route. */
    eventsUrl(service: EventSource): string;
  },
): EventConsumer[] {
  return SERVICE_NAMES.map((service) =>
    startDeliveryConsumer(options, service, options.eventsUrl(service)),
  );
}

/**
 * Starts the event consumer of one stream, the gateway's own included.
 * Each batch inserts a PENDING delivery per event and enabled endpoint
 * subscribed to its type, in the consumer's transaction, so a delivery is
 * recorded exactly when the stream position passes its event. An endpoint
 * receives only events that occurred at or after its creation, and types
 * without a read scope go to staff endpoints only.
 */
export function startDeliveryConsumer(
  options: ConsumerOptions,
  service: EventSource,
  eventsUrl: string,
): EventConsumer {
  return startEventConsumer({
    name: 'gateway.webhooks',
    caller: 'gateway',
    source: { service, url: eventsUrl },
    types: eventTypesOf(service),
    db: options.db,
    config: options.config,
    logger: options.logger,
    async handle(events, transaction) {
      const endpoints = await transaction
        .select({
          id: tables.webhookEndpoints.id,
          partnerKeyId: tables.webhookEndpoints.partnerKeyId,
          eventTypes: tables.webhookEndpoints.eventTypes,
          createdAt: tables.webhookEndpoints.createdAt,
          subscriptionQuery: tables.webhookEndpoints.subscriptionQuery,
          subscriptionVariables: tables.webhookEndpoints.subscriptionVariables,
          subscriptionCaller: tables.webhookEndpoints.subscriptionCaller,
        })
        .from(tables.webhookEndpoints)
        .leftJoin(
          tables.partnerKeys,
          eq(tables.partnerKeys.id, tables.webhookEndpoints.partnerKeyId),
        )
        .where(
          and(
            eq(tables.webhookEndpoints.enabled, true),
            or(
              isNull(tables.webhookEndpoints.partnerKeyId),
              and(
                isNull(tables.partnerKeys.revokedAt),
                or(
                  isNull(tables.partnerKeys.expiresAt),
                  sql`${tables.partnerKeys.expiresAt} > now()`,
                ),
              ),
            ),
          ),
        );
      // An endpoint with a subscription document receives the events its
      // arguments select, such as the changes of some SKUs only. A document
      // that no longer plans (the supergraph changed) filters nothing: the
      // deliveries are recorded, and fail with the reason when sent.
      const documents = new Map(
        endpoints.map((endpoint) => {
          const prepared = prepareEndpointDocument(
            options.prepareDocument,
            endpoint.id,
            endpoint,
            options.logger,
          );
          return [endpoint.id, prepared?.ok ? prepared : null] as const;
        }),
      );
      const rows = events.flatMap((event) => {
        // NOTE: occurredAt comes from the subgraph's database clock and
        // createdAt from the gateway's, so clock skew between the two
        // servers moves the first event an endpoint receives.
        const occurredAt = new Date(event.occurredAt);
        const staffOnly = WEBHOOK_EVENT_TYPES[event.type]?.scope === null;
        return endpoints
          .filter(
            (endpoint) =>
              endpoint.eventTypes.includes(event.type) &&
              endpoint.createdAt <= occurredAt &&
              !(staffOnly && endpoint.partnerKeyId !== null) &&
              (documents.get(endpoint.id)?.wants(event) ?? true),
          )
          .map((endpoint) => ({
            id: uuidv7(),
            endpointId: endpoint.id,
            eventId: event.id,
            source: service,
            eventPosition: event.position,
            type: event.type,
            payload: event.payload,
            occurredAt,
          }));
      });
      if (rows.length === 0) return;
      // One statement numbers `sequence` in the order of `rows`, which is
      // the stream's order.
      await transaction
        .insert(tables.webhookDeliveries)
        .values(rows)
        .onConflictDoNothing();
    },
  });
}
