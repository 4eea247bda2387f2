import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/marketplace/db/tables.js';
import { configureListingSync } from '../subgraphs/marketplace/sync/index.js';
import { FakeEbay } from './support/fake-ebay.js';
import {
  callerHeaders,
  STAFF_ADMIN,
  startTestStack,
  type TestStack,
} from './support/stack.js';

// The connection goes through the stack's own adapter path (encrypted
// credentials, settings, EBAY_API_BASE_URL and EBAY_AUTH_BASE_URL) to the
// local fake. Only the sync worker's retry pauses are shortened.
const prefix = `t${randomBytes(5).toString('hex')}`;
const SAFETY_STOCK = 2;
let stack: TestStack;
let ebay: FakeEbay;
let connectionId: string;

function marketplaceDb() {
  return (stack.subgraphs.marketplace as RunningSubgraph<typeof tables>)
    .database.db;
}

async function staff<TData = Record<string, any>>(
  document: string,
  variables: Record<string, unknown> = {},
) {
  const response = await stack.query<TData>(
    document,
    variables,
    callerHeaders(STAFF_ADMIN),
  );
  expect(response.errors).toBeUndefined();
  return response.data!;
}

/** Polls `read` until `accept` holds, for at most `timeoutMs`. */
async function eventually<T>(
  read: () => T | Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!accept(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

async function createVariant(sku: string, price: string) {
  const data = await staff(
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) {
        product { id variants { id sku } }
        userErrors { field message code }
      }
    }`,
    {
      input: {
        title: `Product ${sku}`,
        status: 'ACTIVE',
        variants: [{ sku, price: { amount: price } }],
      },
    },
  );
  expect(data.productCreate.userErrors).toEqual([]);
  return data.productCreate.product.variants[0] as { id: string; sku: string };
}

async function adjust(sku: string, delta: number) {
  const data = await staff(
    `mutation ($input: StockAdjustInput!) {
      stockAdjust(input: $input) { userErrors { field message code } }
    }`,
    { input: { sku, delta, reason: 'RECEIVED' } },
  );
  expect(data.stockAdjust.userErrors).toEqual([]);
}

async function publish(variantIds: string[]) {
  const data = await staff(
    `mutation ($input: ListingPublishInput!) {
      listingPublish(input: $input) {
        listings { id status }
        userErrors { field message code }
      }
    }`,
    { input: { connectionId, variantIds } },
  );
  expect(data.listingPublish.userErrors).toEqual([]);
  return data.listingPublish.listings as { id: string }[];
}

/** Creates a variant with `stock` units, publishes it and waits until eBay lists it. */
async function listedVariant(sku: string, stock: number, price = '10.00') {
  const variant = await createVariant(sku, price);
  await adjust(sku, stock);
  const [listing] = await publish([variant.id]);
  const synced = await eventually(
    () => readListing(listing!.id),
    (value) =>
      value.status === 'ACTIVE' &&
      ebay.quantityOf(sku) === Math.max(0, stock - SAFETY_STOCK),
  );
  expect(synced.status).toBe('ACTIVE');
  expect(ebay.quantityOf(sku)).toBe(Math.max(0, stock - SAFETY_STOCK));
  return { variant, listing: listing! };
}

const LISTING = `query ($id: ID!) {
  listing(id: $id) {
    id status quantity externalId lastError lastSyncedAt
    price { amount currencyCode }
  }
}`;

async function readListing(id: string) {
  return (await staff(LISTING, { id })).listing;
}

async function syncTaskOf(listingId: string) {
  const [task] = await marketplaceDb()
    .select()
    .from(tables.listingSyncTasks)
    .where(eq(tables.listingSyncTasks.listingId, listingId));
  return task;
}

/** Checks that no credential or token of the fake appears in `text`. */
function expectNoCredentials(text: string) {
  expect(text).not.toContain(ebay.clientSecret);
  expect(text).not.toContain(ebay.refreshToken);
  expect(text).not.toContain(ebay.clientId);
  expect(text).not.toContain('Bearer');
}

beforeAll(async () => {
  ebay = new FakeEbay();
  await ebay.start();
  configureListingSync(
    { DATABASE_PREFIX: prefix },
    { retryMinMs: 200, retryMaxMs: 1_000 },
  );
  stack = await startTestStack({
    DATABASE_PREFIX: prefix,
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    EBAY_API_BASE_URL: ebay.url,
    EBAY_AUTH_BASE_URL: ebay.url,
    // Order polling would spend the fake's call budget as well.
    MARKETPLACE_ORDER_POLL_INTERVAL_MS: '0',
  });
  const data = await staff(
    `mutation ($input: MarketplaceConnectionCreateInput!) {
      marketplaceConnectionCreate(input: $input) {
        connection { id }
        userErrors { field message code }
      }
    }`,
    {
      input: {
        name: 'eBay US',
        kind: 'EBAY',
        safetyStock: SAFETY_STOCK,
        credentials: {
          clientId: ebay.clientId,
          clientSecret: ebay.clientSecret,
          refreshToken: ebay.refreshToken,
        },
        settings: {
          marketplaceId: 'EBAY_US',
          merchantLocationKey: 'warehouse-1',
          fulfillmentPolicyId: '6196932000',
          paymentPolicyId: '6196934000',
          returnPolicyId: '6196936000',
          categoryId: '11450',
        },
      },
    },
  );
  expect(data.marketplaceConnectionCreate.userErrors).toEqual([]);
  connectionId = data.marketplaceConnectionCreate.connection.id;
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await ebay?.close();
});

describe('listing sync with eBay', () => {
  it('publishes several variants to eBay', async () => {
    const stocks = { 'ebay-pub-a': 5, 'ebay-pub-b': 9, 'ebay-pub-c': 3 };
    const variants = [];
    for (const [sku, stock] of Object.entries(stocks)) {
      const variant = await createVariant(sku, '19.99');
      await adjust(sku, stock);
      variants.push(variant);
    }
    const listings = await publish(variants.map((variant) => variant.id));
    expect(listings).toHaveLength(3);

    for (const listing of listings) {
      const synced = await eventually(
        () => readListing(listing.id),
        (value) => value.status === 'ACTIVE',
      );
      expect(synced.status).toBe('ACTIVE');
      expect(synced.lastError).toBeNull();
      expect(synced.price).toEqual({ amount: '19.99', currencyCode: 'USD' });
      expect(synced.externalId).toMatch(/^\d+$/);
    }
    for (const [sku, stock] of Object.entries(stocks)) {
      expect(ebay.quantityOf(sku)).toBe(stock - SAFETY_STOCK);
      const offers = ebay.offersFor(sku);
      expect(offers).toHaveLength(1);
      expect(offers[0]!.status).toBe('PUBLISHED');
      expect(offers[0]!.pricingSummary).toEqual({
        price: { value: '19.99', currency: 'USD' },
      });
      expect(offers[0]!.merchantLocationKey).toBe('warehouse-1');
    }
  });

  it('pushes a stock adjustment to eBay', async () => {
    const { listing } = await listedVariant('ebay-adjust', 4);

    await adjust('ebay-adjust', 6);
    const remote = await eventually(
      () => ebay.quantityOf('ebay-adjust'),
      (value) => value === 8,
    );
    expect(remote).toBe(8);
    const synced = await eventually(
      () => readListing(listing.id),
      (value) => value.quantity === 8,
    );
    expect(synced.quantity).toBe(8);
    expect(synced.status).toBe('ACTIVE');
  });

  it('offers 0 when safety stock exceeds availability', async () => {
    const { listing } = await listedVariant('ebay-safety', 1);

    expect(ebay.quantityOf('ebay-safety')).toBe(0);
    const synced = await readListing(listing.id);
    expect(synced.quantity).toBe(0);
    expect(synced.status).toBe('ACTIVE');
  });

  it('pushes a variant price change to the offer', async () => {
    const { variant, listing } = await listedVariant('ebay-price', 5);

    const data = await staff(
      `mutation ($input: VariantUpdateInput!) {
        variantUpdate(input: $input) { userErrors { field message code } }
      }`,
      { input: { id: variant.id, price: { amount: '12.34' } } },
    );
    expect(data.variantUpdate.userErrors).toEqual([]);

    const offer = await eventually(
      () => ebay.offersFor('ebay-price')[0],
      (value) =>
        (value?.pricingSummary as { price?: { value?: string } } | undefined)
          ?.price?.value === '12.34',
    );
    expect(offer?.pricingSummary).toEqual({
      price: { value: '12.34', currency: 'USD' },
    });
    expect(ebay.offersFor('ebay-price')).toHaveLength(1);
    const synced = await eventually(
      () => readListing(listing.id),
      (value) => value.price?.amount === '12.34',
    );
    expect(synced.price).toEqual({ amount: '12.34', currencyCode: 'USD' });
    expect(ebay.quantityOf('ebay-price')).toBe(3);
  });

  it.each(['unavailable', 'refused'] as const)(
    'catches up after an eBay outage (%s)',
    async (mode) => {
      const sku = `ebay-outage-${mode}`;
      const { listing } = await listedVariant(sku, 10);

      await ebay.goDown(mode);
      try {
        await adjust(sku, -3);
        const failing = await eventually(
          () => readListing(listing.id),
          (value) => value.status === 'ERROR',
        );
        expect(failing.status).toBe('ERROR');
        expect(failing.lastError).toMatch(
          mode === 'unavailable' ? /HTTP 503/ : /network error/,
        );
        expectNoCredentials(failing.lastError);

        const deltas = [5, -1, 7, -4];
        for (const delta of deltas) await adjust(sku, delta);
        // The worker keeps retrying while eBay is down.
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        const stillFailing = await readListing(listing.id);
        expect(stillFailing.status).toBe('ERROR');
        expect(ebay.quantityOf(sku)).toBe(8);
        expect((await syncTaskOf(listing.id))?.attempts).toBeGreaterThan(0);
      } finally {
        await ebay.comeUp();
      }

      const expected = 10 - 3 + 5 - 1 + 7 - 4 - SAFETY_STOCK;
      const remote = await eventually(
        () => ebay.quantityOf(sku),
        (value) => value === expected,
      );
      expect(remote).toBe(expected);
      // The quantity can arrive while another call of the same sync meets
      // the spent budget, which marks the listing ERROR until the next
      // minute's retry succeeds.
      const recovered = await eventually(
        () => readListing(listing.id),
        (value) => value.status === 'ACTIVE' && value.quantity === expected,
        75_000,
      );
      expect(recovered.status).toBe('ACTIVE');
      expect(recovered.quantity).toBe(expected);
      expect(recovered.lastError).toBeNull();
      // Every change was pushed, so the task is deleted.
      const task = await eventually(
        () => syncTaskOf(listing.id),
        (row) => row === undefined,
      );
      expect(task).toBeUndefined();
    },
    60_000,
  );

  it('waits out an exhausted call budget', async () => {
    const sku = 'ebay-budget';
    const { listing } = await listedVariant(sku, 10);
    const requestsBefore = ebay.requests.length;

    // One call per minute: the first push spends the budget, the next
    // gets 429 with Retry-After until the fake's minute ends.
    ebay.setCallBudget(1);
    try {
      await adjust(sku, 2);
      await eventually(
        () => ebay.quantityOf(sku),
        (value) => value === 10,
      );
      expect(ebay.quantityOf(sku)).toBe(10);

      await adjust(sku, 4);
      const limited = await eventually(
        () => readListing(listing.id),
        (value) => value.status === 'ERROR',
      );
      expect(limited.status).toBe('ERROR');
      expect(limited.lastError).toContain('HTTP 429');
      expect(limited.lastError).toContain('Too many requests');
      expectNoCredentials(limited.lastError);
      const rejected = ebay.requests
        .slice(requestsBefore)
        .filter((request) => request.status === 429);
      expect(rejected.length).toBeGreaterThan(0);

      await adjust(sku, -5);
      // The budget refills when the fake's minute ends, up to 60 s from
      // the first push above.
      const expected = 10 + 2 + 4 - 5 - SAFETY_STOCK;
      const remote = await eventually(
        () => ebay.quantityOf(sku),
        (value) => value === expected,
        90_000,
      );
      expect(remote).toBe(expected);
      // The quantity can arrive while another call of the same sync meets
      // the spent budget, which marks the listing ERROR until the next
      // minute's retry succeeds.
      const recovered = await eventually(
        () => readListing(listing.id),
        (value) => value.status === 'ACTIVE' && value.quantity === expected,
        75_000,
      );
      expect(recovered.status).toBe('ACTIVE');
      expect(recovered.lastError).toBeNull();
      // The worker waited for Retry-After instead of retrying every second.
      const rejectedInAll = ebay.requests
        .slice(requestsBefore)
        .filter((request) => request.status === 429);
      expect(rejectedInAll.length).toBeLessThanOrEqual(3);
    } finally {
      ebay.setCallBudget(null);
    }
  }, 200_000);

  it('never returns eBay credentials', async () => {
    const data = await staff(`{
      marketplaceConnections {
        id credentials { set hint }
        settings { marketplaceId merchantLocationKey }
        lastTest { ok message }
      }
    }`);
    expectNoCredentials(JSON.stringify(data));
    const connection = data.marketplaceConnections.find(
      (row: { id: string }) => row.id === connectionId,
    );
    expect(connection.credentials).toEqual({
      set: true,
      hint: ebay.clientId.slice(-4),
    });
  });
});
