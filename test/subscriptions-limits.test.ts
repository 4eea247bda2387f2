import { randomBytes, randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../gateway/caller.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import { SERVICE_NAMES } from '../platform/config.js';
import { serviceDatabaseUrl } from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import {
  startSubgraph,
  type RunningSubgraph,
} from '../platform/subgraph-service.js';
import { subgraphDefinitions } from '../subgraphs/index.js';
import { identityHeaders } from './support/identity.js';
import {
  callerHeaders,
  committedSupergraphPath,
  postGraphQL,
  STAFF_ADMIN,
  startTestStack,
  type TestStack,
} from './support/stack.js';
import {
  connectRawWs,
  connectWs,
  subscribeSse,
  subscribeWs,
  type ReceivedEvent,
  type TestSubscription,
} from './support/subscriptions.js';

const prefix = `t${randomBytes(5).toString('hex')}`;
const MAX_PER_CONNECTION = 2;
const MAX_PER_CALLER = 3;
const BUFFER_EVENTS = 20;
let stack: TestStack;

const STOCK = `subscription ($skus: [String!], $after: String) {
  stockChanged(skus: $skus, after: $after) { position sku available }
}`;

function partner(): CallerIdentity {
  return {
    kind: 'partner',
    subject: randomUUID(),
    scopes: ['read_inventory', 'read_products'],
    roles: [],
  };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits 500 ms for graphql-ws subscriptions to go live, because the protocol
 * does not acknowledge a subscribe.
 */
function untilLive(): Promise<void> {
  return pause(500);
}

async function staff(
  document: string,
  variables: Record<string, unknown>,
): Promise<Record<string, any>> {
  const response = await stack.query(
    document,
    variables,
    callerHeaders(STAFF_ADMIN),
  );
  expect(response.errors).toBeUndefined();
  return response.data!;
}

async function createVariant(sku: string, description = ''): Promise<void> {
  const data = await staff(
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { userErrors { message } }
    }`,
    {
      input: {
        title: `Product ${sku}`,
        description,
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

/** Waits for graphql-ws to reject a subscription and returns its GraphQL errors. */
async function rejectionErrors(
  subscription: TestSubscription,
): Promise<Array<{ message: string; extensions?: Record<string, any> }>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `timed out after 10 s waiting for the subscription to be rejected; it received ${subscription.received.length} results`,
          ),
        ),
      10_000,
    );
  });
  await Promise.race([subscription.ended, timeout]).finally(() =>
    clearTimeout(timer),
  );
  expect(subscription.errors).toHaveLength(1);
  return subscription.errors[0] as Array<{
    message: string;
    extensions?: Record<string, any>;
  }>;
}

function availableOf(events: ReceivedEvent[]): number[] {
  return events.map((event) => event.data!.stockChanged.available);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

/** Starts another gateway over the stack's subgraphs, as startTestStack does. */
function startExtraGateway(
  supergraphPath = committedSupergraphPath,
): Promise<RunningGateway> {
  return startGateway({
    config: stack.config,
    logger: createLogger('gateway', stack.config.LOG_LEVEL),
    supergraphPath,
    subgraphUrls: Object.fromEntries(
      SERVICE_NAMES.map((name) => [name, stack.subgraphs[name].url]),
    ),
    host: '127.0.0.1',
    port: 0,
    acceptTestCallerHeader: true,
  });
}

beforeAll(async () => {
  stack = await startTestStack({
    DATABASE_PREFIX: prefix,
    SUBSCRIPTIONS_MAX_PER_CONNECTION: String(MAX_PER_CONNECTION),
    SUBSCRIPTIONS_MAX_PER_CALLER: String(MAX_PER_CALLER),
    SUBSCRIPTION_BUFFER_EVENTS: String(BUFFER_EVENTS),
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('subscription limits', () => {
  it('per-connection limit and freed slots', async () => {
    const sku = `${prefix}-CONNECTION`;
    await createVariant(sku);
    const connection = connectWs(stack.gatewayUrl, callerHeaders(partner()));
    // Sent together, so the gateway checks the limit while earlier
    // subscriptions on the connection are still starting.
    const first = connection.subscribe(STOCK, { skus: [sku] });
    const second = connection.subscribe(STOCK, { skus: [sku] });
    const third = connection.subscribe(STOCK, { skus: [sku] });

    expect(await rejectionErrors(third)).toEqual([
      {
        message: `Too many subscriptions on this connection: at most ${MAX_PER_CONNECTION}. Complete some or open another connection.`,
        extensions: { code: 'SUBSCRIPTION_LIMIT' },
      },
    ]);
    await untilLive();
    await adjust(sku, 1);
    expect(availableOf(await first.waitFor(1))).toEqual([1]);
    expect(availableOf(await second.waitFor(1))).toEqual([1]);

    // Completing a subscription that receives no further event frees its slot.
    await first.close();
    await pause(200);
    const fourth = connection.subscribe(STOCK, { skus: [sku] });
    await untilLive();
    await adjust(sku, 1);
    expect(availableOf(await fourth.waitFor(1))).toEqual([2]);
    expect(availableOf(await second.waitFor(2))).toEqual([1, 2]);
    expect(fourth.errors).toEqual([]);
    expect(first.received).toHaveLength(1);
    await connection.close();
  });

  it('per-caller limit across connections', async () => {
    const sku = `${prefix}-CALLER`;
    await createVariant(sku);
    const caller = callerHeaders(partner());
    const connection = connectWs(stack.gatewayUrl, caller);
    const onConnection = [
      connection.subscribe(STOCK, { skus: [sku] }),
      connection.subscribe(STOCK, { skus: [sku] }),
    ];
    const sse = await subscribeSse(
      stack.gatewayUrl,
      STOCK,
      { skus: [sku] },
      caller,
    );
    expect(sse.status).toBe(200);
    await untilLive();

    const limit = {
      message: `Too many open subscriptions for this caller: at most ${MAX_PER_CALLER}. Close some before opening more.`,
      extensions: { code: 'SUBSCRIPTION_LIMIT' },
    };
    const rejectedSse = await subscribeSse(
      stack.gatewayUrl,
      STOCK,
      { skus: [sku] },
      caller,
    );
    expect(rejectedSse.status).toBe(429);
    expect(rejectedSse.body.errors).toEqual([limit]);
    const rejectedWs = subscribeWs(
      stack.gatewayUrl,
      STOCK,
      { skus: [sku] },
      caller,
    );
    expect(await rejectionErrors(rejectedWs)).toEqual([limit]);
    await rejectedWs.close();

    // Closing the SSE stream frees its slot for a subscription elsewhere.
    await sse.close();
    await pause(200);
    const replacement = await subscribeSse(
      stack.gatewayUrl,
      STOCK,
      { skus: [sku] },
      caller,
    );
    expect(replacement.status).toBe(200);
    await adjust(sku, 3);
    expect(availableOf(await replacement.waitFor(1))).toEqual([3]);
    for (const subscription of onConnection) {
      expect(availableOf(await subscription.waitFor(1))).toEqual([3]);
    }

    // Completing one on the WebSocket frees a slot too.
    await onConnection[0]!.close();
    await pause(200);
    const again = await subscribeSse(
      stack.gatewayUrl,
      STOCK,
      { skus: [sku] },
      caller,
    );
    expect(again.status).toBe(200);
    await Promise.all([again.close(), replacement.close(), connection.close()]);
  });
  it('per-caller limit across gateways', async () => {
    const sku = `${prefix}-GATEWAYS`;
    await createVariant(sku);
    const caller = callerHeaders(partner());
    const openStreams = [];
    for (let index = 0; index < MAX_PER_CALLER; index += 1) {
      const sse = await subscribeSse(
        stack.gatewayUrl,
        STOCK,
        { skus: [sku] },
        caller,
      );
      expect(sse.status).toBe(200);
      openStreams.push(sse);
    }
    const gateway = await startExtraGateway();
    try {
      const rejected = await subscribeSse(
        gateway.url,
        STOCK,
        { skus: [sku] },
        caller,
      );
      expect(rejected.status).toBe(429);
      expect(rejected.body.errors[0].extensions).toEqual({
        code: 'SUBSCRIPTION_LIMIT',
      });

      // A slot freed on one gateway can be taken on the other.
      await openStreams.pop()!.close();
      await pause(200);
      const accepted = await subscribeSse(
        gateway.url,
        STOCK,
        { skus: [sku] },
        caller,
      );
      expect(accepted.status).toBe(200);
      await accepted.close();
    } finally {
      await Promise.all(
        openStreams.map((subscription) => subscription.close()),
      );
      await gateway.close();
    }
  });
});

describe('slow consumers', () => {
  it('slow consumer closed with 1008', async () => {
    const sku = `${prefix}-SLOW`;
    // Each result carries the description, so a few dozen unread results
    // fill the loopback TCP buffers and the gateway's queue backs up.
    await createVariant(sku, 'x'.repeat(300_000));
    const slowCaller = callerHeaders(partner());

    const slow = await connectRawWs(stack.gatewayUrl, slowCaller);
    slow.subscribe(
      'slow',
      `subscription ($skus: [String!]) {
        stockChanged(skus: $skus) { position available variant { product { description } } }
      }`,
      { skus: [sku] },
    );
    // The slow caller's other slots are taken, so a subscription of that
    // caller succeeds only once the gateway has dropped the slow one.
    const fillers = [];
    for (let index = 1; index < MAX_PER_CALLER; index += 1) {
      const filler = await subscribeSse(
        stack.gatewayUrl,
        STOCK,
        { skus: [sku] },
        slowCaller,
      );
      expect(filler.status).toBe(200);
      fillers.push(filler);
    }
    const fastWs = subscribeWs(
      stack.gatewayUrl,
      STOCK,
      { skus: [sku] },
      callerHeaders(partner()),
    );
    const fastSse = await subscribeSse(
      stack.gatewayUrl,
      STOCK,
      { skus: [sku] },
      callerHeaders(partner()),
    );
    await untilLive();
    slow.pause();

    let changes = 0;
    let dropped = false;
    while (!dropped && changes < 150) {
      await adjust(sku, 1);
      changes += 1;
      const probe = await subscribeSse(
        stack.gatewayUrl,
        STOCK,
        { skus: [sku] },
        slowCaller,
      );
      dropped = probe.status === 200;
      if (dropped) await probe.close();
      else expect(probe.status).toBe(429);
    }
    expect(dropped).toBe(true);
    // The close frame waits behind the unread results, and the gateway
    // drops the TCP connection 1 s after closing, so the client reads now.
    slow.resume();
    const closed = await slow.closeEvent;
    expect(closed).toEqual({
      code: 1008,
      reason: `Too slow: ${BUFFER_EVENTS} events waited to be sent.`,
    });
    expect(slow.nextCount).toBeLessThan(changes);
    expect(changes).toBeGreaterThan(BUFFER_EVENTS);

    await adjust(sku, 1);
    changes += 1;
    for (const subscriber of [fastWs, fastSse, ...fillers]) {
      expect(availableOf(await subscriber.waitFor(changes, 30_000))).toEqual(
        range(1, changes),
      );
    }
    await Promise.all(
      [fastWs, fastSse, ...fillers].map((subscriber) => subscriber.close()),
    );
  }, 90_000);
});

describe('gateway lifecycle', () => {
  it('shutdown ends with 1001 and SHUTTING_DOWN', async () => {
    const sku = `${prefix}-SHUTDOWN`;
    await createVariant(sku);
    const gateway = await startExtraGateway();
    let stopped = false;
    try {
      const caller = callerHeaders(partner());
      const ws = subscribeWs(gateway.url, STOCK, { skus: [sku] }, caller);
      const sse = await subscribeSse(
        gateway.url,
        STOCK,
        { skus: [sku] },
        caller,
      );
      expect(sse.status).toBe(200);
      await untilLive();
      await adjust(sku, 1);
      await ws.waitFor(1);
      await sse.waitFor(1);

      await gateway.close();
      stopped = true;
      expect((await ws.closeEvent).code).toBe(1001);
      await sse.ended;
      expect(sse.completed).toBe(true);
      expect(sse.received).toHaveLength(2);
      expect(sse.received[1]).toEqual({
        errors: [
          {
            message:
              'The gateway is shutting down; subscribe again with Last-Event-ID to resume.',
            extensions: { code: 'SHUTTING_DOWN' },
          },
        ],
      });
      await ws.close();
    } finally {
      if (!stopped) await gateway.close();
    }
  });

  it('reload ends with 1012 and SUPERGRAPH_RELOADED', async () => {
    const sku = `${prefix}-RELOAD`;
    await createVariant(sku);
    const folder = await mkdtemp(path.join(tmpdir(), 'supergraph-'));
    const supergraphPath = path.join(folder, 'supergraph.graphql');
    await copyFile(committedSupergraphPath, supergraphPath);
    const gateway = await startExtraGateway(supergraphPath);
    try {
      const caller = callerHeaders(partner());
      const ws = subscribeWs(gateway.url, STOCK, { skus: [sku] }, caller);
      const sse = await subscribeSse(
        gateway.url,
        STOCK,
        { skus: [sku] },
        caller,
      );
      expect(sse.status).toBe(200);
      await untilLive();
      await adjust(sku, 1);
      const [seen] = await ws.waitFor(1);
      await sse.waitFor(1);
      const lastPosition = seen!.extensions!.position!;
      expect(sse.ids).toEqual([lastPosition]);

      // Comments do not survive parsing, so a changed description is the
      // smallest edit that makes a different supergraph.
      const original = await readFile(supergraphPath, 'utf8');
      const description =
        '"""Only changes of these SKUs; changes of every SKU when omitted."""';
      expect(original.split(description)).toHaveLength(2);
      await writeFile(
        supergraphPath,
        original.replace(
          description,
          '"""Only changes of these SKUs; every SKU when omitted."""',
        ),
      );

      expect((await ws.closeEvent).code).toBe(1012);
      await sse.ended;
      expect(sse.completed).toBe(true);
      expect(sse.received[1]).toEqual({
        errors: [
          {
            message:
              'The supergraph changed; subscribe again with Last-Event-ID to resume.',
            extensions: { code: 'SUPERGRAPH_RELOADED' },
          },
        ],
      });
      expect(sse.received).toHaveLength(2);
      await ws.close();

      // Changes while no one is subscribed reach the resumed subscriptions.
      await adjust(sku, 1);
      await adjust(sku, 1);
      const resumedWs = subscribeWs(
        gateway.url,
        STOCK,
        { skus: [sku], after: lastPosition },
        caller,
      );
      const resumedSse = await subscribeSse(
        gateway.url,
        STOCK,
        { skus: [sku] },
        { ...caller, 'last-event-id': lastPosition },
      );
      expect(resumedSse.status).toBe(200);
      expect(availableOf(await resumedWs.waitFor(2))).toEqual([2, 3]);
      expect(availableOf(await resumedSse.waitFor(2))).toEqual([2, 3]);
      await untilLive();
      await adjust(sku, 1);
      expect(availableOf(await resumedWs.waitFor(3))).toEqual([2, 3, 4]);
      expect(availableOf(await resumedSse.waitFor(3))).toEqual([2, 3, 4]);
      await pause(300);
      expect(resumedWs.received).toHaveLength(3);
      expect(resumedSse.received).toHaveLength(3);
      await Promise.all([resumedWs.close(), resumedSse.close()]);
    } finally {
      await gateway.close();
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe('replicas', () => {
  it('second catalog replica reaches both gateways', async () => {
    const sku = `${prefix}-REPLICA`;
    await createVariant(sku);
    const replica = (await startSubgraph(subgraphDefinitions.catalog as never, {
      config: stack.config,
      logger: createLogger('catalog', stack.config.LOG_LEVEL),
      databaseUrl: serviceDatabaseUrl(stack.config, 'catalog'),
      host: '127.0.0.1',
      port: 0,
    })) as RunningSubgraph<Record<string, unknown>>;
    const gateways = await Promise.all([
      startExtraGateway(),
      startExtraGateway(),
    ]);
    try {
      const subscribers: TestSubscription[] = [];
      for (const gateway of gateways) {
        const caller = callerHeaders(partner());
        subscribers.push(
          subscribeWs(gateway.url, STOCK, { skus: [sku] }, caller),
        );
        const sse = await subscribeSse(
          gateway.url,
          STOCK,
          { skus: [sku] },
          caller,
        );
        expect(sse.status).toBe(200);
        subscribers.push(sse);
      }
      await untilLive();

      const CHANGES = 10;
      for (let index = 0; index < CHANGES; index += 1) {
        const response = await postGraphQL<Record<string, any>>(
          replica.url,
          `mutation ($input: StockAdjustInput!) {
            stockAdjust(input: $input) { userErrors { message } }
          }`,
          { input: { sku, delta: 1, reason: 'RECEIVED' } },
          await identityHeaders(stack.config),
        );
        expect(response.errors).toBeUndefined();
        expect(response.data!.stockAdjust.userErrors).toEqual([]);
      }

      for (const subscriber of subscribers) {
        expect(availableOf(await subscriber.waitFor(CHANGES))).toEqual(
          range(1, CHANGES),
        );
      }
      // A duplicate would arrive within this wait.
      await pause(500);
      const positions = subscribers.map((subscriber) =>
        subscriber.received.map((event) => event.extensions!.position),
      );
      for (const received of positions) {
        expect(received).toHaveLength(CHANGES);
        expect(received).toEqual(positions[0]);
      }
      await Promise.all(subscribers.map((subscriber) => subscriber.close()));
    } finally {
      await Promise.all(gateways.map((gateway) => gateway.close()));
      await replica.close();
    }
  });
});
