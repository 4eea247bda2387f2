import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../platform/database.js';
import * as tables from '../subgraphs/orders/db/tables.js';
import {
  ADMIN,
  CHECKOUT_COMPLETE,
  CHECKOUT_CREATE,
  CHECKOUT_UPDATE,
  quantityAvailable,
  setStock,
} from './support/checkout.js';
import { startTestStack, type TestStack } from './support/stack.js';

// The shipping origin is the default, Springfield IL (US). Illinois is zone
// A, the rest of the US zone B, and Great Britain, outside the North
// American group, zone D of the sandbox's default rate table.
const ZONE_B = {
  name: 'Grace Hopper',
  line1: '1 Market Street',
  city: 'San Francisco',
  region: 'CA',
  postalCode: '94105',
  countryCode: 'US',
};
const ZONE_D = {
  name: 'Ada Lovelace',
  line1: '12 St James Square',
  city: 'London',
  postalCode: 'SW1Y 4JH',
  countryCode: 'GB',
};

const METHOD_FIELDS = `code title carrier service estimatedDays price { amount currencyCode }`;
const SHIPPING_FIELDS = `id requiresShipping
  availableShippingMethods { ${METHOD_FIELDS} }
  shippingMethod { ${METHOD_FIELDS} }
  subtotalPrice { amount } shippingPrice { amount } totalPrice { amount }`;
const CREATE = `mutation ($input: CheckoutCreateInput!) {
  checkoutCreate(input: $input) {
    checkout { ${SHIPPING_FIELDS} }
    userErrors { field message code }
  }
}`;
const UPDATE = `mutation ($input: CheckoutUpdateInput!) {
  checkoutUpdate(input: $input) {
    checkout { ${SHIPPING_FIELDS} }
    userErrors { field message code }
  }
}`;

function method(
  code: string,
  carrier: string,
  service: string,
  amount: string,
  estimatedDays: number | null,
) {
  return {
    code,
    title: code === 'flat' ? 'Flat rate' : `${carrier} ${service}`,
    carrier,
    service,
    estimatedDays,
    price: { amount, currencyCode: 'USD' },
  };
}

const FLAT = method('flat', 'Flat rate', 'Standard', '5.00', null);

async function createWeightedProduct(
  stack: TestStack,
  sku: string,
  price: string,
  options: {
    weight?: { value: string; unit: string };
    requiresShipping?: boolean;
  },
): Promise<void> {
  const created = await stack.query(
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { product { id } userErrors { field message } }
    }`,
    {
      input: {
        title: `Product ${sku}`,
        status: 'ACTIVE',
        variants: [
          {
            sku,
            price: { amount: price },
            requiresShipping: options.requiresShipping ?? true,
            ...(options.weight ? { weight: options.weight } : {}),
          },
        ],
      },
    },
    ADMIN,
  );
  if (created.errors || created.data!.productCreate.userErrors.length > 0) {
    throw new Error(`productCreate failed: ${JSON.stringify(created)}`);
  }
  await setStock(stack, sku, 50);
}

let stack: TestStack;
let ordersDb: Database<typeof tables>;

beforeAll(async () => {
  stack = await startTestStack({
    CHECKOUT_TAX_RATE_PERCENT: '0',
    SHIPPING_FLAT_RATE: '5.00',
    PAYMENT_PROVIDER: 'sandbox',
    CHECKOUT_RECONCILE_INTERVAL_MS: '0',
  });
  ordersDb = stack.subgraphs.orders.database.db as Database<typeof tables>;
  await createWeightedProduct(stack, 'hoodie', '30.00', {
    weight: { value: '2.5', unit: 'POUNDS' },
  });
  await createWeightedProduct(stack, 'cap', '12.00', {
    weight: { value: '300', unit: 'GRAMS' },
  });
  await createWeightedProduct(stack, 'ebook', '9.99', {
    requiresShipping: false,
  });
});

afterAll(async () => {
  await stack?.close();
});

const PARCEL = [
  { sku: 'hoodie', quantity: 1 },
  { sku: 'cap', quantity: 1 },
];

describe('checkout shipping quotes', () => {
  it('prices each zone by the sandbox table', async () => {
    // 2.5 lb = 1133.98 g, plus 300 g: 1434 g, the 1–2 kg bracket.
    // Zone B: Ground 11.95 (4 days), Express 23.95 (2 days).
    const created = await stack.query(CREATE, {
      input: {
        lines: PARCEL,
        email: 'grace@example.com',
        shippingAddress: ZONE_B,
      },
    });
    expect(created.data!.checkoutCreate.userErrors).toEqual([]);
    const checkout = created.data!.checkoutCreate.checkout;
    expect(checkout.availableShippingMethods).toEqual([
      FLAT,
      method('sandbox:ground', 'Sandbox Post', 'Ground', '11.95', 4),
      method('sandbox:express', 'Sandbox Post', 'Express', '23.95', 2),
    ]);
    expect(checkout.shippingMethod).toBeNull();

    // Zone D: Ground 44.95 (12 days), Express 74.95 (5 days).
    const moved = await stack.query(UPDATE, {
      input: { id: checkout.id, shippingAddress: ZONE_D },
    });
    expect(moved.data!.checkoutUpdate.userErrors).toEqual([]);
    expect(
      moved.data!.checkoutUpdate.checkout.availableShippingMethods,
    ).toEqual([
      FLAT,
      method('sandbox:ground', 'Sandbox Post', 'Ground', '44.95', 12),
      method('sandbox:express', 'Sandbox Post', 'Express', '74.95', 5),
    ]);
  });

  it('reprices the chosen method when the address changes', async () => {
    const created = await stack.query(CREATE, {
      input: {
        lines: PARCEL,
        email: 'grace@example.com',
        shippingAddress: ZONE_B,
        shippingMethodCode: 'sandbox:ground',
      },
    });
    const { id } = created.data!.checkoutCreate.checkout;
    expect(created.data!.checkoutCreate.checkout).toMatchObject({
      shippingMethod: { code: 'sandbox:ground', price: { amount: '11.95' } },
      shippingPrice: { amount: '11.95' },
      subtotalPrice: { amount: '42.00' },
      totalPrice: { amount: '53.95' },
    });
    const moved = await stack.query(UPDATE, {
      input: { id, shippingAddress: ZONE_D },
    });
    expect(moved.data!.checkoutUpdate.checkout).toMatchObject({
      shippingMethod: { code: 'sandbox:ground', price: { amount: '44.95' } },
      shippingPrice: { amount: '44.95' },
    });
    const [row] = await ordersDb
      .select()
      .from(tables.checkouts)
      .where(eq(tables.checkouts.id, id));
    expect(row!.shippingMethodPriceAmount).toBe(4495);
  });

  it('freezes the chosen price on the order', async () => {
    const created = await stack.query(CREATE, {
      input: {
        lines: PARCEL,
        email: 'grace@example.com',
        shippingAddress: ZONE_D,
        shippingMethodCode: 'sandbox:express',
      },
    });
    const { id } = created.data!.checkoutCreate.checkout;
    const completed = await stack.query(CHECKOUT_COMPLETE, {
      input: {
        checkoutId: id,
        payment: { method: 'BANK_TRANSFER' },
        idempotencyKey: randomUUID(),
      },
    });
    expect(completed.data!.checkoutComplete.userErrors).toEqual([]);
    const order = completed.data!.checkoutComplete.order;
    expect(order.shippingPrice).toEqual({ amount: '74.95' });
    expect(order.totalPrice).toEqual({ amount: '116.95' });
    const [row] = await ordersDb
      .select()
      .from(tables.orders)
      .where(eq(tables.orders.id, order.id));
    expect(row!.shippingAmount).toBe(7495);
    expect(row!.shippingMethodCode).toBe('sandbox:express');
    expect(row!.shippingMethodTitle).toBe('Sandbox Post Express');
  });

  it('needs no address or method for digital lines', async () => {
    const created = await stack.query(CREATE, {
      input: {
        lines: [{ sku: 'ebook', quantity: 1 }],
        email: 'grace@example.com',
      },
    });
    const checkout = created.data!.checkoutCreate.checkout;
    expect(checkout.requiresShipping).toBe(false);
    expect(checkout.availableShippingMethods).toEqual([]);
    expect(checkout.shippingMethod).toBeNull();
    const completed = await stack.query(CHECKOUT_COMPLETE, {
      input: {
        checkoutId: checkout.id,
        payment: { method: 'BANK_TRANSFER' },
        idempotencyKey: randomUUID(),
      },
    });
    expect(completed.data!.checkoutComplete.userErrors).toEqual([]);
    expect(completed.data!.checkoutComplete.order.shippingPrice).toEqual({
      amount: '0.00',
    });
  });

  it('rejects an unknown method code by name', async () => {
    const created = await stack.query(CREATE, {
      input: { lines: PARCEL, shippingAddress: ZONE_B },
    });
    const { id } = created.data!.checkoutCreate.checkout;
    const result = await stack.query(UPDATE, {
      input: { id, shippingMethodCode: 'sandbox:teleport' },
    });
    expect(result.data!.checkoutUpdate).toEqual({
      checkout: null,
      userErrors: [
        {
          field: ['input', 'shippingMethodCode'],
          message:
            'Unknown shipping method "sandbox:teleport": use one of the checkout\'s availableShippingMethods (flat, sandbox:ground, sandbox:express).',
          code: 'INVALID',
        },
      ],
    });
  });

  it('offers nothing and refuses completion without an address', async () => {
    const created = await stack.query(CREATE, {
      input: { lines: PARCEL, email: 'grace@example.com' },
    });
    const checkout = created.data!.checkoutCreate.checkout;
    expect(checkout.availableShippingMethods).toEqual([]);
    const chosen = await stack.query(UPDATE, {
      input: { id: checkout.id, shippingMethodCode: 'flat' },
    });
    expect(chosen.data!.checkoutUpdate.userErrors[0]).toMatchObject({
      field: ['input', 'shippingMethodCode'],
      code: 'INVALID',
    });
    const completed = await stack.query(CHECKOUT_COMPLETE, {
      input: {
        checkoutId: checkout.id,
        payment: { method: 'BANK_TRANSFER' },
        idempotencyKey: randomUUID(),
      },
    });
    expect(completed.data!.checkoutComplete.userErrors).toEqual([
      {
        field: ['checkout', 'shippingAddress'],
        message:
          'The checkout has items to ship but no shipping address; set one with checkoutUpdate, then choose a shipping method.',
        code: 'REQUIRED',
      },
      {
        field: ['checkout', 'shippingMethodCode'],
        message:
          "The checkout has items to ship but no shipping method; choose one of the checkout's availableShippingMethods, which a shipping address brings, with checkoutUpdate.",
        code: 'REQUIRED',
      },
    ]);
  });

  it('rejects a changed price before reserving stock', async () => {
    const created = await stack.query(CREATE, {
      input: {
        lines: PARCEL,
        email: 'grace@example.com',
        shippingAddress: ZONE_B,
        shippingMethodCode: 'sandbox:ground',
      },
    });
    const { id } = created.data!.checkoutCreate.checkout;
    // The quote the customer saw said 9.95; the carrier now asks 11.95.
    await ordersDb
      .update(tables.checkouts)
      .set({ shippingMethodPriceAmount: 995 })
      .where(eq(tables.checkouts.id, id));
    const before = await quantityAvailable(stack, 'hoodie');
    const completed = await stack.query(CHECKOUT_COMPLETE, {
      input: {
        checkoutId: id,
        payment: { method: 'BANK_TRANSFER' },
        idempotencyKey: randomUUID(),
      },
    });
    expect(completed.data!.checkoutComplete).toMatchObject({
      order: null,
      userErrors: [
        {
          field: ['checkout', 'shippingMethodCode'],
          message:
            'The price of shipping method "sandbox:ground" changed from 9.95 to 11.95 USD since it was chosen; choose a shipping method again with checkoutUpdate to accept the new price.',
          code: 'SHIPPING_METHOD_CHANGED',
        },
      ],
    });
    expect(await quantityAvailable(stack, 'hoodie')).toBe(before);

    // Choosing again stores the current price, and the purchase goes through.
    await stack.query(UPDATE, {
      input: { id, shippingMethodCode: 'sandbox:ground' },
    });
    const retried = await stack.query(CHECKOUT_COMPLETE, {
      input: {
        checkoutId: id,
        payment: { method: 'BANK_TRANSFER' },
        idempotencyKey: randomUUID(),
      },
    });
    expect(retried.data!.checkoutComplete.userErrors).toEqual([]);
    expect(retried.data!.checkoutComplete.order.shippingPrice).toEqual({
      amount: '11.95',
    });
  });

  it('rejects a method no longer offered', async () => {
    const created = await stack.query(CREATE, {
      input: {
        lines: PARCEL,
        email: 'grace@example.com',
        shippingAddress: ZONE_B,
        shippingMethodCode: 'flat',
      },
    });
    const { id } = created.data!.checkoutCreate.checkout;
    await ordersDb
      .update(tables.checkouts)
      .set({ shippingMethodCode: 'sandbox:overnight' })
      .where(eq(tables.checkouts.id, id));
    const completed = await stack.query(CHECKOUT_COMPLETE, {
      input: {
        checkoutId: id,
        payment: { method: 'BANK_TRANSFER' },
        idempotencyKey: randomUUID(),
      },
    });
    expect(completed.data!.checkoutComplete.userErrors).toEqual([
      {
        field: ['checkout', 'shippingMethodCode'],
        message:
          'The shipping method "sandbox:overnight" is no longer offered for this checkout; choose one of flat, sandbox:ground, sandbox:express with checkoutUpdate.',
        code: 'SHIPPING_METHOD_CHANGED',
      },
    ]);
  });
});

describe('checkout shipping without the shipments service', () => {
  let offline: TestStack;

  beforeAll(async () => {
    // Orders is pointed at a port where nothing listens (the discard port).
    offline = await startTestStack({
      CHECKOUT_TAX_RATE_PERCENT: '0',
      SHIPPING_FLAT_RATE: '5.00',
      CHECKOUT_RECONCILE_INTERVAL_MS: '0',
      SHIPMENTS_URL: 'http://127.0.0.1:9/graphql',
    });
    await createWeightedProduct(offline, 'hoodie', '30.00', {
      weight: { value: '2.5', unit: 'POUNDS' },
    });
  });

  afterAll(async () => {
    await offline?.close();
  });

  it('sells at the flat rate', async () => {
    const created = await offline.query(CHECKOUT_CREATE, {
      input: {
        lines: [{ sku: 'hoodie', quantity: 1 }],
        email: 'grace@example.com',
        shippingAddress: ZONE_B,
        shippingMethodCode: 'flat',
      },
    });
    expect(created.data!.checkoutCreate.userErrors).toEqual([]);
    expect(
      created.data!.checkoutCreate.checkout.availableShippingMethods,
    ).toEqual([{ code: 'flat', price: { amount: '5.00' } }]);
    const rejected = await offline.query(CHECKOUT_UPDATE, {
      input: {
        id: created.data!.checkoutCreate.checkout.id,
        shippingMethodCode: 'sandbox:ground',
      },
    });
    expect(rejected.data!.checkoutUpdate.userErrors[0].message).toBe(
      'Unknown shipping method "sandbox:ground": use one of the checkout\'s availableShippingMethods (flat). Carrier rates cannot be quoted right now, so only flat is offered; try again later for the others.',
    );
    const completed = await offline.query(CHECKOUT_COMPLETE, {
      input: {
        checkoutId: created.data!.checkoutCreate.checkout.id,
        payment: { method: 'BANK_TRANSFER' },
        idempotencyKey: randomUUID(),
      },
    });
    expect(completed.data!.checkoutComplete.userErrors).toEqual([]);
    expect(completed.data!.checkoutComplete.order.shippingPrice).toEqual({
      amount: '5.00',
    });
  });
});
