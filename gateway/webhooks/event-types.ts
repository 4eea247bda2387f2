import type { ServiceName } from '../../platform/config.js';
import type { Scope } from '../../platform/permissions.js';

/** Service whose stream carries an event: a subgraph, or the gateway itself. */
export type EventSource = ServiceName | 'gateway';

/**
 * Event types that webhooks may subscribe to, each with the service that
 * emits it and the scope a partner key needs to receive it. A null scope
 * marks a type for staff endpoints only. The subgraphs' types and their
 * payloads are listed in docs/events.md, the gateway's in docs/webhooks.md.
 */
export const WEBHOOK_EVENT_TYPES: Record<
  string,
  { service: EventSource; scope: Scope | null }
> = {
  'product.created': { service: 'catalog', scope: 'read_products' },
  'product.updated': { service: 'catalog', scope: 'read_products' },
  'stock.changed': { service: 'catalog', scope: 'read_inventory' },
  'order.created': { service: 'orders', scope: 'read_orders' },
  'order.paid': { service: 'orders', scope: 'read_orders' },
  'order.partially_refunded': { service: 'orders', scope: 'read_orders' },
  'order.refunded': { service: 'orders', scope: 'read_orders' },
  'order.cancelled': { service: 'orders', scope: 'read_orders' },
  'order.financial_status_changed': {
    service: 'orders',
    scope: 'read_orders',
  },
  'order.needs_attention': { service: 'orders', scope: 'read_orders' },
  'payment.authorized': { service: 'orders', scope: 'read_orders' },
  'payment.captured': { service: 'orders', scope: 'read_orders' },
  'payment.declined': { service: 'orders', scope: 'read_orders' },
  'payment.pending': { service: 'orders', scope: 'read_orders' },
  'payment.requires_action': { service: 'orders', scope: 'read_orders' },
  'shipment.created': { service: 'shipments', scope: 'read_shipments' },
  'shipment.status_changed': {
    service: 'shipments',
    scope: 'read_shipments',
  },
  'shipment.delivered': { service: 'shipments', scope: 'read_shipments' },
  'listing.synced': { service: 'marketplace', scope: 'read_listings' },
  'listing.sync_failed': { service: 'marketplace', scope: 'read_listings' },
  'webhook.endpoint_disabled': { service: 'gateway', scope: null },
};

/** Returns the webhook event types that `service` emits. */
export function eventTypesOf(service: EventSource): string[] {
  return Object.entries(WEBHOOK_EVENT_TYPES)
    .filter(([, entry]) => entry.service === service)
    .map(([type]) => type);
}
