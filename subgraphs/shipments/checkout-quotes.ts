/**
 * `Query.shippingQuote`: the shipping methods the orders service offers at
 * checkout, computed with quoteShipping (carriers/quote.ts) from the
 * configured carrier, SHIPPING_FLAT_RATE and SHIPPING_FREE_OVER.
 */

import { GraphQLError } from 'graphql';
import { badUserInput, ErrorCode } from '../../platform/errors.js';
import type { SubgraphCaller } from '../../platform/identity.js';
import type { Logger } from '../../platform/logger.js';
import { parseDecimalToMinorUnits, toMoney } from '../../platform/money.js';
import {
  CarrierError,
  quoteShipping,
  shippingOrigin,
  shippingSettings,
  type ShippingMethod,
} from './carriers/index.js';
import { UnitConversionError, weightToExactGrams } from './carriers/units.js';
import type { Context } from './context.js';
import { shipmentsDependencies } from './dependencies.js';
import type { ShippingQuoteInput } from './generated/resolvers.js';

/** Maximum number of items in one quote, as many as the catalog prices at once. */
export const MAX_QUOTE_ITEMS = 250;
const MAX_ITEM_QUANTITY = 1_000_000;

/**
 * Rejects every caller but a service with a signed service identity. The
 * field is @inaccessible, so the gateway never plans it, but a request
 * sent to the subgraph directly with another identity reaches the resolver.
 */
function requireServiceCaller(caller: SubgraphCaller): void {
  if (caller.kind === 'service') return;
  throw new GraphQLError(
    'shippingQuote is for services only: sign the request with a service identity (signServiceIdentity in platform/identity.ts).',
    { extensions: { code: ErrorCode.Forbidden } },
  );
}

/** Quotes the shipping methods of one checkout; see `Query.shippingQuote`. */
export async function resolveShippingQuote(
  context: Context,
  input: ShippingQuoteInput,
) {
  requireServiceCaller(context.caller);
  const { config } = context;
  const currencyCode = config.SHOP_CURRENCY;
  if (input.currencyCode !== currencyCode) {
    throw badUserInput(
      `Quotes are in the shop currency ${currencyCode}, not ${input.currencyCode}; send the subtotal in ${currencyCode}.`,
      'input',
    );
  }
  const subtotal = parseDecimalToMinorUnits(input.subtotal, currencyCode);
  if ('error' in subtotal) {
    throw badUserInput(
      `Invalid subtotal "${input.subtotal}": ${subtotal.error}.`,
      'input',
    );
  }
  checkItems(input.items);
  const { carrier } = shipmentsDependencies(context.db, config);
  const methods = await quoteShipping(
    {
      items: input.items.map((item) => ({
        sku: item.sku,
        quantity: item.quantity,
        weight: item.weight ?? null,
        requiresShipping: item.requiresShipping,
      })),
      origin: shippingOrigin(config),
      destination: {
        name: input.destination.name,
        line1: input.destination.line1,
        line2: input.destination.line2 ?? null,
        city: input.destination.city,
        region: input.destination.region ?? null,
        postalCode: input.destination.postalCode ?? null,
        countryCode: input.destination.countryCode.trim().toUpperCase(),
        phone: input.destination.phone ?? null,
      },
      currencyCode,
      subtotalAmount: subtotal.minor,
    },
    [carrier],
    {
      ...shippingSettings(config),
      onCarrierError: (name, error) =>
        logCarrierError(context.logger, name, error),
    },
  ).catch((error: unknown) => {
    if (!(error instanceof CarrierError)) throw error;
    logCarrierError(context.logger, carrier.name, error);
    throw new GraphQLError(
      `The carrier could not quote shipping (${error.message}); try again later.`,
      { extensions: { code: ErrorCode.ServiceUnavailable } },
    );
  });
  return methods.map(quotedMethod);
}

function quotedMethod(method: ShippingMethod) {
  return {
    code: method.code,
    carrier: method.carrier,
    service: method.service,
    price: toMoney(method.amount, method.currencyCode),
    estimatedDays: method.estimatedDays,
  };
}

function logCarrierError(logger: Logger, carrier: string, error: Error): void {
  logger.warn({ err: error, carrier }, 'carrier failed to quote shipping');
}

/** Throws BAD_USER_INPUT naming the first invalid item. */
function checkItems(items: ShippingQuoteInput['items']): void {
  if (items.length === 0 || items.length > MAX_QUOTE_ITEMS) {
    throw badUserInput(
      `A quote has 1 to ${MAX_QUOTE_ITEMS} items; got ${items.length}.`,
      'input',
    );
  }
  items.forEach((item, index) => {
    if (
      !Number.isInteger(item.quantity) ||
      item.quantity < 1 ||
      item.quantity > MAX_ITEM_QUANTITY
    ) {
      throw badUserInput(
        `Invalid quantity ${item.quantity} of item ${index} (SKU "${item.sku}"): use a whole number from 1 to ${MAX_ITEM_QUANTITY}.`,
        'input',
      );
    }
    if (item.weight) {
      try {
        weightToExactGrams(item.weight);
      } catch (error) {
        if (!(error instanceof UnitConversionError)) throw error;
        throw badUserInput(
          `Invalid weight of item ${index} (SKU "${item.sku}"): ${error.message}.`,
          'input',
        );
      }
    }
  });
}
