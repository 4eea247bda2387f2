import type { IncomingMessage, ServerResponse } from 'node:http';

/** Request headers a browser client may send to `/graphql`. */
const ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'apollo-require-preflight',
  'x-apollo-operation-name',
  'x-request-id',
].join(', ');

/** How long a browser may cache a preflight response, in seconds. */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * Creates the CORS handler of `/graphql`. Only origins in `allowedOrigins`
 * (exact `scheme://host[:port]` strings) get `Access-Control-Allow-Origin`,
 * set to the request's own origin, never `*`. Credentials (cookies) are not
 * allowed, because callers authenticate with the Authorization header.
 *
 * It responds to a preflight (`OPTIONS /graphql`) itself, with 204 and the
 * allowed methods and headers for a listed origin, and 403 for any other. For other
 * methods it only adds the headers, and returns false so the request goes
 * on. The browser, not the server, then withholds the response from pages
 * of unlisted origins.
 */
export function createCorsHandler(allowedOrigins: readonly string[]) {
  const allowed = new Set(allowedOrigins);

  return function handleCors(
    request: IncomingMessage,
    response: ServerResponse,
  ): boolean {
    const url = request.url ?? '/';
    const queryStart = url.indexOf('?');
    const pathname = queryStart === -1 ? url : url.slice(0, queryStart);
    if (pathname !== '/graphql') return false;

    const origin = request.headers.origin;
    const isAllowed = typeof origin === 'string' && allowed.has(origin);
    // Responses differ by Origin, so shared caches must key on it.
    response.setHeader('vary', 'Origin');
    if (isAllowed) {
      response.setHeader('access-control-allow-origin', origin);
      response.setHeader('access-control-expose-headers', 'x-request-id');
    }
    if (request.method !== 'OPTIONS') return false;

    if (origin !== undefined && !isAllowed) {
      response.statusCode = 403;
      response.setHeader('content-type', 'application/json; charset=utf-8');
      response.end(
        JSON.stringify({
          error: `The origin ${origin} is not allowed; add it to CORS_ALLOWED_ORIGINS.`,
          code: 'CORS_ORIGIN_NOT_ALLOWED',
        }),
      );
      return true;
    }
    response.statusCode = 204;
    response.setHeader('allow', 'GET, POST, OPTIONS');
    if (isAllowed) {
      response.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
      response.setHeader('access-control-allow-headers', ALLOWED_HEADERS);
      response.setHeader(
        'access-control-max-age',
        String(PREFLIGHT_MAX_AGE_SECONDS),
      );
    }
    response.end();
    return true;
  };
}
