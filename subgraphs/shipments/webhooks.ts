import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, type RouteHandler } from '../../platform/http-server.js';
import type { Logger } from '../../platform/logger.js';
import { CarrierWebhookError, type Carrier } from './carriers/carrier.js';
import * as tables from './db/tables.js';
import type { ShipmentsDatabase } from './dependencies.js';
import { applyTrackingUpdate, lockShipmentByTracking } from './tracking.js';

/** Path of the tracking webhook endpoint of a carrier, such as `easypost`. */
export function carrierWebhookPath(carrier: string): string {
  return `/webhooks/carriers/${carrier}`;
}

export type CarrierWebhookOutcome =
  'applied' | 'duplicate' | 'ignored' | 'unknown_shipment';

/**
 * The route `POST /webhooks/carriers/<carrier>` of the configured carrier.
 * It verifies the signature on the raw body (400 and no change when it
 * does not verify), then in one transaction records the event id, so a
 * redelivery changes nothing, and merges the tracking into the shipment
 * with that carrier and tracking number. It answers 200 for events it
 * applied, had applied before, or does not need. An event for a tracking
 * number no shipment has is not recorded, so a redelivery after the label
 * is stored still applies.
 */
export function carrierWebhookRoutes(options: {
  db: ShipmentsDatabase;
  carrier: Carrier;
  logger: Logger;
  bodyLimitBytes: number;
}): Record<string, RouteHandler> {
  const { db, carrier, logger } = options;
  const handler = async (
    request: IncomingMessage,
    response: ServerResponse,
  ) => {
    const body = await readRawBody(request, options.bodyLimitBytes);
    if (body === null) {
      response.setHeader('connection', 'close');
      sendJson(response, 413, {
        error: `The webhook body is larger than ${options.bodyLimitBytes} bytes.`,
      });
      return;
    }
    let event;
    try {
      event = carrier.verifyWebhook(body, request.headers);
    } catch (error) {
      if (!(error instanceof CarrierWebhookError)) throw error;
      logger.warn(
        { carrier: carrier.name, reason: error.message },
        'carrier webhook rejected',
      );
      sendJson(response, 400, {
        error: `Webhook rejected: ${error.message}. Check that the carrier signs with the webhook secret configured for ${carrier.name}.`,
      });
      return;
    }

    const tracking = event.tracking;
    const outcome = await db.transaction(
      async (transaction): Promise<CarrierWebhookOutcome> => {
        const shipment = tracking
          ? await lockShipmentByTracking(
              transaction,
              carrier.name,
              tracking.trackingNumber,
              tracking.carrier,
            )
          : null;
        if (tracking && !shipment) return 'unknown_shipment';
        const recorded = await transaction
          .insert(tables.carrierWebhookEvents)
          .values({
            carrier: carrier.name,
            eventId: event.eventId,
            type: event.type,
          })
          .onConflictDoNothing()
          .returning({ eventId: tables.carrierWebhookEvents.eventId });
        if (recorded.length === 0) return 'duplicate';
        if (!tracking || !shipment) return 'ignored';
        await applyTrackingUpdate(transaction, shipment, tracking, 'webhook');
        return 'applied';
      },
    );
    logger.info(
      {
        carrier: carrier.name,
        eventId: event.eventId,
        type: event.type,
        outcome,
      },
      'carrier webhook received',
    );
    sendJson(response, 200, { received: true, outcome });
  };
  return { [`POST ${carrierWebhookPath(carrier.name)}`]: handler };
}

/** The request body as bytes, or null when it is over `limit`. */
async function readRawBody(
  request: IncomingMessage,
  limit: number,
): Promise<Buffer | null> {
  if (Number(request.headers['content-length']) > limit) return null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
