import { isUuid } from '../../platform/ids.js';
import { requirePermission } from '../../platform/permissions.js';
import {
  loadSubscriptionEvent,
  payloadEnum,
  payloadString,
  rejectSubgraphSubscription,
  requiredPayloadString,
} from '../../platform/subscription-event.js';
import { visibleShipment } from './access.js';
import type { Context } from './context.js';
import { shipmentStatus } from './db/tables.js';
import type {
  ResolversTypes,
  SubscriptionResolveFn,
  SubscriptionResolvers,
} from './generated/resolvers.js';

const SHIPMENT_STATUSES = shipmentStatus.enumValues;

/**
 * Resolves `shipmentUpdated` for the one shipment event that the gateway
 * names in the `x-commerce-event-position` header.
 */
const resolveShipmentUpdated: SubscriptionResolveFn<
  ResolversTypes['ShipmentUpdate'],
  unknown,
  Context,
  unknown
> = async (_root, _args, { db, loaders, caller, eventPosition }) => {
  // A request sent to the subgraph directly has passed no gateway check,
  // so the field's scope is checked here too.
  requirePermission(caller, 'read_shipments');
  const event = await loadSubscriptionEvent(
    db,
    eventPosition,
    'shipmentUpdated',
  );
  const shipmentId = requiredPayloadString(event, 'shipmentId');
  const shipment = isUuid(shipmentId)
    ? await loaders.shipmentById.load(shipmentId)
    : null;
  return {
    position: event.position,
    eventId: event.id,
    occurredAt: event.occurredAt,
    type: event.type,
    shipmentId,
    orderId: requiredPayloadString(event, 'orderId'),
    // `shipment.created` names the first status, status changes the new one.
    status:
      payloadEnum(event, 'to', SHIPMENT_STATUSES) ??
      payloadEnum(event, 'status', SHIPMENT_STATUSES),
    trackingNumber: payloadString(event, 'trackingNumber'),
    shipment: visibleShipment(caller, shipment),
  };
};

export const subscriptionResolvers: SubscriptionResolvers = {
  shipmentUpdated: {
    subscribe: rejectSubgraphSubscription('shipmentUpdated'),
    resolve: resolveShipmentUpdated,
  },
};
