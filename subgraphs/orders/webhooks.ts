import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, type RouteHandler } from '../../platform/http-server.js';
import type { Logger } from '../../platform/logger.js';
import { applyProviderPayment } from './checkout/payment-updates.js';
import type { OrdersDatabase, OrdersDependencies } from './dependencies.js';
import { WebhookVerificationError } from './payments/index.js';

/** Path of the webhook endpoint of a provider, such as `sandbox` or `stripe`. */
export function paymentWebhookPath(provider: string): string {
  return `/webhooks/payments/${provider}`;
}

/**
 * The route `POST /webhooks/payments/<provider>` of the configured
 * provider. It verifies the signature on the raw body, applies each event
 * once and answers 200 for events it applied, had applied before, or does
 * not need; 400 for a request that does not verify, changing nothing.
 * Events about payments (`payment_intent.*`, `charge.refunded`) and about
 * one refund (`charge.refund.updated`, `refund.*`) go the same way: see
 * `applyProviderPayment`.
 */
export function paymentWebhookRoutes(options: {
  db: OrdersDatabase;
  dependencies: OrdersDependencies;
  logger: Logger;
  bodyLimitBytes: number;
}): Record<string, RouteHandler> {
  const { dependencies, logger } = options;
  const provider = dependencies.payments.name;
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
      event = dependencies.payments.verifyWebhook(body, request.headers);
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      logger.warn({ provider, reason: error.message }, 'webhook rejected');
      sendJson(response, 400, {
        error: `Webhook rejected: ${error.message}. Check that the provider signs with the webhook secret configured for ${provider}.`,
      });
      return;
    }
    if (!event.providerPaymentId) {
      sendJson(response, 200, { received: true, applied: false });
      return;
    }
    const outcome = await applyProviderPayment(
      options.db,
      dependencies,
      logger,
      {
        providerPaymentId: event.providerPaymentId,
        payment: event.payment,
        refund: event.refund ?? null,
        event: { id: event.eventId, type: event.type },
      },
    );
    logger.info(
      { provider, eventId: event.eventId, type: event.type, outcome },
      'payment webhook received',
    );
    sendJson(response, 200, { received: true, outcome });
  };
  return { [`POST ${paymentWebhookPath(provider)}`]: handler };
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
