import { randomBytes, randomUUID } from 'node:crypto';
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
  stack = await startTestStack({
    DATABASE_PREFIX: prefix,
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
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
});
