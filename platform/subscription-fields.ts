import type { ServiceName } from './config.js';

/**
 * Header with which the gateway requests a subgraph to resolve a subscription
 * field for one event of its stream: the event's position,
 * `<transaction id>.<sequence>`. The subgraph reads that event from its own
 * outbox, so only committed events are ever resolved, whatever the request
 * claims.
 */
export const EVENT_POSITION_HEADER = 'x-commerce-event-position';

/** Source of the events of one subscription root field. */
export interface SubscriptionFieldSource {
  /** The subgraph that defines the field and whose event stream feeds it. */
  service: ServiceName;
  /** Event types of that stream that the field reports. */
  types: readonly string[];
}

/**
 * Every subscription root field of the supergraph and its event source.
 * The gateway reads these streams and requests the defining subgraph to
 * resolve the field for each matching event. The subgraph rejects events
 * of other types.
 *
 * A field's arguments only choose events, and the gateway applies them
 * (gateway/subscriptions/filters.ts). The subgraph resolves the field from
 * the event alone, so the gateway shares one execution per event between
 * subscriptions that differ only in those arguments.
 */
export const SUBSCRIPTION_FIELDS = {
  stockChanged: { service: 'catalog', types: ['stock.changed'] },
  orderStatusChanged: {
    service: 'orders',
    types: [
      'order.created',
      'order.paid',
      'order.partially_refunded',
      'order.refunded',
      'order.cancelled',
      'order.financial_status_changed',
    ],
  },
  shipmentUpdated: {
    service: 'shipments',
    types: [
      'shipment.created',
      'shipment.status_changed',
      'shipment.delivered',
    ],
  },
  listingSyncChanged: {
    service: 'marketplace',
    types: ['listing.synced', 'listing.sync_failed'],
  },
} as const satisfies Record<string, SubscriptionFieldSource>;

export type SubscriptionFieldName = keyof typeof SUBSCRIPTION_FIELDS;

export function isSubscriptionFieldName(
  name: string,
): name is SubscriptionFieldName {
  return Object.hasOwn(SUBSCRIPTION_FIELDS, name);
}
