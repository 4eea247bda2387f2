/**
 * Checks of a checkout's shipping method against the current quotes: when
 * the customer chooses one (checkoutCreate, checkoutUpdate) and again at
 * completion, before complete.ts reserves any stock.
 */

import {
  userError,
  UserErrorCode,
  type UserError,
} from '../../../platform/errors.js';
import { formatMinorUnits } from '../../../platform/money.js';
import type { Context } from '../context.js';
import type { CheckoutRow } from '../db/tables.js';
import { findCheckout } from './checkouts.js';
import { priceCheckout, type CheckoutPricing } from './line-pricing.js';
import { FLAT_METHOD_CODE, type ShippingMethodValue } from './pricing.js';

export interface ChosenShipping {
  /** Price of the chosen method in the current quote; null when none is on offer. */
  priceAmount: number | null;
  userErrors: UserError[];
}

/**
 * Prices the shipping method of `checkout` (the state a create or update
 * is about to store) in the current quotes. With `requireOffered`, a code
 * that is not on offer is a user error naming it; without, its price is
 * null, so completion asks the customer to choose again.
 */
export async function priceChosenShipping(
  context: Context,
  checkout: CheckoutRow,
  requireOffered: boolean,
): Promise<ChosenShipping> {
  const code = checkout.shippingMethodCode;
  if (code === null) return { priceAmount: null, userErrors: [] };
  const pricing = await priceCheckout(context, checkout);
  const method = pricing.totals.shippingMethods.find(
    (candidate) => candidate.code === code,
  );
  if (method) return { priceAmount: method.priceAmount, userErrors: [] };
  if (!requireOffered) return { priceAmount: null, userErrors: [] };
  return {
    priceAmount: null,
    userErrors: [
      userError(
        ['input', 'shippingMethodCode'],
        `Unknown shipping method "${code}": ${offeredMethods(checkout, pricing)}`,
        UserErrorCode.Invalid,
      ),
    ],
  };
}

/** What the customer can choose instead, as the end of a message. */
function offeredMethods(
  checkout: CheckoutRow,
  pricing: CheckoutPricing,
): string {
  const { totals } = pricing;
  if (!totals.requiresShipping) {
    return 'nothing in the checkout ships, so leave shippingMethodCode out.';
  }
  if (!checkout.shippingAddress) {
    return 'the checkout offers shipping methods once it has a shipping address; set shippingAddress first.';
  }
  const codes = totals.shippingMethods.map((method) => method.code).join(', ');
  const unavailable =
    pricing.shippingSource === 'flat-rate'
      ? ` Carrier rates cannot be quoted right now, so only ${FLAT_METHOD_CODE} is offered; try again later for the others.`
      : '';
  return `use one of the checkout's availableShippingMethods (${codes}).${unavailable}`;
}

export interface CompletionShipping {
  /**
   * The methods quoted now, for the totals of the completion; null when the
   * checkout was not found or is completed, which completeCheckout reports.
   */
  methods: ShippingMethodValue[] | null;
  userErrors: UserError[];
}

/**
 * Re-quotes the shipping of a checkout about to be completed and checks
 * that it has an address and a chosen method still offered at the price
 * stored when it was chosen. A method that disappeared or changed its
 * price is SHIPPING_METHOD_CHANGED: the customer chooses again with
 * checkoutUpdate, which stores the new price. Lines with catalog problems
 * are left to the reservation, which reports them per line, and a missing
 * email or card token to complete.ts.
 */
export async function checkShippingBeforeCompletion(
  context: Context,
  input: {
    checkoutId: string;
    payment: { method: string; cardToken?: string | null };
  },
): Promise<CompletionShipping> {
  const checkout = await findCheckout(context, input.checkoutId);
  if (!checkout || checkout.completedAt) {
    return { methods: null, userErrors: [] };
  }
  // complete.ts rejects these before reserving anything, with its own
  // messages; they are left to it so the customer sees them first.
  if (
    checkout.lines.length === 0 ||
    !checkout.email ||
    (input.payment.method === 'CARD' && !input.payment.cardToken?.trim())
  ) {
    return { methods: [], userErrors: [] };
  }
  const pricing = await priceCheckout(context, checkout);
  const { totals } = pricing;
  if (pricing.lines.some((line) => line.problem !== null)) {
    return { methods: [], userErrors: [] };
  }
  if (!totals.requiresShipping) return { methods: [], userErrors: [] };
  const methods = totals.shippingMethods;
  const field = ['checkout', 'shippingMethodCode'];
  const code = checkout.shippingMethodCode;
  const missing: UserError[] = [];
  if (!checkout.shippingAddress) {
    missing.push(
      userError(
        ['checkout', 'shippingAddress'],
        'The checkout has items to ship but no shipping address; set one with checkoutUpdate, then choose a shipping method.',
        UserErrorCode.Required,
      ),
    );
  }
  if (code === null) {
    missing.push(
      userError(
        field,
        `The checkout has items to ship but no shipping method; choose one of ${codesOf(methods)} with checkoutUpdate.`,
        UserErrorCode.Required,
      ),
    );
  }
  if (missing.length > 0 || code === null) {
    return { methods, userErrors: missing };
  }
  const method = methods.find((candidate) => candidate.code === code);
  if (!method) {
    const unavailable =
      pricing.shippingSource === 'flat-rate'
        ? ` Carrier rates cannot be quoted right now; choose ${FLAT_METHOD_CODE}, or try again later.`
        : '';
    return {
      methods,
      userErrors: [
        userError(
          field,
          `The shipping method "${code}" is no longer offered for this checkout; choose one of ${codesOf(methods)} with checkoutUpdate.${unavailable}`,
          UserErrorCode.ShippingMethodChanged,
        ),
      ],
    };
  }
  const seen = checkout.shippingMethodPriceAmount;
  if (seen !== method.priceAmount) {
    const currency = pricing.currencyCode;
    const before =
      seen === null ? 'an unknown price' : formatMinorUnits(seen, currency);
    return {
      methods,
      userErrors: [
        userError(
          field,
          `The price of shipping method "${code}" changed from ${before} to ${formatMinorUnits(method.priceAmount, currency)} ${currency} since it was chosen; choose a shipping method again with checkoutUpdate to accept the new price.`,
          UserErrorCode.ShippingMethodChanged,
        ),
      ],
    };
  }
  return { methods, userErrors: [] };
}

function codesOf(methods: readonly ShippingMethodValue[]): string {
  return methods.length === 0
    ? "the checkout's availableShippingMethods, which a shipping address brings,"
    : methods.map((method) => method.code).join(', ');
}
