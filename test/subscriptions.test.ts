import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../gateway/caller.js';
import {
  callerHeaders,
  STAFF_ADMIN,
  startTestStack,
  type TestStack,
} from './support/stack.js';
import { subscribeSse, subscribeWs } from './support/subscriptions.js';

const prefix = `t${randomBytes(5).toString('hex')}`;
let stack: TestStack;
let connectionId: string;
let receiver: Server;
const deliveries: Array<Record<string, any>> = [];

const PARTNER: CallerIdentity = {
  kind: 'partner',
  subject: randomUUID(),
  scopes: ['read_inventory', 'read_listings', 'read_products'],
  roles: [],
};
const PARTNER_PARAMS = callerHeaders(PARTNER);

const STOCK_WITH_LISTINGS = `subscription ($skus: [String!], $after: String) {
  stockChanged(skus: $skus, after: $after) {
    position sku available delta
    variant { sku listings { status marketplace { name } } }
  }
}`;

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

async function createVariant(sku: string): Promise<string> {
  const data = await staff(
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) {
        product { variants { id } }
        userErrors { message }
      }
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
  return data.productCreate.product.variants[0].id;
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

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      deliveries.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) =>
    receiver.listen(0, '127.0.0.1', resolve),
  );
  stack = await startTestStack({
    DATABASE_PREFIX: prefix,
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    WEBHOOK_POLL_INTERVAL_MS: '50',
  });
  const data = await staff(
    `mutation ($input: MarketplaceConnectionCreateInput!) {
      marketplaceConnectionCreate(input: $input) {
        connection { id }
        userErrors { message }
      }
    }`,
    {
      input: {
        name: 'Subscriptions sandbox',
        kind: 'SANDBOX',
        credentials: { clientId: 'client-3301', clientSecret: 'secret-3301' },
      },
    },
  );
  expect(data.marketplaceConnectionCreate.userErrors).toEqual([]);
  connectionId = data.marketplaceConnectionCreate.connection.id;
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('subscriptions through the gateway', () => {
  it('delivers a stock change with the marketplace listings over graphql-ws and SSE', async () => {
    const sku = `${prefix}-LIVE`;
    const variantId = await createVariant(sku);
    const published = await staff(
      `mutation ($input: ListingPublishInput!) {
        listingPublish(input: $input) { userErrors { message } }
      }`,
      { input: { connectionId, variantIds: [variantId] } },
    );
    expect(published.listingPublish.userErrors).toEqual([]);

    const ws = subscribeWs(
      stack.gatewayUrl,
      STOCK_WITH_LISTINGS,
      { skus: [sku] },
      PARTNER_PARAMS,
    );
    const sse = await subscribeSse(
      stack.gatewayUrl,
      STOCK_WITH_LISTINGS,
      { skus: [sku] },
      PARTNER_PARAMS,
    );
    expect(sse.status).toBe(200);
    // graphql-ws connects lazily; the subscription is live once the
    // server acknowledged it, which a short pause covers.
    await new Promise((resolve) => setTimeout(resolve, 500));

    await adjust(sku, 7);

    const [viaWs] = await ws.waitFor(1);
    const [viaSse] = await sse.waitFor(1);
    for (const received of [viaWs!, viaSse!]) {
      expect(received.errors).toBeUndefined();
      expect(received.data).toEqual({
        stockChanged: {
          position: received.extensions!.position,
          sku,
          available: 7,
          delta: 7,
          variant: {
            sku,
            listings: [
              {
                status: expect.any(String),
                marketplace: { name: 'Subscriptions sandbox' },
              },
            ],
          },
        },
      });
    }
    expect(viaWs!.extensions!.position).toBe(viaSse!.extensions!.position);
    expect(sse.ids).toEqual([viaSse!.extensions!.position]);
    await ws.close();
    await sse.close();
  }, 60_000);

  it('resumes after the last position with every missed change, in order, once', async () => {
    const sku = `${prefix}-RESUME`;
    await createVariant(sku);
    const query = `subscription ($skus: [String!], $after: String) {
      stockChanged(skus: $skus, after: $after) { position available }
    }`;
    const first = subscribeWs(
      stack.gatewayUrl,
      query,
      { skus: [sku] },
      PARTNER_PARAMS,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    await adjust(sku, 1);
    const [seen] = await first.waitFor(1);
    await first.close();

    for (let i = 0; i < 100; i += 1) await adjust(sku, 1);

    const resumed = subscribeWs(
      stack.gatewayUrl,
      query,
      { skus: [sku], after: seen!.extensions!.position },
      PARTNER_PARAMS,
    );
    const events = await resumed.waitFor(100, 30_000);
    expect(events.map((event) => event.data!.stockChanged.available)).toEqual(
      Array.from({ length: 100 }, (_, index) => index + 2),
    );
    // Live events follow the missed ones.
    await adjust(sku, 1);
    await resumed.waitFor(101);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(
      resumed.received.map((event) => event.data!.stockChanged.available),
    ).toEqual(Array.from({ length: 101 }, (_, index) => index + 2));
    await resumed.close();
  }, 90_000);

  it('shapes webhook payloads with a subscription document and sends only the chosen SKUs', async () => {
    const chosenSku = `${prefix}-HOOK`;
    const other = `${prefix}-OTHER`;
    await createVariant(chosenSku);
    await createVariant(other);
    const port = (receiver.address() as AddressInfo).port;
    const response = await fetch(`${stack.gatewayOrigin}/admin/webhooks`, {
      method: 'POST',
      headers: {
        ...(await stack.staffHeaders('admin')),
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        url: `http://127.0.0.1:${port}/stock`,
        subscription: {
          query: `subscription ($skus: [String!]) {
            stockChanged(skus: $skus) { sku available variant { sku } }
          }`,
          variables: { skus: [chosenSku] },
        },
      }),
    });
    const endpoint = (await response.json()) as {
      id: string;
      eventTypes: string[];
    };
    expect(response.status).toBe(201);
    expect(endpoint.eventTypes).toEqual(['stock.changed']);

    await adjust(other, 3);
    await adjust(chosenSku, 4);
    const deadline = Date.now() + 20_000;
    while (deliveries.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The other SKU's change came first in the stream; had it been sent,
    // it would have arrived first.
    expect(deliveries).toEqual([
      {
        id: expect.any(String),
        type: 'stock.changed',
        position: expect.stringMatching(/^\d+\.\d+$/),
        occurredAt: expect.any(String),
        data: {
          stockChanged: {
            sku: chosenSku,
            available: 4,
            variant: { sku: chosenSku },
          },
        },
      },
    ]);

    // A replay sends what live delivery would: the chosen SKU only.
    const replay = await fetch(
      `${stack.gatewayOrigin}/admin/webhooks/${endpoint.id}/replay`,
      {
        method: 'POST',
        headers: {
          ...(await stack.staffHeaders('admin')),
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          source: 'catalog',
          from: '0.0',
          to: deliveries[0]!.position,
        }),
      },
    );
    expect(replay.status).toBe(202);
    expect(await replay.json()).toMatchObject({
      enqueued: 1,
      firstPosition: deliveries[0]!.position,
      lastPosition: deliveries[0]!.position,
    });

    const rejected = await fetch(`${stack.gatewayOrigin}/admin/webhooks`, {
      method: 'POST',
      headers: {
        ...(await stack.staffHeaders('admin')),
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        url: `http://127.0.0.1:${port}/stock`,
        subscription: { query: 'subscription { stockChanged { nope } }' },
      }),
    });
    expect(rejected.status).toBe(400);
    expect(await rejected.json()).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
    });
  }, 60_000);
});
