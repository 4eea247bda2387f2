import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { ErrorCode } from './errors.js';
import type { Logger } from './logger.js';

export type RouteHandler = (
  request: IncomingMessage,
  response: ServerResponse,
) => void | Promise<void>;

export interface GraphQLHttpServerOptions<TContext extends BaseContext> {
  apollo: ApolloServer<TContext>;
  createContext: (request: IncomingMessage) => Promise<TContext>;
  /**
   * Extra routes matched on the path alone: `/health` serves GET and HEAD,
   * and a key with a method, such as `POST /webhooks/payments/sandbox`,
   * serves that method. A path ending in `/*`, such as `/labels/*`, serves
   * every longer path under `/labels/` that no exact route serves; the
   * longest such prefix wins. The handler reads the rest from `request.url`.
   */
  routes?: Record<string, RouteHandler>;
  bodyLimitBytes: number;
  logger: Logger;
}

export interface RunningHttpServer {
  server: http.Server;
  url: string;
  port: number;
  /** Stops accepting connections and waits up to `graceMs` for requests in flight. */
  close(graceMs: number): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** When set, the response is a GraphQL error with this `extensions.code`. */
    readonly code?: ErrorCode,
  ) {
    super(message);
  }
}

function bodyTooLarge(limit: number): HttpError {
  return new HttpError(
    413,
    `The request body is larger than the limit of ${limit} bytes. Send a shorter query or fewer variables.`,
    ErrorCode.PayloadTooLarge,
  );
}

async function readBody(
  request: IncomingMessage,
  limit: number,
): Promise<string> {
  // A declared length over the limit is rejected before any byte is read.
  if (Number(request.headers['content-length']) > limit) {
    throw bodyTooLarge(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) throw bodyTooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJsonBody(text: string, contentType: string | undefined): unknown {
  if (text.length === 0) return undefined;
  if (!contentType?.includes('json')) return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'Request body is not valid JSON.');
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

export { sendJson };

/**
 * Returns the route of a request: an exact path first, then the longest
 * `/*` prefix. A key without a method serves GET and HEAD, and a key such
 * as `POST /path` serves POST.
 */
function createRouteMatcher(
  routes: Record<string, RouteHandler>,
): (method: string, pathname: string) => RouteHandler | undefined {
  const prefixes = Object.entries(routes)
    .filter(([key]) => key.endsWith('/*'))
    .map(([key, route]) => {
      const space = key.indexOf(' ');
      return {
        method: space === -1 ? null : key.slice(0, space),
        prefix: key.slice(space + 1, -1),
        route,
      };
    })
    .sort((a, b) => b.prefix.length - a.prefix.length);
  const servesMethod = (routeMethod: string | null, method: string) =>
    routeMethod === null
      ? method === 'GET' || method === 'HEAD'
      : routeMethod === method;
  return (method, pathname) => {
    const exact =
      routes[`${method} ${pathname}`] ??
      (method === 'GET' || method === 'HEAD' ? routes[pathname] : undefined);
    if (exact) return exact;
    return prefixes.find(
      (entry) =>
        pathname.length > entry.prefix.length &&
        pathname.startsWith(entry.prefix) &&
        servesMethod(entry.method, method),
    )?.route;
  };
}

/**
 * Serves an Apollo server at `/graphql` over node:http, plus plain routes.
 * No web framework sits in between: the gateway's hot path pays only for
 * body parsing and Apollo's own pipeline.
 */
export function createGraphQLHttpHandler<TContext extends BaseContext>(
  options: GraphQLHttpServerOptions<TContext>,
) {
  const routes = options.routes ?? {};
  const findRoute = createRouteMatcher(routes);

  async function handleGraphQL(
    request: IncomingMessage,
    response: ServerResponse,
    search: string,
  ) {
    const text = await readBody(request, options.bodyLimitBytes);
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(request.headers)) {
      if (value !== undefined) {
        headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
    }
    const result = await options.apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: {
        method: (request.method ?? 'GET').toUpperCase(),
        headers,
        search,
        body: parseJsonBody(text, request.headers['content-type']),
      },
      context: () => options.createContext(request),
    });
    for (const [key, value] of result.headers) response.setHeader(key, value);
    response.statusCode = result.status ?? 200;
    if (result.body.kind === 'complete') {
      response.end(result.body.string);
      return;
    }
    for await (const chunk of result.body.asyncIterator) response.write(chunk);
    response.end();
  }

  return async (request: IncomingMessage, response: ServerResponse) => {
    const url = request.url ?? '/';
    const queryStart = url.indexOf('?');
    const pathname = queryStart === -1 ? url : url.slice(0, queryStart);
    const search = queryStart === -1 ? '' : url.slice(queryStart);
    try {
      if (pathname === '/graphql') {
        await handleGraphQL(request, response, search);
        return;
      }
      const route = findRoute(
        (request.method ?? 'GET').toUpperCase(),
        pathname,
      );
      if (route) {
        await route(request, response);
        return;
      }
      sendJson(response, 404, { error: `No route for ${pathname}.` });
    } catch (error) {
      if (error instanceof HttpError && error.code) {
        // The rest of the body may still be arriving, so the connection is
        // closed after the response instead of being reused.
        if (error.status === 413) response.setHeader('connection', 'close');
        sendJson(response, error.status, {
          errors: [
            { message: error.message, extensions: { code: error.code } },
          ],
        });
        return;
      }
      if (error instanceof HttpError) {
        sendJson(response, error.status, { error: error.message });
        return;
      }
      options.logger.error({ err: error, path: pathname }, 'request failed');
      if (!response.headersSent) {
        sendJson(response, 500, { error: 'Internal server error.' });
      } else {
        response.destroy();
      }
    }
  };
}

/**
 * An HTTP server bound to its port before its handler exists, so its URL
 * can be given to other services before the service that owns it starts.
 * Requests that arrive before `serve` wait and are handled once it runs.
 */
export interface BoundHttpServer {
  port: number;
  /** `http://<host>:<port>/graphql`, as `RunningHttpServer.url`. */
  url: string;
  /** Starts handling requests with `handler`, the waiting ones first. */
  serve(
    handler: (request: IncomingMessage, response: ServerResponse) => void,
  ): RunningHttpServer;
  /**
   * Closes a server that was never served and sends 503 to the waiting
   * requests. After `serve` it does nothing, so close the running server.
   */
  close(): Promise<void>;
}

/** Binds an HTTP server to `host:port` (port 0 picks a free port). */
export async function bindHttpServer(
  host: string,
  port: number,
): Promise<BoundHttpServer> {
  const server = http.createServer();
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  let handler:
    ((request: IncomingMessage, response: ServerResponse) => void) | undefined;
  const waiting: Array<[IncomingMessage, ServerResponse]> = [];
  let inFlight = 0;
  let drained: (() => void) | undefined;
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    inFlight += 1;
    response.on('close', () => {
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    });
    if (handler) handler(request, response);
    else waiting.push([request, response]);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  const url = `http://${shownHost}:${address.port}/graphql`;
  const running: RunningHttpServer = {
    server,
    port: address.port,
    url,
    async close(graceMs: number) {
      const closed = new Promise<void>((resolve) =>
        server.close(() => resolve()),
      );
      server.closeIdleConnections();
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => {
            drained = resolve;
          }),
          new Promise((resolve) => setTimeout(resolve, graceMs).unref()),
        ]);
      }
      server.closeAllConnections();
      await closed;
    },
  };
  return {
    port: address.port,
    url,
    serve(next) {
      if (handler) throw new Error(`The server at ${url} is already served.`);
      handler = next;
      for (const [request, response] of waiting.splice(0)) {
        next(request, response);
      }
      return running;
    },
    async close() {
      if (handler) return;
      for (const [, response] of waiting.splice(0)) {
        sendJson(response, 503, { error: 'The service did not start.' });
      }
      await running.close(0);
    },
  };
}

/** Binds a handler to `host:port` (port 0 picks a free port). */
export async function listen(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  host: string,
  port: number,
): Promise<RunningHttpServer> {
  return (await bindHttpServer(host, port)).serve(handler);
}
