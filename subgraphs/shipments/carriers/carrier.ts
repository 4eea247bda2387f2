/**
 * Interface the shipments service uses for a carrier or shipping aggregator:
 * rates for a parcel, a label bought for one rate, the label voided, and
 * tracking. Each carrier (the offline sandbox carrier, EasyPost)
 * implements it over its own protocol.
 *
 * Amounts are integers in minor units of `currencyCode`. Weights are in
 * grams and lengths in millimetres, because units.ts converts them from the
 * catalog's units before they reach a carrier.
 */

export interface Address {
  name: string;
  line1: string;
  line2: string | null;
  city: string;
  region: string | null;
  postalCode: string | null;
  /** ISO 3166-1 alpha-2. */
  countryCode: string;
  phone: string | null;
}

export interface Parcel {
  /** Total weight in grams, at least 1. */
  weightGrams: number;
  /** Outer dimensions in millimetres, when known. */
  lengthMm: number | null;
  widthMm: number | null;
  heightMm: number | null;
}

export interface RateRequest {
  origin: Address;
  destination: Address;
  parcel: Parcel;
  /** Shop currency. Rates in other currencies are left out. */
  currencyCode: string;
}

export interface Rate {
  /**
   * Carrier's id of this rate, valid for buying a label for the same
   * shipment. The sandbox uses a stable code such as `sandbox:zone-b:express`.
   */
  rateId: string;
  /** Carrier's id of the shipment the rate belongs to, or null for the sandbox. */
  carrierShipmentId: string | null;
  /** Carrier name shown to customers, such as "USPS". */
  carrier: string;
  /** Service level such as "Priority". */
  service: string;
  /**
   * Stable code of the carrier and service, the same in every quote, such
   * as `ground` (sandbox) or `usps:priority` (EasyPost). Checkout method
   * codes are built from it (quote.ts `methodCode`). When it is absent, they
   * are built from `carrier` and `service`.
   */
  serviceCode?: string;
  amount: number;
  currencyCode: string;
  /** Carrier's estimate of business days to delivery, or null when unknown. */
  estimatedDays: number | null;
}

export interface Label {
  carrier: string;
  service: string;
  trackingNumber: string;
  trackingUrl: string | null;
  labelUrl: string;
  /** Carrier's shipment id, needed to void the label. */
  carrierShipmentId: string;
  /** Carrier's tracker id, when it creates one with the label. */
  trackerId: string | null;
  /** Label cost to the shop, in minor units. */
  amount: number;
  currencyCode: string;
}

/** Shipment statuses of this service that carrier statuses map to. */
export type TrackingStatus =
  | 'PRE_TRANSIT'
  | 'IN_TRANSIT'
  | 'OUT_FOR_DELIVERY'
  | 'DELIVERED'
  | 'EXCEPTION'
  | 'RETURNED';

export interface TrackingDetail {
  status: TrackingStatus;
  /** Carrier's own status string, such as `in_transit`. */
  carrierStatus: string;
  message: string | null;
  /**
   * Location as "City, Region Postal code, Country" with the parts the
   * carrier reports, or null when it reports none.
   */
  location: string | null;
  /** ISO 8601 time of the scan. */
  occurredAt: string;
}

/** A parcel's tracking as the carrier reports it at one moment. */
export interface TrackingUpdate {
  trackingNumber: string;
  carrier: string;
  /** Carrier's current status of the parcel. */
  status: TrackingStatus;
  carrierStatus: string;
  /** Every scan the carrier reports, in the carrier's order. */
  details: TrackingDetail[];
  /** ISO 8601 time the carrier last updated the tracker. */
  updatedAt: string;
  /** Carrier's public tracking page, when given. */
  trackingUrl: string | null;
}

/** A verified, normalised carrier webhook event. */
export interface CarrierEvent {
  /** Carrier's event id. An event with an id already applied is skipped. */
  eventId: string;
  /** Carrier's event type, such as `tracker.updated`. */
  type: string;
  /** Tracking update of a tracking event, or null for other event types. */
  tracking: TrackingUpdate | null;
  /** ISO 8601 time the carrier created the event. */
  createdAt: string;
}

/** Raised for a webhook whose signature does not verify. */
export class CarrierWebhookError extends Error {}

/**
 * Raised when the carrier cannot be reached or returns an error.
 * The message names the operation and the carrier's error code, never
 * credentials.
 */
export class CarrierError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export interface Carrier {
  /** Carrier name, `sandbox` or `easypost`, stored on every shipment. */
  readonly name: string;
  /** True when the carrier sends tracking webhooks. Other carriers are polled. */
  readonly sendsWebhooks: boolean;
  rates(request: RateRequest): Promise<Rate[]>;
  /**
   * Buys a label for `rate`. Idempotent by `idempotencyKey`: a repeat
   * returns the first label instead of buying another.
   */
  buyLabel(
    request: RateRequest & { rate: Rate; reference: string },
    idempotencyKey: string,
  ): Promise<Label>;
  /**
   * Voids an unused label, and returns false when the carrier rejects the
   * void because the parcel was already scanned. `labelCreatedAt`, the time
   * the label was bought, lets the sandbox determine whether its simulated
   * pickup has happened. Other carriers ignore it.
   */
  voidLabel(
    carrierShipmentId: string,
    labelCreatedAt?: Date | string,
  ): Promise<boolean>;
  /**
   * Fetches the current tracking of a parcel, for carriers without webhooks.
   * `carrierCode` is the label's `carrier`. The sandbox simulates progress
   * from `labelCreatedAt`, the time the label was bought, and stays
   * pre-transit without it. Other carriers ignore it.
   */
  track(
    trackingNumber: string,
    carrierCode: string,
    labelCreatedAt?: Date | string,
  ): Promise<TrackingUpdate>;
  /**
   * Verifies a webhook from its raw body and headers and returns the
   * event. Throws CarrierWebhookError when it does not verify.
   */
  verifyWebhook(
    rawBody: Buffer,
    headers: Record<string, string | string[] | undefined>,
  ): CarrierEvent;
}
