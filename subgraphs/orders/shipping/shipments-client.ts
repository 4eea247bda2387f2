/**
 * The orders service's client of the shipments service's shipping quotes
 * (`Query.shippingQuote`, @inaccessible), over HTTP with a signed
 * `orders` service identity.
 */

import type { Config } from '../../../platform/config.js';
import { parseDecimalToMinorUnits, toMoney } from '../../../platform/money.js';
import {
  createServiceClient,
  ServiceRequestError,
  type ServiceClient,
} from '../../../platform/service-client.js';
import type { MailingAddressValue } from '../db/tables.js';
import { shipmentsEventsUrl } from '../events/index.js';
import type { LineWeight } from '../stock/stock-client.js';

/**
 * GraphQL URL of the shipments subgraph: SHIPMENTS_URL, else
 * `http://<HOST>:<SHIPMENTS_PORT>/graphql`, resolved like the URL of its
 * event stream (events/index.ts).
 */
export function shipmentsGraphQLUrl(config: Config): string {
  if (config.SHIPMENTS_URL) return config.SHIPMENTS_URL;
  const url = new URL(shipmentsEventsUrl(config));
  url.pathname = '/graphql';
  return url.toString();
}

export interface ShippingQuoteItem {
  sku: string;
  quantity: number;
  weight: LineWeight | null;
  requiresShipping: boolean;
}

export interface ShippingQuoteRequest {
  items: ShippingQuoteItem[];
  destination: MailingAddressValue;
  /** Merchandise subtotal less discounts, minor units of `currencyCode`. */
  subtotalAmount: number;
  currencyCode: string;
}

/** One method of a quote, amounts in minor units. */
export interface QuotedShippingMethod {
  code: string;
  carrier: string;
  service: string;
  priceAmount: number;
  estimatedDays: number | null;
}

/**
 * Quotes of the shipments service. Calls reject with ServiceRequestError
 * (platform/service-client.ts) when the service is unreachable or rejects
 * the request.
 */
export interface ShippingQuoteClient {
  quote(request: ShippingQuoteRequest): Promise<QuotedShippingMethod[]>;
  close(): Promise<void>;
}

const SHIPPING_QUOTE = `query ShippingQuote($input: ShippingQuoteInput!) {
  shippingQuote(input: $input) {
    code carrier service price { amount currencyCode } estimatedDays
  }
}`;

interface QuotedMethodData {
  code: string;
  carrier: string;
  service: string;
  price: { amount: string; currencyCode: string };
  estimatedDays: number | null;
}

/** The ShippingQuoteClient over HTTP. */
export class HttpShippingQuoteClient implements ShippingQuoteClient {
  private readonly client: ServiceClient;

  constructor(config: Config, options: { url?: string } = {}) {
    this.client = createServiceClient({
      config,
      caller: 'orders',
      service: 'shipments',
      url: options.url ?? shipmentsGraphQLUrl(config),
    });
  }

  async quote(request: ShippingQuoteRequest): Promise<QuotedShippingMethod[]> {
    const { destination } = request;
    const data = await this.client.request<{
      shippingQuote: QuotedMethodData[];
    }>('ShippingQuote', SHIPPING_QUOTE, {
      input: {
        items: request.items.map((item) => ({
          sku: item.sku,
          quantity: item.quantity,
          weight: item.weight
            ? { value: item.weight.value, unit: item.weight.unit }
            : null,
          requiresShipping: item.requiresShipping,
        })),
        destination: {
          name: destination.name,
          line1: destination.line1,
          line2: destination.line2,
          city: destination.city,
          region: destination.region,
          postalCode: destination.postalCode,
          countryCode: destination.countryCode,
          phone: destination.phone,
        },
        subtotal: toMoney(request.subtotalAmount, request.currencyCode).amount,
        currencyCode: request.currencyCode,
      },
    });
    return data.shippingQuote.map((method) => quotedMethod(method));
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

function quotedMethod(method: QuotedMethodData): QuotedShippingMethod {
  const parsed = parseDecimalToMinorUnits(
    method.price.amount,
    method.price.currencyCode,
  );
  if ('error' in parsed) {
    throw new ServiceRequestError(
      `shipments request ShippingQuote returned an invalid price for method "${method.code}": ${parsed.error}.`,
      'shipments',
      'ShippingQuote',
      'invalid_response',
    );
  }
  return {
    code: method.code,
    carrier: method.carrier,
    service: method.service,
    priceAmount: parsed.minor,
    estimatedDays: method.estimatedDays,
  };
}

const clients = new WeakMap<object, ShippingQuoteClient>();

/**
 * Returns the quote client of the orders service that owns `db`, created
 * on the first call. One process may run several orders services (the test
 * stacks), so clients are kept per database handle.
 */
export function shippingQuoteClient(
  db: object,
  config: Config,
): ShippingQuoteClient {
  let client = clients.get(db);
  if (!client) {
    client = new HttpShippingQuoteClient(config);
    clients.set(db, client);
  }
  return client;
}

/** Closes the quote client of `db`, if one was created. */
export async function closeShippingQuoteClient(db: object): Promise<void> {
  const client = clients.get(db);
  clients.delete(db);
  await client?.close();
}
