import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../gateway/caller.js';
import { serviceDatabaseUrl } from '../platform/database.js';
import {
  startStackWithCatalogProcess,
  type CatalogProcessStack,
} from './support/catalog-process.js';
import { callerHeaders, STAFF_ADMIN } from './support/stack.js';
import {
  subscribeSse,
  subscribeWs,
  type ReceivedEvent,
  type TestSubscription,
} from './support/subscriptions.js';

/** SKUs the burst adjusts, round robin. */
const SKU_COUNT = 3;
/** Successful adjustments of the whole burst, before and after the kill. */
const TARGET_ADJUSTMENTS = 90;
/** The catalog process is killed once this many adjustments succeeded. */
const KILL_AFTER = 30;
/** Concurrent senders of the burst. */
const SENDERS = 3;
/** Pause of a sender after a failed adjustment, in ms. */
const RETRY_PAUSE_MS = 25;
/** Time the burst may take, the restart included, in ms. */
const BURST_TIMEOUT_MS = 45_000;
/** Time the sinks may take to receive every committed event, in ms. */
const SETTLE_TIMEOUT_MS = 40_000;

const PARTNER: CallerIdentity = {
  kind: 'partner',
  subject: randomUUID(),
  scopes: ['read_inventory', 'read_products'],
  roles: [],
};

const STOCK_CHANGED = `subscription ($skus: [String!]) {
  stockChanged(skus: $skus) {
    position eventId sku onHand delta
    variant { sku }
  }
}`;

interface WebhookRequest {
  webhookId: string;
  body: { id: string; type: string; position: string; data: { sku: string } };
}

interface CommittedEvent {
  id: string;
  position: string;
  sku: string;
}

const prefix = `r${randomBytes(4).toString('hex')}`;
const skus = Array.from(
  { length: SKU_COUNT },
  (_, index) => `${prefix}-SKU-${index}`,
);
let stack: CatalogProcessStack;
let receiver: Server;
let receiverOrigin: string;
const webhookRequests: WebhookRequest[] = [];

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      webhookRequests.push({
        webhookId: String(request.headers['webhook-id']),
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) =>
    receiver.listen(0, '127.0.0.1', resolve),
  );
  receiverOrigin = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  stack = await startStackWithCatalogProcess({
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    WEBHOOK_RETRY_BASE_MS: '100',
    WEBHOOK_POLL_INTERVAL_MS: '50',
  });
}, 90_000);

afterAll(async () => {
  await stack?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

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

async function createVariant(sku: string): Promise<void> {
  const data = await staff(
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { userErrors { message } }
    }`,
    {
      input: {
        title: `Restart product ${sku}`,
        status: 'ACTIVE',
        variants: [{ sku, price: { amount: '3.00' } }],
      },
    },
  );
  expect(data.productCreate.userErrors).toEqual([]);
}

/**
 * Sends one stockAdjust through the gateway. Returns false when the
 * gateway reports an error, as it does while the catalog is down.
 */
async function tryAdjust(sku: string): Promise<boolean> {
  try {
    const response = await stack.query(
      `mutation ($input: StockAdjustInput!) {
        stockAdjust(input: $input) { userErrors { message } }
      }`,
      { input: { sku, delta: 1, reason: 'RECEIVED' } },
      callerHeaders(STAFF_ADMIN),
    );
    return (
      response.errors === undefined &&
      response.data?.stockAdjust?.userErrors?.length === 0
    );
  } catch {
    return false;
  }
}

/** Reads the committed `stock.changed` events of `skus` in stream order. */
async function readCommittedEvents(): Promise<CommittedEvent[]> {
  const sql = postgres(serviceDatabaseUrl(stack.config, 'catalog'), {
    max: 1,
    onnotice: () => {},
  });
  try {
    const rows = await sql<CommittedEvent[]>`
      select id::text as id,
             transaction_id::text || '.' || sequence::text as position,
             payload->>'sku' as sku
      from outbox_events
      where type = 'stock.changed' and payload->>'sku' = any(${skus})
      order by transaction_id::text::numeric, sequence`;
    return [...rows];
  } finally {
    await sql.end();
  }
}

async function waitUntil(
  done: () => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function positionsOf(subscription: TestSubscription): string[] {
  return subscription.received.map(
    (event: ReceivedEvent) => event.extensions?.position ?? '',
  );
}

function webhookIdsFirstSeen(): string[] {
  const seen = new Set<string>();
  for (const request of webhookRequests) {
    if (!skus.includes(request.body.data.sku)) continue;
    seen.add(request.webhookId);
  }
  return [...seen];
}

describe('catalog process killed during a burst', () => {
  it('loses no subscriber or webhook event', async () => {
    for (const sku of skus) await createVariant(sku);
    const before = new Set((await readCommittedEvents()).map((e) => e.id));

    const created = await fetch(`${stack.gatewayOrigin}/admin/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...stack.staffHeaders },
      body: JSON.stringify({
        url: `${receiverOrigin}/stock`,
        eventTypes: ['stock.changed'],
      }),
    });
    expect(created.status).toBe(201);

    const ws = subscribeWs(
      stack.gatewayUrl,
      STOCK_CHANGED,
      { skus },
      callerHeaders(PARTNER),
    );
    const sse = await subscribeSse(
      stack.gatewayUrl,
      STOCK_CHANGED,
      { skus },
      callerHeaders(PARTNER),
    );
    expect(sse.status).toBe(200);

    // One adjustment that every sink receives shows that all of them are
    // live before the burst starts.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await tryAdjust(skus[0]!)).toBe(true);
    await ws.waitFor(1, 20_000);
    await sse.waitFor(1, 20_000);
    await waitUntil(() => webhookIdsFirstSeen().length >= 1, 20_000);
    expect(webhookIdsFirstSeen()).toHaveLength(1);

    const firstPid = stack.catalog!.process.pid;
    let succeeded = 0;
    let failed = 0;
    let next = 0;
    let restarted: Promise<void> | undefined;
    const restart = async () => {
      await stack.killCatalog();
      await stack.startCatalog();
    };
    // A restart that fails, or a catalog that never responds again, ends
    // the burst at this time instead of at the test's timeout.
    const burstDeadline = Date.now() + BURST_TIMEOUT_MS;
    const sender = async () => {
      while (
        (succeeded < TARGET_ADJUSTMENTS || !restarted) &&
        Date.now() < burstDeadline
      ) {
        const sku = skus[next % skus.length]!;
        next += 1;
        if (await tryAdjust(sku)) {
          succeeded += 1;
        } else {
          failed += 1;
          await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
        }
        if (succeeded >= KILL_AFTER && !restarted) restarted = restart();
      }
    };
    await Promise.all(Array.from({ length: SENDERS }, sender));
    await restarted;
    expect(succeeded).toBeGreaterThanOrEqual(TARGET_ADJUSTMENTS);
    expect(stack.catalog!.process.pid).not.toBe(firstPid);
    // The senders kept sending while the process was down.
    expect(failed).toBeGreaterThan(0);

    const committed = (await readCommittedEvents()).filter(
      (event) => !before.has(event.id),
    );
    // Adjustments whose response was lost in the kill may still have
    // committed, so there can be more events than successful adjustments.
    expect(committed.length).toBeGreaterThanOrEqual(succeeded + 1);
    const positions = committed.map((event) => event.position);
    const ids = committed.map((event) => event.id);

    // A subscription that ended with an error receives nothing more, so
    // the wait ends early for it.
    const settled = (subscription: TestSubscription) =>
      subscription.received.length >= committed.length ||
      subscription.errors.length > 0;
    await waitUntil(
      () =>
        settled(ws) &&
        settled(sse) &&
        webhookIdsFirstSeen().length >= committed.length,
      SETTLE_TIMEOUT_MS,
    );
    // Anything sent twice would arrive within this pause.
    await new Promise((resolve) => setTimeout(resolve, 1000));

    // Soft assertions report every sink that missed events, not only the
    // first one.
    for (const [name, subscription] of [
      ['graphql-ws', ws],
      ['SSE', sse],
    ] as const) {
      expect.soft(subscription.errors, `${name} transport errors`).toEqual([]);
      expect
        .soft(positionsOf(subscription), `${name} positions`)
        .toEqual(positions);
      const failedResults = subscription.received
        .filter((event) => event.errors !== undefined)
        .map((event) => ({
          position: event.extensions?.position,
          messages: event.errors!.map((error) => error.message),
        }));
      expect.soft(failedResults, `${name} results with errors`).toEqual([]);
      expect
        .soft(
          subscription.received.map(
            (event) => event.data?.stockChanged?.eventId,
          ),
          `${name} event ids`,
        )
        .toEqual(ids);
    }
    expect.soft(sse.ids, 'SSE event ids').toEqual(positions);

    const relevant = webhookRequests.filter((request) =>
      skus.includes(request.body.data.sku),
    );
    // At least once: duplicates may arrive, but the first delivery of each
    // event comes in stream order and none is missing.
    expect.soft(webhookIdsFirstSeen(), 'webhook ids').toEqual(ids);
    expect
      .soft(
        relevant.filter((request) => request.body.id !== request.webhookId),
        'webhook bodies whose id differs from webhook-id',
      )
      .toEqual([]);
    expect
      .soft(
        relevant
          .map((request) => request.body.position)
          .filter((position, index, all) => all.indexOf(position) === index),
        'webhook positions',
      )
      .toEqual(positions);

    await ws.close();
    await sse.close();
  }, 110_000);
});
