/**
 * An offline carrier for development and tests, the default of `npm start`.
 * It prices parcels from the zone/weight tables of sandbox-rates.ts, buys
 * labels without state (every field derives from the idempotency key) and
 * simulates tracking from the time the label was bought. It sends no
 * webhooks, so the shipments service polls `track()`.
 */

import { createHash } from 'node:crypto';
import {
  CarrierError,
  CarrierWebhookError,
  type Address,
  type Carrier,
  type CarrierEvent,
  type Label,
  type Rate,
  type RateRequest,
  type TrackingDetail,
  type TrackingStatus,
  type TrackingUpdate,
} from './carrier.js';
import { bracketPrice, type SandboxRates, type Zone } from './sandbox-rates.js';

export const SANDBOX_CARRIER_NAME = 'sandbox';

export interface SandboxCarrierOptions {
  rates: SandboxRates;
  /**
   * Origin of label URLs, such as `http://127.0.0.1:4003`; labels are served
   * by the shipments service at `<labelBaseUrl>/labels/<carrierShipmentId>.pdf`.
   */
  labelBaseUrl: string;
  /**
   * Tracking page base such as `https://shop.example.com/tracking`; the
   * tracking URL is `<trackingUrlBase>/<trackingNumber>`. Unset: no URL.
   */
  trackingUrlBase?: string;
  /** The clock, for tests. */
  now?: () => Date;
}

/**
 * Returns the sandbox zone of a destination. A is the origin's own region
 * (same country and region, compared case-insensitively), B the rest of
 * the origin's country, C a country in one of `countryGroups` with the
 * origin's country, and D the rest of the world.
 */
export function sandboxZone(
  origin: Pick<Address, 'countryCode' | 'region'>,
  destination: Pick<Address, 'countryCode' | 'region'>,
  countryGroups: readonly (readonly string[])[],
): Zone {
  const from = origin.countryCode.toUpperCase();
  const to = destination.countryCode.toUpperCase();
  if (from === to) {
    const sameRegion =
      origin.region !== null &&
      destination.region !== null &&
      origin.region.trim().toUpperCase() ===
        destination.region.trim().toUpperCase();
    return sameRegion ? 'A' : 'B';
  }
  const grouped = countryGroups.some(
    (group) => group.includes(from) && group.includes(to),
  );
  return grouped ? 'C' : 'D';
}

const TRACKING_PREFIX = 'SBX';
/** Digits of a sandbox tracking number before its check digit. */
const TRACKING_DIGITS = 11;

/**
 * Returns the Luhn check digit of a digit string, the scheme of card
 * numbers, which catches every single-digit typo.
 */
export function luhnCheckDigit(digits: string): number {
  let sum = 0;
  for (let index = 0; index < digits.length; index += 1) {
    // Double every second digit counted from the right of the full number,
    // whose last digit will be the check digit.
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10;
}

/** True for `SBX` followed by 11 digits and a valid Luhn check digit. */
export function isSandboxTrackingNumber(value: string): boolean {
  const match = /^SBX(\d{11})(\d)$/.exec(value);
  return match !== null && luhnCheckDigit(match[1]!) === Number(match[2]);
}

/** Derives the label's ids from the idempotency key, so a repeat gets the same. */
function labelIds(idempotencyKey: string): {
  trackingNumber: string;
  carrierShipmentId: string;
} {
  const digest = createHash('sha256')
    .update(`sandbox-label:${idempotencyKey}`)
    .digest();
  const number = digest.readBigUInt64BE(0) % 10n ** BigInt(TRACKING_DIGITS);
  const digits = number.toString().padStart(TRACKING_DIGITS, '0');
  return {
    trackingNumber: `${TRACKING_PREFIX}${digits}${luhnCheckDigit(digits)}`,
    carrierShipmentId: `sbx_${digest.subarray(8, 20).toString('hex')}`,
  };
}

interface TrackingStep {
  status: TrackingStatus;
  carrierStatus: string;
  message: string;
  afterSeconds: number;
}

export class SandboxCarrier implements Carrier {
  readonly name = SANDBOX_CARRIER_NAME;
  readonly sendsWebhooks = false;
  private readonly table: SandboxRates;
  private readonly labelBaseUrl: string;
  private readonly trackingUrlBase: string | null;
  private readonly now: () => Date;

  constructor(options: SandboxCarrierOptions) {
    this.table = options.rates;
    this.labelBaseUrl = options.labelBaseUrl.replace(/\/+$/, '');
    this.trackingUrlBase = options.trackingUrlBase
      ? options.trackingUrlBase.replace(/\/+$/, '')
      : null;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Prices the parcel with every service that serves the destination's
   * zone. Rate ids are stable, such as `sandbox:zone-b:express`.
   */
  async rates(request: RateRequest): Promise<Rate[]> {
    checkParcel(request.parcel.weightGrams);
    if (
      this.table.currencyCode !== undefined &&
      this.table.currencyCode !== request.currencyCode
    ) {
      return [];
    }
    const zone = sandboxZone(
      request.origin,
      request.destination,
      this.table.countryGroups,
    );
    const rates: Rate[] = [];
    for (const service of this.table.services) {
      const zoneRate = service.zones[zone];
      if (zoneRate === undefined) continue;
      rates.push({
        rateId: `${SANDBOX_CARRIER_NAME}:zone-${zone.toLowerCase()}:${service.code}`,
        carrierShipmentId: null,
        carrier: this.table.carrierName,
        service: service.name,
        serviceCode: service.code,
        amount: bracketPrice(zoneRate, request.parcel.weightGrams),
        currencyCode: request.currencyCode,
        estimatedDays: zoneRate.estimatedDays,
      });
    }
    return rates;
  }

  /**
   * Returns a label whose tracking number and ids derive from
   * `idempotencyKey` alone, so a repeat returns the same label. The price
   * is recomputed from the current tables for the request's parcel.
   */
  async buyLabel(
    request: RateRequest & { rate: Rate; reference: string },
    idempotencyKey: string,
  ): Promise<Label> {
    if (idempotencyKey === '') {
      throw new CarrierError(
        'Sandbox buyLabel failed: an idempotency key is required',
        false,
      );
    }
    const rates = await this.rates(request);
    const rate = rates.find(
      (candidate) => candidate.rateId === request.rate.rateId,
    );
    if (rate === undefined) {
      throw new CarrierError(
        `Sandbox buyLabel failed: rate "${request.rate.rateId}" is not offered for this parcel and destination; quote again`,
        false,
      );
    }
    const ids = labelIds(idempotencyKey);
    return {
      carrier: rate.carrier,
      service: rate.service,
      trackingNumber: ids.trackingNumber,
      trackingUrl: this.trackingUrl(ids.trackingNumber),
      labelUrl: `${this.labelBaseUrl}/labels/${ids.carrierShipmentId}.pdf`,
      carrierShipmentId: ids.carrierShipmentId,
      trackerId: null,
      amount: rate.amount,
      currencyCode: rate.currencyCode,
    };
  }

  /**
   * Voids a label that the simulated carrier has not picked up yet. Without
   * `labelCreatedAt` the sandbox cannot tell and treats the label as unused.
   */
  async voidLabel(
    carrierShipmentId: string,
    labelCreatedAt?: Date | string,
  ): Promise<boolean> {
    if (!/^sbx_[0-9a-f]{24}$/.test(carrierShipmentId)) {
      throw new CarrierError(
        `Sandbox voidLabel failed: "${carrierShipmentId.slice(0, 80)}" is not a sandbox shipment id (sbx_...)`,
        false,
      );
    }
    if (labelCreatedAt === undefined) return true;
    const elapsed = this.secondsSince(labelCreatedAt);
    return elapsed < this.table.tracking.inTransitAfterSeconds;
  }

  /**
   * Simulates the parcel's progress from `labelCreatedAt`: pre-transit,
   * then in transit, out for delivery and delivered after the durations of
   * the rate table's `tracking` section. Without `labelCreatedAt` the
   * parcel stays pre-transit.
   */
  async track(
    trackingNumber: string,
    _carrierCode: string,
    labelCreatedAt?: Date | string,
  ): Promise<TrackingUpdate> {
    if (!isSandboxTrackingNumber(trackingNumber)) {
      throw new CarrierError(
        `Sandbox track failed: "${trackingNumber.slice(0, 80)}" is not a sandbox tracking number (SBX + 12 digits)`,
        false,
      );
    }
    const start =
      labelCreatedAt === undefined ? this.now() : toDate(labelCreatedAt);
    const elapsed =
      labelCreatedAt === undefined ? 0 : this.secondsSince(labelCreatedAt);
    const details: TrackingDetail[] = [];
    for (const step of this.steps()) {
      if (elapsed < step.afterSeconds) break;
      details.push({
        status: step.status,
        carrierStatus: step.carrierStatus,
        message: step.message,
        location: null,
        occurredAt: new Date(
          start.getTime() + step.afterSeconds * 1000,
        ).toISOString(),
      });
    }
    const latest = details[details.length - 1]!;
    return {
      trackingNumber,
      carrier: this.table.carrierName,
      status: latest.status,
      carrierStatus: latest.carrierStatus,
      details,
      updatedAt: latest.occurredAt,
      trackingUrl: this.trackingUrl(trackingNumber),
    };
  }

  /** Rejects every webhook, because the sandbox sends none. */
  verifyWebhook(): CarrierEvent {
    throw new CarrierWebhookError('The sandbox carrier sends no webhooks');
  }

  private steps(): TrackingStep[] {
    const timing = this.table.tracking;
    return [
      {
        status: 'PRE_TRANSIT',
        carrierStatus: 'pre_transit',
        message: 'Label created',
        afterSeconds: 0,
      },
      {
        status: 'IN_TRANSIT',
        carrierStatus: 'in_transit',
        message: 'Picked up',
        afterSeconds: timing.inTransitAfterSeconds,
      },
      {
        status: 'OUT_FOR_DELIVERY',
        carrierStatus: 'out_for_delivery',
        message: 'Out for delivery',
        afterSeconds: timing.outForDeliveryAfterSeconds,
      },
      {
        status: 'DELIVERED',
        carrierStatus: 'delivered',
        message: 'Delivered',
        afterSeconds: timing.deliveredAfterSeconds,
      },
    ];
  }

  private trackingUrl(trackingNumber: string): string | null {
    return this.trackingUrlBase === null
      ? null
      : `${this.trackingUrlBase}/${encodeURIComponent(trackingNumber)}`;
  }

  private secondsSince(time: Date | string): number {
    return (this.now().getTime() - toDate(time).getTime()) / 1000;
  }
}

function toDate(value: Date | string): Date {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new CarrierError(
      `Sandbox carrier: "${String(value).slice(0, 40)}" is not an ISO 8601 time`,
      false,
    );
  }
  return date;
}

function checkParcel(weightGrams: number): void {
  if (!Number.isSafeInteger(weightGrams) || weightGrams < 1) {
    throw new CarrierError(
      `Sandbox rates failed: parcel weight ${weightGrams} is not a whole number of grams of at least 1`,
      false,
    );
  }
}
