import { userError, type UserError } from '../../../platform/errors.js';
import type { Context } from '../context.js';
import type { CheckoutRow, OrderLineRow, OrderRow } from '../db/tables.js';
import { ordersDependencies } from '../dependencies.js';
import type { ShippingQuoteItem } from '../shipping/shipments-client.js';
import type { LineProblem, PricedLine } from '../stock/stock-client.js';
import {
  checkoutSettings,
  computeTotals,
  type CheckoutTotals,
} from './pricing.js';
import {
  quoteCheckoutShipping,
  type CheckoutShippingQuote,
} from './shipping-quotes.js';

/** Checkout line with its current price, or with the problem that prevents buying it. */
export interface PricedCheckoutLine {
  sku: string;
  quantity: number;
  title: string | null;
  unitPriceAmount: number | null;
  variantId: string | null;
  problem: UserError | null;
}

export interface CheckoutPricing {
  currencyCode: string;
  lines: PricedCheckoutLine[];
  totals: CheckoutTotals;
  /** Source of the shipping methods, which is `none` for a completed checkout. */
  shippingSource: CheckoutShippingQuote['source'];
}

/**
 * Cache of pricings per request, keyed by checkout state, so the fields of
 * one checkout (lines, subtotal, tax, ...) share one catalog call.
 */
const pricingsOfRequest = new WeakMap<
  object,
  Map<string, Promise<CheckoutPricing>>
>();

/**
 * Prices a checkout. An open checkout is priced through the catalog now,
 * and a completed one from its order, whose prices were frozen at purchase.
 */
export function priceCheckout(
  context: Context,
  checkout: CheckoutRow,
): Promise<CheckoutPricing> {
  let pricings = pricingsOfRequest.get(context.loaders);
  if (!pricings) {
    pricings = new Map();
    pricingsOfRequest.set(context.loaders, pricings);
  }
  const key = JSON.stringify([
    checkout.id,
    checkout.lines,
    checkout.shippingAddress,
    checkout.shippingMethodCode,
    checkout.completedAt?.toISOString() ?? null,
  ]);
  let pricing = pricings.get(key);
  if (!pricing) {
    pricing = checkout.completedAt
      ? priceFromOrder(context, checkout)
      : priceFromCatalog(context, checkout);
    pricings.set(key, pricing);
  }
  return pricing;
}

async function priceFromCatalog(
  context: Context,
  checkout: CheckoutRow,
): Promise<CheckoutPricing> {
  const settings = checkoutSettings(context.config);
  const { stock } = ordersDependencies(context.db, context.config);
  const lines = checkout.lines;
  const problemsBySku = new Map<string, LineProblem[]>();
  const pricedBySku = new Map<string, PricedLine>();
  if (lines.length > 0) {
    const result = await stock.priceLines(lines);
    if (result.ok) {
      for (const line of result.lines) pricedBySku.set(line.sku, line);
    } else {
      for (const problem of result.problems) {
        const list = problemsBySku.get(problem.sku) ?? [];
        list.push(problem);
        problemsBySku.set(problem.sku, list);
      }
      // The catalog prices nothing when a line has a problem, so the other
      // lines are priced on their own to show their prices and a subtotal.
      const fine = lines.filter((line) => !problemsBySku.has(line.sku));
      if (fine.length > 0) {
        const retry = await stock.priceLines(fine);
        if (retry.ok) {
          for (const line of retry.lines) pricedBySku.set(line.sku, line);
        }
      }
    }
  }
  const priced: PricedCheckoutLine[] = lines.map((line, index) => {
    const catalogLine = pricedBySku.get(line.sku);
    const [problem] = problemsBySku.get(line.sku) ?? [];
    return {
      sku: line.sku,
      quantity: line.quantity,
      title: catalogLine?.title ?? null,
      unitPriceAmount: catalogLine?.unitPriceAmount ?? null,
      variantId: catalogLine?.variantId ?? null,
      problem: problem ? lineProblemError(problem, index, ['lines']) : null,
    };
  });
  const pricedLines = priced.flatMap((line) =>
    line.unitPriceAmount === null
      ? []
      : [
          {
            ...pricedBySku.get(line.sku)!,
            quantity: line.quantity,
          },
        ],
  );
  const unpricedLinesShip = priced.some(
    (line) => line.unitPriceAmount === null,
  );
  const shipping = await quoteCheckoutShipping(context, {
    checkoutId: checkout.id,
    items: quoteItems(lines, pricedBySku, unpricedLinesShip),
    destination: checkout.shippingAddress ?? null,
    merchandiseAmount: pricedLines.reduce(
      (sum, line) => sum + line.unitPriceAmount * line.quantity,
      0,
    ),
  });
  return {
    currencyCode: settings.currencyCode,
    lines: priced,
    shippingSource: shipping.source,
    totals: computeTotals(
      settings,
      pricedLines,
      checkout.shippingMethodCode,
      unpricedLinesShip,
      shipping.methods,
    ),
  };
}

/**
 * Builds the parcel items of a checkout for a shipping quote, each line
 * with its catalog weight. A line the catalog could not price has no
 * weight, so the shipments service uses its default weight. Such a line
 * requires shipping only when `unpricedLinesShip` is true.
 */
function quoteItems(
  lines: CheckoutRow['lines'],
  pricedBySku: Map<string, PricedLine>,
  unpricedLinesShip: boolean,
): ShippingQuoteItem[] {
  return lines.map((line) => {
    const catalogLine = pricedBySku.get(line.sku);
    return {
      sku: line.sku,
      quantity: line.quantity,
      weight: catalogLine?.weight ?? null,
      requiresShipping: catalogLine
        ? catalogLine.requiresShipping
        : unpricedLinesShip,
    };
  });
}

/** Converts a catalog line problem to a user error on the line at `index`. */
export function lineProblemError(
  problem: LineProblem,
  index: number,
  prefix: string[],
): UserError {
  const field = problem.code === 'OUT_OF_STOCK' ? 'quantity' : 'sku';
  return userError(
    [...prefix, String(index), field],
    problem.message,
    problem.code as UserError['code'],
  );
}

async function priceFromOrder(
  context: Context,
  checkout: CheckoutRow,
): Promise<CheckoutPricing> {
  const order = checkout.orderId
    ? await context.loaders.orderById.load(checkout.orderId)
    : null;
  if (!order) return priceFromCatalog(context, checkout);
  const orderLines = await context.loaders.linesByOrderId.load(order.id);
  return orderPricing(order, orderLines);
}

function orderPricing(
  order: OrderRow,
  orderLines: OrderLineRow[],
): CheckoutPricing {
  const shippingMethod = order.shippingMethodCode
    ? {
        code: order.shippingMethodCode,
        title: order.shippingMethodTitle ?? order.shippingMethodCode,
        priceAmount: order.shippingAmount,
        carrier: null,
        service: null,
        estimatedDays: null,
      }
    : null;
  return {
    currencyCode: order.currencyCode,
    shippingSource: 'none',
    lines: orderLines.map((line) => ({
      sku: line.sku,
      quantity: line.quantity,
      title: line.title,
      unitPriceAmount: line.unitPriceAmount,
      variantId: line.variantId,
      problem: null,
    })),
    totals: {
      requiresShipping: shippingMethod !== null,
      shippingMethods: shippingMethod ? [shippingMethod] : [],
      shippingMethod,
      subtotal: order.subtotalAmount,
      discount: order.discountAmount,
      shipping: order.shippingAmount,
      tax: order.taxAmount,
      total: order.totalAmount,
    },
  };
}
