import { toMoney } from '../../platform/money.js';
import type { Resolvers } from './generated/resolvers.js';

// TODO: order and customer lookups check no identity yet. Once the gateway
// forwards a signed identity, limit them to staff and the owning customer.
export const resolvers: Resolvers = {
  Query: {
    order: (_parent, { id }, { loaders }) => loaders.orderById.load(id),
    customer: (_parent, { id }, { loaders }) => loaders.customerById.load(id),
  },

  Order: {
    __resolveReference: (reference, { loaders }) =>
      loaders.orderById.load(reference.id),
    customer: (order, _args, { loaders }) =>
      order.customerId ? loaders.customerById.load(order.customerId) : null,
    totalPrice: (order) => toMoney(order.totalAmount, order.currencyCode),
    lines: (order, _args, { loaders }) => loaders.linesByOrderId.load(order.id),
    createdAt: (order) => order.createdAt.toISOString(),
    updatedAt: (order) => order.updatedAt.toISOString(),
  },

  OrderLine: {
    // A line's price is always in its order's currency, so the order is
    // loaded for the code; the loader batches it with the other lines.
    unitPrice: async (line, _args, { loaders }) => {
      const order = await loaders.orderById.load(line.orderId);
      return toMoney(line.unitPriceAmount, order!.currencyCode);
    },
    variant: (line) => ({ id: line.variantId }),
  },

  Customer: {
    __resolveReference: (reference, { loaders }) =>
      loaders.customerById.load(reference.id),
    createdAt: (customer) => customer.createdAt.toISOString(),
    updatedAt: (customer) => customer.updatedAt.toISOString(),
  },
};
