import { and, eq, isNull, or, sql } from 'drizzle-orm';
import {
  SERVICE_NAMES,
  type Config,
  type ServiceName,
} from '../../platform/config.js';
import {
  startEventConsumer,
  type EventConsumer,
} from '../../platform/event-consumer.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import { tables, type GatewayDatabase } from '../db/database.js';
import { eventTypesOf } from './event-types.js';

/**
 * Starts one event consumer per subgraph stream. Each batch inserts a
 * PENDING delivery per event and enabled endpoint subscribed to its type,
 * in the consumer's transaction, so a delivery is recorded exactly when
 * the stream position passes its event. An endpoint receives only events
 * that occurred at or after its creation.
 */
export function startWebhookConsumers(options: {
  config: Config;
  logger: Logger;
  db: GatewayDatabase;
  /** URL of a subgraph's `/events` route. */
  eventsUrl(service: ServiceName): string;
}): EventConsumer[] {
  return SERVICE_NAMES.map((service) =>
    startEventConsumer({
      name: 'gateway.webhooks',
      caller: 'gateway',
      source: { service, url: options.eventsUrl(service) },
      types: eventTypesOf(service),
      db: options.db,
      config: options.config,
      logger: options.logger,
      async handle(events, transaction) {
        const endpoints = await transaction
          .select({
            id: tables.webhookEndpoints.id,
            eventTypes: tables.webhookEndpoints.eventTypes,
            createdAt: tables.webhookEndpoints.createdAt,
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
        const rows = events.flatMap((event) => {
          // NOTE: occurredAt comes from the subgraph's database clock and
          // createdAt from the gateway's, so clock skew between the two
          // servers moves the first event an endpoint receives.
          const occurredAt = new Date(event.occurredAt);
          return endpoints
            .filter(
              (endpoint) =>
                endpoint.eventTypes.includes(event.type) &&
                endpoint.createdAt <= occurredAt,
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
    }),
  );
}
