/**
 * Shipping quotes for a checkout: the parcel weight from the items, the
 * rates of every configured carrier, an optional flat rate, and free
 * shipping from a subtotal. Method codes are stable across quotes, so a
 * checkout stores the chosen code and finds the same method when it quotes
 * again at completion.
 */

import type { Config } from '../../../platform/config.js';
import { parseDecimalToMinorUnits } from '../../../platform/money.js';
import {
  CarrierError,
  type Address,
  type Carrier,
  type Rate,
} from './carrier.js';
import {
  addScaled,
  ceilScaled,
  multiplyScaled,
  weightToExactGrams,
  type ScaledDecimal,
  type Weight,
} from './units.js';

export interface QuoteItem {
  sku: string;
  quantity: number;
  /** The variant's catalog weight; null when the catalog has none. */
  weight: Weight | null;
  requiresShipping: boolean;
}

export interface QuoteRequest {
  items: readonly QuoteItem[];
  origin: Address;
  destination: Address;
  currencyCode: string;
  /** Merchandise subtotal less discounts, in minor units, for free shipping. */
  subtotalAmount: number;
}

export interface ShippingSettings {
  /** Price of the `flat` method in minor units; null: no flat method. */
  flatRate: number | null;
  /** Subtotal from which the cheapest method is free; null: never free. */
  freeOver: number | null;
  /** Weight counted for an item whose variant has no weight, in grams. */
  defaultItemWeightGrams: number;
  /** Called when one carrier fails while other methods remain. */
  onCarrierError?: (carrier: string, error: CarrierError) => void;
}

export interface ShippingMethod {
  /** Stable code such as `sandbox:ground`, `easypost:usps:priority` or `flat`. */
  code: string;
  carrier: string;
  service: string;
  /** Price charged to the customer in minor units; 0 when free. */
  amount: number;
  currencyCode: string;
  estimatedDays: number | null;
  /** The carrier's rate id of this quote, or `flat`. */
  rateId: string;
  /** The carrier's shipment id of the rate; null for the sandbox and flat. */
  carrierShipmentId: string | null;
}

export const FLAT_METHOD_CODE = 'flat';

/**
 * Reads the shipping settings from the configuration. SHIPPING_FLAT_RATE
 * and SHIPPING_FREE_OVER are decimals in SHOP_CURRENCY, parsed the way
 * the orders service parses them. An amount with more decimal places than
 * the currency allows throws. SHIPPING_FLAT_RATE has a default, so the
 * `flat` method is always on offer with this configuration.
 */
export function shippingSettings(
  config: Pick<
    Config,
    | 'SHOP_CURRENCY'
    | 'SHIPPING_FLAT_RATE'
    | 'SHIPPING_FREE_OVER'
    | 'SHIPPING_DEFAULT_ITEM_WEIGHT_GRAMS'
  >,
): ShippingSettings {
  return {
    flatRate: configAmount(
      'SHIPPING_FLAT_RATE',
      config.SHIPPING_FLAT_RATE,
      config.SHOP_CURRENCY,
    ),
    freeOver:
      config.SHIPPING_FREE_OVER === undefined
        ? null
        : configAmount(
            'SHIPPING_FREE_OVER',
            config.SHIPPING_FREE_OVER,
            config.SHOP_CURRENCY,
          ),
    defaultItemWeightGrams: config.SHIPPING_DEFAULT_ITEM_WEIGHT_GRAMS,
  };
}

function configAmount(name: string, text: string, currency: string): number {
  const parsed = parseDecimalToMinorUnits(text, currency);
  if ('error' in parsed) {
    throw new Error(`Invalid configuration:\n  ${name}: ${parsed.error}`);
  }
  return parsed.minor;
}

/**
 * Returns the weight in whole grams of the items that ship, rounded up
 * once for the whole parcel; null when no item requires shipping. An item
 * without a weight counts `defaultItemWeightGrams` per unit.
 */
export function parcelWeightGrams(
  items: readonly QuoteItem[],
  defaultItemWeightGrams: number,
): number | null {
  let total: ScaledDecimal = { units: 0n, scale: 0 };
  let ships = false;
  for (const item of items) {
    if (!item.requiresShipping || item.quantity <= 0) continue;
    ships = true;
    const each =
      item.weight === null
        ? { units: BigInt(defaultItemWeightGrams), scale: 0 }
        : weightToExactGrams(item.weight);
    total = addScaled(
      total,
      multiplyScaled(each, { units: BigInt(item.quantity), scale: 0 }),
    );
  }
  if (!ships) return null;
  const grams = Number(ceilScaled(total));
  // A carrier cannot price a parcel of 0 g, such as one of items weighing "0".
  return Math.max(grams, 1);
}

/**
 * Returns the stable method code of a carrier's rate:
 * `<carrier name>:<serviceCode>`, or a code built from the rate's carrier
 * and service names when the carrier gives no serviceCode.
 */
export function methodCode(carrierName: string, rate: Rate): string {
  const serviceCode =
    rate.serviceCode ?? `${slug(rate.carrier)}:${slug(rate.service)}`;
  return `${carrierName}:${serviceCode}`;
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/**
 * Quotes shipping methods sorted by price, then code. Returns none when no
 * item requires shipping (digital products), without asking a carrier.
 * From `settings.freeOver`, the cheapest method costs 0. A carrier that
 * fails is left out, and reported to `settings.onCarrierError`, while other
 * methods remain; when none remain, its CarrierError is thrown.
 */
export async function quoteShipping(
  request: QuoteRequest,
  carriers: readonly Carrier[],
  settings: ShippingSettings,
): Promise<ShippingMethod[]> {
  const weightGrams = parcelWeightGrams(
    request.items,
    settings.defaultItemWeightGrams,
  );
  if (weightGrams === null) return [];

  const byCode = new Map<string, ShippingMethod>();
  const offer = (method: ShippingMethod): void => {
    const existing = byCode.get(method.code);
    // A carrier can return one service twice (two carrier accounts); the
    // cheaper rate wins so the code maps to one price.
    if (existing === undefined || method.amount < existing.amount) {
      byCode.set(method.code, method);
    }
  };

  const failures: CarrierError[] = [];
  const results = await Promise.allSettled(
    carriers.map((carrier) =>
      carrier.rates({
        origin: request.origin,
        destination: request.destination,
        parcel: {
          weightGrams,
          lengthMm: null,
          widthMm: null,
          heightMm: null,
        },
        currencyCode: request.currencyCode,
      }),
    ),
  );
  results.forEach((result, index) => {
    const carrier = carriers[index]!;
    if (result.status === 'rejected') {
      if (!(result.reason instanceof CarrierError)) throw result.reason;
      failures.push(result.reason);
      settings.onCarrierError?.(carrier.name, result.reason);
      return;
    }
    for (const rate of result.value) {
      if (rate.currencyCode !== request.currencyCode) continue;
      offer({
        code: methodCode(carrier.name, rate),
        carrier: rate.carrier,
        service: rate.service,
        amount: rate.amount,
        currencyCode: rate.currencyCode,
        estimatedDays: rate.estimatedDays,
        rateId: rate.rateId,
        carrierShipmentId: rate.carrierShipmentId,
      });
    }
  });

  if (settings.flatRate !== null) {
    offer({
      code: FLAT_METHOD_CODE,
      carrier: 'Flat rate',
      service: 'Standard',
      amount: settings.flatRate,
      currencyCode: request.currencyCode,
      estimatedDays: null,
      rateId: FLAT_METHOD_CODE,
      carrierShipmentId: null,
    });
  }

  if (byCode.size === 0 && failures.length > 0) throw failures[0];

  const methods = [...byCode.values()].sort(
    (a, b) => a.amount - b.amount || a.code.localeCompare(b.code, 'en'),
  );
  if (
    settings.freeOver !== null &&
    request.subtotalAmount >= settings.freeOver &&
    methods.length > 0
  ) {
    methods[0] = { ...methods[0]!, amount: 0 };
  }
  return methods;
}
