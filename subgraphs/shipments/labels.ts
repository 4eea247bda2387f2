import { and, eq, sql } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import { isUuid } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import { appendEvents } from '../../platform/outbox.js';
import { ServiceRequestError } from '../../platform/service-client.js';
import {
  CarrierError,
  type Rate,
  type RateRequest,
} from './carriers/carrier.js';
import { parcelWeightGrams, shippingOrigin } from './carriers/index.js';
import * as tables from './db/tables.js';
import type { ShipmentRow } from './db/tables.js';
import type {
  ShipmentsDatabase,
  ShipmentsDependencies,
} from './dependencies.js';
import {
  findShipment,
  type ShipmentResult,
  type UserError,
} from './fulfillment.js';
import { statusChangeEvents } from './tracking.js';

export interface RatesResult {
  rates: Rate[];
  userErrors: UserError[];
}

function rejected(field: string[], message: string, code: string): RatesResult {
  return { rates: [], userErrors: [{ field, message, code }] };
}

/**
 * Asks the carrier for rates for a PENDING shipment, cheapest first, and
 * stores the request and the rates as the shipment's quote. The parcel
 * weighs what the catalog's weights of its lines add up to; a variant
 * without a weight counts SHIPPING_DEFAULT_ITEM_WEIGHT_GRAMS per unit. The
 * destination is the order's shipping address, read from the orders
 * service.
 */
export async function quoteRates(
  db: ShipmentsDatabase,
  dependencies: ShipmentsDependencies,
  config: Config,
  logger: Logger,
  shipmentId: string,
): Promise<RatesResult> {
  const shipment = isUuid(shipmentId)
    ? await findShipment(db, shipmentId)
    : null;
  if (!shipment) {
    return rejected(
      ['shipmentId'],
      `Shipment "${shipmentId}" not found.`,
      'NOT_FOUND',
    );
  }
  if (shipment.status !== 'PENDING') {
    return rejected(
      ['shipmentId'],
      `Shipment ${shipment.id} is ${shipment.status}: rates are quoted only for PENDING shipments, before a label is bought.`,
      'NOT_PENDING',
    );
  }
  let request: RateRequest | null;
  try {
    request = await rateRequest(db, dependencies, config, shipment);
  } catch (error) {
    if (!(error instanceof ServiceRequestError)) throw error;
    logger.warn(
      { shipmentId: shipment.id, err: error },
      'rate request data unavailable',
    );
    return rejected(
      ['shipmentId'],
      `Rates are unavailable: ${error.service} did not answer. Try again later.`,
      'SERVICE_UNAVAILABLE',
    );
  }
  if (!request) {
    return rejected(
      ['shipmentId'],
      `The order of shipment ${shipment.id} has no shipping address, so no carrier can price it.`,
      'NO_SHIPPING_ADDRESS',
    );
  }
  let rates: Rate[];
  try {
    rates = await dependencies.carrier.rates(request);
  } catch (error) {
    if (!(error instanceof CarrierError)) throw error;
    logger.warn(
      { shipmentId: shipment.id, err: error },
      'carrier rates failed',
    );
    return rejected(
      ['shipmentId'],
      `The carrier could not quote rates: ${error.message}.`,
      'CARRIER_ERROR',
    );
  }
  rates = rates
    .filter((rate) => rate.currencyCode === request.currencyCode)
    .sort((a, b) => a.amount - b.amount || a.rateId.localeCompare(b.rateId));
  await db
    .update(tables.shipments)
    .set({ rateQuote: { request, rates }, updatedAt: sql`now()` })
    .where(
      and(
        eq(tables.shipments.id, shipment.id),
        eq(tables.shipments.status, 'PENDING'),
      ),
    );
  return { rates, userErrors: [] };
}

/**
 * Buys the label of a rate of the shipment's latest quote and makes the
 * shipment LABEL_CREATED. The carrier's idempotency key is derived from
 * the shipment id, so a retry after a lost response gets the same label,
 * and a shipment that already has a label is returned as it is.
 */
export async function buyLabel(
  db: ShipmentsDatabase,
  dependencies: ShipmentsDependencies,
  logger: Logger,
  input: { shipmentId: string; rateId: string },
): Promise<ShipmentResult> {
  const shipment = isUuid(input.shipmentId)
    ? await findShipment(db, input.shipmentId)
    : null;
  const fail = (
    field: string,
    message: string,
    code: string,
  ): ShipmentResult => ({
    shipment: null,
    userErrors: [{ field: ['input', field], message, code }],
  });
  if (!shipment) {
    return fail(
      'shipmentId',
      `Shipment "${input.shipmentId}" not found.`,
      'NOT_FOUND',
    );
  }
  if (shipment.labelUrl !== null) return { shipment, userErrors: [] };
  if (shipment.status !== 'PENDING') {
    return fail(
      'shipmentId',
      `Shipment ${shipment.id} is ${shipment.status}: a label can be bought only for a PENDING shipment.`,
      'NOT_PENDING',
    );
  }
  const quote = shipment.rateQuote;
  const rate = quote?.rates.find(
    (candidate) => candidate.rateId === input.rateId,
  );
  if (!quote || !rate) {
    return fail(
      'rateId',
      `Rate "${input.rateId}" is not in the shipment's latest quote: call shipmentRates and choose one of its rates.`,
      'RATE_NOT_FOUND',
    );
  }
  let label;
  try {
    label = await dependencies.carrier.buyLabel(
      { ...quote.request, rate, reference: shipment.id },
      `shipment-label:${shipment.id}`,
    );
  } catch (error) {
    if (!(error instanceof CarrierError)) throw error;
    logger.warn(
      { shipmentId: shipment.id, err: error },
      'carrier failed to buy a label',
    );
    return fail(
      'rateId',
      `The carrier could not sell the label: ${error.message}.`,
      'CARRIER_ERROR',
    );
  }

  return db.transaction(async (transaction) => {
    const [locked] = await transaction
      .select()
      .from(tables.shipments)
      .where(eq(tables.shipments.id, shipment.id))
      .for('update');
    if (!locked || locked.status !== 'PENDING' || locked.labelUrl !== null) {
      // NOTE: a shipment cancelled while its label was being bought keeps
      // that label unvoided at the carrier.
      return locked?.labelUrl
        ? { shipment: locked, userErrors: [] }
        : fail(
            'shipmentId',
            `Shipment ${shipment.id} is ${locked?.status ?? 'gone'}: it changed while the label was being bought.`,
            'NOT_PENDING',
          );
    }
    const [updated] = await transaction
      .update(tables.shipments)
      .set({
        status: 'LABEL_CREATED',
        carrierProvider: dependencies.carrier.name,
        carrier: label.carrier,
        service: label.service,
        trackingNumber: label.trackingNumber,
        trackingUrl: label.trackingUrl,
        labelUrl: label.labelUrl,
        carrierShipmentId: label.carrierShipmentId,
        trackerId: label.trackerId,
        rateId: rate.rateId,
        labelCostAmount: label.amount,
        labelCurrencyCode: label.currencyCode,
        labelCreatedAt: sql`now()`,
        estimatedDeliveryDays: rate.estimatedDays,
        estimatedDeliveryAt:
          rate.estimatedDays === null
            ? null
            : addBusinessDays(new Date(), rate.estimatedDays),
        updatedAt: sql`now()`,
      })
      .where(eq(tables.shipments.id, locked.id))
      .returning();
    // The shipped lines go with the tracking number, so a consumer can
    // report the shipment elsewhere (such as to a marketplace) from the
    // event alone.
    const shippedLines = await transaction
      .select({
        orderLineId: tables.shipmentLines.orderLineId,
        sku: tables.shipmentLines.sku,
        quantity: tables.shipmentLines.quantity,
      })
      .from(tables.shipmentLines)
      .where(eq(tables.shipmentLines.shipmentId, locked.id))
      .orderBy(tables.shipmentLines.orderLineId);
    await appendEvents(
      transaction,
      statusChangeEvents(locked, locked.status, 'LABEL_CREATED', {
        carrier: label.carrier,
        trackingNumber: label.trackingNumber,
        lines: shippedLines,
      }),
    );
    return { shipment: updated!, userErrors: [] };
  });
}

/** Builds the carrier request for a shipment's parcel; null when the order has no shipping address. */
async function rateRequest(
  db: ShipmentsDatabase,
  dependencies: ShipmentsDependencies,
  config: Config,
  shipment: ShipmentRow,
): Promise<RateRequest | null> {
  const order = await dependencies.orders.orderForFulfillment(shipment.orderId);
  if (!order?.shippingAddress) return null;
  const lines = await db
    .select()
    .from(tables.shipmentLines)
    .where(eq(tables.shipmentLines.shipmentId, shipment.id));
  const weights = await dependencies.catalog.variantWeights(
    lines.map((line) => line.variantId),
  );
  const weightGrams = parcelWeightGrams(
    lines.map((line) => ({
      sku: line.sku,
      quantity: line.quantity,
      weight: weights.get(line.variantId) ?? null,
      requiresShipping: true,
    })),
    config.SHIPPING_DEFAULT_ITEM_WEIGHT_GRAMS,
  );
  return {
    origin: shippingOrigin(config),
    destination: order.shippingAddress,
    parcel: {
      weightGrams: weightGrams ?? 1,
      lengthMm: null,
      widthMm: null,
      heightMm: null,
    },
    currencyCode: config.SHOP_CURRENCY,
  };
}

/** `start` plus `days` days that are not Saturday or Sunday (UTC), for an estimate. */
export function addBusinessDays(start: Date, days: number): Date {
  const date = new Date(start.getTime());
  let left = days;
  while (left > 0) {
    date.setUTCDate(date.getUTCDate() + 1);
    const weekday = date.getUTCDay();
    if (weekday !== 0 && weekday !== 6) left -= 1;
  }
  return date;
}
