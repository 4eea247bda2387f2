import type { Config } from '../../../platform/config.js';
import type { Address, Carrier } from './carrier.js';
import { EasyPostCarrier } from './easypost.js';
import { SandboxCarrier } from './sandbox.js';
import { loadSandboxRates } from './sandbox-rates.js';

export * from './carrier.js';
export {
  EasyPostCarrier,
  easyPostSignature,
  trackingStatusOf,
} from './easypost.js';
export {
  SandboxCarrier,
  isSandboxTrackingNumber,
  sandboxZone,
} from './sandbox.js';
export { renderSandboxLabelPdf } from './sandbox-label.js';
export {
  DEFAULT_SANDBOX_RATES,
  loadSandboxRates,
  parseSandboxRates,
} from './sandbox-rates.js';
export {
  FLAT_METHOD_CODE,
  methodCode,
  parcelWeightGrams,
  quoteShipping,
  shippingSettings,
  type QuoteItem,
  type QuoteRequest,
  type ShippingMethod,
  type ShippingSettings,
} from './quote.js';
export {
  lengthToMillimetres,
  weightToGrams,
  type LengthUnit,
  type WeightUnit,
} from './units.js';

export type CarrierConfig = Pick<
  Config,
  | 'CARRIER'
  | 'EASYPOST_API_BASE_URL'
  | 'EASYPOST_API_KEY'
  | 'EASYPOST_WEBHOOK_SECRET'
  | 'SANDBOX_CARRIER_RATES_FILE'
  | 'TRACKING_URL_BASE'
  | 'HOST'
  | 'SHIPMENTS_PORT'
  | 'SHIPMENTS_URL'
>;

/**
 * Creates the carrier that CARRIER selects. The sandbox reads its rate
 * table here, so an invalid SANDBOX_CARRIER_RATES_FILE stops the service
 * at start-up with the path and the invalid fields.
 */
export function createCarrier(config: CarrierConfig): Carrier {
  if (config.CARRIER === 'easypost') {
    if (!config.EASYPOST_API_KEY || !config.EASYPOST_WEBHOOK_SECRET) {
      throw new Error(
        'CARRIER=easypost requires EASYPOST_API_KEY and EASYPOST_WEBHOOK_SECRET',
      );
    }
    return new EasyPostCarrier({
      apiBaseUrl: config.EASYPOST_API_BASE_URL,
      apiKey: config.EASYPOST_API_KEY,
      webhookSecret: config.EASYPOST_WEBHOOK_SECRET,
    });
  }
  return new SandboxCarrier({
    rates: loadSandboxRates(config.SANDBOX_CARRIER_RATES_FILE),
    labelBaseUrl: shipmentsOrigin(config),
    trackingUrlBase: config.TRACKING_URL_BASE,
  });
}

/**
 * Origin of the shipments service's own HTTP server, where sandbox labels
 * are served: the origin of SHIPMENTS_URL when set, otherwise
 * `http://<HOST>:<SHIPMENTS_PORT>` with 127.0.0.1 for a wildcard HOST.
 */
export function shipmentsOrigin(
  config: Pick<Config, 'HOST' | 'SHIPMENTS_PORT' | 'SHIPMENTS_URL'>,
): string {
  if (config.SHIPMENTS_URL !== undefined) {
    return new URL(config.SHIPMENTS_URL).origin;
  }
  const host =
    config.HOST === '0.0.0.0' || config.HOST === '::'
      ? '127.0.0.1'
      : config.HOST;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return `http://${hostPart}:${config.SHIPMENTS_PORT}`;
}

/** Builds the shop's ship-from address from the SHIPPING_ORIGIN_* variables. */
export function shippingOrigin(
  config: Pick<
    Config,
    | 'SHIPPING_ORIGIN_NAME'
    | 'SHIPPING_ORIGIN_LINE1'
    | 'SHIPPING_ORIGIN_LINE2'
    | 'SHIPPING_ORIGIN_CITY'
    | 'SHIPPING_ORIGIN_REGION'
    | 'SHIPPING_ORIGIN_POSTAL_CODE'
    | 'SHIPPING_ORIGIN_COUNTRY'
    | 'SHIPPING_ORIGIN_PHONE'
  >,
): Address {
  return {
    name: config.SHIPPING_ORIGIN_NAME,
    line1: config.SHIPPING_ORIGIN_LINE1,
    line2: config.SHIPPING_ORIGIN_LINE2 ?? null,
    city: config.SHIPPING_ORIGIN_CITY,
    region: config.SHIPPING_ORIGIN_REGION ?? null,
    postalCode: config.SHIPPING_ORIGIN_POSTAL_CODE ?? null,
    countryCode: config.SHIPPING_ORIGIN_COUNTRY,
    phone: config.SHIPPING_ORIGIN_PHONE ?? null,
  };
}
