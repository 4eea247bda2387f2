import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MarketplaceError,
  type ListingPush,
  type MarketplaceAdapter,
  type MarketplaceOrder,
} from '../subgraphs/marketplace/adapters/adapter.js';
import {
  createMarketplaceAdapter,
  MarketplaceCredentialsError,
} from '../subgraphs/marketplace/adapters/index.js';
import { MemorySandboxStorage } from '../subgraphs/marketplace/adapters/sandbox.js';
import { FakeEbay } from './support/fake-ebay.js';

let fake: FakeEbay;

function credentials(overrides: Record<string, unknown> = {}) {
  return {
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    refreshToken: fake.refreshToken,
    marketplaceId: 'EBAY_US',
    merchantLocationKey: 'warehouse-1',
    fulfillmentPolicyId: '6196932000',
    paymentPolicyId: '6196934000',
    returnPolicyId: '6196936000',
    ...overrides,
  };
}

function adapterFor(
  overrides: Record<string, unknown> = {},
  ebay: { orderPageSize?: number } = {},
): MarketplaceAdapter {
  return createMarketplaceAdapter(
    { kind: 'EBAY', settings: { categoryId: '11450' } },
    credentials(overrides),
    {
      config: { EBAY_API_BASE_URL: fake.url, EBAY_AUTH_BASE_URL: fake.url },
      sandboxStorage: new MemorySandboxStorage(),
      ebay: { timeoutMs: 5_000, ...ebay },
    },
  );
}

function push(overrides: Partial<ListingPush> = {}): ListingPush {
  return {
    sku: 'woo-hoodie-red',
    title: 'Hoodie Red',
    description: '<p>Warm cotton hoodie.</p>',
    imageUrls: ['https://images.example.com/hoodie-red.jpg'],
    brand: 'Woo',
    gtin: '4006381333931',
    mpn: 'HD-RED-M',
    condition: 'NEW',
    weightGrams: 450,
    aspects: { Color: ['Red'] },
    price: { amount: 1999, currencyCode: 'USD' },
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

beforeEach(async () => {
  fake = new FakeEbay();
  await fake.start();
});

afterEach(async () => {
  await fake.close();
});

describe('eBay adapter listings', () => {
  it('publish creates item, offer and listing', async () => {
    const adapter = adapterFor();
    const published = await adapter.publish(push());

    expect(published.status).toBe('ACTIVE');
    const item = fake.inventoryItem('woo-hoodie-red') as Record<string, any>;
    expect(item.product.title).toBe('Hoodie Red');
    expect(item.product.description).toBe('<p>Warm cotton hoodie.</p>');
    expect(item.product.imageUrls).toEqual([
      'https://images.example.com/hoodie-red.jpg',
    ]);
    expect(item.product.brand).toBe('Woo');
    expect(item.product.mpn).toBe('HD-RED-M');
    expect(item.product.ean).toEqual(['4006381333931']);
    expect(item.product.aspects).toEqual({
      Color: ['Red'],
      Brand: ['Woo'],
      MPN: ['HD-RED-M'],
    });
    expect(item.condition).toBe('NEW');
    expect(item.packageWeightAndSize).toEqual({
      weight: { value: 450, unit: 'GRAM' },
    });
    expect(fake.quantityOf('woo-hoodie-red')).toBe(5);

    const offers = fake.offersFor('woo-hoodie-red');
    expect(offers).toHaveLength(1);
    const offer = offers[0]!;
    expect(offer.marketplaceId).toBe('EBAY_US');
    expect(offer.format).toBe('FIXED_PRICE');
    expect(offer.pricingSummary).toEqual({
      price: { value: '19.99', currency: 'USD' },
    });
    expect(offer.listingPolicies).toEqual({
      fulfillmentPolicyId: '6196932000',
      paymentPolicyId: '6196934000',
      returnPolicyId: '6196936000',
    });
    expect(offer.merchantLocationKey).toBe('warehouse-1');
    expect(offer.categoryId).toBe('11450');
    expect(offer.status).toBe('PUBLISHED');
    expect(offer.listing?.listingId).toBe(published.externalId);

    const put = fake.requestsTo('PUT', '/sell/inventory/v1/inventory_item/');
    expect(put[0]?.headers['content-language']).toBe('en-US');
  });

  it('republish updates the offer without a second one', async () => {
    const adapter = adapterFor();
    const first = await adapter.publish(push());
    const second = await adapter.publish(
      push({
        price: { amount: 2150, currencyCode: 'USD' },
        quantity: 3,
        title: 'Hoodie Red (cotton)',
        externalId: first.externalId,
      }),
    );

    expect(second.externalId).toBe(first.externalId);
    const offers = fake.offersFor('woo-hoodie-red');
    expect(offers).toHaveLength(1);
    expect(offers[0]!.pricingSummary).toEqual({
      price: { value: '21.50', currency: 'USD' },
    });
    expect(fake.requestsTo('POST', '/sell/inventory/v1/offer')).toHaveLength(2);
    expect(
      fake.requests.filter((request) => request.path.endsWith('/publish')),
    ).toHaveLength(1);
    expect(fake.requestsTo('PUT', '/sell/inventory/v1/offer/')).toHaveLength(1);
    expect(fake.quantityOf('woo-hoodie-red')).toBe(3);
    expect((fake.inventoryItem('woo-hoodie-red') as any).product.title).toBe(
      'Hoodie Red (cotton)',
    );
  });

  it('publish reuses an offer another replica created', async () => {
    const adapter = adapterFor();
    await adapter.publish(push());
    const offerId = fake.offersFor('woo-hoodie-red')[0]!.offerId;
    await adapter.end('woo-hoodie-red', 'ended');
    // This replica's getOffers ran before the other replica's createOffer.
    fake.interceptNext('GET', '/sell/inventory/v1/offer', {
      status: 404,
      errorId: 25713,
      message: 'This Offer is not available.',
    });
    const again = await adapter.publish(push({ quantity: 2 }));

    const createStatuses = fake
      .requestsTo('POST', '/sell/inventory/v1/offer')
      .filter((request) => request.path === '/sell/inventory/v1/offer')
      .map((request) => request.status);
    expect(createStatuses).toEqual([201, 400]);
    expect(fake.offersFor('woo-hoodie-red')).toHaveLength(1);
    expect(fake.offer(offerId)?.listing?.listingId).toBe(again.externalId);
  });

  it('maps conditions and GTIN kinds', async () => {
    const adapter = adapterFor();
    await adapter.publish(
      push({ sku: 'used-1', condition: 'USED', gtin: '036000291452' }),
    );
    await adapter.publish(
      push({ sku: 'refurb-1', condition: 'REFURBISHED', gtin: null }),
    );
    const used = fake.inventoryItem('used-1') as Record<string, any>;
    const refurbished = fake.inventoryItem('refurb-1') as Record<string, any>;
    expect(used.condition).toBe('USED_EXCELLENT');
    expect(used.product.upc).toEqual(['036000291452']);
    expect(refurbished.condition).toBe('SELLER_REFURBISHED');
    expect(refurbished.product.upc).toBeUndefined();
    expect(refurbished.product.ean).toBeUndefined();
  });

  it('publish without a category fails', async () => {
    const adapter = createMarketplaceAdapter(
      { kind: 'EBAY', settings: {} },
      credentials(),
      {
        config: { EBAY_API_BASE_URL: fake.url, EBAY_AUTH_BASE_URL: fake.url },
        sandboxStorage: new MemorySandboxStorage(),
      },
    );
    const error = await caught(adapter.publish(push()));
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('categoryId');
    const withCategory = await adapter.publish(push({ categoryId: '57988' }));
    expect(withCategory.status).toBe('ACTIVE');
    expect(fake.offersFor('woo-hoodie-red')[0]!.categoryId).toBe('57988');
  });

  it('setQuantity sets the SKU quantity', async () => {
    const adapter = adapterFor();
    const { externalId } = await adapter.publish(push());
    await adapter.setQuantity('woo-hoodie-red', externalId, 0);
    expect(fake.quantityOf('woo-hoodie-red')).toBe(0);
    await adapter.setQuantity('woo-hoodie-red', externalId, 7);
    expect(fake.quantityOf('woo-hoodie-red')).toBe(7);

    const bulk = fake.requestsTo(
      'POST',
      '/sell/inventory/v1/bulk_update_price_quantity',
    );
    expect(bulk[1]?.body).toEqual({
      requests: [
        { sku: 'woo-hoodie-red', shipToLocationAvailability: { quantity: 7 } },
      ],
    });
  });

  it('setQuantity of an unknown SKU fails', async () => {
    const adapter = adapterFor();
    const error = await caught(adapter.setQuantity('missing-sku', 'x', 1));
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('HTTP 404');
  });

  it('end withdraws the offer and repeats safely', async () => {
    const adapter = adapterFor();
    const first = await adapter.publish(push());
    await adapter.end('woo-hoodie-red', first.externalId);
    const offer = fake.offersFor('woo-hoodie-red')[0]!;
    expect(offer.status).toBe('UNPUBLISHED');
    expect(offer.listing).toBeUndefined();

    await adapter.end('woo-hoodie-red', first.externalId);
    await adapter.end('never-listed', 'none');
    expect(
      fake.requests.filter((request) => request.path.endsWith('/withdraw')),
    ).toHaveLength(1);

    const relisted = await adapter.publish(push());
    expect(relisted.status).toBe('ACTIVE');
    expect(relisted.externalId).not.toBe(first.externalId);
    expect(fake.offersFor('woo-hoodie-red')).toHaveLength(1);
  });
});

describe('eBay adapter orders', () => {
  it('fetchOrders maps amounts, lines and address exactly', async () => {
    const placed = fake.addOrder({
      buyerEmail: 'a1b2c3@members.ebay.com',
      shipTo: {
        fullName: 'Ada Lovelace',
        addressLine1: '12 Analytical Row',
        addressLine2: 'Apt 3',
        city: 'London',
        stateOrProvince: 'Greater London',
        postalCode: 'NW1 6XE',
        countryCode: 'GB',
        phoneNumber: '+44 20 7946 0000',
      },
      lines: [
        { sku: 'woo-hoodie-red', quantity: 2, unitPrice: '19.99' },
        { sku: 'woo-cap', quantity: 1, unitPrice: '0.10' },
      ],
      priceDiscount: '-2.00',
      deliveryCost: '5.00',
      deliveryDiscount: '-1.00',
      tax: '3.33',
    });

    const page = await adapterFor().fetchOrders(null);

    expect(page.orders).toHaveLength(1);
    const order = page.orders[0]!;
    expect(order.externalOrderId).toBe(placed.orderId);
    expect(order.placedAt).toBe(placed.creationDate);
    expect(order.currencyCode).toBe('USD');
    expect(order.email).toBe('a1b2c3@members.ebay.com');
    expect(order.paid).toBe(true);
    expect(order.lines).toEqual([
      {
        externalLineId: placed.lineItems[0]!.lineItemId,
        sku: 'woo-hoodie-red',
        quantity: 2,
        unitPriceAmount: 1999,
        totalAmount: 3998,
      },
      {
        externalLineId: placed.lineItems[1]!.lineItemId,
        sku: 'woo-cap',
        quantity: 1,
        unitPriceAmount: 10,
        totalAmount: 10,
      },
    ]);
    expect(order.subtotalAmount).toBe(3808);
    expect(order.shippingAmount).toBe(400);
    expect(order.taxAmount).toBe(333);
    expect(order.totalAmount).toBe(4541);
    expect(order.shippingAddress).toEqual({
      name: 'Ada Lovelace',
      line1: '12 Analytical Row',
      line2: 'Apt 3',
      city: 'London',
      region: 'Greater London',
      postalCode: 'NW1 6XE',
      countryCode: 'GB',
      phone: '+44 20 7946 0000',
    });
  });

  it('fetchOrders maps zero-decimal currencies', async () => {
    fake.addOrder({
      currency: 'JPY',
      lines: [{ sku: 'jp-1', quantity: 3, unitPrice: '1200' }],
      deliveryCost: '500',
    });
    const [order] = (await adapterFor().fetchOrders(null)).orders;
    expect(order?.lines[0]?.unitPriceAmount).toBe(1200);
    expect(order?.subtotalAmount).toBe(3600);
    expect(order?.totalAmount).toBe(4100);
  });

  it('fetchOrders cursor returns changes once', async () => {
    const adapter = adapterFor();
    const paid = fake.addOrder({
      lines: [{ sku: 'a', quantity: 1, unitPrice: '1.00' }],
    });
    const pending = fake.addOrder({
      paymentStatus: 'PENDING',
      lines: [{ sku: 'b', quantity: 1, unitPrice: '2.00' }],
    });

    const first = await adapter.fetchOrders(null);
    expect(first.orders.map((order) => order.externalOrderId).sort()).toEqual(
      [paid.orderId, pending.orderId].sort(),
    );
    expect(
      first.orders.find((order) => order.externalOrderId === pending.orderId)
        ?.paid,
    ).toBe(false);
    expect(first.nextCursor).not.toBeNull();

    const idle = await adapter.fetchOrders(first.nextCursor);
    expect(idle.orders).toEqual([]);
    expect(idle.nextCursor).toBeNull();

    await new Promise((resolve) => setTimeout(resolve, 5));
    fake.setOrderPaymentStatus(pending.orderId, 'PAID');
    const changed = await adapter.fetchOrders(first.nextCursor);
    expect(changed.orders.map((order) => order.externalOrderId)).toEqual([
      pending.orderId,
    ]);
    expect(changed.orders[0]?.paid).toBe(true);

    const after = await adapter.fetchOrders(changed.nextCursor);
    expect(after.orders).toEqual([]);
    expect(after.nextCursor).toBeNull();
  });

  it('fetchOrders pages through every order', async () => {
    const adapter = adapterFor({}, { orderPageSize: 2 });
    const placed = new Set<string>();
    for (let index = 0; index < 5; index += 1) {
      placed.add(
        fake.addOrder({
          creationDate: new Date(Date.now() - index * 60_000).toISOString(),
          lines: [{ sku: `s${index}`, quantity: 1, unitPrice: '1.00' }],
        }).orderId,
      );
    }
    const seen = new Set<string>();
    let cursor: string | null = null;
    for (let calls = 0; calls < 10; calls += 1) {
      const page: { orders: MarketplaceOrder[]; nextCursor: string | null } =
        await adapter.fetchOrders(cursor);
      for (const order of page.orders) seen.add(order.externalOrderId);
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(placed);
    const offsets = fake
      .requestsTo('GET', '/sell/fulfillment/v1/order')
      .map((request) => request.query.offset);
    expect(offsets.slice(0, 3)).toEqual(['0', '2', '4']);
  });

  it('fetchOrders rejects a foreign cursor', async () => {
    const error = await caught(adapterFor().fetchOrders('not-a-cursor'));
    expect(error.retryable).toBe(false);
  });

  it('pushFulfillment sends lines, carrier and tracking', async () => {
    const order = fake.addOrder({
      lines: [
        { sku: 'a', quantity: 2, unitPrice: '5.00' },
        { sku: 'b', quantity: 1, unitPrice: '7.00' },
      ],
    });
    const adapter = adapterFor();
    const lineA = order.lineItems[0]!.lineItemId;
    await adapter.pushFulfillment({
      externalOrderId: order.orderId,
      lines: [{ externalLineId: lineA, quantity: 2 }],
      carrier: 'usps',
      trackingNumber: '9400100000000000000001',
      shippedAt: '2025-03-04T10:20:30Z',
    });

    const posts = fake.requestsTo('POST', '/sell/fulfillment/v1/order/');
    expect(posts).toHaveLength(1);
    expect(posts[0]!.body).toEqual({
      lineItems: [{ lineItemId: lineA, quantity: 2 }],
      shippedDate: '2025-03-04T10:20:30.000Z',
      shippingCarrierCode: 'USPS',
      trackingNumber: '9400100000000000000001',
    });
    expect(fake.order(order.orderId)?.orderFulfillmentStatus).toBe(
      'IN_PROGRESS',
    );

    // A repeated push after a lost response sends nothing.
    await adapter.pushFulfillment({
      externalOrderId: order.orderId,
      lines: [{ externalLineId: lineA, quantity: 2 }],
      carrier: 'usps',
      trackingNumber: '9400100000000000000001',
      shippedAt: '2025-03-04T10:20:30Z',
    });
    expect(fake.fulfillmentsOf(order.orderId)).toHaveLength(1);

    // No lines: every unshipped line.
    await adapter.pushFulfillment({
      externalOrderId: order.orderId,
      lines: [],
      carrier: 'UPS',
      trackingNumber: '1Z999AA10123456784',
      shippedAt: '2025-03-05T08:00:00Z',
    });
    const second = fake.fulfillmentsOf(order.orderId)[1]!;
    expect(second.lineItems).toEqual([
      { lineItemId: order.lineItems[1]!.lineItemId, quantity: 1 },
    ]);
    expect(fake.order(order.orderId)?.orderFulfillmentStatus).toBe('FULFILLED');
  });
});

describe('eBay adapter errors and tokens', () => {
  it('429 surfaces Retry-After as retryAfterMs', async () => {
    const adapter = adapterFor();
    fake.setCallBudget(2);
    const error = await caught(adapter.publish(push()));

    expect(error.retryable).toBe(true);
    expect(error.message).toContain('HTTP 429');
    expect(error.message).toContain('2001');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(error.retryAfterMs! % 1000).toBe(0);
  });

  it('caches the access token', async () => {
    const adapter = adapterFor();
    await adapter.testConnection();
    await adapter.publish(push());
    expect(fake.tokenRequestCount).toBe(1);
    const tokenRequest = fake.requestsTo(
      'POST',
      '/identity/v1/oauth2/token',
    )[0]!;
    expect(tokenRequest.body).toMatchObject({
      grant_type: 'refresh_token',
      refresh_token: fake.refreshToken,
    });
    expect(String((tokenRequest.body as any).scope).split(' ')).toContain(
      'https://api.ebay.com/oauth/api_scope/sell.inventory',
    );
  });

  it('refreshes the token once on 401', async () => {
    const adapter = adapterFor();
    const { externalId } = await adapter.publish(push());
    fake.expireAccessTokens();
    await adapter.setQuantity('woo-hoodie-red', externalId, 4);

    expect(fake.quantityOf('woo-hoodie-red')).toBe(4);
    expect(fake.tokenRequestCount).toBe(2);
    const statuses = fake
      .requestsTo('POST', '/sell/inventory/v1/bulk_update_price_quantity')
      .map((request) => request.status);
    expect(statuses).toEqual([401, 200]);
  });

  it('a second 401 asks to reconnect', async () => {
    fake.tokenLifetimeSeconds = 0;
    const error = await caught(adapterFor().testConnection());
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('reconnect');
    expect(fake.tokenRequestCount).toBe(2);
  });

  it('rejected credentials are not retryable', async () => {
    const badSecret = await caught(
      adapterFor({ clientSecret: 'PRD-wrong-secret-123' }).testConnection(),
    );
    expect(badSecret.retryable).toBe(false);
    expect(badSecret.message).toContain('invalid_client');
    expect(badSecret.message).toContain('reconnect');

    const badRefresh = await caught(
      adapterFor({ refreshToken: 'v^1.1#revoked-token' }).testConnection(),
    );
    expect(badRefresh.retryable).toBe(false);
    expect(badRefresh.message).toContain('invalid_grant');
  });

  it('outages are retryable', async () => {
    const adapter = adapterFor();
    await fake.goDown('unavailable', { retryAfterSeconds: 30 });
    const unavailable = await caught(adapter.testConnection());
    expect(unavailable.retryable).toBe(true);
    expect(unavailable.message).toContain('HTTP 503');

    await fake.comeUp();
    await adapter.testConnection();
    await fake.goDown('refused');
    const refused = await caught(adapter.testConnection());
    expect(refused.retryable).toBe(true);
    expect(refused.message).toContain('network error');

    await fake.comeUp();
    await adapter.testConnection();
  });

  it('credentials never appear in errors', async () => {
    const secrets = [fake.clientSecret, fake.refreshToken];
    const errors: MarketplaceError[] = [];
    errors.push(
      await caught(
        adapterFor({ refreshToken: 'v^1.1#wrong-refresh-token' }).publish(
          push(),
        ),
      ),
    );
    const adapter = adapterFor();
    await adapter.testConnection();
    fake.setCallBudget(1);
    errors.push(await caught(adapter.publish(push())));
    fake.setCallBudget(null);
    errors.push(await caught(adapter.setQuantity('missing', 'x', 1)));
    fake.tokenLifetimeSeconds = 0;
    fake.expireAccessTokens();
    errors.push(await caught(adapter.testConnection()));

    expect(errors).toHaveLength(4);
    for (const error of errors) {
      const text = `${error.message} ${String(error.stack)} ${JSON.stringify(error)}`;
      for (const secret of secrets) expect(text).not.toContain(secret);
      expect(text).not.toContain('Bearer');
      expect(text).not.toContain('v^1.1#wrong-refresh-token');
    }
  });
});

describe('createMarketplaceAdapter credentials', () => {
  const options = () => ({
    config: { EBAY_API_BASE_URL: fake.url, EBAY_AUTH_BASE_URL: fake.url },
    sandboxStorage: new MemorySandboxStorage(),
  });

  it('names each missing or invalid field', () => {
    const { clientSecret: _secret, ...withoutSecret } = credentials();
    const cases: [unknown, string][] = [
      [withoutSecret, 'clientSecret'],
      [credentials({ refreshToken: '' }), 'refreshToken'],
      [credentials({ marketplaceId: 'US' }), 'marketplaceId'],
      [
        credentials({ merchantLocationKey: 'x'.repeat(40) }),
        'merchantLocationKey',
      ],
      [credentials({ client_id: 'x' }), 'client_id'],
      [null, 'must be an object'],
    ];
    for (const [input, field] of cases) {
      let message = '';
      try {
        createMarketplaceAdapter(
          { kind: 'EBAY', settings: {} },
          input,
          options(),
        );
      } catch (error) {
        expect(error).toBeInstanceOf(MarketplaceCredentialsError);
        message = (error as Error).message;
      }
      expect(message).toContain(field);
      expect(message).not.toContain(fake.clientSecret);
    }
  });

  it('requires each policy id somewhere', () => {
    const input = credentials({ paymentPolicyId: undefined });
    expect(() =>
      createMarketplaceAdapter(
        { kind: 'EBAY', settings: {} },
        input,
        options(),
      ),
    ).toThrow(/paymentPolicyId: missing/);
    const adapter = createMarketplaceAdapter(
      { kind: 'EBAY', settings: { paymentPolicyId: '42' } },
      input,
      options(),
    );
    expect(adapter.kind).toBe('EBAY');
  });

  it('rejects invalid settings and unknown kinds', () => {
    expect(() =>
      createMarketplaceAdapter(
        { kind: 'EBAY', settings: { categoryId: 'shoes' } },
        credentials(),
        options(),
      ),
    ).toThrow(/categoryId/);
    expect(() =>
      createMarketplaceAdapter({ kind: 'ETSY', settings: {} }, {}, options()),
    ).toThrow(/Unknown marketplace kind "ETSY"/);
  });
});
