import { requirePermission } from '../../platform/permissions.js';
import { visibleShipment, visibleShipments } from './access.js';
import { fulfillmentStatusOf } from './fulfillment-status.js';
import type { Resolvers } from './generated/resolvers.js';

export const resolvers: Resolvers = {
  Query: {
    // A customer needs no permission to read their own shipments. Staff,
    // partners and services need read_shipments, as the gateway's
    // customer_or_read_shipments policy requires.
    shipment: async (_parent, { id }, { loaders, caller }) => {
      if (caller.kind === 'anonymous') return null;
      if (caller.kind !== 'customer') {
        requirePermission(caller, 'read_shipments');
      }
      return visibleShipment(caller, await loaders.shipmentById.load(id));
    },
  },

  // The orders service owns orders, so this service cannot tell whether an
  // order exists. A reference is returned as it is, and the fields added
  // here are looked up by its ID. A customer gets only their own shipments
  // of it, and the fulfillment status is computed from those.
  Order: {
    __resolveReference: (reference) => ({ id: reference.id }),
    shipments: async (order, _args, { loaders, caller }) =>
      visibleShipments(caller, await loaders.shipmentsByOrderId.load(order.id)),
    fulfillmentStatus: async (order, _args, { loaders, caller }) =>
      fulfillmentStatusOf(
        visibleShipments(
          caller,
          await loaders.shipmentsByOrderId.load(order.id),
        ),
      ),
  },

  Shipment: {
    __resolveReference: async (reference, { loaders, caller }) =>
      visibleShipment(caller, await loaders.shipmentById.load(reference.id)),
    order: (shipment) => ({ id: shipment.orderId }),
    trackingEvents: (shipment, _args, { loaders }) =>
      loaders.trackingEventsByShipmentId.load(shipment.id),
    createdAt: (shipment) => shipment.createdAt.toISOString(),
    updatedAt: (shipment) => shipment.updatedAt.toISOString(),
  },

  TrackingEvent: {
    occurredAt: (event) => event.occurredAt.toISOString(),
  },
};
