import { fulfillmentStatusOf } from './fulfillment-status.js';
import type { Resolvers } from './generated/resolvers.js';

export const resolvers: Resolvers = {
  Query: {
    shipment: (_parent, { id }, { loaders }) => loaders.shipmentById.load(id),
  },

  // The orders service owns orders, so this service cannot tell whether an
  // order exists. A reference is returned as it is, and the fields added
  // here are looked up by its ID.
  Order: {
    __resolveReference: (reference) => ({ id: reference.id }),
    shipments: (order, _args, { loaders }) =>
      loaders.shipmentsByOrderId.load(order.id),
    fulfillmentStatus: async (order, _args, { loaders }) =>
      fulfillmentStatusOf(await loaders.shipmentsByOrderId.load(order.id)),
  },

  Shipment: {
    __resolveReference: (reference, { loaders }) =>
      loaders.shipmentById.load(reference.id),
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
