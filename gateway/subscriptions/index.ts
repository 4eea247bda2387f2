import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { GraphQLFormattedError, GraphQLSchema } from 'graphql';
import type { Dispatcher } from 'undici';
import type { Config, ServiceName } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import type { CallerIdentity } from '../caller.js';
import type { GatewayContext } from '../context.js';
import { SubgraphDataSource } from '../subgraph-data-source.js';
import { createMemoryCounter, type SubscriptionCounter } from './counter.js';
export { createDatabaseCounter } from './counter.js';
import {
  SubscriptionEngine,
  type PreparedForEvents,
  type SubscriptionRequest,
} from './engine.js';
import { attachGraphqlWs } from './graphql-ws.js';
import { createSseHandler } from './sse.js';

export { CLOSE_CODES, UNAUTHORIZED_CLOSE_CODE } from './graphql-ws.js';
export { SSE_CLOSE_CODES } from './sse.js';
export { SUBSCRIPTION_LIMIT_CODE } from './engine.js';

export interface Subscriptions {
  /** Switches to a newly loaded supergraph. */
  updateSchema(coreSupergraphSdl: string, apiSchema: GraphQLSchema): void;
  /** Serves an SSE subscription request; returns false for other requests. */
  handleSse(
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<boolean>;
  /** Accepts graphql-ws connections on `/graphql` of `server`. */
  attach(server: Server): void;
  /** Checks and plans a subscription document run for events delivered elsewhere. */
  prepareForEvents(request: SubscriptionRequest): PreparedForEvents;
  /** Number of subscriptions open in this process, over both transports. */
  openCount(): number;
  /** Ends every subscription with the shutdown codes. */
  close(): Promise<void>;
}

/**
 * Creates the gateway's subscriptions (docs/subscriptions.md): the engine
 * that turns subgraph events into results, served over graphql-ws and SSE.
 */
export function createSubscriptions(options: {
  config: Config;
  logger: Logger;
  dispatcher: Dispatcher;
  routingUrl(name: string, supergraphUrl: string): string;
  /** URL of a subgraph's `/events` route. */
  eventsUrl(service: ServiceName): string;
  subgraphHeaders(caller: CallerIdentity): Promise<Record<string, string>>;
  authenticate(request: IncomingMessage): Promise<CallerIdentity>;
  createContext(request: IncomingMessage): Promise<GatewayContext>;
  formatError(
    formatted: GraphQLFormattedError,
    error: unknown,
  ): GraphQLFormattedError;
  /** Entries of the connection_init payload read as headers besides credentials. */
  extraCredentialKeys?: string[];
  counter?: SubscriptionCounter;
}): Subscriptions {
  const { config } = options;
  const logger = options.logger.child({ component: 'subscriptions' });
  const counter =
    options.counter ?? createMemoryCounter(config.SUBSCRIPTIONS_MAX_PER_CALLER);
  const engine = new SubscriptionEngine({
    config,
    logger,
    subgraphHeaders: options.subgraphHeaders,
    eventsUrl: options.eventsUrl,
    formatError: options.formatError,
    counter,
    createDataSource: (name, url) =>
      new SubgraphDataSource({
        name,
        url: options.routingUrl(name, url),
        dispatcher: options.dispatcher,
        timeoutMs: config.SUBGRAPH_TIMEOUT_MS,
        logger,
      }),
  });
  const handleSse = createSseHandler({
    engine,
    config,
    createContext: options.createContext,
  });
  let transport: { close(): Promise<void> } | undefined;
  return {
    updateSchema: (sdl, apiSchema) => engine.updateSchema(sdl, apiSchema),
    handleSse,
    prepareForEvents: (request) => engine.prepareForEvents(request),
    openCount: () => engine.openCount,
    attach(server) {
      transport = attachGraphqlWs({
        server,
        path: '/graphql',
        engine,
        config,
        logger,
        extraCredentialKeys: options.extraCredentialKeys,
        authenticate: options.authenticate,
      });
    },
    async close() {
      await engine.close();
      await transport?.close();
      await counter.close();
    },
  };
}
