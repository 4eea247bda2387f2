import type { ApolloServer } from '@apollo/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bindHttpServer,
  createGraphQLHttpHandler,
  listen,
  sendJson,
  type RouteHandler,
  type RunningHttpServer,
} from '../platform/http-server.js';
import { createLogger } from '../platform/logger.js';

const logger = createLogger('test', 'silent');

/** A route that responds with its own name and the request path. */
const named =
  (name: string): RouteHandler =>
  (request, response) =>
    sendJson(response, 200, { route: name, url: request.url });

function routesHandler(routes: Record<string, RouteHandler>) {
  return createGraphQLHttpHandler({
    // Only /graphql uses Apollo, and these tests never request it.
    apollo: {} as ApolloServer,
    createContext: async () => ({}),
    routes,
    bodyLimitBytes: 1024,
    logger,
  });
}

describe('prefix routes', () => {
  let server: RunningHttpServer;
  let origin: string;

  beforeAll(async () => {
    server = await listen(
      routesHandler({
        '/labels/special.pdf': named('exact'),
        '/labels/*': named('labels'),
        '/labels/archive/*': named('archive'),
        'POST /uploads/*': named('uploads'),
      }),
      '127.0.0.1',
      0,
    );
    origin = new URL(server.url).origin;
  });

  afterAll(async () => {
    await server?.close(0);
  });

  async function routeOf(path: string, method = 'GET') {
    const response = await fetch(`${origin}${path}`, { method });
    const body =
      method === 'HEAD'
        ? null
        : ((await response.json()) as Record<string, unknown>);
    return { status: response.status, body };
  }

  it('serves paths under the prefix', async () => {
    const result = await routeOf('/labels/sbx_1.pdf?download=1');

    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      route: 'labels',
      url: '/labels/sbx_1.pdf?download=1',
    });
  });

  it('prefers an exact route, then the longest prefix', async () => {
    expect((await routeOf('/labels/special.pdf')).body?.route).toBe('exact');
    expect((await routeOf('/labels/archive/old.pdf')).body?.route).toBe(
      'archive',
    );
  });

  it('does not serve the bare prefix or other paths', async () => {
    expect((await routeOf('/labels/')).status).toBe(404);
    expect((await routeOf('/labels')).status).toBe(404);
    expect((await routeOf('/labelsx/a.pdf')).status).toBe(404);
  });

  it('matches methods as exact routes do', async () => {
    expect((await routeOf('/labels/a.pdf', 'HEAD')).status).toBe(200);
    expect((await routeOf('/labels/a.pdf', 'POST')).status).toBe(404);
    expect((await routeOf('/uploads/a', 'POST')).body?.route).toBe('uploads');
    expect((await routeOf('/uploads/a')).status).toBe(404);
  });
});

describe('bindHttpServer', () => {
  it('holds requests until it is served', async () => {
    const bound = await bindHttpServer('127.0.0.1', 0);
    const origin = new URL(bound.url).origin;
    const early = fetch(`${origin}/health`);
    // The request reaches the server and waits there for a handler.
    await new Promise((resolve) => setTimeout(resolve, 100));

    const running = bound.serve(routesHandler({ '/health': named('health') }));
    try {
      const response = await early;

      expect(running.port).toBe(bound.port);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ route: 'health' });
    } finally {
      await running.close(0);
    }
  });

  it('answers waiting requests with 503 when closed unserved', async () => {
    const bound = await bindHttpServer('127.0.0.1', 0);
    const early = fetch(`${new URL(bound.url).origin}/health`);
    await new Promise((resolve) => setTimeout(resolve, 100));

    await bound.close();
    const response = await early;

    expect(response.status).toBe(503);
    await expect(
      fetch(`${new URL(bound.url).origin}/health`),
    ).rejects.toThrow();
  });
});
