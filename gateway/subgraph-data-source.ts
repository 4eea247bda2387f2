import {
  RemoteGraphQLDataSource,
  type GraphQLDataSourceProcessOptions,
} from '@apollo/gateway';
import { createHash } from 'node:crypto';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { Headers, type Dispatcher } from 'undici';
import { ErrorCode } from '../platform/errors.js';
import { IDENTITY_HEADER } from '../platform/identity.js';
import { redactUrl, type Logger } from '../platform/logger.js';
import type { Tracing } from '../platform/tracing.js';
import type { GatewayContext } from './context.js';
import {
  BufferedResponse,
  canonicalJson,
  InFlightDeduplicator,
  operationTypeOf,
  type ResponseSnapshot,
} from './dedup.js';
import { describeUnreachable } from './subgraph-failure.js';

export interface SubgraphDataSourceOptions {
  /** The subgraph's name in the supergraph, e.g. `catalog`. */
  name: string;
  /** The subgraph's GraphQL endpoint. */
  url: string;
  /** Keep-alive connection pool shared by the gateway's data sources. */
  dispatcher: Dispatcher;
  /** Maximum time in ms for one subgraph request, response body included. */
  timeoutMs: number;
  logger: Logger;
  /**
   * Shares one subgraph request among identical queries in flight at the
   * same time, as `deduplicationKeyOf` defines them. Defaults to false.
   */
  deduplicateQueries?: boolean;
  /** When set, each fetch gets a client span and sends its `traceparent`. */
  tracing?: Tracing;
}

// The fetch and response types of @apollo/gateway, named here so that
// nothing is imported from its internal packages.
type FetcherResponse = Parameters<
  RemoteGraphQLDataSource['errorFromResponse']
>[0];
type SubgraphResponse = Awaited<ReturnType<RemoteGraphQLDataSource['process']>>;

/** Origin and path of each subgraph URL, parsed once. */
const targets = new Map<string, { origin: string; path: string }>();

function targetOf(url: string): { origin: string; path: string } {
  let target = targets.get(url);
  if (!target) {
    const parsed = new URL(url);
    target = {
      origin: parsed.origin,
      path: `${parsed.pathname}${parsed.search}`,
    };
    targets.set(url, target);
  }
  return target;
}

/** Minimum time in ms between two warnings about the same subgraph. */
const WARNING_INTERVAL_MS = 10_000;

/**
 * Header by which `willSendRequest` hands the deduplication key of a query
 * to the fetcher, which removes it before sending. Subgraphs never see it.
 */
const DEDUPLICATION_KEY_HEADER = 'x-gateway-deduplication-key';

/**
 * A subgraph response with a non-2xx status. It keeps the parsed body so
 * that GraphQL errors in it (a 400 for a failed validation) reach the
 * client with their own codes.
 */
class SubgraphHttpError extends GraphQLError {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`Subgraph responded with HTTP ${status}.`);
  }
}

/**
 * The `SUBGRAPH_UNAVAILABLE` error of one failed subgraph request. `reason`
 * is the failure as logged, such as `connection refused`, `timed out after
 * 10000 ms` or `HTTP 503`; gateway/metrics.ts counts it by kind.
 */
export class SubgraphUnavailableError extends GraphQLError {
  constructor(
    message: string,
    serviceName: string,
    readonly reason: string,
  ) {
    super(message, {
      extensions: { code: ErrorCode.SubgraphUnavailable, serviceName },
    });
  }
}

/**
 * Sends the gateway's subgraph requests over undici's keep-alive pools.
 *
 * Each request is cut off after `timeoutMs` and carries the caller's
 * `x-request-id`. Some failures produce one `SUBGRAPH_UNAVAILABLE` error
 * that names the subgraph: a connection that is refused, reset or timed
 * out, and a non-2xx response without GraphQL errors. The rest of the plan
 * still runs, so the client gets partial data.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly name: string;
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  private lastWarningAt = 0;
  private suppressedWarnings = 0;
  private readonly inFlight: InFlightDeduplicator<ResponseSnapshot> | undefined;
  private readonly tracing: Tracing | undefined;

  constructor(options: SubgraphDataSourceOptions) {
    super();
    this.name = options.name;
    this.url = options.url;
    this.timeoutMs = options.timeoutMs;
    this.logger = options.logger.child({ subgraph: options.name });
    this.tracing = options.tracing;
    this.inFlight = options.deduplicateQueries
      ? new InFlightDeduplicator()
      : undefined;
    this.fetcher = async (url, init) => {
      // RemoteGraphQLDataSource passes the headers as a plain object.
      const headers = { ...(init?.headers as Record<string, string>) };
      const key = headers[DEDUPLICATION_KEY_HEADER];
      delete headers[DEDUPLICATION_KEY_HEADER];
      // Here rather than in willSendRequest, so that the deduplication key
      // leaves it out. A shared request carries the first caller's context.
      this.tracing?.injectTraceContext(headers);
      // undici's request() rather than fetch(): it skips the WHATWG
      // Request, Response and stream objects, which cost more CPU than the
      // rest of a small subgraph request.
      const send = async (): Promise<ResponseSnapshot> => {
        const target = targetOf(url);
        const response = await options.dispatcher.request({
          origin: target.origin,
          path: target.path,
          method: (init?.method ?? 'POST') as Dispatcher.HttpMethod,
          headers,
          body: init?.body as string | undefined,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        const body = await response.body.text();
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          if (value === undefined) continue;
          for (const item of Array.isArray(value) ? value : [value]) {
            responseHeaders.append(name, item);
          }
        }
        return {
          status: response.statusCode,
          statusText: '',
          headers: responseHeaders,
          body,
        };
      };
      if (key === undefined || this.inFlight === undefined) {
        const own: FetcherResponse = new BufferedResponse(url, await send());
        return own;
      }

      const requestId = headers['x-request-id'];
      const snapshot = await this.inFlight.run(
        key,
        requestId,
        send,
        (leaderRequestId) =>
          this.logger.debug(
            { requestId, leaderRequestId },
            'subgraph query shares an identical request in flight',
          ),
      );
      // Each caller parses its own copy of the body, because @apollo/gateway
      // merges subgraph results into the client's response in place.
      const shared: FetcherResponse = new BufferedResponse(url, snapshot);
      return shared;
    };
  }

  override willSendRequest(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
  ): void {
    const requestId = requestIdOf(options);
    if (requestId) options.request.http?.headers.set('x-request-id', requestId);
    if ('incomingRequestContext' in options) {
      const headers = options.incomingRequestContext.context.subgraphHeaders;
      for (const [name, value] of Object.entries(headers)) {
        options.request.http?.headers.set(name, value);
      }
    }
    if (this.inFlight) {
      const key = deduplicationKeyOf(this.url, options);
      if (key) options.request.http?.headers.set(DEDUPLICATION_KEY_HEADER, key);
    }
  }

  override async process(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
  ): Promise<SubgraphResponse> {
    try {
      return await (this.tracing
        ? this.tracing.traceSubgraphFetch(this.name, this.url, () =>
            super.process(options),
          )
        : super.process(options));
    } catch (error) {
      const graphqlErrors =
        error instanceof SubgraphHttpError
          ? graphqlErrorsOf(error.body)
          : undefined;
      if (graphqlErrors) return { errors: graphqlErrors };
      throw this.toUnavailableError(error, requestIdOf(options)) ?? error;
    }
  }

  override async errorFromResponse(
    response: FetcherResponse,
  ): Promise<GraphQLError> {
    let body: unknown;
    try {
      body = await this.parseBody(response);
    } catch {
      body = undefined;
    }
    return new SubgraphHttpError(response.status, body);
  }

  /**
   * Returns the error a client sees when this subgraph failed as a service,
   * or undefined when `error` is of another kind (a bug, an invalid body),
   * which the error formatter logs and masks.
   */
  private toUnavailableError(
    error: unknown,
    requestId: string | undefined,
  ): GraphQLError | undefined {
    let message: string;
    let reason: string;
    if (error instanceof SubgraphHttpError) {
      reason = `HTTP ${error.status}`;
      message = `The ${this.name} subgraph responded with HTTP ${error.status}.`;
    } else {
      const unreachable = describeUnreachable(error, this.timeoutMs);
      if (unreachable === undefined) return undefined;
      reason = unreachable;
      message = unreachable.startsWith('timed out')
        ? `The ${this.name} subgraph did not respond within ${this.timeoutMs} ms.`
        : `Could not reach the ${this.name} subgraph: ${unreachable}.`;
    }
    this.warnRateLimited(error, reason, requestId);
    return new SubgraphUnavailableError(message, this.name, reason);
  }

  /**
   * Logs a failure at warn level, or at debug level when this data source
   * already warned within the last WARNING_INTERVAL_MS.
   */
  private warnRateLimited(
    error: unknown,
    reason: string,
    requestId: string | undefined,
  ): void {
    const now = Date.now();
    const fields = { err: error, reason, url: redactUrl(this.url), requestId };
    if (now - this.lastWarningAt < WARNING_INTERVAL_MS) {
      this.suppressedWarnings += 1;
      this.logger.debug(fields, 'subgraph request failed');
      return;
    }
    this.logger.warn(
      { ...fields, suppressedSinceLastWarning: this.suppressedWarnings },
      'subgraph request failed',
    );
    this.lastWarningAt = now;
    this.suppressedWarnings = 0;
  }
}

function graphqlErrorsOf(body: unknown): GraphQLFormattedError[] | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const errors = (body as { errors?: unknown }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  return errors as GraphQLFormattedError[];
}

/**
 * Returns the request id of an operation sent for a client. Health checks
 * and schema loads have no incoming request and no id.
 */
function requestIdOf(
  options: GraphQLDataSourceProcessOptions<GatewayContext>,
): string | undefined {
  return 'incomingRequestContext' in options
    ? options.incomingRequestContext.context.requestId
    : undefined;
}

/**
 * Returns the key under which a subgraph request may share the response of
 * an identical request in flight, or undefined when it must be sent on its
 * own. Only fetches of client queries are shared, because a fetch that
 * follows a client's mutation must see that mutation's writes, and a
 * mutation or subscription must not be sent once for two clients. Call it
 * after every header is set.
 *
 * Requests are identical when they have the same URL, operation, variables
 * (compared as canonical JSON), extensions, caller and headers. The caller
 * is compared by kind, subject, scopes and roles, because its signed
 * identity header differs between signatures of the same caller. The
 * `x-request-id` header is left out, so the subgraph receives the request
 * id of the first request only. The key is a SHA-256 hash, because it
 * travels in a header, whose value must be Latin-1 text.
 */
function deduplicationKeyOf(
  url: string,
  options: GraphQLDataSourceProcessOptions<GatewayContext>,
): string | undefined {
  if (!('incomingRequestContext' in options)) return undefined;
  if (options.incomingRequestContext.operation?.operation !== 'query') {
    return undefined;
  }
  const { request } = options;
  // `options.document` is set only when the query planner's
  // exposeDocumentNodeInFetchNode option is on, so the text is parsed.
  if (
    request.query === undefined ||
    operationTypeOf(request.query, request.operationName) !== 'query'
  ) {
    return undefined;
  }

  const { caller } = options.incomingRequestContext.context;
  const headers = [...(request.http?.headers ?? [])]
    .filter(([name]) => name !== IDENTITY_HEADER && name !== 'x-request-id')
    .sort(([a], [b]) => a.localeCompare(b));
  const fields = JSON.stringify([
    url,
    request.operationName ?? null,
    request.query,
    canonicalJson(request.variables ?? {}),
    canonicalJson(request.extensions ?? {}),
    headers,
    [caller.kind, caller.subject, caller.scopes, caller.roles],
  ]);
  return createHash('sha256').update(fields).digest('base64url');
}
