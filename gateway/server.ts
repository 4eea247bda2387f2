import path from 'node:path';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { executeWithPlanExecutor } from './execution/gateway.js';
import { Agent } from 'undici';
import {
  isProduction,
  SERVICE_NAMES,
  servicePort,
  serviceUrlOverride,
  type Config,
  type ServiceName,
} from '../platform/config.js';
import {
  createGraphQLHttpHandler,
  listen,
  sendJson,
  type RouteHandler,
  type RunningHttpServer,
} from '../platform/http-server.js';
import { maskedErrorRequestIdPlugin } from '../platform/errors.js';
import { redactUrl, type Logger } from '../platform/logger.js';
import { createMetricsRoute } from '../platform/metrics.js';
import { rejectNulCharactersPlugin } from '../platform/nul-characters.js';
import { startTracing, type Tracing } from '../platform/tracing.js';
import {
  acceptTestCallerHeader,
  authorizeGateway,
  TEST_CALLER_HEADER,
} from './authorization/index.js';
import { ANONYMOUS_CALLER } from './caller.js';
import { createIdentityLayer } from './identity/index.js';
import { createOperationLimitsPlugin } from './limits/index.js';
import { createRateLimiter } from './rate-limit/index.js';
import {
  createGatewayContext,
  clientErrorStatusPlugin,
  requestTrackingPlugin,
  type GatewayContext,
} from './context.js';
import { createGatewayErrorFormatter } from './error-formatter.js';
import { GatewayMetrics } from './metrics.js';
import { createApqCache } from './hardening/apq-cache.js';
import { withRequestErrorCodes } from './hardening/client-errors.js';
import { createCorsHandler } from './hardening/cors.js';
import { withoutSuggestions } from './hardening/suggestions.js';
import {
  createSafelistPlugin,
  createSafelistRoutes,
  SafelistStore,
} from './safelist/index.js';
import { checkSubgraphReadiness } from './readiness.js';
import { SubgraphDataSource } from './subgraph-data-source.js';
import {
  createDatabaseCounter,
  createSubscriptions,
} from './subscriptions/index.js';
import { startWebhooks } from './webhooks/index.js';
import {
  createSupergraphFileSource,
  readSubgraphEndpoints,
  type SubgraphEndpoint,
} from './supergraph-file.js';
import { eventsUrlBeside } from '../platform/event-stream-client.js';

export interface GatewayOptions {
  config: Config;
  logger: Logger;
  /** Supergraph SDL file to serve. The gateway reloads it when it changes. */
  supergraphPath: string;
  /**
   * GraphQL URL per subgraph, in place of the routing URL in the supergraph.
   * Takes precedence over CATALOG_URL, ORDERS_URL, SHIPMENTS_URL and
   * MARKETPLACE_URL in `config`.
   */
  subgraphUrls?: Partial<Record<ServiceName, string>>;
  host: string;
  /** Port to listen on, or 0 for a free port. */
  port: number;
  /**
   * Tests only: takes the caller from a JSON `x-test-caller` header when a
   * request has one, so anyone can claim any identity. It defaults to false,
   * and no configuration variable or flag sets it.
   */
  acceptTestCallerHeader?: boolean;
  /**
   * Benchmark only: serves every request as the anonymous caller without
   * reading credentials, and runs no authorization, operation limits or rate
   * limits, so that `npm run bench` can measure what they cost. Subgraphs
   * still receive the signed anonymous identity. It defaults to false. It
   * is an option rather than a setting, so no environment variable or flag
   * can turn these checks off in a deployment. gateway/index.ts never
   * passes it, and bench/gateway-without-checks.ts, which does, exits in
   * production mode.
   */
  disableChecksForBenchmark?: boolean;
}

export interface RunningGateway {
  /** The GraphQL endpoint, e.g. `http://127.0.0.1:4000/graphql`. */
  url: string;
  port: number;
  /**
   * Stops accepting connections, waits up to SHUTDOWN_GRACE_MS for requests
   * in flight, then stops the gateway and closes the subgraph connections.
   */
  close(): Promise<void>;
}

/** Maximum time in ms that `/ready` waits for each subgraph's `/ready`. */
const READINESS_TIMEOUT_CAP_MS = 5_000;

/** Idle time in ms after which a pooled subgraph connection is closed. */
const SUBGRAPH_KEEP_ALIVE_MS = 4_000;

/**
 * Starts the federation gateway: serves `/graphql` over the supergraph in
 * `supergraphPath`, plus `/health` (the process is up) and `/ready` (a
 * supergraph is loaded and every subgraph's `/ready` responds 200).
 */
export async function startGateway(
  options: GatewayOptions,
): Promise<RunningGateway> {
  const { config, logger } = options;
  const supergraphPath = path.resolve(options.supergraphPath);
  const identity = await createIdentityLayer({
    config,
    logger,
    ordersUrl: options.subgraphUrls?.orders,
  });
  const checksOff = options.disableChecksForBenchmark === true;
  const requestIdentity = checksOff
    ? { ...identity, authenticate: async () => ANONYMOUS_CALLER }
    : options.acceptTestCallerHeader
      ? acceptTestCallerHeader(identity)
      : identity;
  const routingUrl = createRoutingUrlResolver(config, options.subgraphUrls);
  const rateLimiter = await createRateLimiter({
    config: checksOff ? { ...config, RATE_LIMIT_STORE: 'off' } : config,
    logger,
  });

  // One agent keeps a keep-alive pool per subgraph origin. It outlives
  // supergraph reloads, so a reload neither drops nor reopens connections.
  // Servers that send a Keep-Alive hint (node:http does) set the idle time.
  const dispatcher = new Agent({
    keepAliveTimeout: SUBGRAPH_KEEP_ALIVE_MS,
    connect: { timeout: config.SUBGRAPH_TIMEOUT_MS },
  });

  // Global, so that the query plan and fetch spans of @apollo/gateway
  // join the request's trace.
  const tracing = startTracing(config, 'gateway', logger, {
    registerGlobally: true,
  });
  let endpoints: SubgraphEndpoint[] | undefined;
  const metrics = new GatewayMetrics();
  const gateway = createFederationGateway({
    config,
    logger,
    supergraphPath,
    routingUrl,
    dispatcher,
    metrics,
    tracing,
  });
  const production = isProduction(config);
  const subscriptions = createSubscriptions({
    config,
    logger,
    dispatcher,
    routingUrl,
    eventsUrl: (service) =>
      eventsUrlBeside(
        routingUrl(
          service,
          `http://${config.HOST}:${servicePort(config, service)}/graphql`,
        ),
      ),
    subgraphHeaders: (caller) => identity.subgraphHeaders(caller),
    authenticate: (request) => requestIdentity.authenticate(request),
    createContext: (request) =>
      createGatewayContext(request, logger, requestIdentity),
    formatError: createFormatError(logger, production),
    extraCredentialKeys: options.acceptTestCallerHeader
      ? [TEST_CALLER_HEADER]
      : [],
    // With a gateway database the per-caller limit applies across replicas.
    counter: identity.db
      ? createDatabaseCounter({
          db: identity.db,
          max: config.SUBSCRIPTIONS_MAX_PER_CALLER,
          logger,
        })
      : undefined,
  });
  metrics.observeSubscriptions(() => subscriptions.openCount());
  gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl, apiSchema }) => {
    subscriptions.updateSchema(coreSupergraphSdl, apiSchema);
    endpoints = readSubgraphEndpoints(coreSupergraphSdl).map(
      ({ name, url }) => ({
        name,
        url: routingUrl(name, url),
      }),
    );
  });

  // Safelists of partner keys live in the gateway database; without one
  // there are no partner keys either.
  const safelist = identity.db
    ? new SafelistStore(identity.db, config.SAFELIST_CACHE_MS)
    : undefined;

  // Queries and mutations run on the gateway's own plan executor unless
  // GATEWAY_PLAN_EXECUTOR=apollo (gateway/execution).
  const executing =
    config.GATEWAY_PLAN_EXECUTOR === 'gateway'
      ? executeWithPlanExecutor(gateway, {
          logger,
          countPlanLookup: (hit) => metrics.countPlanLookup(hit),
        })
      : gateway;
  const apollo = new ApolloServer<GatewayContext>({
    // Authorization removes the fields that the caller may not read from
    // each operation before the gateway plans it (gateway/authorization).
    gateway: checksOff ? executing : authorizeGateway(executing),
    formatError: createFormatError(logger, production),
    // Production mode hides the schema from clients: no introspection and
    // no "Did you mean ..." suggestions in validation errors.
    introspection: !production,
    hideSchemaDetailsFromClientErrors: production,
    // Apollo Server 5 enables it by default; it is set here so that no
    // change of default turns it off. It rejects GET requests and POSTs
    // without a JSON content type unless they carry a preflight header.
    csrfPrevention: true,
    persistedQueries:
      config.APQ_CACHE_MAX_BYTES > 0
        ? { cache: createApqCache(config.APQ_CACHE_MAX_BYTES), ttl: null }
        : false,
    includeStacktraceInErrorResponses: false,
    parseOptions: checksOff ? {} : { maxTokens: config.OPERATION_MAX_TOKENS },
    // stopOnSignals in platform/main.ts owns SIGINT and SIGTERM, so that the
    // HTTP server drains before Apollo stops.
    stopOnTerminationSignals: false,
    logger,
    plugins: [
      requestTrackingPlugin,
      metrics.requestPlugin(),
      clientErrorStatusPlugin,
      maskedErrorRequestIdPlugin(),
      ...(safelist ? [createSafelistPlugin(safelist)] : []),
      rejectNulCharactersPlugin(),
      ...(checksOff
        ? []
        : [
            createOperationLimitsPlugin(config),
            // After the limits plugin, whose computed cost it charges.
            rateLimiter.plugin,
          ]),
    ],
  });
  try {
    await apollo.start();
  } catch (error) {
    await dispatcher.destroy();
    await identity.close();
    await rateLimiter.close();
    await tracing?.shutdown();
    throw new Error(
      `Failed to load the supergraph from ${supergraphPath}: ${(error as Error).message}`,
      { cause: error },
    );
  }

  let stopping = false;
  const graphqlHandler = createGraphQLHttpHandler({
    apollo,
    bodyLimitBytes: config.REQUEST_BODY_LIMIT_BYTES,
    logger,
    createContext: async (request) =>
      rateLimiter.trackClient(
        await createGatewayContext(request, logger, requestIdentity),
        request,
      ),
    routes: {
      '/health': (_request, response) =>
        sendJson(response, 200, { status: 'ok', service: 'gateway' }),
      ...createMetricsRoute(metrics.registry, config, logger),
      ...identity.routes,
      '/ready': createReadinessRoute({
        logger,
        dispatcher,
        timeoutMs: Math.min(
          config.SUBGRAPH_TIMEOUT_MS,
          READINESS_TIMEOUT_CAP_MS,
        ),
        currentEndpoints: () => endpoints,
        isStopping: () => stopping,
      }),
    },
  });

  // Webhooks keep endpoints and deliveries in the gateway database, whose
  // outbox `webhooks.handleRequest` also serves at GET /events.
  const webhooks = identity.db
    ? startWebhooks({
        config,
        logger,
        db: identity.db,
        authenticate: (request) => identity.authenticate(request),
        subgraphUrl: (service) =>
          routingUrl(
            service,
            `http://${config.HOST}:${servicePort(config, service)}/graphql`,
          ),
        prepareDocument: (request) => subscriptions.prepareForEvents(request),
      })
    : undefined;

  // SSE subscriptions and the other routes in front of it get no span.
  const handler = tracing
    ? tracing.traceHttpRequests(graphqlHandler, ['/graphql'])
    : graphqlHandler;
  let http: RunningHttpServer;
  try {
    // Identity routes (sign-in, partner keys) take methods other than GET,
    // so they are served in front of the GraphQL handler's routes.
    const handleCors = createCorsHandler(config.CORS_ALLOWED_ORIGINS);
    const handleSafelistRequest = safelist
      ? createSafelistRoutes({
          store: safelist,
          authenticate: (request) => identity.authenticate(request),
          logger: logger.child({ component: 'safelist' }),
        })
      : async () => false;
    http = await listen(
      async (request, response) => {
        if (handleCors(request, response)) return;
        if (await subscriptions.handleSse(request, response)) return;
        // Before the identity routes, which own the rest of
        // /admin/partner-keys/.
        if (await handleSafelistRequest(request, response)) return;
        if (await webhooks?.handleRequest(request, response)) return;
        if (await identity.handleRequest(request, response)) return;
        await handler(request, response);
      },
      options.host,
      options.port,
    );
  } catch (error) {
    await subscriptions.close();
    await webhooks?.close();
    await apollo.stop();
    await dispatcher.destroy();
    await identity.close();
    await rateLimiter.close();
    await tracing?.shutdown();
    throw error;
  }
  // The gateway's own stream is read through its own /events route.
  webhooks?.consumeGatewayStream(http.url);
  subscriptions.attach(http.server);
  logger.info(
    {
      url: http.url,
      supergraphPath,
      subgraphs: endpoints?.map(({ name, url }) => ({
        name,
        url: redactUrl(url),
      })),
    },
    'gateway listening',
  );

  let closing: Promise<void> | undefined;
  const stop = async () => {
    stopping = true;
    logger.info('gateway stopping');
    // First, so that SSE streams end and WebSocket clients get the
    // shutdown close code instead of holding the HTTP server's close.
    await subscriptions.close();
    // Before the HTTP server closes: requests waiting on /events, such as
    // the webhook consumer's own, would hold the close for the grace time.
    await webhooks?.close();
    await http.close(config.SHUTDOWN_GRACE_MS);
    await apollo.stop();
    // Every client request has finished or been cut off by now, so no
    // client waits for a subgraph request that is still pending.
    await dispatcher.destroy();
    await identity.close();
    await rateLimiter.close();
    // Last, so that the spans of requests cut off above are exported too.
    await tracing?.shutdown();
    logger.info('gateway stopped');
  };

  return {
    url: http.url,
    port: http.port,
    close: () => (closing ??= stop()),
  };
}

/**
 * Creates the gateway's error formatter. Production mode also removes
 * "Did you mean ..." suggestions from messages.
 */
function createFormatError(logger: Logger, production: boolean) {
  const format = withRequestErrorCodes(createGatewayErrorFormatter(logger));
  return production ? withoutSuggestions(format) : format;
}

/**
 * Creates the ApolloGateway over the supergraph file. Its data sources send
 * each subgraph's requests to `routingUrl(name, supergraphUrl)` through
 * `dispatcher`.
 */
function createFederationGateway(options: {
  config: Config;
  logger: Logger;
  supergraphPath: string;
  routingUrl: (name: string, supergraphUrl: string) => string;
  dispatcher: Agent;
  metrics: GatewayMetrics;
  tracing: Tracing | undefined;
}): ApolloGateway {
  const { config, logger } = options;
  // @apollo/gateway 2.14 otherwise starts an OpenTelemetry exporter that
  // sends usage data to Apollo and probes cloud metadata endpoints at every
  // start. A gateway must not call hosts that were not configured, so it is off
  // unless APOLLO_TELEMETRY_DISABLED is set explicitly.
  process.env.APOLLO_TELEMETRY_DISABLED ??= 'true';
  return new ApolloGateway({
    supergraphSdl: createSupergraphFileSource(options.supergraphPath, logger),
    buildService: ({ name, url }) =>
      options.metrics.instrumentDataSource(
        name,
        new SubgraphDataSource({
          name,
          url: options.routingUrl(name, url ?? ''),
          dispatcher: options.dispatcher,
          timeoutMs: config.SUBGRAPH_TIMEOUT_MS,
          logger,
          deduplicateQueries: config.GATEWAY_DEDUPLICATE_QUERIES,
          tracing: options.tracing,
        }),
      ),
    // Counts hits and misses of the gateway's own query plan cache.
    queryPlannerConfig: { cache: options.metrics.queryPlanCache },
    logger: logger.child({ component: 'apollo-gateway' }),
    // Spans of @apollo/gateway carry neither the query text nor exception
    // messages, which can quote variable values. These are its defaults in
    // 2.14, set here so that no change of default exports them.
    telemetry: { includeDocument: false, recordExceptions: false },
    // Validates every new supergraph before the gateway switches to it,
    // whatever NODE_ENV is, so a broken file is rejected with a clear error.
    validateSupergraph: true,
  });
}

/**
 * Returns the URL to send a subgraph's requests to: the `subgraphUrls`
 * option, then the `<NAME>_URL` setting, then the supergraph's routing URL.
 */
function createRoutingUrlResolver(
  config: Config,
  overrides: Partial<Record<ServiceName, string>> | undefined,
) {
  return (name: string, supergraphUrl: string): string => {
    if (!isServiceName(name)) return supergraphUrl;
    return (
      overrides?.[name] ?? serviceUrlOverride(config, name) ?? supergraphUrl
    );
  };
}

function isServiceName(name: string): name is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(name);
}

/**
 * Creates the `/ready` route. It responds 200 when a supergraph is loaded
 * and every subgraph in it is ready, and 503 naming the subgraphs that are
 * not. Changes of readiness are logged once, not on every probe.
 */
function createReadinessRoute(options: {
  logger: Logger;
  dispatcher: Agent;
  timeoutMs: number;
  currentEndpoints: () => SubgraphEndpoint[] | undefined;
  isStopping: () => boolean;
}): RouteHandler {
  let lastUnavailable = '';

  return async (_request, response) => {
    if (options.isStopping()) {
      sendJson(response, 503, {
        status: 'unavailable',
        reason: 'shutting down',
      });
      return;
    }
    const endpoints = options.currentEndpoints();
    if (!endpoints) {
      sendJson(response, 503, {
        status: 'unavailable',
        reason: 'no supergraph loaded',
      });
      return;
    }

    const results = await checkSubgraphReadiness(
      endpoints,
      options.dispatcher,
      options.timeoutMs,
    );
    const unavailable = results
      .filter((result) => !result.ready)
      .map(({ name, reason }) => ({ name, reason }));

    const key = JSON.stringify(unavailable);
    if (key !== lastUnavailable) {
      if (unavailable.length > 0) {
        options.logger.warn(
          { unavailableSubgraphs: unavailable },
          'gateway not ready',
        );
      } else {
        options.logger.info('gateway ready: every subgraph is ready');
      }
      lastUnavailable = key;
    }

    if (unavailable.length > 0) {
      sendJson(response, 503, {
        status: 'unavailable',
        unavailableSubgraphs: unavailable,
      });
      return;
    }
    sendJson(response, 200, {
      status: 'ready',
      subgraphs: results.map(({ name }) => name),
    });
  };
}
