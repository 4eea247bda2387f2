import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from 'prom-client';
import { isProduction, type Config } from './config.js';
import { sendJson, type RouteHandler } from './http-server.js';
import type { Logger } from './logger.js';
import type { PoolUsage } from './pool-usage.js';

/**
 * Distinct operation names that one process uses as label values. Later
 * names are counted under OTHER_OPERATION, so a client that sends many
 * names cannot grow the number of time series without bound.
 */
export const MAX_OPERATION_NAMES = 200;

/** Label value of operations that have no name. */
export const ANONYMOUS_OPERATION = '(anonymous)';
/** Label value of requests rejected before an operation was resolved. */
export const NO_OPERATION = '(none)';
/** Label value of names beyond the first MAX_OPERATION_NAMES. */
export const OTHER_OPERATION = '(other)';

/** Outcome of a GraphQL request, as counted in `graphql_requests_total`. */
export type RequestOutcome = 'success' | 'error' | 'rejected';

/**
 * Creates a registry with the default Node.js process metrics of
 * prom-client. Each service gets its own registry, so services that share
 * a process (as in tests) keep separate metrics.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * Maps operation names to label values: the name itself for the first
 * MAX_OPERATION_NAMES distinct names, OTHER_OPERATION after that.
 */
export class OperationNameLabels {
  private readonly known = new Set<string>();

  constructor(private readonly max = MAX_OPERATION_NAMES) {}

  labelOf(operationName: string | null | undefined, resolved: boolean): string {
    if (!resolved) return NO_OPERATION;
    if (!operationName) return ANONYMOUS_OPERATION;
    if (this.known.has(operationName)) return operationName;
    if (this.known.size >= this.max) return OTHER_OPERATION;
    this.known.add(operationName);
    return operationName;
  }
}

/** `graphql_requests_total` and `graphql_request_duration_seconds`. */
export class RequestMetrics {
  private readonly requests: Counter<'operation_name' | 'outcome'>;
  private readonly duration: Histogram<'operation_name'>;
  private readonly names = new OperationNameLabels();

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'graphql_requests_total',
      help: 'GraphQL requests by operation name and outcome (success, error or rejected).',
      labelNames: ['operation_name', 'outcome'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'graphql_request_duration_seconds',
      help: 'Time from the start of a GraphQL request to its response, in seconds.',
      labelNames: ['operation_name'],
      registers: [registry],
    });
  }

  /**
   * Counts one request. `resolved` is false when the request was rejected
   * before its operation was known, such as a syntax error.
   */
  record(request: {
    operationName: string | null | undefined;
    resolved: boolean;
    outcome: RequestOutcome;
    durationSeconds?: number;
  }): void {
    const operation = this.names.labelOf(
      request.operationName,
      request.resolved,
    );
    this.requests.inc({ operation_name: operation, outcome: request.outcome });
    if (request.durationSeconds !== undefined) {
      this.duration.observe(
        { operation_name: operation },
        request.durationSeconds,
      );
    }
  }
}

/** A GraphQL response body as Apollo Server sends it, single or incremental. */
type ResponseBody =
  | { kind: 'single'; singleResult: { errors?: readonly FormattedError[] } }
  | {
      kind: 'incremental';
      initialResult: { errors?: readonly FormattedError[] };
    };
type FormattedError = { extensions?: Record<string, unknown> };

/** Returns the distinct `extensions.code` values of a response's errors. */
export function errorCodesOf(body: ResponseBody): string[] {
  const errors =
    body.kind === 'single'
      ? body.singleResult.errors
      : body.initialResult.errors;
  const codes = new Set<string>();
  for (const error of errors ?? []) {
    const code = error.extensions?.code;
    codes.add(typeof code === 'string' ? code : 'UNKNOWN');
  }
  return [...codes];
}

/**
 * Returns the outcome of a request: `rejected` when it has errors and its
 * execution never started (a parse, validation, limit, rate limit or
 * safelist rejection), `error` when it ran and has errors, else `success`.
 */
export function outcomeOf(
  errorCount: number,
  executed: boolean,
): RequestOutcome {
  if (errorCount === 0) return 'success';
  return executed ? 'error' : 'rejected';
}

/** Fields that a request plugin adds to its per-request log line. */
export interface CompletedRequest {
  operationName: string | null;
  durationMs: number;
  outcome: RequestOutcome;
  errorCodes: string[];
  status: number;
}

/**
 * Creates an Apollo Server plugin that counts every GraphQL request in
 * `metrics` and passes its summary to `onCompleted`. Requests whose context
 * could not be created (rejected credentials) and malformed HTTP requests
 * never reach the request pipeline, so they are counted as rejected with
 * operation NO_OPERATION and have no summary.
 */
export function createRequestMetricsPlugin<TContext extends BaseContext>(
  metrics: RequestMetrics,
  onCompleted?: (context: TContext, request: CompletedRequest) => void,
): ApolloServerPlugin<TContext> {
  const countEarlyRejection = async () => {
    metrics.record({
      operationName: null,
      resolved: false,
      outcome: 'rejected',
    });
  };
  return {
    contextCreationDidFail: countEarlyRejection,
    invalidRequestWasReceived: countEarlyRejection,
    async requestDidStart() {
      const startedAt = performance.now();
      let executed = false;
      let resolved = false;
      return {
        async didResolveOperation() {
          resolved = true;
        },
        async executionDidStart() {
          executed = true;
        },
        async willSendResponse({ response, operationName, contextValue }) {
          const durationMs = performance.now() - startedAt;
          const errorCodes = errorCodesOf(response.body as ResponseBody);
          const errorCount =
            response.body.kind === 'single'
              ? (response.body.singleResult.errors?.length ?? 0)
              : (response.body.initialResult.errors?.length ?? 0);
          const outcome = outcomeOf(errorCount, executed);
          metrics.record({
            operationName,
            resolved,
            outcome,
            durationSeconds: durationMs / 1000,
          });
          onCompleted?.(contextValue, {
            operationName: operationName ?? null,
            durationMs: Math.round(durationMs),
            outcome,
            errorCodes,
            status: response.http.status ?? 200,
          });
        },
      };
    },
  };
}

/**
 * Registers `db_pool_connections{state}` (in_use, idle, max) and
 * `db_pool_queries_in_flight`, read from `usage` at each scrape.
 */
export function registerPoolMetrics(
  registry: Registry,
  usage: PoolUsage,
): void {
  new Gauge({
    name: 'db_pool_connections',
    help: 'Connections of the PostgreSQL pool: in_use (estimated from queries and transactions in flight), idle (max - in_use) and max.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const snapshot = usage.snapshot();
      this.set({ state: 'in_use' }, snapshot.inUse);
      this.set({ state: 'idle' }, snapshot.max - snapshot.inUse);
      this.set({ state: 'max' }, snapshot.max);
    },
  });
  new Gauge({
    name: 'db_pool_queries_in_flight',
    help: 'Queries and transactions sent through the pool that have not finished; above max, queries are pipelined or wait for a connection.',
    registers: [registry],
    collect() {
      this.set(usage.snapshot().inFlight);
    },
  });
}

/**
 * Creates the `GET /metrics` route in the Prometheus text format 0.0.4.
 * With METRICS_TOKEN set, a request must send `authorization: Bearer
 * <token>` or it gets 401. Without a token in production mode it logs a
 * warning at start. Returns no route when METRICS_ENABLED is false, so the
 * path responds 404.
 */
export function createMetricsRoute(
  registry: Registry,
  config: Pick<
    Config,
    'METRICS_ENABLED' | 'METRICS_TOKEN' | 'APP_ENV' | 'NODE_ENV'
  >,
  logger: Logger,
): Record<string, RouteHandler> {
  if (!config.METRICS_ENABLED) return {};
  const token = config.METRICS_TOKEN;
  if (token === undefined && isProduction(config)) {
    logger.warn(
      'GET /metrics is served without credentials; set METRICS_TOKEN or keep the port off public networks',
    );
  }
  return {
    '/metrics': async (request, response) => {
      if (token !== undefined && !hasBearerToken(request, token)) {
        response.setHeader('www-authenticate', 'Bearer realm="metrics"');
        sendJson(response, 401, {
          error: 'Missing or invalid bearer token for /metrics.',
        });
        return;
      }
      let text: string;
      try {
        text = await registry.metrics();
      } catch (error) {
        logger.error({ err: error }, 'collecting metrics failed');
        sendJson(response, 500, { error: 'Collecting metrics failed.' });
        return;
      }
      response.writeHead(200, {
        'content-type': registry.contentType,
        'content-length': Buffer.byteLength(text),
      });
      response.end(request.method === 'HEAD' ? undefined : text);
    },
  };
}

/** Compares the bearer token in constant time, as SHA-256 digests. */
function hasBearerToken(request: IncomingMessage, token: string): boolean {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) {
    return false;
  }
  const sent = createHash('sha256').update(header.slice(7)).digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(sent, expected);
}
