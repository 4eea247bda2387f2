import { requirePermission } from '../../platform/permissions.js';
import { toMoney } from '../../platform/money.js';
import { orderShipmentsVisibleTo, visibleShipment } from './access.js';
import type { Rate } from './carriers/carrier.js';
import { shipmentsDependencies } from './dependencies.js';
import {
  cancelShipment,
  createFulfillment,
  type ShipmentResult,
} from './fulfillment.js';
import { fulfillmentStatusOf } from './fulfillment-status.js';
import type { Resolvers } from './generated/resolvers.js';
import { resolveShippingQuote } from './checkout-quotes.js';
import { buyLabel, quoteRates } from './labels.js';
import { subscriptionResolvers } from './subscription-resolvers.js';

function shippingRate(rate: Rate) {
  return {
    rateId: rate.rateId,
    carrier: rate.carrier,
    service: rate.service,
    price: toMoney(rate.amount, rate.currencyCode),
    estimatedDays: rate.estimatedDays,
  };
}

function shipmentPayload(result: ShipmentResult) {
  return { shipment: result.shipment, userErrors: result.userErrors };
}

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
    shipmentRates: async (_parent, { shipmentId }, context) => {
      requirePermission(context.caller, 'write_shipments');
      const result = await quoteRates(
        context.db,
        shipmentsDependencies(context.db, context.config),
        context.config,
        context.logger,
        shipmentId,
      );
      return {
        rates: result.rates.map(shippingRate),
        userErrors: result.userErrors,
      };
    },
    shippingQuote: (_parent, { input }, context) =>
      resolveShippingQuote(context, input),
  },

  Mutation: {
    fulfillmentCreate: async (_parent, { input }, context) => {
      requirePermission(context.caller, 'write_shipments');
      return shipmentPayload(
        await createFulfillment(
          context.db,
          shipmentsDependencies(context.db, context.config),
          context.logger,
          input,
        ),
      );
    },
    shipmentBuyLabel: async (_parent, { input }, context) => {
      requirePermission(context.caller, 'write_shipments');
      return shipmentPayload(
        await buyLabel(
          context.db,
          shipmentsDependencies(context.db, context.config),
          context.logger,
          input,
        ),
      );
    },
    shipmentCancel: async (_parent, { input }, context) => {
      requirePermission(context.caller, 'write_shipments');
      return shipmentPayload(
        await cancelShipment(
          context.db,
          shipmentsDependencies(context.db, context.config),
          context.logger,
          input.shipmentId,
        ),
      );
    },
  },

  // The orders service owns orders, so this service cannot tell whether an
  // order exists. A reference is returned as it is, and the fields added
  // here are looked up by its ID. A customer gets only their own shipments
  // of it, and the fulfillment status is computed from those; a caller
  // whose reference carries the orders service's grant for the order
  // (`accessGrant`, such as a guest after orderLookup) gets all of them.
  Order: {
    __resolveReference: (reference) => ({
      id: reference.id,
      accessGrant: reference.accessGrant ?? null,
    }),
    shipments: async (order, _args, context) =>
      orderShipmentsVisibleTo(
        context,
        order,
        (await context.loaders.fulfillmentByOrderId.load(order.id)).shipments,
      ),
    fulfillmentStatus: async (order, _args, context) => {
      const { loaders } = context;
      const fulfillment = await loaders.fulfillmentByOrderId.load(order.id);
      const visible = await orderShipmentsVisibleTo(
        context,
        order,
        fulfillment.shipments,
      );
      const shipments = await Promise.all(
        visible.map(async (shipment) => ({
          status: shipment.status,
          lines: await loaders.linesByShipmentId.load(shipment.id),
        })),
      );
      return fulfillmentStatusOf(shipments, fulfillment.orderLines);
    },
  },

  Subscription: subscriptionResolvers,

  Shipment: {
    __resolveReference: async (reference, { loaders, caller }) =>
      visibleShipment(caller, await loaders.shipmentById.load(reference.id)),
    order: (shipment) => ({ id: shipment.orderId }),
    lines: (shipment, _args, { loaders }) =>
      loaders.linesByShipmentId.load(shipment.id),
    trackingEvents: (shipment, _args, { loaders }) =>
      loaders.trackingEventsByShipmentId.load(shipment.id),
    estimatedDeliveryAt: (shipment) =>
      shipment.estimatedDeliveryAt?.toISOString() ?? null,
    createdAt: (shipment) => shipment.createdAt.toISOString(),
    updatedAt: (shipment) => shipment.updatedAt.toISOString(),
  },

  TrackingEvent: {
    occurredAt: (event) => event.occurredAt.toISOString(),
  },
};
