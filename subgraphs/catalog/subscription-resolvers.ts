import { isUuid } from '../../platform/ids.js';
import { requirePermission } from '../../platform/permissions.js';
import {
  loadSubscriptionEvent,
  payloadString,
  rejectSubgraphSubscription,
  requiredPayloadInteger,
  requiredPayloadString,
} from '../../platform/subscription-event.js';
import type { Context } from './context.js';
import type {
  ResolversTypes,
  SubscriptionResolveFn,
  SubscriptionResolvers,
} from './generated/resolvers.js';

/**
 * Resolves `stockChanged` for the one `stock.changed` event that the
 * gateway names in the `x-commerce-event-position` header.
 */
const resolveStockChanged: SubscriptionResolveFn<
  ResolversTypes['StockChange'],
  unknown,
  Context,
  unknown
> = async (_root, _args, { db, loaders, caller, eventPosition }) => {
  // A request sent to the subgraph directly has passed no gateway
  // check, so the field's scope is checked here too.
  requirePermission(caller, 'read_inventory');
  const event = await loadSubscriptionEvent(db, eventPosition, 'stockChanged');
  const variantId = payloadString(event, 'variantId');
  // The variant is loaded here, not in a field resolver, because the
  // generated StockChange type has no room for the variant id.
  const variant =
    variantId !== null && isUuid(variantId)
      ? await loaders.variantById.load(variantId)
      : null;
  return {
    position: event.position,
    eventId: event.id,
    occurredAt: event.occurredAt,
    sku: requiredPayloadString(event, 'sku'),
    variant,
    locationId: payloadString(event, 'locationId'),
    onHand: requiredPayloadInteger(event, 'onHand'),
    reserved: requiredPayloadInteger(event, 'reserved'),
    available: requiredPayloadInteger(event, 'available'),
    delta: requiredPayloadInteger(event, 'delta'),
    reason: requiredPayloadString(event, 'reason'),
  };
};

export const subscriptionResolvers: SubscriptionResolvers = {
  stockChanged: {
    subscribe: rejectSubgraphSubscription('stockChanged'),
    resolve: resolveStockChanged,
  },
};
