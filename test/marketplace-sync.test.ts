import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceDatabaseUrl } from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import {
  startSubgraph,
  type RunningSubgraph,
} from '../platform/subgraph-service.js';
import {
  failNextSandboxCalls,
  readSandboxListing,
} from '../subgraphs/marketplace/adapters/sandbox.js';
import * as tables from '../subgraphs/marketplace/db/tables.js';
import { marketplaceSubgraph } from '../subgraphs/marketplace/service.js';
import {
  DatabaseSandboxStorage,
  sandboxAccount,
} from '../subgraphs/marketplace/sync/adapters.js';
import { configureListingSync } from '../subgraphs/marketplace/sync/index.js';
import {
  callerHeaders,
  STAFF_ADMIN,
  startTestStack,
  type TestStack,
} from './support/stack.js';

const SECRET = 'sync-client-secret-4f9a7c';
const prefix = `t${randomBytes(5).toString('hex')}`;
let stack: TestStack;
let connectionId: string;

function marketplaceDb() {
  return (stack.subgraphs.marketplace as RunningSubgraph<typeof tables>)
    .database.db;
}

function sandbox() {
  return new DatabaseSandboxStorage(marketplaceDb());
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
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!accept(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

function sandboxQuantity(sku: string) {
  return readSandboxListing(sandbox(), sku, {
    account: sandboxAccount(connectionId),
  });
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

async function publish(variantId: string) {
  const data = await staff(
    `mutation ($input: ListingPublishInput!) {
      listingPublish(input: $input) {
        listings { id status }
        userErrors { field message code }
      }
    }`,
    { input: { connectionId, variantIds: [variantId] } },
  );
  expect(data.listingPublish.userErrors).toEqual([]);
  return data.listingPublish.listings[0] as { id: string };
}

const LISTING = `query ($id: ID!) {
  listing(id: $id) {
    id status quantity externalId lastError lastSyncedAt
    price { amount currencyCode }
    marketplace { credentials { set hint } }
  }
}`;

async function readListing(id: string) {
  return (await staff(LISTING, { id })).listing;
}

beforeAll(async () => {
  configureListingSync(
    { DATABASE_PREFIX: prefix },
    { retryMinMs: 200, retryMaxMs: 1_000 },
  );
  stack = await startTestStack({
    DATABASE_PREFIX: prefix,
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
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
        name: 'Sync sandbox',
        kind: 'SANDBOX',
        safetyStock: 2,
        credentials: { clientId: 'client-id-7731', clientSecret: SECRET },
      },
    },
  );
  expect(data.marketplaceConnectionCreate.userErrors).toEqual([]);
  connectionId = data.marketplaceConnectionCreate.connection.id;
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('listing sync', () => {
  it('publishes a new listing with price and quantity', async () => {
    const variant = await createVariant('sync-publish', '19.99');
    await adjust(variant.sku, 5);
    const listing = await publish(variant.id);

    const synced = await eventually(
      () => readListing(listing.id),
      (value) => value.status === 'ACTIVE' && value.quantity === 3,
    );
    expect(synced.status).toBe('ACTIVE');
    expect(synced.quantity).toBe(3);
    expect(synced.price).toEqual({ amount: '19.99', currencyCode: 'USD' });
    expect(synced.externalId).toMatch(/^SBX-/);
    expect(synced.lastError).toBeNull();
    const remote = await sandboxQuantity(variant.sku);
    expect(remote?.quantity).toBe(3);
    expect(remote?.price).toEqual({ amount: 1999, currencyCode: 'USD' });
  });

  it('pushes a stock adjustment to the marketplace', async () => {
    const variant = await createVariant('sync-adjust', '10.00');
    await adjust(variant.sku, 4);
    const listing = await publish(variant.id);
    await eventually(
      () => sandboxQuantity(variant.sku),
      (remote) => remote?.quantity === 2,
    );

    const started = Date.now();
    await adjust(variant.sku, 6);
    const remote = await eventually(
      () => sandboxQuantity(variant.sku),
      (value) => value?.quantity === 8,
    );
    expect(remote?.quantity).toBe(8);
    // A push normally lands within about a second of the change.
    expect(Date.now() - started).toBeLessThan(5_000);
    const synced = await eventually(
      () => readListing(listing.id),
      (value) => value.quantity === 8,
    );
    expect(synced.quantity).toBe(8);
  });

  it('offers 0 when safety stock exceeds availability', async () => {
    const variant = await createVariant('sync-safety', '10.00');
    await adjust(variant.sku, 1);
    const listing = await publish(variant.id);

    const synced = await eventually(
      () => readListing(listing.id),
      (value) => value.status === 'ACTIVE',
    );
    expect(synced.status).toBe('ACTIVE');
    expect(synced.quantity).toBe(0);
    expect((await sandboxQuantity(variant.sku))?.quantity).toBe(0);
  });

  it('coalesces rapid adjustments to the final quantity', async () => {
    const variant = await createVariant('sync-rapid', '10.00');
    await adjust(variant.sku, 50);
    const listing = await publish(variant.id);
    await eventually(
      () => sandboxQuantity(variant.sku),
      (remote) => remote?.quantity === 48,
    );

    const deltas = [-3, 5, -7, 2, -1, 4, -6, 3, -2, 1, -4, 6, -5, 2, -3];
    await Promise.all(deltas.map((delta) => adjust(variant.sku, delta)));
    const expected = 50 + deltas.reduce((sum, delta) => sum + delta, 0) - 2;

    const remote = await eventually(
      () => sandboxQuantity(variant.sku),
      (value) => value?.quantity === expected,
    );
    expect(remote?.quantity).toBe(expected);
    const synced = await eventually(
      () => readListing(listing.id),
      (value) => value.quantity === expected,
    );
    expect(synced.quantity).toBe(expected);
    // Every change was pushed, so the task is deleted.
    const task = await eventually(
      async () =>
        (
          await marketplaceDb()
            .select()
            .from(tables.listingSyncTasks)
            .where(eq(tables.listingSyncTasks.listingId, listing.id))
        )[0],
      (row) => row === undefined,
    );
    expect(task).toBeUndefined();
    expect((await sandboxQuantity(variant.sku))?.quantity).toBe(expected);
  });

  it('retries through a marketplace outage without losing changes', async () => {
    const variant = await createVariant('sync-outage', '10.00');
    await adjust(variant.sku, 10);
    const listing = await publish(variant.id);
    await eventually(
      () => sandboxQuantity(variant.sku),
      (remote) => remote?.quantity === 8,
    );

    await failNextSandboxCalls(sandbox(), 4, {
      account: sandboxAccount(connectionId),
    });
    await adjust(variant.sku, -3);
    const failing = await eventually(
      () => readListing(listing.id),
      (value) => value.status === 'ERROR',
    );
    expect(failing.status).toBe('ERROR');
    expect(failing.lastError).toContain('unavailable');
    await adjust(variant.sku, 7);

    const remote = await eventually(
      () => sandboxQuantity(variant.sku),
      (value) => value?.quantity === 12,
    );
    expect(remote?.quantity).toBe(12);
    const recovered = await eventually(
      () => readListing(listing.id),
      (value) => value.status === 'ACTIVE' && value.quantity === 12,
    );
    expect(recovered.status).toBe('ACTIVE');
    expect(recovered.lastError).toBeNull();
  });

  it('catches up after the marketplace service restarts', async () => {
    const variant = await createVariant('sync-restart', '10.00');
    await adjust(variant.sku, 5);
    const listing = await publish(variant.id);
    await eventually(
      () => sandboxQuantity(variant.sku),
      (remote) => remote?.quantity === 3,
    );

    const { port } = stack.subgraphs.marketplace;
    await stack.subgraphs.marketplace.close();
    await adjust(variant.sku, 4);
    await adjust(variant.sku, 11);
    stack.subgraphs.marketplace = (await startSubgraph(marketplaceSubgraph, {
      config: stack.config,
      logger: createLogger('marketplace', stack.config.LOG_LEVEL),
      databaseUrl: serviceDatabaseUrl(stack.config, 'marketplace'),
      host: '127.0.0.1',
      port,
    })) as unknown as TestStack['subgraphs']['marketplace'];

    const remote = await eventually(
      () => sandboxQuantity(variant.sku),
      (value) => value?.quantity === 18,
    );
    expect(remote?.quantity).toBe(18);
    const synced = await eventually(
      () => readListing(listing.id),
      (value) => value.quantity === 18,
    );
    expect(synced.quantity).toBe(18);
  });

  it('pushes a variant price change', async () => {
    const variant = await createVariant('sync-price', '10.00');
    await adjust(variant.sku, 5);
    const listing = await publish(variant.id);
    await eventually(
      () => sandboxQuantity(variant.sku),
      (remote) => remote?.price.amount === 1000,
    );

    const data = await staff(
      `mutation ($input: VariantUpdateInput!) {
        variantUpdate(input: $input) { userErrors { field message code } }
      }`,
      { input: { id: variant.id, price: { amount: '12.34' } } },
    );
    expect(data.variantUpdate.userErrors).toEqual([]);

    const remote = await eventually(
      () => sandboxQuantity(variant.sku),
      (value) => value?.price.amount === 1234,
    );
    expect(remote?.price).toEqual({ amount: 1234, currencyCode: 'USD' });
    const synced = await eventually(
      () => readListing(listing.id),
      (value) => value.price?.amount === '12.34',
    );
    expect(synced.price).toEqual({ amount: '12.34', currencyCode: 'USD' });
  });

  it('applies the price rule and the override', async () => {
    const variant = await createVariant('sync-rule', '19.99');
    await adjust(variant.sku, 5);
    const updated = await staff(
      `mutation ($input: MarketplaceConnectionUpdateInput!) {
        marketplaceConnectionUpdate(input: $input) {
          connection { priceRule { adjustmentBasisPoints fixedAdjustment { amount } } }
          userErrors { field message code }
        }
      }`,
      {
        input: {
          id: connectionId,
          priceRule: {
            adjustmentBasisPoints: 1250,
            fixedAdjustment: { amount: '0.50' },
          },
        },
      },
    );
    expect(updated.marketplaceConnectionUpdate.userErrors).toEqual([]);
    const listing = await publish(variant.id);
    // 1999 × 1.125 = 2248.875, rounded half up to 2249, plus 50.
    const ruled = await eventually(
      () => sandboxQuantity(variant.sku),
      (value) => value?.price.amount === 2299,
    );
    expect(ruled?.price.amount).toBe(2299);

    const overridden = await staff(
      `mutation ($input: ListingUpdateInput!) {
        listingUpdate(input: $input) {
          listing { priceOverride { amount } }
          userErrors { field message code }
        }
      }`,
      { input: { id: listing.id, priceOverride: { amount: '15.00' } } },
    );
    expect(overridden.listingUpdate.userErrors).toEqual([]);
    const remote = await eventually(
      () => sandboxQuantity(variant.sku),
      (value) => value?.price.amount === 1500,
    );
    expect(remote?.price.amount).toBe(1500);

    await staff(
      `mutation ($input: MarketplaceConnectionUpdateInput!) {
        marketplaceConnectionUpdate(input: $input) { userErrors { code } }
      }`,
      {
        input: {
          id: connectionId,
          priceRule: {
            adjustmentBasisPoints: 0,
            fixedAdjustment: { amount: '0' },
          },
        },
      },
    );
  });

  it('ends a listing on the marketplace', async () => {
    const variant = await createVariant('sync-end', '10.00');
    await adjust(variant.sku, 5);
    const listing = await publish(variant.id);
    await eventually(
      () => sandboxQuantity(variant.sku),
      (remote) => remote?.status === 'ACTIVE',
    );

    const data = await staff(
      `mutation ($id: ID!) {
        listingEnd(id: $id) { listing { status } userErrors { code } }
      }`,
      { id: listing.id },
    );
    expect(data.listingEnd.listing.status).toBe('ENDED');
    const remote = await eventually(
      () => sandboxQuantity(variant.sku),
      (value) => value?.status === 'ENDED',
    );
    expect(remote?.status).toBe('ENDED');
  });

  it('never returns credentials', async () => {
    const listings = await staff(`{
      marketplaceConnections {
        id name credentials { set hint }
        settings { marketplaceId } lastTest { ok message }
      }
    }`);
    const text = JSON.stringify(listings);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('client-id-7731');
    const connection = listings.marketplaceConnections.find(
      (row: { id: string }) => row.id === connectionId,
    );
    expect(connection.credentials).toEqual({ set: true, hint: '7731' });

    const [row] = await marketplaceDb()
      .select({ id: tables.listings.id })
      .from(tables.listings)
      .where(eq(tables.listings.connectionId, connectionId))
      .limit(1);
    const listing = await stack.query(
      LISTING,
      { id: row!.id },
      callerHeaders(STAFF_ADMIN),
    );
    expect(JSON.stringify(listing)).not.toContain(SECRET);
  });
});
