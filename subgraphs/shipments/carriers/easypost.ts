/**
 * Carrier over EasyPost's API v2 (https://docs.easypost.com): JSON bodies,
 * HTTP basic auth with the API key as user name and an empty password,
 * errors as `{ error: { code, message, errors } }`.
 *
 * - rates: `POST /v2/shipments` with to_address, from_address and parcel
 *   (weight in ounces, dimensions in inches) returns the shipment and its
 *   rates.
 * - buyLabel: `POST /v2/shipments/:id/buy` with `{ rate: { id } }`.
 *   EasyPost takes no idempotency key, but buying a shipment twice fails
 *   with SHIPMENT.POSTAGE.EXISTS, so on that error the adapter returns the
 *   label already bought. A label is bought once per EasyPost shipment.
 * - voidLabel: `POST /v2/shipments/:id/refund`.
 * - track: `POST /v2/trackers` (EasyPost returns the existing tracker of a
 *   tracking code) and `GET /v2/trackers/:id`.
 * - Webhooks: HMAC-SHA256 of the raw body, keyed by the webhook secret in
 *   Unicode NFKD, in `X-Hmac-Signature: hmac-sha256-hex=<hex>`.
 *
 * Network errors, HTTP 429 and 5xx are retried a bounded number of times
 * with exponential backoff. Neither the API key nor the webhook secret
 * reaches an error message.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  CarrierError,
  CarrierWebhookError,
  type Address,
  type Carrier,
  type CarrierEvent,
  type Label,
  type Parcel,
  type Rate,
  type RateRequest,
  type TrackingDetail,
  type TrackingStatus,
  type TrackingUpdate,
} from './carrier.js';
import { gramsToOunces, millimetresToInches } from './units.js';
import { minorDigits } from '../../../platform/money.js';

export const EASYPOST_CARRIER_NAME = 'easypost';
export const EASYPOST_SIGNATURE_HEADER = 'x-hmac-signature';
const SIGNATURE_PREFIX = 'hmac-sha256-hex=';

export interface EasyPostCarrierOptions {
  /** Such as `https://api.easypost.com`; tests use a local fake. */
  apiBaseUrl: string;
  apiKey: string;
  webhookSecret: string;
  /** Retries after the first attempt of a request that failed retryably. */
  maxRetries?: number;
  /** First retry delay in milliseconds; each further retry doubles it. */
  retryBaseDelayMs?: number;
  /** Upper bound of one retry delay, including a `Retry-After` delay, in ms. */
  retryMaxDelayMs?: number;
  /** Time limit of one HTTP attempt, in milliseconds. */
  timeoutMs?: number;
}

interface EasyPostErrorBody {
  code?: string;
  message?: string;
  errors?: unknown[];
}

export interface EasyPostRate {
  id: string;
  carrier: string;
  service: string;
  /** Decimal string such as "7.58". */
  rate: string;
  currency: string;
  delivery_days?: number | null;
  est_delivery_days?: number | null;
  shipment_id?: string;
}

export interface EasyPostTrackingLocation {
  city?: string | null;
  state?: string | null;
  country?: string | null;
  zip?: string | null;
}

export interface EasyPostTrackingDetail {
  datetime: string;
  message?: string | null;
  status: string;
  tracking_location?: EasyPostTrackingLocation | null;
}

export interface EasyPostTracker {
  id: string;
  tracking_code: string;
  status: string;
  carrier: string;
  updated_at: string;
  public_url?: string | null;
  tracking_details?: EasyPostTrackingDetail[];
}

export interface EasyPostShipment {
  id: string;
  rates?: EasyPostRate[];
  selected_rate?: EasyPostRate | null;
  tracking_code?: string | null;
  postage_label?: { label_url?: string | null } | null;
  tracker?: EasyPostTracker | null;
  refund_status?: string | null;
}

export interface EasyPostEvent {
  id: string;
  description: string;
  created_at: string;
  result?: Record<string, unknown> | null;
}

/** An EasyPost response other than 2xx, after retries. */
export class EasyPostApiError extends CarrierError {
  constructor(
    message: string,
    retryable: boolean,
    readonly httpStatus: number,
    readonly code: string | null,
  ) {
    super(message, retryable);
  }
}

/**
 * Our status of each EasyPost tracker status. `available_for_pickup` counts
 * as out for delivery because the parcel has reached its last stop and
 * waits for the customer. `cancelled`, `failure` and `error` need a person
 * to look, so they are exceptions. `unknown` is EasyPost's status of a
 * tracker without scans yet.
 */
const TRACKER_STATUS: Record<string, TrackingStatus> = {
  unknown: 'PRE_TRANSIT',
  pre_transit: 'PRE_TRANSIT',
  in_transit: 'IN_TRANSIT',
  out_for_delivery: 'OUT_FOR_DELIVERY',
  available_for_pickup: 'OUT_FOR_DELIVERY',
  delivered: 'DELIVERED',
  return_to_sender: 'RETURNED',
  failure: 'EXCEPTION',
  cancelled: 'EXCEPTION',
  error: 'EXCEPTION',
};

/**
 * Maps an EasyPost tracker status to ours. A status EasyPost adds later
 * maps to EXCEPTION, so a person looks at the parcel rather than it
 * silently keeping its last status.
 */
export function trackingStatusOf(easyPostStatus: string): TrackingStatus {
  return TRACKER_STATUS[easyPostStatus] ?? 'EXCEPTION';
}

/** Formats a tracking location as "City, Region Postal code, Country". */
function locationOf(
  location: EasyPostTrackingLocation | null | undefined,
): string | null {
  if (!location) return null;
  const region = [location.state, location.zip]
    .filter((part): part is string => typeof part === 'string' && part !== '')
    .join(' ');
  const parts = [location.city, region, location.country].filter(
    (part): part is string => typeof part === 'string' && part !== '',
  );
  return parts.length > 0 ? parts.join(', ') : null;
}

/** Converts an EasyPost Tracker object to a TrackingUpdate. */
export function trackingUpdateOf(tracker: EasyPostTracker): TrackingUpdate {
  const details: TrackingDetail[] = (tracker.tracking_details ?? []).map(
    (detail) => ({
      status: trackingStatusOf(detail.status),
      carrierStatus: detail.status,
      message: detail.message ?? null,
      location: locationOf(detail.tracking_location),
      occurredAt: detail.datetime,
    }),
  );
  return {
    trackingNumber: tracker.tracking_code,
    carrier: tracker.carrier,
    status: trackingStatusOf(tracker.status),
    carrierStatus: tracker.status,
    details,
    updatedAt: tracker.updated_at,
    trackingUrl: tracker.public_url ?? null,
  };
}

/**
 * Computes the `X-Hmac-Signature` value EasyPost sends for a raw body:
 * `hmac-sha256-hex=` and the hex HMAC-SHA256 keyed by the NFKD form of
 * the secret.
 */
export function easyPostSignature(
  rawBody: Buffer | string,
  secret: string,
): string {
  const key = Buffer.from(secret.normalize('NFKD'), 'utf8');
  return (
    SIGNATURE_PREFIX + createHmac('sha256', key).update(rawBody).digest('hex')
  );
}

/**
 * Verifies the `X-Hmac-Signature` header of a webhook against its raw
 * body, in constant time. Throws CarrierWebhookError when the header is
 * missing or does not match; the message never contains the secret.
 */
export function verifyEasyPostSignature(
  rawBody: Buffer,
  headers: Record<string, string | string[] | undefined>,
  secret: string,
): void {
  const header = headers[EASYPOST_SIGNATURE_HEADER];
  const received = Array.isArray(header) ? header[0] : header;
  if (received === undefined || received === '') {
    throw new CarrierWebhookError(
      'EasyPost webhook: X-Hmac-Signature header is missing',
    );
  }
  const expected = Buffer.from(easyPostSignature(rawBody, secret), 'utf8');
  const actual = Buffer.from(received.trim(), 'utf8');
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new CarrierWebhookError(
      'EasyPost webhook: X-Hmac-Signature does not match the body; check EASYPOST_WEBHOOK_SECRET',
    );
  }
}

/**
 * Parses a verified EasyPost event. `tracker.created` and
 * `tracker.updated` carry their tracker as a TrackingUpdate; other event
 * types have none.
 */
export function carrierEventOf(rawBody: Buffer): CarrierEvent {
  let event: EasyPostEvent;
  try {
    event = JSON.parse(rawBody.toString('utf8')) as EasyPostEvent;
  } catch {
    throw new CarrierWebhookError('EasyPost webhook: the body is not JSON');
  }
  if (
    typeof event !== 'object' ||
    event === null ||
    typeof event.id !== 'string' ||
    typeof event.description !== 'string'
  ) {
    throw new CarrierWebhookError(
      'EasyPost webhook: the body is not an EasyPost Event',
    );
  }
  const isTrackerEvent =
    event.description === 'tracker.created' ||
    event.description === 'tracker.updated';
  const result = event.result as EasyPostTracker | null | undefined;
  if (isTrackerEvent && (!result || typeof result.tracking_code !== 'string')) {
    throw new CarrierWebhookError(
      `EasyPost webhook: event ${event.id} (${event.description}) has no Tracker result`,
    );
  }
  return {
    eventId: event.id,
    type: event.description,
    tracking: isTrackerEvent ? trackingUpdateOf(result!) : null,
    createdAt: event.created_at,
  };
}

/**
 * Parses an EasyPost decimal amount such as "7.58" into minor units of
 * `currencyCode`, rounding a finer fraction up so the shop never charges
 * less than the carrier.
 */
export function easyPostAmount(text: string, currencyCode: string): number {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!match) {
    throw new CarrierError(
      `EasyPost returned "${text.slice(0, 40)}", not a decimal amount`,
      false,
    );
  }
  const digits = minorDigits(currencyCode);
  const fraction = match[2] ?? '';
  const keptFraction = fraction.slice(0, digits).padEnd(digits, '0');
  const roundUp = /[1-9]/.test(fraction.slice(digits)) ? 1 : 0;
  return Number(match[1]! + keptFraction) + roundUp;
}

function toEasyPostAddress(address: Address): Record<string, string | null> {
  return {
    name: address.name,
    street1: address.line1,
    street2: address.line2,
    city: address.city,
    state: address.region,
    zip: address.postalCode,
    country: address.countryCode,
    phone: address.phone,
  };
}

/** EasyPost parcels take ounces and inches, up to one decimal place. */
function toEasyPostParcel(parcel: Parcel): Record<string, number> {
  const result: Record<string, number> = {
    weight: Number(gramsToOunces(parcel.weightGrams)),
  };
  if (
    parcel.lengthMm !== null &&
    parcel.widthMm !== null &&
    parcel.heightMm !== null
  ) {
    result.length = Number(millimetresToInches(parcel.lengthMm));
    result.width = Number(millimetresToInches(parcel.widthMm));
    result.height = Number(millimetresToInches(parcel.heightMm));
  }
  return result;
}

/** Stable code of an EasyPost carrier and service, such as `usps:priority`. */
export function easyPostServiceCode(carrier: string, service: string): string {
  return `${carrier}:${service}`.toLowerCase();
}

function toRate(rate: EasyPostRate, shipmentId: string): Rate {
  return {
    rateId: rate.id,
    carrierShipmentId: shipmentId,
    carrier: rate.carrier,
    service: rate.service,
    serviceCode: easyPostServiceCode(rate.carrier, rate.service),
    amount: easyPostAmount(rate.rate, rate.currency),
    currencyCode: rate.currency,
    estimatedDays: rate.delivery_days ?? rate.est_delivery_days ?? null,
  };
}

type HttpMethod = 'GET' | 'POST';

interface HttpAnswer {
  status: number;
  body: unknown;
  headers: Headers;
}

export class EasyPostCarrier implements Carrier {
  readonly name = EASYPOST_CARRIER_NAME;
  readonly sendsWebhooks = true;
  private readonly baseUrl: string;
  private readonly authorization: string;
  private readonly apiKey: string;
  private readonly webhookSecret: string;
  private readonly maxRetries: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly timeoutMs: number;

  constructor(options: EasyPostCarrierOptions) {
    if (options.apiKey === '') {
      throw new Error('EasyPost carrier: the API key is empty');
    }
    if (options.webhookSecret === '') {
      throw new Error('EasyPost carrier: the webhook secret is empty');
    }
    this.baseUrl = options.apiBaseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.authorization = `Basic ${Buffer.from(`${options.apiKey}:`).toString('base64')}`;
    this.webhookSecret = options.webhookSecret;
    this.maxRetries = options.maxRetries ?? 2;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 500;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? 5_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * Creates an EasyPost shipment and returns its rates in
   * `request.currencyCode`. Each rate carries the shipment id that
   * buyLabel needs.
   */
  async rates(request: RateRequest): Promise<Rate[]> {
    const shipment = await this.request<EasyPostShipment>(
      'rates',
      'POST',
      '/v2/shipments',
      {
        shipment: {
          to_address: toEasyPostAddress(request.destination),
          from_address: toEasyPostAddress(request.origin),
          parcel: toEasyPostParcel(request.parcel),
          options: { currency: request.currencyCode },
        },
      },
    );
    return (shipment.rates ?? [])
      .filter((rate) => rate.currency === request.currencyCode)
      .map((rate) => toRate(rate, shipment.id));
  }

  /**
   * Buys `request.rate` on its EasyPost shipment. A repeat for the same
   * shipment returns the label bought first, whatever the key, because
   * EasyPost buys one label per shipment. The rate must come from rates(),
   * which creates the shipment. A rate without a shipment id is rejected,
   * because a new shipment created here could be bought again by a retry.
   */
  async buyLabel(
    request: RateRequest & { rate: Rate; reference: string },
    _idempotencyKey: string,
  ): Promise<Label> {
    const shipmentId = request.rate.carrierShipmentId;
    if (shipmentId === null) {
      throw new CarrierError(
        'EasyPost buyLabel failed: the rate has no EasyPost shipment id; buy a rate returned by rates()',
        false,
      );
    }
    const path = shipmentPath(shipmentId);
    try {
      const shipment = await this.request<EasyPostShipment>(
        'buyLabel',
        'POST',
        `${path}/buy`,
        {
          rate: { id: request.rate.rateId },
        },
      );
      return this.labelOf(shipment);
    } catch (error) {
      if (
        !(error instanceof EasyPostApiError) ||
        error.code !== 'SHIPMENT.POSTAGE.EXISTS'
      ) {
        throw error;
      }
    }
    // Bought before, by an earlier call or by an attempt whose response was
    // lost: return that label.
    const shipment = await this.request<EasyPostShipment>(
      'buyLabel',
      'GET',
      path,
    );
    return this.labelOf(shipment);
  }

  /**
   * Requests a refund of the label. Returns true when EasyPost accepts it
   * (`submitted` or `refunded`), and false when it is rejected or not
   * applicable or EasyPost returns a 4xx other than 401, 403, 404 and 429.
   */
  async voidLabel(carrierShipmentId: string): Promise<boolean> {
    let shipment: EasyPostShipment;
    try {
      shipment = await this.request<EasyPostShipment>(
        'voidLabel',
        'POST',
        `${shipmentPath(carrierShipmentId)}/refund`,
        {},
      );
    } catch (error) {
      if (
        error instanceof EasyPostApiError &&
        error.httpStatus >= 400 &&
        error.httpStatus < 500 &&
        ![401, 403, 404, 429].includes(error.httpStatus)
      ) {
        return false;
      }
      throw error;
    }
    return (
      shipment.refund_status === 'submitted' ||
      shipment.refund_status === 'refunded'
    );
  }

  /**
   * Returns the tracking of a parcel. `POST /v2/trackers` creates a
   * tracker, or returns the one EasyPost already has for the code.
   */
  async track(
    trackingNumber: string,
    carrierCode: string,
  ): Promise<TrackingUpdate> {
    const tracker = await this.request<EasyPostTracker>(
      'track',
      'POST',
      '/v2/trackers',
      {
        tracker: { tracking_code: trackingNumber, carrier: carrierCode },
      },
    );
    return trackingUpdateOf(tracker);
  }

  /** Returns the tracking of an existing tracker by its id (`trk_...`). */
  async trackById(trackerId: string): Promise<TrackingUpdate> {
    if (!/^trk_[A-Za-z0-9]{1,64}$/.test(trackerId)) {
      throw new CarrierError(
        `EasyPost track failed: "${trackerId.slice(0, 80)}" is not a tracker id (trk_...)`,
        false,
      );
    }
    const tracker = await this.request<EasyPostTracker>(
      'track',
      'GET',
      `/v2/trackers/${trackerId}`,
    );
    return trackingUpdateOf(tracker);
  }

  verifyWebhook(
    rawBody: Buffer,
    headers: Record<string, string | string[] | undefined>,
  ): CarrierEvent {
    verifyEasyPostSignature(rawBody, headers, this.webhookSecret);
    return carrierEventOf(rawBody);
  }

  private labelOf(shipment: EasyPostShipment): Label {
    const rate = shipment.selected_rate;
    const labelUrl = shipment.postage_label?.label_url;
    if (!rate || !shipment.tracking_code || !labelUrl) {
      throw new CarrierError(
        `EasyPost buyLabel failed: shipment ${shipment.id} has no selected rate, tracking code or label`,
        false,
      );
    }
    return {
      carrier: rate.carrier,
      service: rate.service,
      trackingNumber: shipment.tracking_code,
      trackingUrl: shipment.tracker?.public_url ?? null,
      labelUrl,
      carrierShipmentId: shipment.id,
      trackerId: shipment.tracker?.id ?? null,
      amount: easyPostAmount(rate.rate, rate.currency),
      currencyCode: rate.currency,
    };
  }

  /** Sends one request, retrying network errors, 429 and 5xx with backoff. */
  private async request<T>(
    operation: string,
    method: HttpMethod,
    path: string,
    body?: Record<string, unknown>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      let failure: CarrierError;
      let retryAfterMs: number | undefined;
      try {
        const answer = await this.send(operation, method, path, body);
        if (answer.status >= 200 && answer.status < 300) {
          return answer.body as T;
        }
        failure = this.apiError(operation, answer);
        retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'));
      } catch (error) {
        if (!(error instanceof CarrierError)) throw error;
        failure = error;
      }
      if (!failure.retryable || attempt >= this.maxRetries) throw failure;
      await sleep(this.retryDelay(attempt, retryAfterMs));
    }
  }

  private async send(
    operation: string,
    method: HttpMethod,
    path: string,
    body: Record<string, unknown> | undefined,
  ): Promise<HttpAnswer> {
    const headers: Record<string, string> = {
      authorization: this.authorization,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new CarrierError(
        `EasyPost ${operation} failed: the API could not be reached (${networkErrorCode(error)})`,
        true,
      );
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new CarrierError(
        `EasyPost ${operation} failed: the response was cut off (${networkErrorCode(error)})`,
        true,
      );
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      // A proxy or load balancer may respond with HTML. Only 5xx is retryable.
      throw new CarrierError(
        `EasyPost ${operation} failed: HTTP ${response.status} with a body that is not JSON`,
        response.status >= 500,
      );
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }

  private apiError(operation: string, answer: HttpAnswer): EasyPostApiError {
    const error =
      (answer.body as { error?: EasyPostErrorBody } | null)?.error ?? {};
    const retryable = answer.status === 429 || answer.status >= 500;
    let message = `EasyPost ${operation} failed: HTTP ${answer.status}`;
    if (error.code) message += ` ${error.code}`;
    if (error.message) message += `: ${this.redact(error.message)}`;
    const fieldMessages = (error.errors ?? [])
      .map((item) =>
        typeof item === 'string'
          ? item
          : typeof item === 'object' && item !== null
            ? [
                (item as { field?: unknown }).field,
                (item as { message?: unknown }).message,
              ]
                .filter((part) => typeof part === 'string')
                .join(': ')
            : '',
      )
      .filter((text) => text !== '');
    if (fieldMessages.length > 0) {
      message += ` (${this.redact(fieldMessages.slice(0, 5).join('; '))})`;
    }
    return new EasyPostApiError(
      message,
      retryable,
      answer.status,
      error.code ?? null,
    );
  }

  private redact(text: string): string {
    return text.split(this.apiKey).join('[redacted]').slice(0, 500);
  }

  private retryDelay(
    attempt: number,
    retryAfterMs: number | undefined,
  ): number {
    const exponential = this.retryBaseDelayMs * 2 ** attempt;
    // Jitter between half and all of the delay spreads out the retries of
    // replicas that failed together.
    const jittered = exponential * (0.5 + Math.random() * 0.5);
    return Math.min(
      Math.max(jittered, retryAfterMs ?? 0),
      this.retryMaxDelayMs,
    );
  }
}

/** Returns the API path of a shipment, rejecting ids that are not `shp_...`. */
function shipmentPath(shipmentId: string): string {
  if (!/^shp_[A-Za-z0-9]{1,64}$/.test(shipmentId)) {
    throw new CarrierError(
      `EasyPost request failed: "${shipmentId.slice(0, 80)}" is not a shipment id (shp_...)`,
      false,
    );
  }
  return `/v2/shipments/${shipmentId}`;
}

/** Reads `Retry-After` in seconds, as a delay in milliseconds. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}

function networkErrorCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (error instanceof Error && error.name === 'TimeoutError')
    return 'timed out';
  return error instanceof Error ? error.name : 'unknown error';
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
