import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from '../platform/logger.js';
import type { CallerIdentity } from './caller.js';
import type { IdentityLayer } from './identity/index.js';

/** Per-request context of the gateway's Apollo server. */
export interface GatewayContext {
  /** The caller's `x-request-id` when it is well formed, otherwise a new UUID. */
  requestId: string;
  logger: Logger;
  /** The verified caller; anonymous when no credentials were sent. */
  caller: CallerIdentity;
  /** Headers that carry the caller to subgraphs, signed by the gateway. */
  subgraphHeaders: Record<string, string>;
}

/** Request ids accepted from callers. Any other value is replaced, not logged. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export async function createGatewayContext(
  request: IncomingMessage,
  logger: Logger,
  identity: IdentityLayer,
): Promise<GatewayContext> {
  const header = request.headers['x-request-id'];
  const requestId =
    typeof header === 'string' && REQUEST_ID_PATTERN.test(header)
      ? header
      : randomUUID();
  const caller = await identity.authenticate(request);
  return {
    requestId,
    logger: logger.child({ requestId }),
    caller,
    subgraphHeaders: await identity.subgraphHeaders(caller),
  };
}

/**
 * Returns the request id to the caller in `x-request-id`. The metrics
 * plugin (gateway/metrics.ts) logs each request with the same id.
 */
export const requestTrackingPlugin: ApolloServerPlugin<GatewayContext> = {
  async requestDidStart({ contextValue }) {
    return {
      async willSendResponse({ response }) {
        response.http.headers.set('x-request-id', contextValue.requestId);
      },
    };
  },
};

/**
 * Sets HTTP 400 when every error is the planner rejecting the operation
 * itself (INVALID_GRAPHQL, such as several operations without an
 * operationName). @apollo/gateway reports these while executing, so
 * Apollo Server would otherwise send status 500.
 */
export const clientErrorStatusPlugin: ApolloServerPlugin<GatewayContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ response }) {
        if (response.body.kind !== 'single') return;
        const { data, errors } = response.body.singleResult;
        const isPlanningRejection =
          data === undefined &&
          errors !== undefined &&
          errors.length > 0 &&
          errors.every((error) => error.extensions?.code === 'INVALID_GRAPHQL');
        if (isPlanningRejection) response.http.status = 400;
      },
    };
  },
};
