/**
 * A local stand-in for the parts of eBay's REST APIs that the eBay
 * marketplace adapter uses, close enough that the adapter cannot tell:
 *
 * - `POST /identity/v1/oauth2/token`: the refresh token grant, checking
 *   HTTP basic auth (client id and secret), the refresh token and that the
 *   scopes requested were granted. Errors as `{ error, error_description }`.
 * - Sell Inventory API v1: inventory items, offers with publish and
 *   withdraw, bulk_update_price_quantity, getOffers by SKU.
 * - Sell Fulfillment API v1: getOrders with `lastmodifieddate` and
 *   `creationdate` filters, limit and offset (newest first, as eBay), getOrder,
 *   and shipping fulfillments.
 *
 * Sell API calls need a bearer token the fake issued and has not expired
 * (`expireAccessTokens` makes the current ones fail with 401, as eBay does
 * after two hours). A per-minute call budget returns 429 with
 * `Retry-After` when spent. `goDown` makes every request fail with 503,
 * or closes the port so connections are refused, until `comeUp` or a
 * given time has passed. Tests add orders with `addOrder` and read the
 * state with `quantityOf`, `offersFor`, `fulfillmentsOf` and the like.
 *
 * Errors are `{ errors: [{ errorId, domain, category, message }] }`. The
 * error ids 1001 (invalid access token), 2001 (too many requests), 25002
 * (offer already exists, with the offerId parameter) and 25713 (offer not
 * available) follow eBay; the others are the fake's own.
 *
 * Only listens on 127.0.0.1.
 */

import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomInt } from 'node:crypto';
import {
  formatMinorUnits,
  parseDecimalToMinorUnits,
} from '../../platform/money.js';

export const FAKE_EBAY_SCOPES = [
  'https://api.ebay.com/oauth/api_scope',
  'https://api.ebay.com/oauth/api_scope/sell.inventory',
  'https://api.ebay.com/oauth/api_scope/sell.fulfillment',
  'https://api.ebay.com/oauth/api_scope/sell.account',
];

export interface RecordedEbayRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | undefined>;
  body: unknown;
  status: number;
}

export interface FakeEbayAmount {
  value: string;
  currency: string;
}

export interface FakeEbayOffer {
  offerId: string;
  sku: string;
  marketplaceId: string;
  format: string;
  status: 'PUBLISHED' | 'UNPUBLISHED';
  listing?: { listingId: string; listingStatus: 'ACTIVE' };
  [field: string]: unknown;
}

export interface FakeEbayLineItem {
  lineItemId: string;
  legacyItemId: string;
  sku?: string;
  title: string;
  quantity: number;
  lineItemCost: FakeEbayAmount;
  total: FakeEbayAmount;
  lineItemFulfillmentStatus: 'NOT_STARTED' | 'IN_PROGRESS' | 'FULFILLED';
}

export interface FakeEbayOrder {
  orderId: string;
  creationDate: string;
  lastModifiedDate: string;
  orderFulfillmentStatus: 'NOT_STARTED' | 'IN_PROGRESS' | 'FULFILLED';
  orderPaymentStatus: string;
  buyer: {
    username: string;
    buyerRegistrationAddress?: { fullName?: string; email?: string };
  };
  pricingSummary: Record<string, FakeEbayAmount>;
  fulfillmentStartInstructions: unknown[];
  lineItems: FakeEbayLineItem[];
}

export interface FakeEbayFulfillment {
  fulfillmentId: string;
  lineItems: { lineItemId: string; quantity: number }[];
  shippedDate: string;
  shippingCarrierCode: string;
  shipmentTrackingNumber: string;
}

/** Input of `addOrder`; prices are decimal strings as eBay shows them. */
export interface FakeEbayOrderInput {
  orderId?: string;
  /** ISO 8601; default now. */
  creationDate?: string;
  /** eBay's orderPaymentStatus; default PAID. */
  paymentStatus?: 'PAID' | 'PENDING' | 'FAILED';
  currency?: string;
  buyerUsername?: string;
  buyerEmail?: string;
  shipTo?: {
    fullName: string;
    addressLine1: string;
    addressLine2?: string;
    city: string;
    stateOrProvince?: string;
    postalCode?: string;
    countryCode: string;
    phoneNumber?: string;
    email?: string;
  };
  lines: {
    sku?: string;
    quantity: number;
    /** Price of one unit, such as "19.99". */
    unitPrice: string;
    lineItemId?: string;
    title?: string;
  }[];
  deliveryCost?: string;
  /** Negative, such as "-2.00". */
  deliveryDiscount?: string;
  /** Negative, such as "-5.00". */
  priceDiscount?: string;
  tax?: string;
}

type Reply = {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
};

const TOKEN_PATH = '/identity/v1/oauth2/token';
const INVENTORY = '/sell/inventory/v1';
const FULFILLMENT = '/sell/fulfillment/v1';
const CONDITIONS = new Set([
  'NEW',
  'LIKE_NEW',
  'NEW_OTHER',
  'NEW_WITH_DEFECTS',
  'CERTIFIED_REFURBISHED',
  'EXCELLENT_REFURBISHED',
  'VERY_GOOD_REFURBISHED',
  'GOOD_REFURBISHED',
  'SELLER_REFURBISHED',
  'USED_EXCELLENT',
  'USED_VERY_GOOD',
  'USED_GOOD',
  'USED_ACCEPTABLE',
  'FOR_PARTS_OR_NOT_WORKING',
]);

function randomId(prefix: string, bytes = 8): string {
  return `${prefix}${randomBytes(bytes).toString('hex')}`;
}

function ebayError(
  status: number,
  errorId: number,
  message: string,
  extra: Record<string, unknown> = {},
): Reply {
  return {
    status,
    body: {
      errors: [
        {
          errorId,
          domain: errorId < 3000 ? 'ACCESS' : 'API_INVENTORY',
          category: status >= 500 ? 'APPLICATION' : 'REQUEST',
          message,
          ...extra,
        },
      ],
    },
  };
}

export class FakeEbay {
  readonly clientId = randomId('ShopApp-', 6);
  readonly clientSecret = randomId('PRD-', 12);
  readonly refreshToken = `v^1.1#i^1#r^1#${randomBytes(24).toString('base64')}`;
  readonly grantedScopes = new Set(FAKE_EBAY_SCOPES);
  readonly requests: RecordedEbayRequest[] = [];
  /** Lifetime of issued access tokens, in seconds; eBay's is 7200. */
  tokenLifetimeSeconds = 7200;
  tokenRequestCount = 0;

  private readonly tokens = new Map<string, number>();
  private readonly intercepts: {
    method: string;
    pathPrefix: string;
    reply: { status: number; errorId: number; message: string };
  }[] = [];
  private readonly items = new Map<string, Record<string, unknown>>();
  private readonly offers = new Map<string, FakeEbayOffer>();
  private readonly orders = new Map<string, FakeEbayOrder>();
  private readonly fulfillments = new Map<string, FakeEbayFulfillment[]>();
  private callsPerMinute: number | null = null;
  private budgetWindow = { startedAt: 0, calls: 0 };
  private outage: {
    mode: 'unavailable' | 'refused';
    until: number | null;
    retryAfterSeconds: number | null;
  } | null = null;
  private reopenTimer: NodeJS.Timeout | null = null;
  private server: Server | null = null;
  private port = 0;
  private listingSequence = 110_000_000_000;
  private offerSequence = 5_000_000_000;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<string> {
    await this.listen(0);
    return this.url;
  }

  async close(): Promise<void> {
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
    await this.stopListening();
  }

  /**
   * Sets how many Sell API calls the fake accepts per minute, counted in
   * fixed windows from the first call; null removes the limit. Token
   * requests do not count, as eBay limits its OAuth API separately.
   */
  setCallBudget(callsPerMinute: number | null): void {
    this.callsPerMinute = callsPerMinute;
    this.budgetWindow = { startedAt: 0, calls: 0 };
  }

  /**
   * Replies to the next request of `method` to a path starting with
   * `pathPrefix` with an eBay error instead of handling it, as when another
   * client's change is not yet visible.
   */
  interceptNext(
    method: string,
    pathPrefix: string,
    reply: { status: number; errorId: number; message: string },
  ): void {
    this.intercepts.push({ method, pathPrefix, reply });
  }

  /** Makes every access token issued so far invalid, so the next call gets 401. */
  expireAccessTokens(): void {
    this.tokens.clear();
  }

  /**
   * Fails every request: `unavailable` returns 503 (with Retry-After when
   * `retryAfterSeconds` is set), `refused` closes the port so connections
   * are refused. Lasts `durationMs`, or until `comeUp`.
   */
  async goDown(
    mode: 'unavailable' | 'refused',
    options: { durationMs?: number; retryAfterSeconds?: number } = {},
  ): Promise<void> {
    const until =
      options.durationMs === undefined ? null : Date.now() + options.durationMs;
    this.outage = {
      mode,
      until,
      retryAfterSeconds: options.retryAfterSeconds ?? null,
    };
    if (mode === 'refused') {
      await this.stopListening();
      if (options.durationMs !== undefined) {
        this.reopenTimer = setTimeout(() => {
          void this.comeUp();
        }, options.durationMs);
      }
    }
  }

  async comeUp(): Promise<void> {
    const wasRefused = this.outage?.mode === 'refused';
    this.outage = null;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
    if (wasRefused && !this.server) await this.listen(this.port);
  }

  inventoryItem(sku: string): Record<string, unknown> | undefined {
    return this.items.get(sku);
  }

  /** Returns the ship-to-home quantity of a SKU's inventory item. */
  quantityOf(sku: string): number | undefined {
    const item = this.items.get(sku) as
      | {
          availability?: { shipToLocationAvailability?: { quantity?: number } };
        }
      | undefined;
    return item?.availability?.shipToLocationAvailability?.quantity;
  }

  offersFor(sku: string): FakeEbayOffer[] {
    return [...this.offers.values()].filter((offer) => offer.sku === sku);
  }

  offer(offerId: string): FakeEbayOffer | undefined {
    return this.offers.get(offerId);
  }

  order(orderId: string): FakeEbayOrder | undefined {
    return this.orders.get(orderId);
  }

  fulfillmentsOf(orderId: string): FakeEbayFulfillment[] {
    return this.fulfillments.get(orderId) ?? [];
  }

  /** Requests to a path prefix, such as `/sell/inventory/v1/offer`. */
  requestsTo(method: string, pathPrefix: string): RecordedEbayRequest[] {
    return this.requests.filter(
      (request) =>
        request.method === method && request.path.startsWith(pathPrefix),
    );
  }

  /** Adds an order as a buyer's checkout would, and returns it. */
  addOrder(input: FakeEbayOrderInput): FakeEbayOrder {
    const currency = input.currency ?? 'USD';
    const orderId =
      input.orderId ??
      `${randomInt(10, 99)}-${randomInt(10_000, 99_999)}-${randomInt(10_000, 99_999)}`;
    const minor = (value: string) => {
      const parsed = parseDecimalToMinorUnits(value, currency);
      if ('error' in parsed) throw new Error(`fake eBay: ${parsed.error}`);
      return parsed.minor;
    };
    const amount = (value: number): FakeEbayAmount => ({
      value: formatMinorUnits(value, currency),
      currency,
    });
    const lineItems = input.lines.map((line, index): FakeEbayLineItem => {
      const cost = minor(line.unitPrice) * line.quantity;
      return {
        lineItemId:
          line.lineItemId ?? String(randomInt(10_000_000_000, 99_999_999_999)),
        legacyItemId: String(this.listingSequence + index),
        ...(line.sku === undefined ? {} : { sku: line.sku }),
        title: line.title ?? `Item ${line.sku ?? index + 1}`,
        quantity: line.quantity,
        lineItemCost: amount(cost),
        total: amount(cost),
        lineItemFulfillmentStatus: 'NOT_STARTED',
      };
    });
    const subtotal = lineItems.reduce(
      (sum, item) => sum + minor(item.lineItemCost.value),
      0,
    );
    const delivery = minor(input.deliveryCost ?? '0');
    const deliveryDiscount = minor(input.deliveryDiscount ?? '0');
    const priceDiscount = minor(input.priceDiscount ?? '0');
    const tax = minor(input.tax ?? '0');
    const pricingSummary: Record<string, FakeEbayAmount> = {
      priceSubtotal: amount(subtotal),
      deliveryCost: amount(delivery),
      total: amount(
        subtotal + priceDiscount + delivery + deliveryDiscount + tax,
      ),
    };
    if (input.priceDiscount)
      pricingSummary.priceDiscount = amount(priceDiscount);
    if (input.deliveryDiscount) {
      pricingSummary.deliveryDiscount = amount(deliveryDiscount);
    }
    if (input.tax) pricingSummary.tax = amount(tax);

    const now = new Date().toISOString();
    const shipTo = input.shipTo;
    const order: FakeEbayOrder = {
      orderId,
      creationDate: input.creationDate ?? now,
      lastModifiedDate: now,
      orderFulfillmentStatus: 'NOT_STARTED',
      orderPaymentStatus: input.paymentStatus ?? 'PAID',
      buyer: {
        username: input.buyerUsername ?? 'buyer_1',
        ...(input.buyerEmail
          ? { buyerRegistrationAddress: { email: input.buyerEmail } }
          : {}),
      },
      pricingSummary,
      fulfillmentStartInstructions: shipTo
        ? [
            {
              fulfillmentInstructionsType: 'SHIP_TO',
              shippingStep: {
                shipTo: {
                  fullName: shipTo.fullName,
                  contactAddress: {
                    addressLine1: shipTo.addressLine1,
                    ...(shipTo.addressLine2
                      ? { addressLine2: shipTo.addressLine2 }
                      : {}),
                    city: shipTo.city,
                    ...(shipTo.stateOrProvince
                      ? { stateOrProvince: shipTo.stateOrProvince }
                      : {}),
                    ...(shipTo.postalCode
                      ? { postalCode: shipTo.postalCode }
                      : {}),
                    countryCode: shipTo.countryCode,
                  },
                  ...(shipTo.phoneNumber
                    ? { primaryPhone: { phoneNumber: shipTo.phoneNumber } }
                    : {}),
                  ...(shipTo.email ? { email: shipTo.email } : {}),
                },
              },
            },
          ]
        : [],
      lineItems,
    };
    this.orders.set(orderId, order);
    return order;
  }

  /** Changes an order's payment status, as when a pending payment clears. */
  setOrderPaymentStatus(orderId: string, status: string): void {
    const order = this.orders.get(orderId);
    if (!order) throw new Error(`the fake has no order ${orderId}`);
    order.orderPaymentStatus = status;
    order.lastModifiedDate = new Date().toISOString();
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((request, response) => {
      void this.respond(request, response);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    // Pooled keep-alive connections would otherwise still reach the fake.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async respond(
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const contentType = request.headers['content-type'] ?? '';
    let body: unknown = raw;
    if (contentType.startsWith('application/json') && raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
    } else if (contentType.startsWith('application/x-www-form-urlencoded')) {
      body = Object.fromEntries(new URLSearchParams(raw));
    }

    let reply: Reply;
    try {
      reply =
        body === undefined
          ? ebayError(
              400,
              2004,
              'Could not serialize field. The request body is not valid JSON.',
            )
          : this.handle(request.method ?? 'GET', url, request, body);
    } catch (error) {
      reply = ebayError(
        500,
        25001,
        `A system error has occurred. ${(error as Error).message}`,
      );
    }
    this.requests.push({
      method: request.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...request.headers } as Record<string, string | undefined>,
      body,
      status: reply.status,
    });
    const headers: Record<string, string> = { ...reply.headers };
    if (reply.body !== undefined) headers['content-type'] = 'application/json';
    response.writeHead(reply.status, headers);
    response.end(
      reply.body === undefined ? undefined : JSON.stringify(reply.body),
    );
  }

  private handle(
    method: string,
    url: URL,
    request: IncomingMessage,
    body: unknown,
  ): Reply {
    if (
      this.outage &&
      this.outage.until !== null &&
      Date.now() >= this.outage.until
    ) {
      this.outage = null;
    }
    if (this.outage) {
      const reply = ebayError(
        503,
        2003,
        'Service unavailable. Please try again later.',
      );
      if (this.outage.retryAfterSeconds !== null) {
        reply.headers = {
          'retry-after': String(this.outage.retryAfterSeconds),
        };
      }
      return reply;
    }
    const path = url.pathname;
    if (path === TOKEN_PATH && method === 'POST') {
      return this.token(request, body as Record<string, string>);
    }
    if (!path.startsWith(INVENTORY) && !path.startsWith(FULFILLMENT)) {
      return ebayError(404, 2002, `Resource not found: ${path}`);
    }
    const authorization = request.headers.authorization ?? '';
    const token = authorization.startsWith('Bearer ')
      ? authorization.slice('Bearer '.length)
      : '';
    const expiresAt = this.tokens.get(token);
    if (expiresAt === undefined || expiresAt <= Date.now()) {
      return ebayError(
        401,
        1001,
        'Invalid access token. Check the value of the Authorization HTTP request header.',
      );
    }
    const limited = this.spendBudget();
    if (limited) return limited;
    const intercepted = this.intercepts.findIndex(
      (intercept) =>
        intercept.method === method && path.startsWith(intercept.pathPrefix),
    );
    if (intercepted >= 0) {
      const [{ reply }] = this.intercepts.splice(intercepted, 1) as [
        (typeof this.intercepts)[number],
      ];
      return ebayError(reply.status, reply.errorId, reply.message);
    }
    if (path.startsWith(INVENTORY)) {
      return this.inventory(
        method,
        path.slice(INVENTORY.length),
        url,
        request,
        body,
      );
    }
    return this.fulfillment(method, path.slice(FULFILLMENT.length), url, body);
  }

  private token(request: IncomingMessage, form: Record<string, string>): Reply {
    this.tokenRequestCount += 1;
    const oauthError = (
      status: number,
      error: string,
      description: string,
    ) => ({
      status,
      body: { error, error_description: description },
    });
    const expected = `Basic ${Buffer.from(`${this.clientId}:${this.clientSecret}`).toString('base64')}`;
    if (request.headers.authorization !== expected) {
      return oauthError(401, 'invalid_client', 'client authentication failed');
    }
    if (
      !(request.headers['content-type'] ?? '').startsWith(
        'application/x-www-form-urlencoded',
      )
    ) {
      return oauthError(
        400,
        'invalid_request',
        'request content type must be application/x-www-form-urlencoded',
      );
    }
    if (form.grant_type !== 'refresh_token') {
      return oauthError(
        400,
        'unsupported_grant_type',
        'grant type in request is not supported by the authorization server',
      );
    }
    if (form.refresh_token !== this.refreshToken) {
      return oauthError(
        400,
        'invalid_grant',
        'the provided authorization refresh token is invalid or was issued to another client',
      );
    }
    const scopes = (form.scope ?? '')
      .split(' ')
      .filter((scope) => scope !== '');
    if (scopes.some((scope) => !this.grantedScopes.has(scope))) {
      return oauthError(
        400,
        'invalid_scope',
        'the requested scope is invalid, unknown, malformed, or exceeds the scope granted to the client',
      );
    }
    const accessToken = `v^1.1#i^1#f^0#p^3#I^3#r^0#t^${randomBytes(32).toString('base64')}`;
    this.tokens.set(accessToken, Date.now() + this.tokenLifetimeSeconds * 1000);
    return {
      status: 200,
      body: {
        access_token: accessToken,
        expires_in: this.tokenLifetimeSeconds,
        token_type: 'User Access Token',
      },
    };
  }

  /** Counts one call against the budget; returns the 429 reply when it is spent. */
  private spendBudget(): Reply | null {
    if (this.callsPerMinute === null) return null;
    const now = Date.now();
    if (now - this.budgetWindow.startedAt >= 60_000) {
      this.budgetWindow = { startedAt: now, calls: 0 };
    }
    if (this.budgetWindow.calls >= this.callsPerMinute) {
      const waitSeconds = Math.ceil(
        (this.budgetWindow.startedAt + 60_000 - now) / 1000,
      );
      const reply = ebayError(
        429,
        2001,
        'Too many requests. The request limit has been reached for the resource.',
      );
      reply.headers = { 'retry-after': String(Math.max(1, waitSeconds)) };
      return reply;
    }
    this.budgetWindow.calls += 1;
    return null;
  }

  private inventory(
    method: string,
    path: string,
    url: URL,
    request: IncomingMessage,
    body: unknown,
  ): Reply {
    const needsLanguage =
      (method === 'PUT' && path.startsWith('/inventory_item/')) ||
      (method === 'POST' && path === '/offer') ||
      (method === 'PUT' && /^\/offer\/[^/]+$/.test(path));
    if (needsLanguage && !request.headers['content-language']) {
      return ebayError(
        400,
        25709,
        'Invalid value for header Content-Language.',
      );
    }
    let match: RegExpExecArray | null;
    if (method === 'GET' && path === '/inventory_item') {
      const limit = Number(url.searchParams.get('limit') ?? '25');
      const offset = Number(url.searchParams.get('offset') ?? '0');
      const all = [...this.items.entries()].map(([sku, item]) => ({
        sku,
        ...item,
      }));
      const page = all.slice(offset, offset + limit);
      return {
        status: 200,
        body: {
          total: all.length,
          size: page.length,
          limit,
          offset,
          inventoryItems: page,
        },
      };
    }
    if ((match = /^\/inventory_item\/([^/]+)$/.exec(path))) {
      const sku = decodeURIComponent(match[1]!);
      if (method === 'GET') {
        const item = this.items.get(sku);
        return item
          ? { status: 200, body: { sku, ...item } }
          : ebayError(
              404,
              25710,
              "We didn't find the entity you are requesting.",
            );
      }
      if (method === 'PUT') return this.putInventoryItem(sku, body);
    }
    if (method === 'POST' && path === '/bulk_update_price_quantity') {
      return this.bulkUpdate(body);
    }
    if (path === '/offer') {
      if (method === 'GET') return this.getOffers(url);
      if (method === 'POST') return this.createOffer(body);
    }
    if ((match = /^\/offer\/([^/]+)(\/publish|\/withdraw)?$/.exec(path))) {
      const offer = this.offers.get(decodeURIComponent(match[1]!));
      if (!offer) return ebayError(404, 25713, 'This Offer is not available.');
      if (!match[2] && method === 'GET') return { status: 200, body: offer };
      if (!match[2] && method === 'PUT') return this.updateOffer(offer, body);
      if (match[2] === '/publish' && method === 'POST')
        return this.publish(offer);
      if (match[2] === '/withdraw' && method === 'POST')
        return this.withdraw(offer);
    }
    return ebayError(404, 2002, `Resource not found: ${method} ${path}`);
  }

  private putInventoryItem(sku: string, body: unknown): Reply {
    if (sku.length > 50) {
      return ebayError(
        400,
        25707,
        'This is an invalid value for a SKU. A SKU has at most 50 characters.',
      );
    }
    const item = (body ?? {}) as {
      condition?: string;
      product?: { title?: unknown };
      availability?: { shipToLocationAvailability?: { quantity?: unknown } };
    };
    if (typeof body !== 'object' || body === null) {
      return ebayError(400, 2004, 'The request body must be a JSON object.');
    }
    if (item.condition !== undefined && !CONDITIONS.has(item.condition)) {
      return ebayError(
        400,
        25021,
        `Invalid value ${item.condition} for condition.`,
      );
    }
    const title = item.product?.title;
    if (typeof title === 'string' && title.length > 80) {
      return ebayError(400, 25718, 'The title has more than 80 characters.');
    }
    const quantity = item.availability?.shipToLocationAvailability?.quantity;
    if (
      quantity !== undefined &&
      (!Number.isSafeInteger(quantity) || (quantity as number) < 0)
    ) {
      return ebayError(
        400,
        25604,
        'The quantity must be an integer of 0 or more.',
      );
    }
    this.items.set(sku, structuredClone(body) as Record<string, unknown>);
    return { status: 204 };
  }

  private bulkUpdate(body: unknown): Reply {
    const requests = (body as { requests?: unknown[] } | null)?.requests;
    if (
      !Array.isArray(requests) ||
      requests.length === 0 ||
      requests.length > 25
    ) {
      return ebayError(
        400,
        25727,
        'The request must contain 1 to 25 requests.',
      );
    }
    const responses = requests.map((entry) => {
      const update = entry as {
        sku?: string;
        shipToLocationAvailability?: { quantity?: number };
        offers?: {
          offerId: string;
          availableQuantity?: number;
          price?: FakeEbayAmount;
        }[];
      };
      const item =
        update.sku === undefined ? undefined : this.items.get(update.sku);
      if (!item) {
        return {
          statusCode: 404,
          sku: update.sku,
          errors: [
            {
              errorId: 25710,
              message: "We didn't find the entity you are requesting.",
            },
          ],
        };
      }
      const quantity = update.shipToLocationAvailability?.quantity;
      if (quantity !== undefined) {
        if (!Number.isSafeInteger(quantity) || quantity < 0) {
          return {
            statusCode: 400,
            sku: update.sku,
            errors: [
              {
                errorId: 25604,
                message: 'The quantity must be an integer of 0 or more.',
              },
            ],
          };
        }
        item.availability = { shipToLocationAvailability: { quantity } };
      }
      for (const offerUpdate of update.offers ?? []) {
        const offer = this.offers.get(offerUpdate.offerId);
        if (!offer) continue;
        if (offerUpdate.availableQuantity !== undefined) {
          offer.availableQuantity = offerUpdate.availableQuantity;
        }
        if (offerUpdate.price)
          offer.pricingSummary = { price: offerUpdate.price };
      }
      return { statusCode: 200, sku: update.sku, errors: [], warnings: [] };
    });
    return { status: 200, body: { responses } };
  }

  private getOffers(url: URL): Reply {
    const sku = url.searchParams.get('sku');
    if (!sku)
      return ebayError(400, 25707, 'The sku query parameter is required.');
    if (!this.items.has(sku)) {
      return ebayError(
        404,
        25702,
        `The SKU ${sku} is not available in the system.`,
      );
    }
    const marketplaceId = url.searchParams.get('marketplace_id');
    const format = url.searchParams.get('format');
    const offers = this.offersFor(sku).filter(
      (offer) =>
        (marketplaceId === null || offer.marketplaceId === marketplaceId) &&
        (format === null || offer.format === format),
    );
    // NOTE: whether eBay returns 404 or an empty list here is not
    // documented; the fake returns 404 and the adapter accepts both.
    if (offers.length === 0)
      return ebayError(404, 25713, 'This Offer is not available.');
    return {
      status: 200,
      body: { total: offers.length, size: offers.length, limit: 100, offers },
    };
  }

  private createOffer(body: unknown): Reply {
    const offer = (body ?? {}) as Record<string, unknown>;
    const sku = offer.sku;
    if (typeof sku !== 'string' || !this.items.has(sku)) {
      return ebayError(400, 25751, 'The sku does not name an inventory item.');
    }
    if (typeof offer.marketplaceId !== 'string') {
      return ebayError(400, 25709, 'The marketplaceId is required.');
    }
    if (offer.format !== 'FIXED_PRICE' && offer.format !== 'AUCTION') {
      return ebayError(
        400,
        25709,
        'The format must be FIXED_PRICE or AUCTION.',
      );
    }
    const priceError = checkPrice(offer.pricingSummary);
    if (priceError) return priceError;
    const existing = this.offersFor(sku).find(
      (candidate) =>
        candidate.marketplaceId === offer.marketplaceId &&
        candidate.format === offer.format,
    );
    if (existing) {
      return ebayError(
        400,
        25002,
        'A user error has occurred. Offer entity already exists.',
        {
          parameters: [{ name: 'offerId', value: existing.offerId }],
        },
      );
    }
    this.offerSequence += 1;
    const offerId = String(this.offerSequence);
    this.offers.set(offerId, {
      ...structuredClone(offer),
      offerId,
      sku,
      marketplaceId: offer.marketplaceId,
      format: offer.format,
      status: 'UNPUBLISHED',
    } as FakeEbayOffer);
    return { status: 201, body: { offerId, warnings: [] } };
  }

  private updateOffer(offer: FakeEbayOffer, body: unknown): Reply {
    const details = (body ?? {}) as Record<string, unknown>;
    const priceError = checkPrice(details.pricingSummary);
    if (priceError) return priceError;
    // updateOffer replaces the offer's details; identity and state stay.
    const replaced: FakeEbayOffer = {
      ...structuredClone(details),
      offerId: offer.offerId,
      sku: offer.sku,
      marketplaceId: offer.marketplaceId,
      format: offer.format,
      status: offer.status,
    };
    if (offer.listing) replaced.listing = offer.listing;
    this.offers.set(offer.offerId, replaced);
    return { status: 204 };
  }

  private publish(offer: FakeEbayOffer): Reply {
    if (offer.status === 'PUBLISHED' && offer.listing) {
      return {
        status: 200,
        body: { listingId: offer.listing.listingId, warnings: [] },
      };
    }
    const missing: string[] = [];
    const policies = (offer.listingPolicies ?? {}) as Record<string, unknown>;
    if (typeof offer.categoryId !== 'string') missing.push('categoryId');
    for (const field of [
      'fulfillmentPolicyId',
      'paymentPolicyId',
      'returnPolicyId',
    ]) {
      if (typeof policies[field] !== 'string')
        missing.push(`listingPolicies.${field}`);
    }
    if (typeof offer.merchantLocationKey !== 'string')
      missing.push('merchantLocationKey');
    const item = this.items.get(offer.sku) as
      { product?: { title?: unknown }; condition?: unknown } | undefined;
    if (typeof item?.product?.title !== 'string') missing.push('product.title');
    if (item?.condition === undefined) missing.push('condition');
    if (missing.length > 0) {
      return ebayError(
        400,
        25007,
        `A user error has occurred. Missing fields: ${missing.join(', ')}.`,
      );
    }
    this.listingSequence += 1;
    const listingId = String(this.listingSequence);
    offer.status = 'PUBLISHED';
    offer.listing = { listingId, listingStatus: 'ACTIVE' };
    return { status: 200, body: { listingId, warnings: [] } };
  }

  private withdraw(offer: FakeEbayOffer): Reply {
    if (offer.status !== 'PUBLISHED' || !offer.listing) {
      return ebayError(400, 25713, 'This Offer is not available.');
    }
    const listingId = offer.listing.listingId;
    offer.status = 'UNPUBLISHED';
    delete offer.listing;
    return { status: 200, body: { listingId, warnings: [] } };
  }

  private fulfillment(
    method: string,
    path: string,
    url: URL,
    body: unknown,
  ): Reply {
    if (method === 'GET' && path === '/order') return this.getOrders(url);
    const match = /^\/order\/([^/]+)(\/shipping_fulfillment)?$/.exec(path);
    if (!match)
      return ebayError(404, 2002, `Resource not found: ${method} ${path}`);
    const order = this.orders.get(decodeURIComponent(match[1]!));
    if (!order) return ebayError(404, 32100, 'Invalid order ID.');
    if (!match[2] && method === 'GET') return { status: 200, body: order };
    if (match[2] && method === 'GET') {
      const fulfillments = this.fulfillmentsOf(order.orderId);
      return {
        status: 200,
        body: { total: fulfillments.length, fulfillments },
      };
    }
    if (match[2] && method === 'POST')
      return this.createFulfillment(order, url, body);
    return ebayError(404, 2002, `Resource not found: ${method} ${path}`);
  }

  private getOrders(url: URL): Reply {
    const limit = Number(url.searchParams.get('limit') ?? '50');
    const offset = Number(url.searchParams.get('offset') ?? '0');
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
      return ebayError(400, 30700, 'The limit must be from 1 to 200.');
    }
    if (!Number.isInteger(offset) || offset < 0) {
      return ebayError(400, 30700, 'The offset must be 0 or more.');
    }
    let orders = [...this.orders.values()];
    const filter = url.searchParams.get('filter');
    if (filter) {
      const parsed =
        /^(lastmodifieddate|creationdate):\[([^\]]*?)\.\.([^\]]*)\]$/.exec(
          filter,
        );
      if (!parsed) return ebayError(400, 30800, `Invalid filter ${filter}.`);
      const field =
        parsed[1] === 'lastmodifieddate' ? 'lastModifiedDate' : 'creationDate';
      const from = Date.parse(parsed[2]!);
      const to = parsed[3] === '' ? Infinity : Date.parse(parsed[3]!);
      if (Number.isNaN(from) || Number.isNaN(to)) {
        return ebayError(400, 30800, `Invalid date in filter ${filter}.`);
      }
      orders = orders.filter((order) => {
        const time = Date.parse(order[field]);
        return time >= from && time <= to;
      });
    } else {
      const window = Date.now() - 90 * 86_400_000;
      orders = orders.filter(
        (order) => Date.parse(order.creationDate) >= window,
      );
    }
    orders.sort(
      (a, b) => Date.parse(b.creationDate) - Date.parse(a.creationDate),
    );
    const page = orders.slice(offset, offset + limit);
    const body: Record<string, unknown> = {
      href: url.pathname + url.search,
      total: orders.length,
      limit,
      offset,
      orders: page,
    };
    if (offset + limit < orders.length) {
      const next = new URL(url);
      next.searchParams.set('offset', String(offset + limit));
      body.next = next.pathname + next.search;
    }
    return { status: 200, body };
  }

  private createFulfillment(
    order: FakeEbayOrder,
    url: URL,
    body: unknown,
  ): Reply {
    const input = (body ?? {}) as {
      lineItems?: { lineItemId?: string; quantity?: number }[];
      shippedDate?: string;
      shippingCarrierCode?: string;
      trackingNumber?: string;
    };
    if (!Array.isArray(input.lineItems) || input.lineItems.length === 0) {
      return ebayError(400, 32200, 'At least one line item is required.');
    }
    if (!input.shippingCarrierCode) {
      return ebayError(400, 32201, 'The shippingCarrierCode is required.');
    }
    if (!input.trackingNumber || !/^[A-Za-z0-9]+$/.test(input.trackingNumber)) {
      return ebayError(
        400,
        32202,
        'The trackingNumber must be letters and digits.',
      );
    }
    if (!input.shippedDate || Number.isNaN(Date.parse(input.shippedDate))) {
      return ebayError(400, 32203, 'The shippedDate must be an ISO 8601 time.');
    }
    const shipped = new Map<string, number>();
    for (const fulfillment of this.fulfillmentsOf(order.orderId)) {
      for (const item of fulfillment.lineItems) {
        shipped.set(
          item.lineItemId,
          (shipped.get(item.lineItemId) ?? 0) + item.quantity,
        );
      }
    }
    for (const item of input.lineItems) {
      const line = order.lineItems.find(
        (candidate) => candidate.lineItemId === item.lineItemId,
      );
      if (!line)
        return ebayError(
          400,
          32204,
          `Invalid line item ID ${item.lineItemId}.`,
        );
      const quantity = item.quantity ?? line.quantity;
      if (
        !Number.isInteger(quantity) ||
        quantity < 1 ||
        quantity > line.quantity - (shipped.get(line.lineItemId) ?? 0)
      ) {
        return ebayError(
          400,
          32205,
          `Invalid quantity ${quantity} for line item ${line.lineItemId}.`,
        );
      }
      shipped.set(
        line.lineItemId,
        (shipped.get(line.lineItemId) ?? 0) + quantity,
      );
    }
    const fulfillment: FakeEbayFulfillment = {
      fulfillmentId: input.trackingNumber,
      lineItems: input.lineItems.map((item) => ({
        lineItemId: item.lineItemId!,
        quantity:
          item.quantity ??
          order.lineItems.find((line) => line.lineItemId === item.lineItemId)!
            .quantity,
      })),
      shippedDate: input.shippedDate,
      shippingCarrierCode: input.shippingCarrierCode,
      shipmentTrackingNumber: input.trackingNumber,
    };
    this.fulfillments.set(order.orderId, [
      ...this.fulfillmentsOf(order.orderId),
      fulfillment,
    ]);
    for (const line of order.lineItems) {
      const done = shipped.get(line.lineItemId) ?? 0;
      line.lineItemFulfillmentStatus =
        done >= line.quantity
          ? 'FULFILLED'
          : done > 0
            ? 'IN_PROGRESS'
            : 'NOT_STARTED';
    }
    order.orderFulfillmentStatus = order.lineItems.every(
      (line) => line.lineItemFulfillmentStatus === 'FULFILLED',
    )
      ? 'FULFILLED'
      : 'IN_PROGRESS';
    order.lastModifiedDate = new Date().toISOString();
    return {
      status: 201,
      headers: {
        location: `${this.url}${url.pathname}/${encodeURIComponent(fulfillment.fulfillmentId)}`,
      },
    };
  }
}

/** Checks `pricingSummary.price` as eBay does: a decimal string and a currency. */
function checkPrice(pricingSummary: unknown): Reply | null {
  const price = (
    pricingSummary as
      { price?: { value?: unknown; currency?: unknown } } | undefined
  )?.price;
  if (price === undefined) return null;
  if (
    typeof price.value !== 'string' ||
    !/^\d+(\.\d{1,2})?$/.test(price.value)
  ) {
    return ebayError(
      400,
      25017,
      'The price value must be a decimal string such as "19.99".',
    );
  }
  if (
    typeof price.currency !== 'string' ||
    !/^[A-Z]{3}$/.test(price.currency)
  ) {
    return ebayError(
      400,
      25017,
      'The price currency must be an ISO 4217 code.',
    );
  }
  return null;
}
