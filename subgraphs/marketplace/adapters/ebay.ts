/**
 * Marketplace adapter over eBay's REST Sell APIs
 * (https://developer.ebay.com/api-docs/sell/static/selling-ig-landing.html).
 *
 * - Authorization: a user access token from
 *   `POST /identity/v1/oauth2/token` (HTTP basic auth with client id and
 *   client secret, form body `grant_type=refresh_token`, `refresh_token`,
 *   `scope`), cached until shortly before `expires_in` runs out. A 401 from
 *   an API call refreshes the token once and repeats the call. A second
 *   401, or a rejected refresh token, means the account must be connected
 *   again.
 * - Listings (Sell Inventory API v1): eBay keys inventory by SKU.
 *   `PUT /sell/inventory/v1/inventory_item/{sku}` stores content and
 *   quantity. One FIXED_PRICE offer per SKU and marketplace carries price,
 *   category, listing policies and the merchant location. It is found
 *   with `GET /offer?sku=`, created with `POST /offer`, updated with
 *   `PUT /offer/{offerId}`, published with `POST /offer/{offerId}/publish`
 *   (which returns the listing id, our `externalId`) and ended with
 *   `POST /offer/{offerId}/withdraw`. Quantities change through
 *   `POST /bulk_update_price_quantity`. Offers carry no `availableQuantity`,
 *   so the listing offers the inventory item's whole quantity.
 * - Orders (Sell Fulfillment API v1): `GET /sell/fulfillment/v1/order` with
 *   `filter=lastmodifieddate:[from..]`, `limit` and `offset`; shipments
 *   with `POST /order/{orderId}/shipping_fulfillment`.
 *
 * Amounts are eBay `Amount` objects (`{ value: "42.00", currency: "USD" }`)
 * converted exactly to minor units. Errors arrive as
 * `{ errors: [{ errorId, message, ... }] }`. HTTP 429 and 5xx, network
 * errors and timeouts raise retryable MarketplaceErrors; a 429 carries
 * `Retry-After` as `retryAfterMs`. The adapter does not retry on its own,
 * so the caller's backoff applies to every call. No credential or token
 * reaches an error message.
 */

import {
  formatMinorUnits,
  parseDecimalToMinorUnits,
} from '../../../platform/money.js';
import {
  MarketplaceError,
  type FulfillmentPush,
  type ListingPush,
  type MarketplaceAdapter,
  type MarketplaceOrder,
  type MarketplaceOrderLine,
  type OrderPage,
  type PublishedListing,
} from './adapter.js';

/** OAuth scopes of the calls this adapter makes. */
export const EBAY_DEFAULT_SCOPES = [
  'https://api.ebay.com/oauth/api_scope/sell.inventory',
  'https://api.ebay.com/oauth/api_scope/sell.fulfillment',
];

/**
 * The stored secret of an eBay connection. The client id and secret are
 * the application's keyset; the refresh token comes from the seller's
 * consent (authorization code grant) and lasts about 18 months.
 */
export interface EbayCredentials {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  /** eBay marketplace, such as `EBAY_US` or `EBAY_GB`. */
  marketplaceId: string;
  /** The seller's inventory location (`merchantLocationKey`) that ships the items. */
  merchantLocationKey: string;
  /** Business policy ids; the connection's settings may set them instead. */
  fulfillmentPolicyId?: string;
  paymentPolicyId?: string;
  returnPolicyId?: string;
  /** OAuth scopes to request; default EBAY_DEFAULT_SCOPES. */
  scopes?: string[];
}

/** The non-secret settings of an eBay connection. */
export interface EbaySettings {
  /** Leaf category of listings whose push names none. */
  categoryId?: string;
  /** `Content-Language` of listing text; default `en-US`. */
  contentLanguage?: string;
  /** Business policy ids; these take precedence over the credentials' ones. */
  fulfillmentPolicyId?: string;
  paymentPolicyId?: string;
  returnPolicyId?: string;
}

export interface EbayAdapterOptions {
  /** Such as `https://api.ebay.com`; tests use a local fake. */
  apiBaseUrl: string;
  /** Base URL of the OAuth token endpoint, such as `https://api.ebay.com`. */
  authBaseUrl: string;
  credentials: EbayCredentials;
  settings?: EbaySettings;
  /** Time limit of one HTTP request in milliseconds; default 15 000. */
  timeoutMs?: number;
  /** Orders per getOrders page, 1 to 200; default 100. */
  orderPageSize?: number;
  /**
   * How far before the start of one pass through the orders the next pass
   * starts, in milliseconds; default 120 000. It covers orders eBay
   * records while a pass runs and clock differences between eBay's servers.
   */
  orderOverlapMs?: number;
  /** Clock in epoch milliseconds; default Date.now. */
  now?: () => number;
}

/** Refresh the access token when less than this remains of its lifetime. */
const TOKEN_EXPIRY_MARGIN_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_ORDER_PAGE_SIZE = 100;
const DEFAULT_ORDER_OVERLAP_MS = 120_000;
/** eBay's `errorId` when an offer for the SKU and marketplace already exists. */
const OFFER_EXISTS_ERROR_ID = 25002;

/** Our condition of each eBay `ConditionEnum` value we send. */
const CONDITIONS: Record<ListingPush['condition'], string> = {
  NEW: 'NEW',
  // eBay condition id 3000, shown as "Used".
  USED: 'USED_EXCELLENT',
  REFURBISHED: 'SELLER_REFURBISHED',
};

/** eBay `shippingCarrierCode` values of carrier names the shop uses. */
const CARRIER_CODES: Record<string, string> = {
  usps: 'USPS',
  ups: 'UPS',
  fedex: 'FedEx',
  dhl: 'DHL',
};

interface EbayErrorDetail {
  errorId?: number;
  message?: string;
  longMessage?: string;
  parameters?: { name?: string; value?: string }[];
}

interface EbayAmount {
  value: string;
  currency: string;
}

interface EbayOffer {
  offerId: string;
  sku: string;
  marketplaceId?: string;
  format?: string;
  status?: string;
  listing?: { listingId?: string; listingStatus?: string };
}

interface EbayLineItem {
  lineItemId: string;
  sku?: string;
  quantity: number;
  lineItemCost: EbayAmount;
}

interface EbayAddress {
  addressLine1?: string;
  addressLine2?: string;
  city?: string;
  stateOrProvince?: string;
  postalCode?: string;
  countryCode?: string;
}

interface EbayOrder {
  orderId: string;
  creationDate: string;
  lastModifiedDate: string;
  orderPaymentStatus?: string;
  buyer?: { buyerRegistrationAddress?: { email?: string } };
  pricingSummary: {
    priceSubtotal: EbayAmount;
    priceDiscount?: EbayAmount;
    deliveryCost?: EbayAmount;
    deliveryDiscount?: EbayAmount;
    tax?: EbayAmount;
    total: EbayAmount;
  };
  fulfillmentStartInstructions?: {
    shippingStep?: {
      shipTo?: {
        fullName?: string;
        contactAddress?: EbayAddress;
        primaryPhone?: { phoneNumber?: string };
        email?: string;
      };
    };
  }[];
  lineItems: EbayLineItem[];
}

interface EbayShippingFulfillment {
  fulfillmentId: string;
  shipmentTrackingNumber?: string;
  lineItems?: { lineItemId: string; quantity?: number }[];
}

interface EbayResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/** An eBay response other than 2xx. */
export class EbayApiError extends MarketplaceError {
  constructor(
    message: string,
    retryable: boolean,
    retryAfterMs: number | null,
    readonly httpStatus: number,
    readonly errors: EbayErrorDetail[],
  ) {
    super(message, retryable, retryAfterMs);
  }
}

/**
 * The position in eBay's order list, encoded as base64url JSON. A pass
 * reads `lastmodifieddate:[since..]` page by page; the next pass starts at
 * `nextSince`. `seen` maps ids of orders already returned to their
 * `lastModifiedDate`, for orders modified at or after `nextSince` (or, in
 * the current pass, `since`), so the overlap between passes returns an
 * order again only when it changed.
 */
interface OrderCursor {
  v: 1;
  since: string | null;
  offset: number;
  nextSince: string | null;
  seen: Record<string, string>;
}

type RequestOptions = {
  query?: Record<string, string>;
  body?: unknown;
  contentLanguage?: boolean;
};

export class EbayMarketplaceAdapter implements MarketplaceAdapter {
  readonly kind = 'EBAY';
  private readonly apiBaseUrl: string;
  private readonly authBaseUrl: string;
  private readonly credentials: EbayCredentials;
  private readonly settings: EbaySettings;
  private readonly timeoutMs: number;
  private readonly orderPageSize: number;
  private readonly orderOverlapMs: number;
  private readonly now: () => number;
  private token: { value: string; expiresAt: number } | null = null;
  private pendingToken: Promise<string> | null = null;

  constructor(options: EbayAdapterOptions) {
    this.apiBaseUrl = options.apiBaseUrl.replace(/\/+$/, '');
    this.authBaseUrl = options.authBaseUrl.replace(/\/+$/, '');
    this.credentials = options.credentials;
    this.settings = options.settings ?? {};
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.orderPageSize = options.orderPageSize ?? DEFAULT_ORDER_PAGE_SIZE;
    this.orderOverlapMs = options.orderOverlapMs ?? DEFAULT_ORDER_OVERLAP_MS;
    this.now = options.now ?? Date.now;
    if (
      !Number.isSafeInteger(this.orderPageSize) ||
      this.orderPageSize < 1 ||
      this.orderPageSize > 200
    ) {
      throw new Error(
        `eBay adapter: orderPageSize ${this.orderPageSize} is not an integer from 1 to 200`,
      );
    }
  }

  async testConnection(): Promise<void> {
    await this.request(
      'testConnection',
      'GET',
      '/sell/inventory/v1/inventory_item',
      {
        query: { limit: '1', offset: '0' },
      },
    );
  }

  async publish(push: ListingPush): Promise<PublishedListing> {
    const categoryId = push.categoryId ?? this.settings.categoryId;
    if (!categoryId) {
      throw new MarketplaceError(
        `eBay publish failed for SKU "${push.sku}": no category; set categoryId in the connection's settings or on the listing`,
        false,
      );
    }
    await this.request(
      'createOrReplaceInventoryItem',
      'PUT',
      `/sell/inventory/v1/inventory_item/${encodeURIComponent(push.sku)}`,
      { body: inventoryItemOf(push), contentLanguage: true },
    );

    const details = this.offerDetailsOf(push, categoryId);
    const offer = await this.findOffer('publish', push.sku);
    let offerId: string;
    if (offer === null) {
      offerId = await this.createOffer(push.sku, details);
    } else {
      offerId = offer.offerId;
      await this.updateOffer(offerId, details);
    }

    // A published offer's update revises the live listing, so only an
    // unpublished or ended one is published again.
    const listingId = offer?.listing?.listingId;
    const live =
      offer?.status === 'PUBLISHED' &&
      listingId !== undefined &&
      (offer.listing?.listingStatus ?? 'ACTIVE') === 'ACTIVE';
    if (live) return { externalId: listingId, status: 'ACTIVE' };

    const published = await this.request(
      'publishOffer',
      'POST',
      `/sell/inventory/v1/offer/${encodeURIComponent(offerId)}/publish`,
    );
    const publishedId = (published.body as { listingId?: unknown } | null)
      ?.listingId;
    if (typeof publishedId !== 'string' || publishedId === '') {
      throw new MarketplaceError(
        `eBay publishOffer of SKU "${push.sku}" returned no listingId`,
        true,
      );
    }
    return { externalId: publishedId, status: 'ACTIVE' };
  }

  async setQuantity(
    sku: string,
    _externalId: string,
    quantity: number,
  ): Promise<void> {
    if (!Number.isSafeInteger(quantity) || quantity < 0) {
      throw new MarketplaceError(
        `eBay setQuantity failed for SKU "${sku}": quantity ${quantity} is not an integer >= 0`,
        false,
      );
    }
    const response = await this.request(
      'bulkUpdatePriceQuantity',
      'POST',
      '/sell/inventory/v1/bulk_update_price_quantity',
      {
        body: { requests: [{ sku, shipToLocationAvailability: { quantity } }] },
      },
    );
    // The bulk call returns 200 and reports each SKU's outcome in the body.
    const results =
      (
        response.body as {
          responses?: { statusCode?: number; errors?: EbayErrorDetail[] }[];
        } | null
      )?.responses ?? [];
    const failed = results.find(
      (result) => result.statusCode !== undefined && result.statusCode >= 300,
    );
    if (failed) {
      const status = failed.statusCode!;
      throw new EbayApiError(
        this.redact(
          `eBay bulkUpdatePriceQuantity failed for SKU "${sku}": HTTP ${status}${describeErrors(failed.errors ?? [])}`,
        ),
        status === 429 || status >= 500,
        null,
        status,
        failed.errors ?? [],
      );
    }
  }

  async end(sku: string, _externalId: string): Promise<void> {
    const offer = await this.findOffer('end', sku);
    // No offer, or an unpublished one, means no live listing to end.
    if (offer === null || offer.status !== 'PUBLISHED') return;
    await this.request(
      'withdrawOffer',
      'POST',
      `/sell/inventory/v1/offer/${encodeURIComponent(offer.offerId)}/withdraw`,
    );
  }

  async fetchOrders(cursor: string | null): Promise<OrderPage> {
    const position = decodeCursor(cursor);
    const query: Record<string, string> = {
      limit: String(this.orderPageSize),
      offset: String(position.offset),
    };
    if (position.since !== null) {
      query.filter = `lastmodifieddate:[${position.since}..]`;
    }
    const response = await this.request(
      'getOrders',
      'GET',
      '/sell/fulfillment/v1/order',
      { query },
    );
    const body = (response.body ?? {}) as {
      orders?: EbayOrder[];
      total?: number;
    };
    const page = body.orders ?? [];

    // The first page of a pass fixes where the next pass starts: eBay's
    // time of this response less the overlap, never before this pass.
    let nextSince = position.nextSince;
    if (nextSince === null) {
      const serverTime = Date.parse(response.headers.get('date') ?? '');
      const start =
        (Number.isNaN(serverTime) ? this.now() : serverTime) -
        this.orderOverlapMs;
      const since =
        position.since === null ? -Infinity : Date.parse(position.since);
      nextSince = new Date(Math.max(start, since)).toISOString();
    }
    const nextSinceTime = Date.parse(nextSince);

    const seen = { ...position.seen };
    const orders: MarketplaceOrder[] = [];
    for (const order of page) {
      if (seen[order.orderId] === order.lastModifiedDate) continue;
      orders.push(marketplaceOrderOf(order));
      if (Date.parse(order.lastModifiedDate) >= nextSinceTime) {
        seen[order.orderId] = order.lastModifiedDate;
      }
    }

    const read = position.offset + page.length;
    const more =
      typeof body.total === 'number'
        ? read < body.total && page.length > 0
        : page.length >= this.orderPageSize;
    if (more) {
      return {
        orders,
        nextCursor: encodeCursor({
          ...position,
          offset: read,
          nextSince,
          seen,
        }),
      };
    }
    if (position.offset === 0 && orders.length === 0) {
      return { orders, nextCursor: null };
    }
    const kept: Record<string, string> = {};
    for (const [orderId, modified] of Object.entries(seen)) {
      if (Date.parse(modified) >= nextSinceTime) kept[orderId] = modified;
    }
    return {
      orders,
      nextCursor: encodeCursor({
        v: 1,
        since: nextSince,
        offset: 0,
        nextSince: null,
        seen: kept,
      }),
    };
  }

  async pushFulfillment(push: FulfillmentPush): Promise<void> {
    const orderPath = `/sell/fulfillment/v1/order/${encodeURIComponent(push.externalOrderId)}`;
    const existing = await this.request(
      'getShippingFulfillments',
      'GET',
      `${orderPath}/shipping_fulfillment`,
    );
    const fulfillments =
      (existing.body as { fulfillments?: EbayShippingFulfillment[] } | null)
        ?.fulfillments ?? [];
    // eBay takes no idempotency key; a shipment already reported with this
    // tracking number makes a repeated push a no-op.
    if (
      fulfillments.some(
        (fulfillment) =>
          fulfillment.shipmentTrackingNumber === push.trackingNumber,
      )
    ) {
      return;
    }

    let lineItems = push.lines.map((line) => ({
      lineItemId: line.externalLineId,
      quantity: line.quantity,
    }));
    if (lineItems.length === 0) {
      const order = await this.request('getOrder', 'GET', orderPath);
      lineItems = unshippedLineItems(order.body as EbayOrder, fulfillments);
      if (lineItems.length === 0) return;
    }
    const shippedAt = Date.parse(push.shippedAt);
    if (Number.isNaN(shippedAt)) {
      throw new MarketplaceError(
        `eBay createShippingFulfillment failed: shippedAt "${push.shippedAt}" is not an ISO 8601 time`,
        false,
      );
    }
    await this.request(
      'createShippingFulfillment',
      'POST',
      `${orderPath}/shipping_fulfillment`,
      {
        body: {
          lineItems,
          shippedDate: new Date(shippedAt).toISOString(),
          shippingCarrierCode:
            CARRIER_CODES[push.carrier.toLowerCase()] ?? push.carrier,
          trackingNumber: push.trackingNumber,
        },
      },
    );
  }

  /** The offer fields eBay's createOffer and updateOffer share. */
  private offerDetailsOf(
    push: ListingPush,
    categoryId: string,
  ): Record<string, unknown> {
    const settings = this.settings;
    const credentials = this.credentials;
    return {
      categoryId,
      listingDescription: push.description,
      listingDuration: 'GTC',
      listingPolicies: {
        fulfillmentPolicyId:
          settings.fulfillmentPolicyId ?? credentials.fulfillmentPolicyId,
        paymentPolicyId:
          settings.paymentPolicyId ?? credentials.paymentPolicyId,
        returnPolicyId: settings.returnPolicyId ?? credentials.returnPolicyId,
      },
      merchantLocationKey: credentials.merchantLocationKey,
      pricingSummary: {
        price: amountOf(push.price.amount, push.price.currencyCode),
      },
    };
  }

  private async findOffer(
    operation: string,
    sku: string,
  ): Promise<EbayOffer | null> {
    try {
      const response = await this.request(
        `${operation} (getOffers)`,
        'GET',
        '/sell/inventory/v1/offer',
        {
          query: {
            sku,
            marketplace_id: this.credentials.marketplaceId,
            format: 'FIXED_PRICE',
          },
        },
      );
      const offers =
        (response.body as { offers?: EbayOffer[] } | null)?.offers ?? [];
      return (
        offers.find(
          (offer) =>
            (offer.marketplaceId ?? this.credentials.marketplaceId) ===
              this.credentials.marketplaceId &&
            (offer.format ?? 'FIXED_PRICE') === 'FIXED_PRICE',
        ) ?? null
      );
    } catch (error) {
      // NOTE: eBay's reference does not state whether getOffers returns 404
      // or an empty list for a SKU without offers, so both mean none.
      if (error instanceof EbayApiError && error.httpStatus === 404)
        return null;
      throw error;
    }
  }

  private async createOffer(
    sku: string,
    details: Record<string, unknown>,
  ): Promise<string> {
    try {
      const response = await this.request(
        'createOffer',
        'POST',
        '/sell/inventory/v1/offer',
        {
          body: {
            sku,
            marketplaceId: this.credentials.marketplaceId,
            format: 'FIXED_PRICE',
            ...details,
          },
          contentLanguage: true,
        },
      );
      const offerId = (response.body as { offerId?: unknown } | null)?.offerId;
      if (typeof offerId !== 'string' || offerId === '') {
        throw new MarketplaceError(
          `eBay createOffer of SKU "${sku}" returned no offerId`,
          true,
        );
      }
      return offerId;
    } catch (error) {
      // An offer created by an earlier attempt whose response was lost:
      // eBay names it in the error, and it is updated instead.
      const existingId =
        error instanceof EbayApiError
          ? error.errors
              .find((detail) => detail.errorId === OFFER_EXISTS_ERROR_ID)
              ?.parameters?.find((parameter) => parameter.name === 'offerId')
              ?.value
          : undefined;
      if (existingId === undefined) throw error;
      await this.updateOffer(existingId, details);
      return existingId;
    }
  }

  private async updateOffer(
    offerId: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.request(
      'updateOffer',
      'PUT',
      `/sell/inventory/v1/offer/${encodeURIComponent(offerId)}`,
      { body: details, contentLanguage: true },
    );
  }

  /**
   * Sends one API request with the current access token. A 401 drops the
   * token and repeats the request once with a new one.
   */
  private async request(
    operation: string,
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<EbayResponse> {
    const url = new URL(this.apiBaseUrl + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      url.searchParams.set(name, value);
    }
    for (let attempt = 0; ; attempt += 1) {
      const token = await this.accessToken();
      const headers: Record<string, string> = {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        'x-ebay-c-marketplace-id': this.credentials.marketplaceId,
      };
      if (options.body !== undefined) {
        headers['content-type'] = 'application/json';
      }
      if (options.contentLanguage) {
        headers['content-language'] = this.settings.contentLanguage ?? 'en-US';
      }
      const response = await this.send(operation, url, {
        method,
        headers,
        body:
          options.body === undefined ? undefined : JSON.stringify(options.body),
      });
      if (response.status === 401) {
        if (this.token?.value === token) this.token = null;
        if (attempt === 0) continue;
        throw new MarketplaceError(
          `eBay ${operation} failed: eBay rejected a newly issued access token (HTTP 401); reconnect the eBay account`,
          false,
        );
      }
      if (response.status >= 300) {
        throw this.apiError(operation, response);
      }
      return response;
    }
  }

  /** Returns a user access token, requesting one when none is cached or it is about to expire. */
  private async accessToken(): Promise<string> {
    const cached = this.token;
    if (cached && cached.expiresAt - TOKEN_EXPIRY_MARGIN_MS > this.now()) {
      return cached.value;
    }
    // Concurrent calls share one refresh.
    this.pendingToken ??= this.refreshAccessToken().finally(() => {
      this.pendingToken = null;
    });
    return this.pendingToken;
  }

  private async refreshAccessToken(): Promise<string> {
    const { clientId, clientSecret, refreshToken } = this.credentials;
    const basic = Buffer.from(`${clientId}:${clientSecret}`, 'utf8').toString(
      'base64',
    );
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      scope: (this.credentials.scopes ?? EBAY_DEFAULT_SCOPES).join(' '),
    });
    const requestedAt = this.now();
    const response = await this.send(
      'token refresh',
      new URL(`${this.authBaseUrl}/identity/v1/oauth2/token`),
      {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
      },
    );
    const body = (response.body ?? {}) as {
      access_token?: unknown;
      expires_in?: unknown;
      error?: unknown;
      error_description?: unknown;
    };
    if (response.status === 429 || response.status >= 500) {
      throw this.apiError('token refresh', response);
    }
    if (response.status >= 300) {
      const reason = [body.error, body.error_description]
        .filter((part): part is string => typeof part === 'string')
        .join(': ');
      throw new MarketplaceError(
        this.redact(
          `eBay token refresh failed: HTTP ${response.status}${reason ? ` (${reason})` : ''}; the client id, client secret or refresh token is invalid, so reconnect the eBay account`,
        ),
        false,
      );
    }
    if (
      typeof body.access_token !== 'string' ||
      typeof body.expires_in !== 'number'
    ) {
      throw new MarketplaceError(
        'eBay token refresh failed: the response has no access_token or expires_in',
        true,
      );
    }
    this.token = {
      value: body.access_token,
      expiresAt: requestedAt + body.expires_in * 1000,
    };
    return body.access_token;
  }

  /** Sends one HTTP request; network errors and timeouts become retryable errors. */
  private async send(
    operation: string,
    url: URL,
    init: { method: string; headers: Record<string, string>; body?: string },
  ): Promise<EbayResponse> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        ...init,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw new MarketplaceError(
        `eBay ${operation} failed: ${networkReason(error, this.timeoutMs)}`,
        true,
      );
    }
    let body: unknown = null;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: response.status, headers: response.headers, body };
  }

  private apiError(operation: string, response: EbayResponse): EbayApiError {
    const errors =
      typeof response.body === 'object' && response.body !== null
        ? ((response.body as { errors?: EbayErrorDetail[] }).errors ?? [])
        : [];
    let detail = describeErrors(errors);
    if (errors.length === 0 && typeof response.body === 'string') {
      detail = `: ${response.body.slice(0, 200)}`;
    }
    const retryable = response.status === 429 || response.status >= 500;
    const retryAfterMs =
      response.status === 429 || response.status === 503
        ? retryAfterOf(response.headers.get('retry-after'), this.now())
        : null;
    return new EbayApiError(
      this.redact(`eBay ${operation} failed: HTTP ${response.status}${detail}`),
      retryable,
      retryAfterMs,
      response.status,
      errors,
    );
  }

  /** Removes credentials and tokens from text that may echo a request. */
  private redact(text: string): string {
    const secrets = [
      this.credentials.clientSecret,
      this.credentials.refreshToken,
      this.credentials.clientId,
      this.token?.value,
    ].filter((secret): secret is string => !!secret && secret.length >= 4);
    let result = text;
    for (const secret of secrets)
      result = result.split(secret).join('[redacted]');
    return result;
  }
}

/** Builds the createOrReplaceInventoryItem body of a listing. */
export function inventoryItemOf(push: ListingPush): Record<string, unknown> {
  const aspects: Record<string, string[]> = { ...push.aspects };
  if (push.brand && !aspects.Brand) aspects.Brand = [push.brand];
  if (push.mpn && !aspects.MPN) aspects.MPN = [push.mpn];
  const product: Record<string, unknown> = {
    title: push.title,
    description: push.description,
    imageUrls: push.imageUrls,
    aspects,
  };
  if (push.brand) product.brand = push.brand;
  if (push.mpn) product.mpn = push.mpn;
  Object.assign(product, gtinFields(push.gtin));
  const item: Record<string, unknown> = {
    product,
    condition: CONDITIONS[push.condition],
    availability: {
      shipToLocationAvailability: { quantity: push.quantity },
    },
  };
  if (push.weightGrams !== null) {
    item.packageWeightAndSize = {
      weight: { value: push.weightGrams, unit: 'GRAM' },
    };
  }
  return item;
}

/** eBay's product identifier field of a GTIN by its length: UPC-A, EAN-8/13, ISBN-10. */
function gtinFields(gtin: string | null): Record<string, string[]> {
  const digits = gtin?.replace(/[\s-]/g, '') ?? '';
  if (/^\d{12}$/.test(digits)) return { upc: [digits] };
  if (/^(97[89])\d{10}$/.test(digits)) return { isbn: [digits], ean: [digits] };
  if (/^\d{8}$|^\d{13}$/.test(digits)) return { ean: [digits] };
  if (/^\d{9}[\dX]$/.test(digits)) return { isbn: [digits] };
  return {};
}

function amountOf(minor: number, currencyCode: string): EbayAmount {
  return { value: formatAmount(minor, currencyCode), currency: currencyCode };
}

function formatAmount(minor: number, currencyCode: string): string {
  if (!Number.isSafeInteger(minor) || minor < 0) {
    throw new MarketplaceError(
      `eBay: amount ${minor} is not an integer >= 0 of minor units`,
      false,
    );
  }
  try {
    return formatMinorUnits(minor, currencyCode);
  } catch (error) {
    throw new MarketplaceError(`eBay: ${(error as Error).message}`, false);
  }
}

/** Minor units of an eBay Amount; every amount of one order must share `currencyCode`. */
function minorOf(
  amount: EbayAmount | undefined,
  currencyCode: string,
  orderId: string,
  field: string,
): number {
  if (amount === undefined) return 0;
  if (amount.currency !== currencyCode) {
    throw new MarketplaceError(
      `eBay order ${orderId}: ${field} is in ${amount.currency}, the order total in ${currencyCode}`,
      false,
    );
  }
  let parsed: { minor: number } | { error: string };
  try {
    parsed = parseDecimalToMinorUnits(amount.value, amount.currency);
  } catch (error) {
    parsed = { error: (error as Error).message };
  }
  if ('error' in parsed) {
    throw new MarketplaceError(
      `eBay order ${orderId}: ${field} is invalid: ${parsed.error}`,
      false,
    );
  }
  return parsed.minor;
}

/** Maps an eBay Order to a MarketplaceOrder. */
export function marketplaceOrderOf(order: EbayOrder): MarketplaceOrder {
  const summary = order.pricingSummary;
  const currencyCode = summary.total.currency;
  const minor = (amount: EbayAmount | undefined, field: string) =>
    minorOf(amount, currencyCode, order.orderId, field);

  const lines: MarketplaceOrderLine[] = order.lineItems.map((item) => {
    const totalAmount = minor(
      item.lineItemCost,
      `lineItemCost of ${item.lineItemId}`,
    );
    // lineItemCost is the unit price times the quantity, before discounts.
    // NOTE: a total that does not divide evenly is rounded to the nearest
    // minor unit; totalAmount keeps eBay's exact figure.
    const unitPriceAmount =
      item.quantity > 0 ? Math.round(totalAmount / item.quantity) : totalAmount;
    return {
      externalLineId: item.lineItemId,
      sku: item.sku ?? '',
      quantity: item.quantity,
      unitPriceAmount,
      totalAmount,
    };
  });

  const shipTo = order.fulfillmentStartInstructions?.[0]?.shippingStep?.shipTo;
  const address = shipTo?.contactAddress;
  const shippingAddress =
    shipTo && address
      ? {
          name: shipTo.fullName ?? '',
          line1: address.addressLine1 ?? '',
          line2: address.addressLine2 ?? null,
          city: address.city ?? '',
          region: address.stateOrProvince ?? null,
          postalCode: address.postalCode ?? null,
          countryCode: address.countryCode ?? '',
          phone: shipTo.primaryPhone?.phoneNumber ?? null,
        }
      : null;

  return {
    externalOrderId: order.orderId,
    placedAt: order.creationDate,
    currencyCode,
    email:
      order.buyer?.buyerRegistrationAddress?.email ?? shipTo?.email ?? null,
    shippingAddress,
    lines,
    // Discounts are negative amounts on eBay.
    subtotalAmount:
      minor(summary.priceSubtotal, 'priceSubtotal') +
      minor(summary.priceDiscount, 'priceDiscount'),
    shippingAmount:
      minor(summary.deliveryCost, 'deliveryCost') +
      minor(summary.deliveryDiscount, 'deliveryDiscount'),
    taxAmount: minor(summary.tax, 'tax'),
    totalAmount: minor(summary.total, 'total'),
    paid: order.orderPaymentStatus === 'PAID',
  };
}

/** Returns the line items of an order with the quantities no shipment has reported yet. */
function unshippedLineItems(
  order: EbayOrder,
  fulfillments: EbayShippingFulfillment[],
): { lineItemId: string; quantity: number }[] {
  const shipped = new Map<string, number>();
  for (const fulfillment of fulfillments) {
    for (const item of fulfillment.lineItems ?? []) {
      shipped.set(
        item.lineItemId,
        (shipped.get(item.lineItemId) ?? 0) + (item.quantity ?? 0),
      );
    }
  }
  return order.lineItems
    .map((item) => ({
      lineItemId: item.lineItemId,
      quantity: item.quantity - (shipped.get(item.lineItemId) ?? 0),
    }))
    .filter((item) => item.quantity > 0);
}

function describeErrors(errors: EbayErrorDetail[]): string {
  if (errors.length === 0) return '';
  const parts = errors
    .slice(0, 3)
    .map((error) => `${error.errorId ?? '?'} ${error.message ?? ''}`.trim());
  return `: ${parts.join('; ')}`;
}

/** Milliseconds to wait from a Retry-After header: delay seconds or an HTTP date. */
export function retryAfterOf(
  header: string | null,
  now: number,
): number | null {
  if (header === null) return null;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function networkReason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return `no response within ${timeoutMs} ms`;
  }
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  const code = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
  return `network error${code}`;
}

function encodeCursor(cursor: OrderCursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string | null): OrderCursor {
  if (cursor === null) {
    return { v: 1, since: null, offset: 0, nextSince: null, seen: {} };
  }
  let parsed: Partial<OrderCursor> | null = null;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = null;
  }
  const valid =
    parsed !== null &&
    typeof parsed === 'object' &&
    parsed.v === 1 &&
    (parsed.since === null || typeof parsed.since === 'string') &&
    Number.isSafeInteger(parsed.offset) &&
    parsed.offset! >= 0 &&
    (parsed.nextSince === null || typeof parsed.nextSince === 'string') &&
    typeof parsed.seen === 'object' &&
    parsed.seen !== null;
  if (!valid) {
    throw new MarketplaceError(
      `eBay getOrders failed: cursor "${cursor.slice(0, 40)}" is not an eBay order cursor`,
      false,
    );
  }
  return parsed as OrderCursor;
}
