import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { CallerIdentity } from '../gateway/caller.js';
import { scopesOfRoles } from '../gateway/identity/scopes.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import { attachGraphqlWs } from '../gateway/subscriptions/graphql-ws.js';
import type { SubscriptionEngine } from '../gateway/subscriptions/engine.js';
import { SERVICE_NAMES, type Config } from '../platform/config.js';
import { createLogger } from '../platform/logger.js';
import {
  callerHeaders,
  committedSupergraphPath,
  STAFF_ADMIN,
  startTestStack,
  type TestStack,
} from './support/stack.js';
import { subscribeSse } from './support/subscriptions.js';

const prefix = `t${randomBytes(5).toString('hex')}`;
let stack: TestStack;
const cleanups: Array<() => Promise<void>> = [];

const STOCK = `subscription ($skus: [String!]) {
  stockChanged(skus: $skus) { position sku available }
}`;

function staffCaller(): CallerIdentity {
  return {
    kind: 'staff',
    subject: randomUUID(),
    roles: ['admin'],
    scopes: scopesOfRoles(['admin']),
  };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function staff(
  document: string,
  variables: Record<string, unknown> = {},
): Promise<Record<string, any>> {
  const response = await stack.query(
    document,
    variables,
    callerHeaders(STAFF_ADMIN),
  );
  expect(response.errors).toBeUndefined();
  return response.data!;
}

async function createVariant(sku: string): Promise<void> {
  const data = await staff(
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { userErrors { message } }
    }`,
    {
      input: {
        title: `Product ${sku}`,
        status: 'ACTIVE',
        variants: [{ sku, price: { amount: '12.00' } }],
      },
    },
  );
  expect(data.productCreate.userErrors).toEqual([]);
}

async function adjust(sku: string, delta: number): Promise<void> {
  const data = await staff(
    `mutation ($input: StockAdjustInput!) {
      stockAdjust(input: $input) { userErrors { message } }
    }`,
    { input: { sku, delta, reason: 'RECEIVED' } },
  );
  expect(data.stockAdjust.userErrors).toEqual([]);
}

/**
 * A proxy in front of the catalog subgraph that forwards every request and
 * can hold back the responses of chosen `/events` reads until released.
 */
class CatalogProxy {
  /** Decides which `/events` responses to hold back; none by default. */
  hold: (parameters: URLSearchParams) => boolean = () => false;
  private readonly heldResponses: Array<() => void> = [];
  private heldListeners: Array<() => void> = [];
  url = '';
  private readonly server: Server;

  constructor(private readonly target: string) {
    this.server = createServer((request, response) => {
      const targetUrl = new URL(request.url ?? '/', this.target);
      const upstream = httpRequest(
        targetUrl,
        { method: request.method, headers: request.headers },
        (upstreamResponse) => {
          const chunks: Buffer[] = [];
          upstreamResponse.on('data', (chunk: Buffer) => chunks.push(chunk));
          upstreamResponse.on('end', () => {
            const send = () => {
              response.writeHead(
                upstreamResponse.statusCode ?? 502,
                upstreamResponse.headers,
              );
              response.end(Buffer.concat(chunks));
            };
            const parameters = targetUrl.searchParams;
            if (
              targetUrl.pathname.endsWith('/events') &&
              this.hold(parameters)
            ) {
              this.heldResponses.push(send);
              for (const listener of this.heldListeners.splice(0)) listener();
            } else {
              send();
            }
          });
        },
      );
      upstream.on('error', () => response.destroy());
      request.pipe(upstream);
    });
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}${new URL(this.target).pathname}`;
  }

  /** Resolves once at least one response is held back. */
  untilHeld(): Promise<void> {
    if (this.heldResponses.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.heldListeners.push(resolve));
  }

  release(): void {
    this.hold = () => false;
    for (const send of this.heldResponses.splice(0)) send();
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Catch-up reads: no long-poll wait, a page of history for one subscriber. */
function isCatchUpRead(parameters: URLSearchParams): boolean {
  return parameters.get('wait') === '0' && parameters.get('after') !== 'end';
}

/** Starts a gateway whose catalog requests go through a new CatalogProxy. */
async function startProxiedGateway(
  overrides: Partial<Config> = {},
): Promise<{ gateway: RunningGateway; proxy: CatalogProxy }> {
  const proxy = new CatalogProxy(stack.subgraphs.catalog.url);
  await proxy.start();
  const config = { ...stack.config, ...overrides };
  const gateway = await startGateway({
    config,
    logger: createLogger('gateway', config.LOG_LEVEL),
    supergraphPath: committedSupergraphPath,
    subgraphUrls: {
      ...Object.fromEntries(
        SERVICE_NAMES.map((name) => [name, stack.subgraphs[name].url]),
      ),
      catalog: proxy.url,
    },
    host: '127.0.0.1',
    port: 0,
    acceptTestCallerHeader: true,
  });
  cleanups.push(async () => {
    await gateway.close();
    await proxy.close();
  });
  return { gateway, proxy };
}

beforeAll(async () => {
  stack = await startTestStack({ DATABASE_PREFIX: prefix });
}, 60_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await stack?.close();
});

describe('resumed subscriptions', () => {
  it('stay live after the group’s other member leaves', async () => {
    const { gateway, proxy } = await startProxiedGateway();
    const sku = `${prefix}-SHARED`;
    await createVariant(sku);
    const caller = callerHeaders(staffCaller());

    const live = await subscribeSse(
      gateway.url,
      STOCK,
      { skus: [sku] },
      caller,
    );
    expect(live.status).toBe(200);
    await adjust(sku, 1);
    await adjust(sku, 1);
    const [first, second] = await live.waitFor(2);

    // The resumed subscriber shares the live one's group (same document,
    // variables and caller) but is still reading history when the live
    // one leaves.
    proxy.hold = isCatchUpRead;
    const resumed = await subscribeSse(
      gateway.url,
      STOCK,
      { skus: [sku] },
      { ...caller, 'last-event-id': first!.extensions!.position! },
    );
    expect(resumed.status).toBe(200);
    await proxy.untilHeld();
    await live.close();
    await pause(300);
    proxy.release();

    const [replayed] = await resumed.waitFor(1);
    expect(replayed!.extensions!.position).toBe(second!.extensions!.position);
    await adjust(sku, 1);
    const events = await resumed.waitFor(2, 5_000);
    expect(events[1]!.data!.stockChanged.available).toBe(3);
    await resumed.close();
  });

  it('go live after a page that ends before the tail', async () => {
    const { gateway, proxy } = await startProxiedGateway({
      SUBSCRIPTION_BUFFER_EVENTS: 2,
    });
    const sku = `${prefix}-PAGED`;
    await createVariant(sku);
    const caller = callerHeaders(staffCaller());
    const reference = await subscribeSse(
      stack.gatewayUrl,
      STOCK,
      { skus: [sku] },
      callerHeaders(staffCaller()),
    );
    await adjust(sku, 1);
    await adjust(sku, 1);
    const [first] = await reference.waitFor(2);

    // Starts the proxied gateway's tail at the stream's end.
    const warmUp = await subscribeSse(
      gateway.url,
      STOCK,
      { skus: [sku] },
      caller,
    );
    expect(warmUp.status).toBe(200);
    await warmUp.close();

    // The first catch-up page is read before the third change and ends
    // before the tail's position, so the subscriber reads a second page.
    proxy.hold = isCatchUpRead;
    const resumed = await subscribeSse(
      gateway.url,
      STOCK,
      { skus: [sku] },
      { ...caller, 'last-event-id': first!.extensions!.position! },
    );
    expect(resumed.status).toBe(200);
    await proxy.untilHeld();
    await adjust(sku, 1);
    await reference.waitFor(3);
    await pause(500);
    proxy.release();

    await resumed.waitFor(2, 5_000);
    await adjust(sku, 1);
    const events = await resumed.waitFor(3, 5_000);
    expect(events.map((event) => event.data!.stockChanged.available)).toEqual([
      2, 3, 4,
    ]);
    await resumed.close();
    await reference.close();
  });
});

describe('SSE subscribe', () => {
  it('frees the slot of a client that left while subscribing', async () => {
    const { gateway, proxy } = await startProxiedGateway({
      SUBSCRIPTIONS_MAX_PER_CALLER: 1,
    });
    const headers = callerHeaders(staffCaller());
    // The first subscription waits for the tail's start position, which
    // the proxy holds back until the client has left.
    proxy.hold = (parameters) => parameters.get('after') === 'end';
    const controller = new AbortController();
    const abandoned = fetch(gateway.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        ...headers,
      },
      body: JSON.stringify({ query: STOCK, variables: { skus: ['x'] } }),
      signal: controller.signal,
    }).catch(() => undefined);
    await proxy.untilHeld();
    controller.abort();
    await abandoned;
    await pause(300);
    proxy.release();
    await pause(500);

    const next = await subscribeSse(
      gateway.url,
      STOCK,
      { skus: ['x'] },
      headers,
    );
    expect(next.body).toBeUndefined();
    expect(next.status).toBe(200);
    await next.close();
  });
});

describe('graphql-ws connections', () => {
  it('close on a message above the body limit', async () => {
    const socket = new WebSocket(
      stack.gatewayUrl.replace(/^http/, 'ws'),
      'graphql-transport-ws',
    );
    // Resolves with the close code, or with 0 when the server accepts the
    // message and acknowledges the connection.
    const closed = new Promise<number>((resolve) => {
      socket.on('close', (code) => resolve(code));
      socket.on('message', () => resolve(0));
    });
    socket.on('error', () => undefined);
    await once(socket, 'open');
    socket.send(
      JSON.stringify({
        type: 'connection_init',
        payload: { filler: 'x'.repeat(stack.config.REQUEST_BODY_LIMIT_BYTES) },
      }),
    );
    expect(await closed).toBe(1009);
    socket.terminate();
  });

  it('stops checking a client that left during connection_init', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const server = createServer();
    let calls = 0;
    let admit!: () => void;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    const transport = attachGraphqlWs({
      server,
      path: '/graphql',
      engine: {} as SubscriptionEngine,
      config: stack.config,
      logger: createLogger('graphql-ws', stack.config.LOG_LEVEL),
      authenticate: async (_request: IncomingMessage) => {
        calls += 1;
        if (calls === 1) await admitted;
        return STAFF_ADMIN;
      },
    });
    try {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      const socket = new WebSocket(
        `ws://127.0.0.1:${port}/graphql`,
        'graphql-transport-ws',
      );
      await once(socket, 'open');
      socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
      await vi.waitFor(() => expect(calls).toBe(1), { interval: 10 });
      socket.close();
      await once(socket, 'close');
      await pause(100);
      admit();
      await pause(100);

      vi.advanceTimersByTime(5 * 60_000);
      expect(calls).toBe(1);
    } finally {
      vi.useRealTimers();
      await transport.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
