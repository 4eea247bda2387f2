import { requirePermission } from '../../../platform/permissions.js';
import { toMoney } from '../../../platform/money.js';
import { visibleTo } from '../access.js';
import type { OrderRow, PaymentRow } from '../db/tables.js';
import type { Resolvers } from '../generated/resolvers.js';

/** Captured less refunded over every payment of an order, in minor units. */
export function netPaymentAmount(payments: PaymentRow[]): number {
  return payments.reduce(
    (sum, payment) => sum + payment.capturedAmount - payment.refundedAmount,
    0,
  );
}

/**
 * Fields of Order (except `customer` and the entity reference, which
 * resolvers.ts resolves with the customer records), OrderLine, Payment,
 * Refund and OrderNote. Every list of children goes through a per-request
 * DataLoader, so a page of orders costs one query per field, not per order.
 */
export const orderFieldResolvers: Resolvers = {
  Order: {
    subtotalPrice: (order) => toMoney(order.subtotalAmount, order.currencyCode),
    discountPrice: (order) => toMoney(order.discountAmount, order.currencyCode),
    shippingPrice: (order) => toMoney(order.shippingAmount, order.currencyCode),
    taxPrice: (order) => toMoney(order.taxAmount, order.currencyCode),
    totalPrice: (order) => toMoney(order.totalAmount, order.currencyCode),
    netPaymentPrice: async (order, _args, { loaders }) =>
      toMoney(
        netPaymentAmount(await loaders.paymentsByOrderId.load(order.id)),
        order.currencyCode,
      ),
    lines: (order, _args, { loaders }) => loaders.linesByOrderId.load(order.id),
    shippingMethod: (order) =>
      order.shippingMethodCode === null
        ? null
        : {
            code: order.shippingMethodCode,
            title: order.shippingMethodTitle ?? order.shippingMethodCode,
            price: toMoney(order.shippingAmount, order.currencyCode),
          },
    payments: (order, _args, { loaders }) =>
      loaders.paymentsByOrderId.load(order.id),
    refunds: (order, _args, { loaders }) =>
      loaders.refundsByOrderId.load(order.id),
    // The gateway already requires read_orders for this field; the check is
    // repeated because a request can reach the subgraph directly.
    notes: (order, _args, { loaders, caller }) => {
      requirePermission(caller, 'read_orders');
      return loaders.notesByOrderId.load(order.id);
    },
    cancelledAt: (order) => order.cancelledAt?.toISOString() ?? null,
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
    totalPrice: async (line, _args, { loaders }) => {
      const order = await loaders.orderById.load(line.orderId);
      return toMoney(line.unitPriceAmount * line.quantity, order!.currencyCode);
    },
    variant: (line) => ({ id: line.variantId }),
  },

  Payment: {
    __resolveReference: async (reference, { loaders, caller }) => {
      const payment = await loaders.paymentById.load(reference.id);
      if (!payment) return null;
      const order = await loaders.orderById.load(payment.orderId);
      return visibleTo(caller, order, (row: OrderRow) => row.customerId)
        ? payment
        : null;
    },
    amount: (payment) => toMoney(payment.amount, payment.currencyCode),
    capturedAmount: (payment) =>
      toMoney(payment.capturedAmount, payment.currencyCode),
    refundedAmount: (payment) =>
      toMoney(payment.refundedAmount, payment.currencyCode),
    createdAt: (payment) => payment.createdAt.toISOString(),
  },

  Refund: {
    amount: async (refund, _args, { loaders }) => {
      const payment = await loaders.paymentById.load(refund.paymentId);
      return toMoney(refund.amount, payment!.currencyCode);
    },
    createdAt: (refund) => refund.createdAt.toISOString(),
  },

  OrderNote: {
    createdAt: (note) => note.createdAt.toISOString(),
  },
};
