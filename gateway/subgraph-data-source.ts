import {
  RemoteGraphQLDataSource,
  type GraphQLDataSourceProcessOptions,
} from '@apollo/gateway';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { fetch, type Dispatcher } from 'undici';
import { ErrorCode } from '../platform/errors.js';
import { redactUrl, type Logger } from '../platform/logger.js';
import type { GatewayContext } from './context.js';
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
}

// The fetch and response types of @apollo/gateway, named here so that
// nothing is imported from its internal packages.
type FetcherResponse = Parameters<
  RemoteGraphQLDataSource['errorFromResponse']
>[0];
type SubgraphResponse = Awaited<ReturnType<RemoteGraphQLDataSource['process']>>;

/** Minimum time in ms between two warnings about the same subgraph. */
const WARNING_INTERVAL_MS = 10_000;

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

  constructor(options: SubgraphDataSourceOptions) {
    super();
    this.name = options.name;
    this.url = options.url;
    this.timeoutMs = options.timeoutMs;
    this.logger = options.logger.child({ subgraph: options.name });
    this.fetcher = async (url, init) => {
      const response = await fetch(url, {
        method: init?.method,
        headers: init?.headers,
        body: init?.body,
        dispatcher: options.dispatcher,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      // undici's Response implements every member of FetcherResponse, but
      // its Headers type is declared by undici, not by @apollo/utils.fetcher.
      return response as unknown as FetcherResponse;
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
  }

  override async process(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
  ): Promise<SubgraphResponse> {
    try {
      return await super.process(options);
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
    return new GraphQLError(message, {
      extensions: {
        code: ErrorCode.SubgraphUnavailable,
        serviceName: this.name,
      },
    });
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
