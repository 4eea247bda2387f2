import { GraphQLError } from 'graphql';
import { ErrorCode } from '../../platform/errors.js';
import type { Resolvers } from './generated/resolvers.js';

/**
 * `Query.orderForFulfillment`, which the shipments service calls with a
 * signed service identity. The field is @inaccessible, so the gateway
 * never plans it, but a request sent to the subgraph directly with another
 * identity still reaches the resolver and is rejected here.
 */
export const fulfillmentResolvers: Resolvers = {
  Query: {
    orderForFulfillment: async (_parent, { id }, { loaders, caller }) => {
      if (caller.kind !== 'service') {
        throw new GraphQLError(
          'orderForFulfillment is for services only: sign the request with a service identity (signServiceIdentity in platform/identity.ts).',
          { extensions: { code: ErrorCode.Forbidden } },
        );
      }
      const order = await loaders.orderById.load(id);
      if (!order) return null;
      const lines = await loaders.linesByOrderId.load(order.id);
      return {
        id: order.id,
        number: order.number,
        customerId: order.customerId,
        email: order.email,
        financialStatus: order.financialStatus,
        shippingAddress: order.shippingAddress ?? null,
        shippingMethodCode: order.shippingMethodCode,
        lines: lines.map((line) => ({
          id: line.id,
          sku: line.sku,
          variantId: line.variantId,
          title: line.title,
          quantity: line.quantity,
        })),
      };
    },
  },
};
