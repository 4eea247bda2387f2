import { ServiceRequestError } from '../../../platform/service-client.js';
import type { Context } from '../context.js';
import type { MailingAddressValue } from '../db/tables.js';
import {
  shippingQuoteClient,
  type QuotedShippingMethod,
  type ShippingQuoteItem,
} from '../shipping/shipments-client.js';
import {
  checkoutSettings,
  FLAT_METHOD_CODE,
  flatRateMethods,
  type ShippingMethodValue,
} from './pricing.js';

/** The shipping methods on offer for one checkout state. */
export interface CheckoutShippingQuote {
  /** Cheapest first. */
  methods: ShippingMethodValue[];
  /**
   * `shipments`: quoted by the shipments service. `flat-rate`: that service
   * could not be asked, so only the flat rate is offered. `none`: nothing
   * ships, or there is no shipping address yet.
   */
  source: 'shipments' | 'flat-rate' | 'none';
}

export interface ShippingQuoteInput {
  checkoutId: string;
  /** Every line that ships or may ship, with its weight when known. */
  items: ShippingQuoteItem[];
  destination: MailingAddressValue | null;
  /** Merchandise subtotal less discounts, in minor units. */
  merchandiseAmount: number;
}

/** Quotes of one request by checkout state, so a checkout is quoted once. */
const quotesOfRequest = new WeakMap<
  object,
  Map<string, Promise<CheckoutShippingQuote>>
>();

/**
 * Quotes the shipping methods of a checkout through the shipments service,
 * once per checkout state and request. No method is offered while there
 * is no address or nothing ships. When the shipments service cannot be
 * asked, the failure is logged and the flat rate is offered, so the shop
 * keeps selling at SHIPPING_FLAT_RATE rather than not at all.
 */
export function quoteCheckoutShipping(
  context: Pick<Context, 'db' | 'config' | 'logger' | 'loaders'>,
  input: ShippingQuoteInput,
): Promise<CheckoutShippingQuote> {
  const ships = input.items.some((item) => item.requiresShipping);
  if (!ships || input.destination === null) {
    return Promise.resolve({ methods: [], source: 'none' });
  }
  let quotes = quotesOfRequest.get(context.loaders);
  if (!quotes) {
    quotes = new Map();
    quotesOfRequest.set(context.loaders, quotes);
  }
  const key = JSON.stringify([
    input.checkoutId,
    input.items,
    input.destination,
    input.merchandiseAmount,
  ]);
  let quote = quotes.get(key);
  if (!quote) {
    quote = askShipments(context, input, input.destination);
    quotes.set(key, quote);
  }
  return quote;
}

async function askShipments(
  context: Pick<Context, 'db' | 'config' | 'logger'>,
  input: ShippingQuoteInput,
  destination: MailingAddressValue,
): Promise<CheckoutShippingQuote> {
  const settings = checkoutSettings(context.config);
  try {
    const quoted = await shippingQuoteClient(context.db, context.config).quote({
      items: input.items,
      destination,
      subtotalAmount: input.merchandiseAmount,
      currencyCode: settings.currencyCode,
    });
    return { methods: quoted.map(shippingMethod), source: 'shipments' };
  } catch (error) {
    if (!(error instanceof ServiceRequestError)) throw error;
    // The message names the service, operation and cause, never the
    // address or the identity token.
    context.logger.warn(
      {
        err: error,
        checkoutId: input.checkoutId,
        failure: error.failure,
        code: error.code,
      },
      'shipping quote failed; offering the flat rate',
    );
    return {
      methods: flatRateMethods(settings, input.merchandiseAmount, true),
      source: 'flat-rate',
    };
  }
}

function shippingMethod(method: QuotedShippingMethod): ShippingMethodValue {
  return {
    code: method.code,
    title:
      method.code === FLAT_METHOD_CODE
        ? 'Flat rate'
        : `${method.carrier} ${method.service}`,
    priceAmount: method.priceAmount,
    carrier: method.carrier,
    service: method.service,
    estimatedDays: method.estimatedDays,
  };
}
