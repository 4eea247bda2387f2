import type { IncomingMessage } from 'node:http';
import type { Config } from '../../platform/config.js';
import type { RouteHandler } from '../../platform/http-server.js';
import type { Logger } from '../../platform/logger.js';
import { ANONYMOUS_CALLER, type CallerIdentity } from '../caller.js';

/** What the gateway needs from identity: who calls, and how to tell subgraphs. */
export interface IdentityLayer {
  /** Verifies the request's credentials; throws an UNAUTHENTICATED error when they are invalid. */
  authenticate(request: IncomingMessage): Promise<CallerIdentity>;
  /** Headers that carry the caller to a subgraph. */
  subgraphHeaders(caller: CallerIdentity): Promise<Record<string, string>>;
  /** Extra HTTP routes, such as sign-in endpoints. */
  routes: Record<string, RouteHandler>;
  close(): Promise<void>;
}

/**
 * Creates the identity layer.
 * NOTE: every caller is anonymous and subgraphs get no signed identity yet.
 */
export async function createIdentityLayer(_options: {
  config: Config;
  logger: Logger;
}): Promise<IdentityLayer> {
  return {
    authenticate: async () => ANONYMOUS_CALLER,
    subgraphHeaders: async () => ({}),
    routes: {},
    close: async () => {},
  };
}
