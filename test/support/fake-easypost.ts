/**
 * A local stand-in for the part of EasyPost's API v2 that the EasyPost
 * carrier uses: basic auth with the API key as user name, JSON bodies,
 * errors as `{ error: { code, message, errors } }`. It serves shipments
 * with rates for three services, buying (a second buy of one shipment
 * fails with SHIPMENT.POSTAGE.EXISTS, as EasyPost's does), refunds and
 * trackers whose status a test advances. It can respond to the next requests
 * with HTTP 429 or 500, and sends signed `tracker.updated` events.
 *
 * Rates: each service costs a base price plus a price per started ounce,
 * in USD. Error codes other than SHIPMENT.POSTAGE.EXISTS, APIKEY.REQUIRED
 * and NOT_FOUND are the fake's own.
 *
 * Only listens on 127.0.0.1 and only sends events to loopback addresses.
 */

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { easyPostSignature } from '../../subgraphs/shipments/carriers/easypost.js';

export interface RecordedEasyPostRequest {
  method: string;
  path: string;
  headers: Record<string, string | undefined>;
  body: unknown;
}

interface FakeRate {
  id: string;
  object: 'Rate';
  carrier: string;
  service: string;
  rate: string;
  currency: string;
  delivery_days: number | null;
  est_delivery_days: number | null;
  shipment_id: string;
}

interface FakeTrackingDetail {
  object: 'TrackingDetail';
  datetime: string;
  message: string;
  status: string;
  tracking_location: {
    object: 'TrackingLocation';
    city: string | null;
    state: string | null;
    country: string | null;
    zip: string | null;
  };
}

interface FakeTracker {
  id: string;
  object: 'Tracker';
  tracking_code: string;
  status: string;
  carrier: string;
  created_at: string;
  updated_at: string;
  public_url: string;
  shipment_id: string | null;
  tracking_details: FakeTrackingDetail[];
}

interface FakeShipment {
  id: string;
  object: 'Shipment';
  reference: string | null;
  to_address: Record<string, unknown>;
  from_address: Record<string, unknown>;
  parcel: Record<string, unknown>;
  rates: FakeRate[];
  selected_rate: FakeRate | null;
  postage_label: { object: 'PostageLabel'; label_url: string } | null;
  tracking_code: string | null;
  tracker: FakeTracker | null;
  refund_status: string | null;
  created_at: string;
}

/** Services the fake prices: base price and price per started ounce, in cents. */
const SERVICES = [
  {
    carrier: 'USPS',
    service: 'GroundAdvantage',
    base: 500,
    perOunce: 10,
    days: 4,
  },
  { carrier: 'USPS', service: 'Priority', base: 800, perOunce: 15, days: 2 },
  { carrier: 'UPS', service: 'NextDayAir', base: 2500, perOunce: 30, days: 1 },
] as const;

/** Price of a service for a parcel of `ounces`, in cents, as the fake bills it. */
export function fakeEasyPostPrice(serviceName: string, ounces: number): number {
  const service = SERVICES.find(
    (candidate) => candidate.service === serviceName,
  );
  if (!service) throw new Error(`the fake has no service ${serviceName}`);
  return service.base + Math.ceil(ounces) * service.perOunce;
}

function id(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('hex')}`;
}

function dollars(cents: number): string {
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

export class FakeEasyPost {
  readonly apiKey = `EZTK${randomBytes(12).toString('hex')}`;
  readonly webhookSecret: string;
  readonly requests: RecordedEasyPostRequest[] = [];
  private readonly shipments = new Map<string, FakeShipment>();
  private readonly trackers = new Map<string, FakeTracker>();
  private failures: { status: number; remaining: number } | null = null;
  private server: Server | null = null;
  private baseUrl = '';
  private trackingSequence = 0;

  constructor(options: { webhookSecret?: string } = {}) {
    this.webhookSecret = options.webhookSecret ?? 'sécret';
  }

  get url(): string {
    return this.baseUrl;
  }

  async start(): Promise<string> {
    const server = createServer((request, response) => {
      void this.handle(request).then(({ status, body, headers }) => {
        response.writeHead(status, {
          'content-type': 'application/json',
          ...headers,
        });
        response.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server)
      await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Responds to the next `count` API requests with HTTP `status` (429 or 5xx). */
  failNext(status: number, count = 1): void {
    this.failures = { status, remaining: count };
  }

  shipment(shipmentId: string): FakeShipment | undefined {
    return this.shipments.get(shipmentId);
  }

  /** Returns the tracker of a tracking code or tracker id. */
  tracker(trackingCodeOrId: string): FakeTracker {
    const tracker =
      this.trackers.get(trackingCodeOrId) ??
      [...this.trackers.values()].find(
        (candidate) => candidate.tracking_code === trackingCodeOrId,
      );
    if (!tracker)
      throw new Error(`the fake has no tracker ${trackingCodeOrId}`);
    return tracker;
  }

  /** Moves a tracker to `status`, adding a tracking detail, and returns it. */
  advanceTracker(
    trackingCodeOrId: string,
    status: string,
    detail: {
      message?: string;
      city?: string;
      state?: string;
      country?: string;
      zip?: string;
    } = {},
  ): FakeTracker {
    const tracker = this.tracker(trackingCodeOrId);
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    tracker.status = status;
    tracker.updated_at = now;
    tracker.tracking_details.push({
      object: 'TrackingDetail',
      datetime: now,
      message: detail.message ?? status,
      status,
      tracking_location: {
        object: 'TrackingLocation',
        city: detail.city ?? null,
        state: detail.state ?? null,
        country: detail.country ?? null,
        zip: detail.zip ?? null,
      },
    });
    return tracker;
  }

  /**
   * POSTs a `tracker.updated` event of a tracker to `url`, signed with the
   * webhook secret (or `options.secret`), and returns the response status
   * and the exact body sent.
   */
  async sendTrackerUpdated(
    url: string,
    trackingCodeOrId: string,
    options: { secret?: string } = {},
  ): Promise<{ status: number; body: string }> {
    const target = new URL(url);
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) {
      throw new Error(
        `the fake only sends events to loopback addresses, not ${target.hostname}`,
      );
    }
    const now = new Date().toISOString();
    const body = JSON.stringify({
      id: id('evt'),
      object: 'Event',
      mode: 'test',
      description: 'tracker.updated',
      previous_attributes: {},
      created_at: now,
      updated_at: now,
      status: 'pending',
      result: this.tracker(trackingCodeOrId),
    });
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hmac-signature': easyPostSignature(
          body,
          options.secret ?? this.webhookSecret,
        ),
      },
      body,
    });
    await response.arrayBuffer();
    return { status: response.status, body };
  }

  private async handle(request: IncomingMessage): Promise<{
    status: number;
    body: unknown;
    headers?: Record<string, string>;
  }> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = null;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        return error(400, 'BAD_REQUEST', 'The request body is not JSON');
      }
    }
    const path = new URL(request.url ?? '/', 'http://fake').pathname;
    const method = request.method ?? 'GET';
    this.requests.push({
      method,
      path,
      headers: Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(', ') : value,
        ]),
      ),
      body,
    });

    if (this.failures && this.failures.remaining > 0) {
      this.failures.remaining -= 1;
      const status = this.failures.status;
      return {
        ...error(
          status,
          status === 429 ? 'RATE_LIMITED' : 'INTERNAL_SERVER_ERROR',
          'Try again later',
        ),
        headers: status === 429 ? { 'retry-after': '0' } : {},
      };
    }

    const expected = `Basic ${Buffer.from(`${this.apiKey}:`).toString('base64')}`;
    if (request.headers.authorization !== expected) {
      return error(401, 'APIKEY.REQUIRED', 'A valid API key is required');
    }

    const input = (body ?? {}) as Record<
      string,
      Record<string, unknown> | undefined
    >;
    let match: RegExpExecArray | null;
    if (method === 'POST' && path === '/v2/shipments') {
      return this.createShipment(input.shipment);
    }
    if (method === 'GET' && (match = /^\/v2\/shipments\/([^/]+)$/.exec(path))) {
      const shipment = this.shipments.get(match[1]!);
      return shipment ? { status: 200, body: shipment } : notFound();
    }
    if (
      method === 'POST' &&
      (match = /^\/v2\/shipments\/([^/]+)\/buy$/.exec(path))
    ) {
      return this.buy(match[1]!, input.rate);
    }
    if (
      method === 'POST' &&
      (match = /^\/v2\/shipments\/([^/]+)\/refund$/.exec(path))
    ) {
      return this.refund(match[1]!);
    }
    if (method === 'POST' && path === '/v2/trackers') {
      return this.createTracker(input.tracker);
    }
    if (method === 'GET' && (match = /^\/v2\/trackers\/([^/]+)$/.exec(path))) {
      const tracker = this.trackers.get(match[1]!);
      return tracker ? { status: 200, body: tracker } : notFound();
    }
    return notFound();
  }

  private createShipment(input: Record<string, unknown> | undefined) {
    const parcel = input?.parcel as Record<string, unknown> | undefined;
    const missing = ['to_address', 'from_address', 'parcel'].filter(
      (field) => typeof input?.[field] !== 'object' || input[field] === null,
    );
    if (missing.length > 0) {
      return error(
        422,
        'PARAMETER.REQUIRED',
        'Missing required parameter.',
        missing.map((field) => ({ field, message: 'cannot be blank' })),
      );
    }
    const ounces = parcel?.weight;
    if (typeof ounces !== 'number' || !(ounces > 0)) {
      return error(
        422,
        'PARCEL.WEIGHT.INVALID',
        'Parcel weight must be a number of ounces greater than 0',
      );
    }
    const currency =
      ((input?.options as Record<string, unknown> | undefined)?.currency as
        string | undefined) ?? 'USD';
    const shipmentId = id('shp');
    const rates: FakeRate[] =
      currency === 'USD'
        ? SERVICES.map((service) => ({
            id: id('rate'),
            object: 'Rate',
            carrier: service.carrier,
            service: service.service,
            rate: dollars(fakeEasyPostPrice(service.service, ounces)),
            currency: 'USD',
            delivery_days: service.days,
            est_delivery_days: service.days,
            shipment_id: shipmentId,
          }))
        : [];
    const shipment: FakeShipment = {
      id: shipmentId,
      object: 'Shipment',
      reference: (input?.reference as string | undefined) ?? null,
      to_address: input!.to_address as Record<string, unknown>,
      from_address: input!.from_address as Record<string, unknown>,
      parcel: parcel!,
      rates,
      selected_rate: null,
      postage_label: null,
      tracking_code: null,
      tracker: null,
      refund_status: null,
      created_at: new Date().toISOString(),
    };
    this.shipments.set(shipmentId, shipment);
    return { status: 201, body: shipment };
  }

  private buy(shipmentId: string, rate: Record<string, unknown> | undefined) {
    const shipment = this.shipments.get(shipmentId);
    if (!shipment) return notFound();
    if (shipment.selected_rate) {
      return error(
        422,
        'SHIPMENT.POSTAGE.EXISTS',
        'Postage already exists for this shipment.',
      );
    }
    const selected = shipment.rates.find(
      (candidate) => candidate.id === rate?.id,
    );
    if (!selected) {
      return error(
        422,
        'SHIPMENT.RATE.INVALID',
        'The rate does not belong to this shipment.',
      );
    }
    this.trackingSequence += 1;
    const trackingCode = `9400100000000000${String(this.trackingSequence).padStart(6, '0')}`;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const tracker: FakeTracker = {
      id: id('trk'),
      object: 'Tracker',
      tracking_code: trackingCode,
      status: 'pre_transit',
      carrier: selected.carrier,
      created_at: now,
      updated_at: now,
      public_url: `${this.baseUrl}/track/${trackingCode}`,
      shipment_id: shipment.id,
      tracking_details: [],
    };
    this.trackers.set(tracker.id, tracker);
    shipment.selected_rate = selected;
    shipment.tracking_code = trackingCode;
    shipment.tracker = tracker;
    shipment.postage_label = {
      object: 'PostageLabel',
      label_url: `${this.baseUrl}/files/postage_label/${shipment.id}.png`,
    };
    return { status: 200, body: shipment };
  }

  private refund(shipmentId: string) {
    const shipment = this.shipments.get(shipmentId);
    if (!shipment) return notFound();
    if (!shipment.selected_rate) {
      return error(
        422,
        'SHIPMENT.REFUND.NOT_PURCHASED',
        'The shipment has no postage to refund.',
      );
    }
    const scanned =
      shipment.tracker !== null && shipment.tracker.status !== 'pre_transit';
    shipment.refund_status = scanned ? 'rejected' : 'submitted';
    return { status: 200, body: shipment };
  }

  private createTracker(input: Record<string, unknown> | undefined) {
    const code = input?.tracking_code;
    if (typeof code !== 'string' || code === '') {
      return error(422, 'PARAMETER.REQUIRED', 'Missing required parameter.', [
        { field: 'tracking_code', message: 'cannot be blank' },
      ]);
    }
    const existing = [...this.trackers.values()].find(
      (tracker) => tracker.tracking_code === code,
    );
    if (existing) return { status: 200, body: existing };
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const tracker: FakeTracker = {
      id: id('trk'),
      object: 'Tracker',
      tracking_code: code,
      status: 'unknown',
      carrier: typeof input?.carrier === 'string' ? input.carrier : 'USPS',
      created_at: now,
      updated_at: now,
      public_url: `${this.baseUrl}/track/${code}`,
      shipment_id: null,
      tracking_details: [],
    };
    this.trackers.set(tracker.id, tracker);
    return { status: 201, body: tracker };
  }
}

function error(
  status: number,
  code: string,
  message: string,
  errors: unknown[] = [],
) {
  return { status, body: { error: { code, message, errors } } };
}

function notFound() {
  return error(404, 'NOT_FOUND', 'The requested resource could not be found.');
}
