import { describe, expect, it } from 'vitest';
import {
  MarketplaceError,
  type ListingPush,
  type MarketplaceOrder,
} from '../subgraphs/marketplace/adapters/adapter.js';
import {
  createMarketplaceAdapter,
  MarketplaceCredentialsError,
} from '../subgraphs/marketplace/adapters/index.js';
import {
  failNextSandboxCalls,
  markSandboxOrderPaid,
  MemorySandboxStorage,
  placeSandboxOrder,
  readSandboxListing,
  readSandboxOrder,
  SandboxMarketplaceAdapter,
} from '../subgraphs/marketplace/adapters/sandbox.js';

function push(overrides: Partial<ListingPush> = {}): ListingPush {
  return {
    sku: 'woo-hoodie-red',
    title: 'Hoodie Red',
    description: 'Warm cotton hoodie.',
    imageUrls: [],
    brand: null,
    gtin: null,
    mpn: null,
    condition: 'NEW',
    weightGrams: null,
    price: { amount: 4200, currencyCode: 'USD' },
    quantity: 5,
    externalId: null,
    ...overrides,
  };
}

async function caught(promise: Promise<unknown>): Promise<MarketplaceError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof MarketplaceError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

async function fetchAll(
  adapter: SandboxMarketplaceAdapter,
  cursor: string | null,
): Promise<{ orders: MarketplaceOrder[]; cursor: string | null }> {
  const orders: MarketplaceOrder[] = [];
  let current = cursor;
  for (let calls = 0; calls < 20; calls += 1) {
    const page = await adapter.fetchOrders(current);
    orders.push(...page.orders);
    if (page.nextCursor === null) return { orders, cursor: current };
    current = page.nextCursor;
  }
  throw new Error('fetchOrders did not finish');
}

describe('sandbox adapter listings', () => {
  it('publish records the listing', async () => {
    const storage = new MemorySandboxStorage();
    const adapter = new SandboxMarketplaceAdapter(storage);
    const published = await adapter.publish(push());

    expect(published.status).toBe('ACTIVE');
    expect(published.externalId).toMatch(/^SBX-[0-9A-F]{16}$/);
    const listing = await readSandboxListing(storage, 'woo-hoodie-red');
    expect(listing?.externalId).toBe(published.externalId);
    expect(listing?.price).toEqual({ amount: 4200, currencyCode: 'USD' });
    expect(listing?.quantity).toBe(5);
    expect(listing?.status).toBe('ACTIVE');
    expect(listing?.content.title).toBe('Hoodie Red');
    expect(listing?.publishCount).toBe(1);
  });

  it('republish updates the same listing', async () => {
    const storage = new MemorySandboxStorage();
    const adapter = new SandboxMarketplaceAdapter(storage);
    const first = await adapter.publish(push());
    const second = await adapter.publish(
      push({
        price: { amount: 3999, currencyCode: 'USD' },
        externalId: first.externalId,
      }),
    );
    expect(second.externalId).toBe(first.externalId);
    const listing = await readSandboxListing(storage, 'woo-hoodie-red');
    expect(listing?.price.amount).toBe(3999);
    expect(listing?.publishCount).toBe(2);
  });

  it('replicas share listings through storage', async () => {
    const storage = new MemorySandboxStorage();
    const one = new SandboxMarketplaceAdapter(storage);
    const two = new SandboxMarketplaceAdapter(storage);
    const { externalId } = await one.publish(push());
    await two.setQuantity('woo-hoodie-red', externalId, 9);
    expect(
      (await readSandboxListing(storage, 'woo-hoodie-red'))?.quantity,
    ).toBe(9);
  });

  it('rejects invalid pushes', async () => {
    const adapter = new SandboxMarketplaceAdapter(new MemorySandboxStorage());
    const cases: [Partial<ListingPush>, string][] = [
      [{ sku: '' }, 'SKU'],
      [{ title: ' ' }, 'title'],
      [{ price: { amount: 10.5, currencyCode: 'USD' } }, 'price'],
      [{ price: { amount: 100, currencyCode: 'XYZ' } }, 'currency'],
      [{ quantity: -1 }, 'quantity'],
    ];
    for (const [overrides, word] of cases) {
      const error = await caught(adapter.publish(push(overrides)));
      expect(error.retryable).toBe(false);
      expect(error.message).toContain(word);
    }
  });

  it('setQuantity and end check the listing', async () => {
    const storage = new MemorySandboxStorage();
    const adapter = new SandboxMarketplaceAdapter(storage);
    const { externalId } = await adapter.publish(push());

    await adapter.setQuantity('woo-hoodie-red', externalId, 0);
    expect(
      (await readSandboxListing(storage, 'woo-hoodie-red'))?.quantity,
    ).toBe(0);
    const wrongId = await caught(
      adapter.setQuantity('woo-hoodie-red', 'SBX-OTHER', 1),
    );
    expect(wrongId.retryable).toBe(false);
    const unknown = await caught(adapter.end('missing', 'SBX-MISSING'));
    expect(unknown.message).toContain('no listing');

    await adapter.end('woo-hoodie-red', externalId);
    await adapter.end('woo-hoodie-red', externalId);
    expect((await readSandboxListing(storage, 'woo-hoodie-red'))?.status).toBe(
      'ENDED',
    );
    await adapter.publish(push());
    expect((await readSandboxListing(storage, 'woo-hoodie-red'))?.status).toBe(
      'ACTIVE',
    );
  });
});

describe('sandbox adapter orders', () => {
  it('fetchOrders pages by cursor and resumes', async () => {
    const storage = new MemorySandboxStorage();
    const adapter = new SandboxMarketplaceAdapter(storage, { pageSize: 2 });
    for (const id of ['A', 'B', 'C']) {
      await placeSandboxOrder(storage, {
        externalOrderId: id,
        currencyCode: 'USD',
        lines: [{ sku: `sku-${id}`, quantity: 1, unitPriceAmount: 500 }],
      });
    }

    const first = await adapter.fetchOrders(null);
    expect(first.orders.map((order) => order.externalOrderId)).toEqual([
      'A',
      'B',
    ]);
    const second = await adapter.fetchOrders(first.nextCursor);
    expect(second.orders.map((order) => order.externalOrderId)).toEqual(['C']);
    const idle = await adapter.fetchOrders(second.nextCursor);
    expect(idle).toEqual({ orders: [], nextCursor: null });

    await placeSandboxOrder(storage, {
      externalOrderId: 'D',
      currencyCode: 'USD',
      lines: [{ sku: 'sku-D', quantity: 1, unitPriceAmount: 500 }],
    });
    const resumed = await adapter.fetchOrders(second.nextCursor);
    expect(resumed.orders.map((order) => order.externalOrderId)).toEqual(['D']);
  });

  it('placeSandboxOrder computes amounts and takes stock', async () => {
    const storage = new MemorySandboxStorage();
    const adapter = new SandboxMarketplaceAdapter(storage);
    await adapter.publish(push({ quantity: 3 }));
    const order = await placeSandboxOrder(storage, {
      currencyCode: 'USD',
      email: 'buyer@example.com',
      lines: [
        { sku: 'woo-hoodie-red', quantity: 2, unitPriceAmount: 4200 },
        { sku: 'unlisted', quantity: 1, unitPriceAmount: 199 },
      ],
      shippingAmount: 500,
      taxAmount: 713,
    });

    expect(order.subtotalAmount).toBe(8599);
    expect(order.totalAmount).toBe(9812);
    expect(order.paid).toBe(true);
    expect(order.lines[0]?.externalLineId).toBe(`${order.externalOrderId}-1`);
    expect(
      (await readSandboxListing(storage, 'woo-hoodie-red'))?.quantity,
    ).toBe(1);
    await expect(
      placeSandboxOrder(storage, {
        currencyCode: 'USD',
        lines: [{ sku: 'woo-hoodie-red', quantity: 2, unitPriceAmount: 4200 }],
      }),
    ).rejects.toThrow(/has 1 units, the order requests 2/);
    await expect(
      placeSandboxOrder(storage, {
        externalOrderId: order.externalOrderId,
        currencyCode: 'USD',
        lines: [{ sku: 'x', quantity: 1, unitPriceAmount: 1 }],
      }),
    ).rejects.toThrow(/already exists/);
  });

  it('returns an order again once paid', async () => {
    const storage = new MemorySandboxStorage();
    const adapter = new SandboxMarketplaceAdapter(storage);
    await placeSandboxOrder(storage, {
      externalOrderId: 'P1',
      currencyCode: 'EUR',
      paid: false,
      lines: [{ sku: 'a', quantity: 1, unitPriceAmount: 100 }],
    });
    const first = await fetchAll(adapter, null);
    expect(
      first.orders.map((order) => [order.externalOrderId, order.paid]),
    ).toEqual([['P1', false]]);

    await markSandboxOrderPaid(storage, 'P1');
    const second = await fetchAll(adapter, first.cursor);
    expect(
      second.orders.map((order) => [order.externalOrderId, order.paid]),
    ).toEqual([['P1', true]]);

    // From the start, the order appears once, in its latest state.
    const fromStart = await fetchAll(adapter, null);
    expect(fromStart.orders.map((order) => order.paid)).toEqual([true]);
  });

  it('rejects a cursor beyond the log', async () => {
    const adapter = new SandboxMarketplaceAdapter(new MemorySandboxStorage());
    const error = await caught(adapter.fetchOrders('7'));
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('cursor');
  });

  it('pushFulfillment records shipments', async () => {
    const storage = new MemorySandboxStorage();
    const adapter = new SandboxMarketplaceAdapter(storage);
    const order = await placeSandboxOrder(storage, {
      externalOrderId: 'F1',
      currencyCode: 'USD',
      lines: [
        { sku: 'a', quantity: 2, unitPriceAmount: 100 },
        { sku: 'b', quantity: 1, unitPriceAmount: 100 },
      ],
    });
    const lineA = order.lines[0]!.externalLineId;
    const shipment = {
      externalOrderId: 'F1',
      lines: [{ externalLineId: lineA, quantity: 2 }],
      carrier: 'USPS',
      trackingNumber: '9400100000000000000001',
      shippedAt: '2025-03-04T10:20:30Z',
    };
    await adapter.pushFulfillment(shipment);
    await adapter.pushFulfillment(shipment);
    let record = await readSandboxOrder(storage, 'F1');
    expect(record?.fulfillments).toEqual([
      {
        lines: [{ externalLineId: lineA, quantity: 2 }],
        carrier: 'USPS',
        trackingNumber: '9400100000000000000001',
        shippedAt: '2025-03-04T10:20:30Z',
      },
    ]);

    const overShip = await caught(
      adapter.pushFulfillment({ ...shipment, trackingNumber: 'T2' }),
    );
    expect(overShip.retryable).toBe(false);
    expect(overShip.message).toContain('0 units left');

    await adapter.pushFulfillment({
      ...shipment,
      lines: [],
      trackingNumber: 'T3',
    });
    record = await readSandboxOrder(storage, 'F1');
    expect(record?.fulfillments[1]?.lines).toEqual([
      { externalLineId: order.lines[1]!.externalLineId, quantity: 1 },
    ]);

    const missing = await caught(
      adapter.pushFulfillment({ ...shipment, externalOrderId: 'NOPE' }),
    );
    expect(missing.message).toContain('no order NOPE');
  });
});

describe('sandbox adapter outages and accounts', () => {
  it('fails the next N calls retryably', async () => {
    const storage = new MemorySandboxStorage();
    const one = new SandboxMarketplaceAdapter(storage);
    const two = new SandboxMarketplaceAdapter(storage);
    await failNextSandboxCalls(storage, 2, { retryAfterMs: 1500 });

    const first = await caught(one.publish(push()));
    const second = await caught(two.fetchOrders(null));
    for (const error of [first, second]) {
      expect(error.retryable).toBe(true);
      expect(error.retryAfterMs).toBe(1500);
      expect(error.message).toContain('simulated outage');
    }
    await one.publish(push());
    await two.testConnection();
  });

  it('keeps accounts apart', async () => {
    const storage = new MemorySandboxStorage();
    const shop = new SandboxMarketplaceAdapter(storage, { account: 'shop-a' });
    const other = new SandboxMarketplaceAdapter(storage, { account: 'shop-b' });
    const a = await shop.publish(push());
    const b = await other.publish(push());
    expect(a.externalId).not.toBe(b.externalId);
    await placeSandboxOrder(
      storage,
      {
        currencyCode: 'USD',
        lines: [{ sku: 'x', quantity: 1, unitPriceAmount: 1 }],
      },
      { account: 'shop-a' },
    );
    expect((await other.fetchOrders(null)).orders).toEqual([]);
    expect((await shop.fetchOrders(null)).orders).toHaveLength(1);
  });

  it('createMarketplaceAdapter validates sandbox credentials', () => {
    const options = {
      config: {
        EBAY_API_BASE_URL: 'http://127.0.0.1:9',
        EBAY_AUTH_BASE_URL: 'http://127.0.0.1:9',
      },
      sandboxStorage: new MemorySandboxStorage(),
    };
    expect(
      createMarketplaceAdapter(
        { kind: 'SANDBOX', settings: null },
        null,
        options,
      ).kind,
    ).toBe('SANDBOX');
    expect(
      createMarketplaceAdapter(
        { kind: 'SANDBOX', settings: {} },
        { account: 'demo' },
        options,
      ).kind,
    ).toBe('SANDBOX');
    expect(() =>
      createMarketplaceAdapter(
        { kind: 'SANDBOX', settings: {} },
        { account: 'a b' },
        options,
      ),
    ).toThrow(MarketplaceCredentialsError);
    expect(() =>
      createMarketplaceAdapter(
        { kind: 'SANDBOX', settings: {} },
        { token: 'x' },
        options,
      ),
    ).toThrow(/unknown field\(s\) token/);
  });
});
