import { Pool } from 'undici';
import type { Config, ServiceName } from './config.js';
import { signServiceIdentity } from './identity.js';
import { redactUrl } from './logger.js';
import { describeUnreachable } from '../gateway/subgraph-failure.js';

/** Idle time after which a pooled connection is closed, in milliseconds. */
const KEEP_ALIVE_MS = 4_000;

/**
 * How long a client reuses one signed identity, in milliseconds. Tokens
 * live IDENTITY_TOKEN_TTL_SECONDS (60 s); reusing one for 20 s leaves it
 * valid for 40 s more, longer than any request's timeout should be, and
 * spares a signature per request here and a verification per request in
 * the called service, which caches verified tokens.
 */
const IDENTITY_REUSE_MS = 20_000;

export type ServiceRequestFailure =
  /** No response in time, or the connection failed. */
  | 'unreachable'
  /** A non-2xx response without GraphQL errors. */
  | 'http'
  /** The response carried GraphQL errors. */
  | 'graphql'
  /** The response was not a GraphQL response. */
  | 'invalid_response';

/**
 * A failed call to another service. The message names the service, the
 * operation and the cause; it never contains the identity token or the
 * variables, so it is safe to log.
 */
export class ServiceRequestError extends Error {
  override readonly name = 'ServiceRequestError';

  constructor(
    message: string,
    readonly service: ServiceName,
    readonly operation: string,
    readonly failure: ServiceRequestFailure,
    /** `extensions.code` of the first GraphQL error, if any. */
    readonly code?: string,
    /** HTTP status, when a response arrived. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface ServiceClient {
  /**
   * POSTs one GraphQL operation and returns its `data`. Rejects with a
   * ServiceRequestError when the service is unreachable, responds with a non-2xx
   * status, or returns any GraphQL error.
   */
  request<TData>(
    operation: string,
    document: string,
    variables?: Record<string, unknown>,
    options?: { requestId?: string },
  ): Promise<TData>;
  /** Closes the connection pool. */
  close(): Promise<void>;
}

/**
 * Creates a client for another service's subgraph. Each request carries an
 * identity of `caller` signed with the configuration's identity key
 * (`signServiceIdentity`) at most IDENTITY_REUSE_MS earlier, which needs IDENTITY_PRIVATE_KEY or the
 * development key pair. Connections are kept alive in one undici pool, and
 * each request is cut off after `timeoutMs` (SUBGRAPH_TIMEOUT_MS unless
 * given), response body included.
 */
export function createServiceClient(options: {
  config: Config;
  /** The calling service, signed as the identity's subject. */
  caller: ServiceName;
  /** The service called, named in errors. */
  service: ServiceName;
  /** GraphQL URL of the called service. */
  url: string;
  timeoutMs?: number;
  scopes?: string[];
}): ServiceClient {
  const { config, caller, service, url } = options;
  const timeoutMs = options.timeoutMs ?? config.SUBGRAPH_TIMEOUT_MS;
  const shownUrl = redactUrl(url);
  const parsedUrl = new URL(url);
  const requestPath = parsedUrl.pathname + parsedUrl.search;
  let identity: {
    headers: Promise<Record<string, string>>;
    until: number;
  } | null = null;
  /** The signed identity headers, signed anew every IDENTITY_REUSE_MS. */
  function identityHeaders(): Promise<Record<string, string>> {
    const now = Date.now();
    if (!identity || identity.until <= now) {
      const headers = signServiceIdentity(config, caller, options.scopes);
      const current = { headers, until: now + IDENTITY_REUSE_MS };
      identity = current;
      // A failed signature is not reused: the next request signs again.
      headers.catch(() => {
        if (identity === current) identity = null;
      });
    }
    return identity.headers;
  }
  const pool = new Pool(parsedUrl.origin, {
    keepAliveTimeout: KEEP_ALIVE_MS,
    connect: { timeout: timeoutMs },
  });

  function fail(
    operation: string,
    reason: string,
    failure: ServiceRequestFailure,
    extra: { code?: string; status?: number; cause?: unknown } = {},
  ): ServiceRequestError {
    const error = new ServiceRequestError(
      `${service} request ${operation} to ${shownUrl} failed: ${reason}`,
      service,
      operation,
      failure,
      extra.code,
      extra.status,
    );
    if (extra.cause !== undefined) error.cause = extra.cause;
    return error;
  }

  return {
    async request<TData>(
      operation: string,
      document: string,
      variables: Record<string, unknown> = {},
      requestOptions: { requestId?: string } = {},
    ): Promise<TData> {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        ...(await identityHeaders()),
      };
      if (requestOptions.requestId) {
        headers['x-request-id'] = requestOptions.requestId;
      }
      let status: number;
      let text: string;
      try {
        const response = await pool.request({
          path: requestPath,
          method: 'POST',
          headers,
          body: JSON.stringify({
            query: document,
            operationName: operation,
            variables,
          }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = response.statusCode;
        text = await response.body.text();
      } catch (error) {
        const reason = describeUnreachable(error, timeoutMs);
        // Any other error is a bug here or in undici. undici's errors do not
        // include request headers, so it is passed on as the cause.
        throw fail(operation, reason ?? 'request failed', 'unreachable', {
          cause: error,
        });
      }

      let body: { data?: unknown; errors?: unknown };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw status >= 200 && status < 300
          ? fail(operation, 'the response is not JSON', 'invalid_response', {
              status,
            })
          : fail(operation, `HTTP ${status}`, 'http', { status });
      }
      const errors = Array.isArray(body?.errors)
        ? (body.errors as Array<{
            message?: unknown;
            extensions?: { code?: unknown };
          }>)
        : [];
      if (errors.length > 0) {
        const first = errors[0]!;
        const code =
          typeof first.extensions?.code === 'string'
            ? first.extensions.code
            : undefined;
        const more =
          errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
        throw fail(
          operation,
          `${code ?? 'error'}: ${String(first.message)}${more}`,
          'graphql',
          { code, status },
        );
      }
      if (status < 200 || status >= 300) {
        throw fail(operation, `HTTP ${status}`, 'http', { status });
      }
      if (typeof body?.data !== 'object' || body.data === null) {
        throw fail(operation, 'the response has no data', 'invalid_response', {
          status,
        });
      }
      return body.data as TData;
    },
    close: () => pool.close(),
  };
}
