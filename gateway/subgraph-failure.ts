/** Plain descriptions of the socket error codes seen when a subgraph is down. */
const NETWORK_ERROR_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CLOSED: 'connection closed',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'response headers timed out',
  UND_ERR_BODY_TIMEOUT: 'response body timed out',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/**
 * Returns why a request to a subgraph failed when the failure means the
 * subgraph could not be reached in time (a socket error or the timeout), or
 * undefined for any other error. `timeoutMs` is the timeout that applied.
 */
export function describeUnreachable(
  error: unknown,
  timeoutMs: number,
): string | undefined {
  if (!(error instanceof Error)) return undefined;

  // AbortSignal.timeout() rejects fetch and body reads with a TimeoutError.
  if (error.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;

  // undici's fetch rejects with TypeError('fetch failed') and puts the socket
  // error in `cause`, sometimes one level further down.
  let cause: unknown = error;
  for (let depth = 0; depth < 3 && cause instanceof Error; depth += 1) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== undefined && code in NETWORK_ERROR_REASONS) {
      return NETWORK_ERROR_REASONS[code];
    }
    if (cause.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
    cause = cause.cause;
  }
  if (error instanceof TypeError && error.message === 'fetch failed') {
    return 'network error';
  }
  // undici's request() rejects with its own errors, such as an
  // HTTPParserError (HPE_*) for a response that is not HTTP, or a
  // UND_ERR_* error that the table above does not name.
  const code = (error as NodeJS.ErrnoException).code;
  if (
    error.name === 'HTTPParserError' ||
    (typeof code === 'string' &&
      (code.startsWith('HPE_') || code.startsWith('UND_ERR_')))
  ) {
    return 'network error';
  }
  return undefined;
}
