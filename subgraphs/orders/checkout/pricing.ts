import type { Config } from '../../../platform/config.js';
import { parseDecimalToMinorUnits } from '../../../platform/money.js';
import type { PricedLine } from '../stock/stock-client.js';

/** Prices and shipping of checkouts, read once from the configuration. */
export interface CheckoutSettings {
  currencyCode: string;
  /** CHECKOUT_TAX_RATE_PERCENT as an exact fraction of 1: 8.25 % is 825/10000. */
  taxRate: { numerator: bigint; denominator: bigint };
  shippingFlatRate: number;
  /** Orders whose subtotal less discount reaches this ship free; null: never. */
  shippingFreeOver: number | null;
}

export interface ShippingMethodValue {
  /** Stable code such as `sandbox:ground` or `flat`. */
  code: string;
  title: string;
  priceAmount: number;
  /** Null on orders placed before methods were quoted by carrier. */
  carrier: string | null;
  service: string | null;
  estimatedDays: number | null;
}

/**
 * Code of the flat-rate method. The shipments service offers it under the
 * same code (FLAT_METHOD_CODE in subgraphs/shipments/carriers/quote.ts),
 * so a checkout that chose it while the service was unreachable finds it
 * again when the service answers.
 */
export const FLAT_METHOD_CODE = 'flat';

const settingsByConfig = new WeakMap<Config, CheckoutSettings>();

/**
 * Reads the checkout settings of `config`. Throws at start-up when an
 * amount has more decimal places than SHOP_CURRENCY allows.
 */
export function checkoutSettings(config: Config): CheckoutSettings {
  let settings = settingsByConfig.get(config);
  if (!settings) {
    const currencyCode = config.SHOP_CURRENCY;
    settings = {
      currencyCode,
      taxRate: parsePercent(config.CHECKOUT_TAX_RATE_PERCENT),
      shippingFlatRate: configAmount(
        'SHIPPING_FLAT_RATE',
        config.SHIPPING_FLAT_RATE,
        currencyCode,
      ),
      shippingFreeOver:
        config.SHIPPING_FREE_OVER === undefined
          ? null
          : configAmount(
              'SHIPPING_FREE_OVER',
              config.SHIPPING_FREE_OVER,
              currencyCode,
            ),
    };
    settingsByConfig.set(config, settings);
  }
  return settings;
}

function configAmount(name: string, text: string, currency: string): number {
  const parsed = parseDecimalToMinorUnits(text, currency);
  if ('error' in parsed) {
    throw new Error(`Invalid configuration:\n  ${name}: ${parsed.error}`);
  }
  return parsed.minor;
}

/** Parses a decimal percentage such as "8.25" into 825/10000, exactly. */
export function parsePercent(text: string): {
  numerator: bigint;
  denominator: bigint;
} {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!match) {
    throw new Error(`"${text}" is not a decimal percentage such as 8.25`);
  }
  const fraction = match[2] ?? '';
  return {
    numerator: BigInt(match[1]! + fraction),
    denominator: 100n * 10n ** BigInt(fraction.length),
  };
}

/** `amount × rate`, rounded half up to a whole minor unit, in integers. */
export function taxOf(
  amount: number,
  rate: CheckoutSettings['taxRate'],
): number {
  if (amount <= 0) return 0;
  const product = BigInt(amount) * rate.numerator;
  return Number((2n * product + rate.denominator) / (2n * rate.denominator));
}

/**
 * The shipping methods offered when the shipments service cannot quote:
 * `flat` at SHIPPING_FLAT_RATE, free from SHIPPING_FREE_OVER; none when
 * nothing ships.
 */
export function flatRateMethods(
  settings: CheckoutSettings,
  merchandiseAmount: number,
  requiresShipping: boolean,
): ShippingMethodValue[] {
  if (!requiresShipping) return [];
  const free =
    settings.shippingFreeOver !== null &&
    merchandiseAmount >= settings.shippingFreeOver;
  return [
    {
      code: FLAT_METHOD_CODE,
      title: 'Flat rate',
      priceAmount: free ? 0 : settings.shippingFlatRate,
      carrier: 'Flat rate',
      service: 'Standard',
      estimatedDays: null,
    },
  ];
}

export interface CheckoutTotals {
  requiresShipping: boolean;
  shippingMethods: ShippingMethodValue[];
  /** The chosen method; null until chosen and when nothing ships. */
  shippingMethod: ShippingMethodValue | null;
  subtotal: number;
  discount: number;
  shipping: number;
  tax: number;
  total: number;
}

/**
 * Totals of priced lines: subtotal, discount (none yet), shipping of the
 * chosen method, and tax on subtotal - discount + shipping.
 * `unpricedLinesShip` counts lines the catalog could not price as lines
 * that ship, so a checkout with a problem still offers shipping.
 * `shippingMethods` are the methods on offer; without them,
 * `flatRateMethods`.
 */
export function computeTotals(
  settings: CheckoutSettings,
  lines: readonly PricedLine[],
  shippingMethodCode: string | null,
  unpricedLinesShip = false,
  shippingMethods?: readonly ShippingMethodValue[],
): CheckoutTotals {
  const subtotal = lines.reduce(
    (sum, line) => sum + line.unitPriceAmount * line.quantity,
    0,
  );
  const discount = 0;
  const requiresShipping =
    unpricedLinesShip || lines.some((line) => line.requiresShipping);
  const offered = requiresShipping
    ? [
        ...(shippingMethods ??
          flatRateMethods(settings, subtotal - discount, requiresShipping)),
      ]
    : [];
  const shippingMethod =
    offered.find((method) => method.code === shippingMethodCode) ?? null;
  const shipping = shippingMethod?.priceAmount ?? 0;
  const tax = taxOf(subtotal - discount + shipping, settings.taxRate);
  return {
    requiresShipping,
    shippingMethods: offered,
    shippingMethod,
    subtotal,
    discount,
    shipping,
    tax,
    total: subtotal - discount + shipping + tax,
  };
}
