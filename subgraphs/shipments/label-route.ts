import { and, eq } from 'drizzle-orm';
import { GraphQLError } from 'graphql';
import type { Config } from '../../platform/config.js';
import { ErrorCode } from '../../platform/errors.js';
import { sendJson, type RouteHandler } from '../../platform/http-server.js';
import {
  createSubgraphAuthenticator,
  type SubgraphCaller,
} from '../../platform/identity.js';
import type { Logger } from '../../platform/logger.js';
import { hasPermission } from '../../platform/permissions.js';
import { renderSandboxLabelPdf } from './carriers/sandbox-label.js';
import { SANDBOX_CARRIER_NAME } from './carriers/sandbox.js';
import * as tables from './db/tables.js';
import type { ShipmentsDatabase } from './dependencies.js';

/** Path of a sandbox label, as the sandbox carrier builds its label URLs. */
const LABEL_PATH = /^\/labels\/(sbx_[0-9a-f]{24})\.pdf$/;

/**
 * Staff who may read or write shipments, and other services, may fetch a
 * label. Customers and partners may not, because a label shows the
 * shipping address and the ship-from address.
 */
function mayFetchLabel(caller: SubgraphCaller): boolean {
  if (caller.kind === 'service') return true;
  return (
    caller.kind === 'staff' &&
    (hasPermission(caller, 'read_shipments') ||
      hasPermission(caller, 'write_shipments'))
  );
}

/**
 * Creates the `GET /labels/sbx_<24 hex>.pdf` route of the shipments
 * service, which renders the label of the shipment bought from the sandbox
 * carrier under that carrier shipment id. It requires the signed identity
 * header (401 without a valid one, 403 for other callers) before it looks
 * the shipment up, so callers without access cannot probe for shipments.
 * An unknown id gets 404.
 */
export async function sandboxLabelRoutes(options: {
  db: ShipmentsDatabase;
  config: Config;
  logger: Logger;
}): Promise<Record<string, RouteHandler>> {
  const { db, logger } = options;
  const identity = await createSubgraphAuthenticator(options.config);

  // TODO: accept a short-lived signed URL as well, minted by
  // Shipment.labelUrl, so a browser-based admin can open the label; the
  // gateway forwards only /graphql (docs/fulfillment.md).
  const route: RouteHandler = async (request, response) => {
    let caller: SubgraphCaller;
    try {
      caller = await identity.authenticate(request);
    } catch (error) {
      if (
        error instanceof GraphQLError &&
        error.extensions.code === ErrorCode.Unauthenticated
      ) {
        response.setHeader('www-authenticate', 'Bearer');
        sendJson(response, 401, {
          error: error.message,
          code: ErrorCode.Unauthenticated,
        });
        return;
      }
      throw error;
    }
    if (!mayFetchLabel(caller)) {
      sendJson(response, 403, {
        error: `Labels show addresses, so they are served to staff with read_shipments or write_shipments and to services only; this request was signed for a ${caller.kind} caller.`,
        code: ErrorCode.Forbidden,
      });
      return;
    }

    const url = request.url ?? '/';
    const pathname = url.split('?', 1)[0]!;
    const carrierShipmentId = LABEL_PATH.exec(pathname)?.[1];
    const [shipment] = carrierShipmentId
      ? await db
          .select()
          .from(tables.shipments)
          .where(
            and(
              eq(tables.shipments.carrierProvider, SANDBOX_CARRIER_NAME),
              eq(tables.shipments.carrierShipmentId, carrierShipmentId),
            ),
          )
          .limit(1)
      : [];
    if (!shipment || shipment.trackingNumber === null) {
      sendJson(response, 404, {
        error: `No sandbox label at ${pathname.slice(0, 80)}.`,
        code: ErrorCode.NotFound,
      });
      return;
    }

    const pdf = renderSandboxLabelPdf({
      trackingNumber: shipment.trackingNumber,
      carrier: shipment.carrier ?? SANDBOX_CARRIER_NAME,
      service: shipment.service ?? '',
      reference: shipment.id,
      from: shipment.rateQuote?.request.origin ?? null,
      to: shipment.rateQuote?.request.destination ?? null,
    });
    logger.debug({ shipmentId: shipment.id }, 'sandbox label served');
    response.writeHead(200, {
      'content-type': 'application/pdf',
      'content-length': pdf.length,
      'content-disposition': `inline; filename="${carrierShipmentId}.pdf"`,
      // The label shows addresses, so no shared cache may keep it.
      'cache-control': 'private, no-store',
    });
    response.end(request.method === 'HEAD' ? undefined : pdf);
  };

  return { '/labels/*': route };
}
