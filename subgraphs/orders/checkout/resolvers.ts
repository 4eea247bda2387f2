import { toMoney } from '../../../platform/money.js';
import type { Context } from '../context.js';
import type { CheckoutRow } from '../db/tables.js';
import type { Resolvers } from '../generated/resolvers.js';
import { createCheckout, findCheckout, updateCheckout } from './checkouts.js';
import { completeCheckout } from './complete.js';
import { priceCheckout } from './line-pricing.js';
import type { ShippingMethodValue } from './pricing.js';
import { checkShippingBeforeCompletion } from './shipping-check.js';

function shippingMethod(method: ShippingMethodValue, currencyCode: string) {
  return {
    code: method.code,
    title: method.title,
    price: toMoney(method.priceAmount, currencyCode),
    carrier: method.carrier,
    service: method.service,
    estimatedDays: method.estimatedDays,
  };
}

/** A money field of a checkout's totals. */
function totalField(
  pick: (totals: Awaited<ReturnType<typeof priceCheckout>>['totals']) => number,
) {
  return async (checkout: CheckoutRow, _args: unknown, context: Context) => {
    const pricing = await priceCheckout(context, checkout);
    return toMoney(pick(pricing.totals), pricing.currencyCode);
  };
}

/**
 * Checkout: thin resolvers over checkouts.ts (create, update, read),
 * shipping-check.ts and complete.ts (completion) and line-pricing.ts
 * (prices and shipping quotes of a checkout read).
 */
export const checkoutResolvers: Resolvers = {
  Query: {
    checkout: (_parent, { id }, context) => findCheckout(context, id),
  },

  Mutation: {
    checkoutCreate: (_parent, { input }, context) =>
      createCheckout(context, input),
    checkoutUpdate: (_parent, { input }, context) =>
      updateCheckout(context, input),
    checkoutComplete: async (_parent, { input }, context) => {
      // Shipping is re-quoted and checked before complete.ts reserves
      // stock; its totals then price the chosen method at this quote.
      const shipping = await checkShippingBeforeCompletion(context, input);
      if (shipping.userErrors.length > 0) {
        return {
          order: null,
          paymentAction: null,
          userErrors: shipping.userErrors,
        };
      }
      const result = await completeCheckout(
        context,
        input,
        shipping.methods ?? undefined,
      );
      const order = result.orderId
        ? await context.loaders.orderById.load(result.orderId)
        : null;
      return {
        order,
        paymentAction: result.paymentAction,
        userErrors: result.userErrors,
      };
    },
  },

  Checkout: {
    lines: async (checkout, _args, context) => {
      const { lines, currencyCode } = await priceCheckout(context, checkout);
      return lines.map((line) => ({
        sku: line.sku,
        quantity: line.quantity,
        title: line.title,
        unitPrice:
          line.unitPriceAmount === null
            ? null
            : toMoney(line.unitPriceAmount, currencyCode),
        totalPrice:
          line.unitPriceAmount === null
            ? null
            : toMoney(line.unitPriceAmount * line.quantity, currencyCode),
        variant: line.variantId ? { id: line.variantId } : null,
        problem: line.problem,
      }));
    },
    shippingAddress: (checkout) => checkout.shippingAddress,
    shippingMethod: async (checkout, _args, context) => {
      const { totals, currencyCode } = await priceCheckout(context, checkout);
      return totals.shippingMethod
        ? shippingMethod(totals.shippingMethod, currencyCode)
        : null;
    },
    availableShippingMethods: async (checkout, _args, context) => {
      const { totals, currencyCode } = await priceCheckout(context, checkout);
      return totals.shippingMethods.map((method) =>
        shippingMethod(method, currencyCode),
      );
    },
    requiresShipping: async (checkout, _args, context) =>
      (await priceCheckout(context, checkout)).totals.requiresShipping,
    subtotalPrice: totalField((totals) => totals.subtotal),
    discountPrice: totalField((totals) => totals.discount),
    shippingPrice: totalField((totals) => totals.shipping),
    taxPrice: totalField((totals) => totals.tax),
    totalPrice: totalField((totals) => totals.total),
    order: (checkout, _args, { loaders }) =>
      checkout.completedAt && checkout.orderId
        ? loaders.orderById.load(checkout.orderId)
        : null,
    completedAt: (checkout) => checkout.completedAt?.toISOString() ?? null,
    createdAt: (checkout) => checkout.createdAt.toISOString(),
    updatedAt: (checkout) => checkout.updatedAt.toISOString(),
  },
};
