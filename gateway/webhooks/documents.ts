import type { Logger } from '../../platform/logger.js';
import type { CallerIdentity } from '../caller.js';
import type {
  PreparedForEvents,
  SubscriptionRequest,
} from '../subscriptions/engine.js';

/** Checks and plans a subscription document (gateway/subscriptions). */
export type PrepareDocument = (
  request: SubscriptionRequest,
) => PreparedForEvents;

/** The columns of an endpoint that hold its subscription document. */
export interface EndpointDocumentColumns {
  subscriptionQuery: string | null;
  subscriptionVariables: unknown;
  subscriptionCaller: unknown;
}

/**
 * Plans the subscription document of an endpoint, as the identity stored
 * with it. Returns null for an endpoint that takes the event payloads as
 * they are. Plans are cached by the subscription engine, so this is cheap
 * once per batch or delivery.
 */
export function prepareEndpointDocument(
  prepare: PrepareDocument | undefined,
  endpointId: string,
  columns: EndpointDocumentColumns,
  logger: Logger,
): PreparedForEvents | null {
  if (columns.subscriptionQuery === null) return null;
  if (!prepare) {
    return {
      ok: false,
      errors: [{ message: 'This gateway cannot run subscription documents.' }],
    };
  }
  const stored = (columns.subscriptionVariables ?? {}) as {
    variables?: Record<string, unknown> | null;
    operationName?: string | null;
  };
  return prepare({
    query: columns.subscriptionQuery,
    variables: stored.variables ?? null,
    operationName: stored.operationName ?? null,
    caller: columns.subscriptionCaller as CallerIdentity,
    requestId: `webhook:${endpointId}`,
    logger,
  });
}
