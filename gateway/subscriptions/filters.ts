import type { StreamEvent } from '../../platform/event-stream.js';
import type { SubscriptionFieldName } from '../../platform/subscription-fields.js';
import type { CallerIdentity } from '../caller.js';

/** Decides whether one event of a field's stream goes to one subscription. */
export type EventFilter = (event: StreamEvent) => boolean;

/**
 * Returns the filter of a subscription to `field` with the root field's
 * arguments `args`, for `caller`. The gateway filters with the event's
 * payload alone, so an event that no subscriber wants costs no subgraph
 * request.
 *
 * A customer receives only events whose payload names them as
 * `customerId`, whatever the field: events without one, such as those of
 * marketplace orders, never reach a customer. The subgraph checks the same
 * when it resolves the event.
 */
export function createEventFilter(
  field: SubscriptionFieldName,
  args: Record<string, unknown>,
  caller: CallerIdentity,
): EventFilter {
  const checks: Array<(payload: Record<string, unknown>) => boolean> = [];
  if (caller.kind === 'customer') {
    const customerId = caller.subject;
    checks.push((payload) => payload.customerId === customerId);
  }
  switch (field) {
    case 'stockChanged':
      addListCheck(checks, args.skus, 'sku');
      break;
    case 'orderStatusChanged':
    case 'shipmentUpdated':
      addValueCheck(checks, args.orderId, 'orderId');
      break;
    case 'listingSyncChanged':
      addListCheck(checks, args.listingIds, 'listingId');
      break;
  }
  return (event) => {
    const payload = event.payload;
    if (typeof payload !== 'object' || payload === null) return false;
    return checks.every((check) => check(payload as Record<string, unknown>));
  };
}

function addListCheck(
  checks: Array<(payload: Record<string, unknown>) => boolean>,
  values: unknown,
  key: string,
): void {
  if (!Array.isArray(values)) return;
  const selected = new Set(values.map(String));
  checks.push((payload) => selected.has(String(payload[key])));
}

function addValueCheck(
  checks: Array<(payload: Record<string, unknown>) => boolean>,
  value: unknown,
  key: string,
): void {
  if (value === undefined || value === null) return;
  const selected = String(value);
  checks.push((payload) => String(payload[key]) === selected);
}
