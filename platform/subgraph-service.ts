import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { parse, type DocumentNode } from 'graphql';
import type { Config, ServiceName } from './config.js';
import {
  connectDatabase,
  ensureDatabase,
  runMigrations,
  type Database,
  type DatabaseHandle,
} from './database.js';
import { createErrorFormatter, maskedErrorRequestIdPlugin } from './errors.js';
import { createEventStreamRoute } from './event-stream.js';
import {
  createSubgraphAuthenticator,
  type SubgraphCaller,
} from './identity.js';
import {
  createGraphQLHttpHandler,
  listen,
  type BoundHttpServer,
  sendJson,
  type RouteHandler,
  type RunningHttpServer,
} from './http-server.js';
import type { Logger } from './logger.js';
import {
  createMetricsRegistry,
  createMetricsRoute,
  createRequestMetricsPlugin,
  registerPoolMetrics,
  RequestMetrics,
} from './metrics.js';
import { rejectNulCharactersPlugin } from './nul-characters.js';
import { checkServiceConfiguration } from './production-checks.js';
import { EVENT_POSITION_HEADER } from './subscription-fields.js';
import { startTracing } from './tracing.js';

/** Per-request context every subgraph resolver receives. */
export interface SubgraphContext<
  TSchema extends Record<string, unknown>,
  TLoaders,
> {
  db: Database<TSchema>;
  loaders: TLoaders;
  logger: Logger;
  requestId: string;
  config: Config;
  /**
   * The caller, verified from the gateway's signed identity header. Every
   * GraphQL request has one; requests without a valid header are rejected
   * before any resolver runs.
   */
  caller: SubgraphCaller;
  /**
   * Value of the `x-commerce-event-position` header: the position of the
   * event for which the gateway requests a subscription root field
   * (platform/subscription-event.ts). Null when the header is absent.
   */
  eventPosition: string | null;
}

export interface SubgraphDefinition<
  TSchema extends Record<string, unknown>,
  TLoaders,
> {
  name: ServiceName;
  /** Drizzle table definitions of the service's own database. */
  tables: TSchema;
  migrationsFolder: string;
  /**
   * Resolvers typed by the code generated from the SDL. The generated
   * `Resolvers` type and Apollo's resolver map differ only in how they spell
   * optional resolvers, so the map is taken as a plain object here.
   */
  resolvers: object;
  /** Builds fresh DataLoaders; called once per request, never shared. */
  createLoaders(db: Database<TSchema>, config: Config): TLoaders;
  /**
   * Checks the service's own configuration at start-up, before the
   * database is touched, and returns extra routes that need no identity,
   * such as a JWK Set. Throwing stops the service from starting.
   */
  prepare?(
    config: Config,
    logger: Logger,
  ): Promise<{ routes?: Record<string, RouteHandler> }>;
  /**
   * Starts what needs the migrated database: HTTP routes beside `/graphql`
   * (such as provider webhooks) and background work (such as sweeps of
   * expired records). `stop` runs after the HTTP server has closed and
   * before the database closes.
   */
  start?(services: {
    db: Database<TSchema>;
    config: Config;
    logger: Logger;
  }): Promise<BackgroundWork>;
}

export interface BackgroundWork {
  routes?: Record<string, RouteHandler>;
  stop?(): Promise<void>;
}

export interface RunningSubgraph<TSchema extends Record<string, unknown>> {
  name: ServiceName;
  url: string;
  port: number;
  database: DatabaseHandle<TSchema>;
  close(): Promise<void>;
}

const schemaFolder = fileURLToPath(new URL('../schema/', import.meta.url));

/** Reads `schema/<service>.graphql`, the source of truth of a subgraph. */
export function loadSubgraphTypeDefs(name: ServiceName): DocumentNode {
  return parse(readFileSync(`${schemaFolder}${name}.graphql`, 'utf8'));
}

/** Creates the database if needed and applies the service's migrations. */
export async function prepareSubgraphDatabase(
  definition: { name: ServiceName; migrationsFolder: string },
  databaseUrl: string,
  logger: Logger,
): Promise<void> {
  await ensureDatabase(databaseUrl);
  await runMigrations(databaseUrl, definition.migrationsFolder, logger);
}

/**
 * Starts one subgraph: migrates its database, then serves `/graphql`,
 * `/events` (its outbox, for other services; platform/event-stream.ts),
 * `/health` (the process is up), `/ready` (the database accepts a query)
 * and `/metrics` (Prometheus metrics; platform/metrics.ts).
 * `/graphql` and `/events` serve only requests with a valid signed identity
 * (see platform/identity.ts); `/health`, `/ready` and `/metrics` are open,
 * though METRICS_TOKEN can protect `/metrics`.
 */
export async function startSubgraph<
  TSchema extends Record<string, unknown>,
  TLoaders,
>(
  definition: SubgraphDefinition<TSchema, TLoaders>,
  options: {
    config: Config;
    logger: Logger;
    databaseUrl: string;
  } & (
    | { host: string; port: number }
    /**
     * A server already bound to its port, whose URL other services were
     * given before this one started. The caller closes it if the start fails.
     */
    | { listener: BoundHttpServer }
  ),
): Promise<RunningSubgraph<TSchema>> {
  const { config, logger } = options;
  // Settings and keys are checked first, so a misconfigured service fails
  // before it touches the database.
  checkServiceConfiguration(config);
  const identity = await createSubgraphAuthenticator(config);
  const prepared = (await definition.prepare?.(config, logger)) ?? {};
  await prepareSubgraphDatabase(definition, options.databaseUrl, logger);
  const tracing = startTracing(config, definition.name, logger);
  const database = connectDatabase(options.databaseUrl, definition.tables, {
    poolSize: config.DATABASE_POOL_SIZE,
    tracer: tracing?.tracer,
  });
  let background: BackgroundWork;
  try {
    background =
      (await definition.start?.({ db: database.db, config, logger })) ?? {};
  } catch (error) {
    await database.close();
    await tracing?.shutdown();
    throw error;
  }

  const metrics = createMetricsRegistry();
  registerPoolMetrics(metrics, database.usage);

  const apollo = new ApolloServer<SubgraphContext<TSchema, TLoaders>>({
    schema: buildSubgraphSchema({
      typeDefs: loadSubgraphTypeDefs(definition.name),
      resolvers: definition.resolvers as GraphQLResolverMap<unknown>,
    }),
    formatError: createErrorFormatter(logger),
    includeStacktraceInErrorResponses: false,
    // Subgraphs sit behind the gateway; their own landing page and CSRF
    // prevention would only get in the way of service-to-service calls.
    csrfPrevention: false,
    // The process's own signal handlers stop the HTTP server first and
    // then Apollo; Apollo's would stop it while requests are in flight.
    stopOnTerminationSignals: false,
    // Inline traces are for Apollo's hosted studio, which this graph does
    // not report to; computing them costs time on every request.
    plugins: [
      ApolloServerPluginInlineTraceDisabled(),
      rejectNulCharactersPlugin(),
      maskedErrorRequestIdPlugin(),
      // One debug line per request, with the request id the gateway sent.
      createRequestMetricsPlugin<SubgraphContext<TSchema, TLoaders>>(
        new RequestMetrics(metrics),
        (context, request) =>
          context.logger.debug(request, 'graphql request completed'),
      ),
    ],
  });
  await apollo.start();

  const eventStream = createEventStreamRoute({
    db: database.db,
    sql: database.sql,
    authenticate: (request) => identity.authenticate(request),
    logger: logger.child({ component: 'event-stream' }),
  });

  const graphqlHandler = createGraphQLHttpHandler({
    apollo,
    bodyLimitBytes: config.REQUEST_BODY_LIMIT_BYTES,
    logger,
    createContext: async (request) => {
      const header = request.headers['x-request-id'];
      const requestId = typeof header === 'string' ? header : randomUUID();
      const caller = await identity.authenticate(request);
      const eventPosition = request.headers[EVENT_POSITION_HEADER];
      return {
        db: database.db,
        loaders: definition.createLoaders(database.db, config),
        logger: logger.child({ requestId }),
        requestId,
        config,
        caller,
        eventPosition: typeof eventPosition === 'string' ? eventPosition : null,
      };
    },
    routes: {
      ...prepared.routes,
      ...background.routes,
      '/events': eventStream.route,
      '/health': (_request, response) =>
        sendJson(response, 200, { status: 'ok', service: definition.name }),
      ...createMetricsRoute(metrics, config, logger),
      '/ready': async (_request, response) => {
        try {
          await database.sql`select 1`;
          sendJson(response, 200, {
            status: 'ready',
            service: definition.name,
          });
        } catch (error) {
          logger.warn({ err: error }, 'readiness check failed: database');
          sendJson(response, 503, {
            status: 'unavailable',
            service: definition.name,
            reason: 'database unreachable',
          });
        }
      },
    },
  });

  // A server span per GraphQL request, continued from the gateway's
  // `traceparent`. The SQL spans of its resolvers are its children.
  const handler = tracing
    ? tracing.traceHttpRequests(graphqlHandler, ['/graphql'])
    : graphqlHandler;
  let http: RunningHttpServer;
  try {
    http =
      'listener' in options
        ? options.listener.serve(handler)
        : await listen(handler, options.host, options.port);
  } catch (error) {
    await eventStream.close();
    await apollo.stop();
    await background.stop?.();
    await database.close();
    await tracing?.shutdown();
    throw error;
  }
  logger.info(
    { url: http.url, identityKeys: identity.source },
    `${definition.name} subgraph listening`,
  );

  return {
    name: definition.name,
    url: http.url,
    port: http.port,
    database,
    async close() {
      // Requests waiting for events answer now instead of holding the close.
      const eventReadsEnded = eventStream.close();
      await http.close(config.SHUTDOWN_GRACE_MS);
      await apollo.stop();
      // Background work and event reads end before the pool closes, so
      // their queries never meet a closed connection at shutdown.
      await background.stop?.();
      await eventReadsEnded;
      await database.close();
      await tracing?.shutdown();
      logger.info(`${definition.name} subgraph stopped`);
    },
  };
}
