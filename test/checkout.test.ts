import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, eq } from 'drizzle-orm';
import * as tables from '../subgraphs/orders/db/tables.js';
import type { Database } from '../platform/database.js';
import { startTestStack, type TestStack } from './support/stack.js';
import {
  ADDRESS,
  CHECKOUT_CREATE,
  CHECKOUT_FIELDS,
  CHECKOUT_UPDATE,
  complete,
  createProduct,
  quantityAvailable,
  readyCheckout,
} from './support/checkout.js';

let stack: TestStack;
let db: Database<typeof tables>;

beforeAll(async () => {
  stack = await startTestStack({
    CHECKOUT_TAX_RATE_PERCENT: '8.25',
    SHIPPING_FLAT_RATE: '4.99',
    SHIPPING_FREE_OVER: '100',
    PAYMENT_CAPTURE: 'automatic',
    CHECKOUT_RECONCILE_INTERVAL_MS: '0',
  });
  db = stack.subgraphs.orders.database.db as Database<typeof tables>;
  await createProduct(stack, { sku: 'mug', price: '12.50', stock: 20 });
  await createProduct(stack, { sku: 'poster', price: '7.25', stock: 20 });
  await createProduct(stack, {
    sku: 'ebook',
    price: '9.99',
    stock: 1000,
    requiresShipping: false,
  });
  await createProduct(stack, { sku: 'lamp', price: '60.00', stock: 5 });
});

afterAll(async () => {
  await stack?.close();
});

async function rowCounts() {
  const [orders] = await db.select({ n: count() }).from(tables.orders);
  const [payments] = await db.select({ n: count() }).from(tables.payments);
  const [entries] = await db.select({ n: count() }).from(tables.journalEntries);
  return { orders: orders!.n, payments: payments!.n, entries: entries!.n };
}

describe('checkoutCreate and checkoutUpdate', () => {
  it('names every invalid field with its path, value and what to do', async () => {
    const result = await stack.query(CHECKOUT_CREATE, {
      input: {
        lines: [
          { sku: 'mug', quantity: 1 },
          { sku: 'bad sku', quantity: 2 },
          { sku: 'poster', quantity: 0 },
          { sku: 'mug', quantity: 1001 },
        ],
        email: 'not-an-email',
        shippingAddress: { ...ADDRESS, name: ' ', countryCode: 'XX' },
        shippingMethodCode: 'teleport',
      },
    });
    expect(result.data!.checkoutCreate).toEqual({
      checkout: null,
      userErrors: [
        {
          field: ['input', 'lines', '1', 'sku'],
          message:
            'Invalid SKU "bad sku": use at most 100 characters without spaces or control characters.',
          code: 'INVALID',
        },
        {
          field: ['input', 'lines', '2', 'quantity'],
          message: 'Invalid quantity 0: use a whole number from 1 to 1000.',
          code: 'INVALID',
        },
        {
          field: ['input', 'lines', '3', 'quantity'],
          message: 'Invalid quantity 1001: use a whole number from 1 to 1000.',
          code: 'INVALID',
        },
        {
          field: ['input', 'email'],
          message:
            'Invalid email "not-an-email": use an address such as ada@example.com, at most 254 characters.',
          code: 'INVALID',
        },
        {
          field: ['input', 'shippingAddress', 'name'],
          message: 'Name is required for a shipping address.',
          code: 'REQUIRED',
        },
        {
          field: ['input', 'shippingAddress', 'countryCode'],
          message:
            'Invalid country code "XX": use an ISO 3166-1 alpha-2 code such as US or DE.',
          code: 'INVALID',
        },
      ],
    });
  });

  it('refuses no lines and more than 100', async () => {
    const none = await stack.query(CHECKOUT_CREATE, { input: { lines: [] } });
    expect(none.data!.checkoutCreate.userErrors).toEqual([
      {
        field: ['input', 'lines'],
        message: 'A checkout has 1 to 100 lines; got 0. Add at least one line.',
        code: 'INVALID',
      },
    ]);
    const many = await stack.query(CHECKOUT_CREATE, {
      input: {
        lines: Array.from({ length: 101 }, () => ({ sku: 'mug', quantity: 1 })),
      },
    });
    expect(many.data!.checkoutCreate.userErrors[0].message).toBe(
      'A checkout has 1 to 100 lines; got 101. Remove lines or split the purchase.',
    );
  });

  it('computes subtotal, flat shipping and tax rounded half up', async () => {
    const result = await stack.query(CHECKOUT_CREATE, {
      input: {
        lines: [
          { sku: 'mug', quantity: 2 },
          { sku: 'poster', quantity: 1 },
        ],
        email: '  Ada@Example.COM ',
        shippingAddress: ADDRESS,
        shippingMethodCode: 'flat',
      },
    });
    const checkout = result.data!.checkoutCreate.checkout;
    expect(result.data!.checkoutCreate.userErrors).toEqual([]);
    expect(checkout.email).toBe('ada@example.com');
    // Subtotal 2 × 12.50 + 7.25 = 32.25; shipping 4.99; tax 8.25 % of
    // 37.24 = 3.0723 → 3.07; total 32.25 + 4.99 + 3.07 = 40.31.
    expect(checkout).toMatchObject({
      requiresShipping: true,
      subtotalPrice: { amount: '32.25', currencyCode: 'USD' },
      discountPrice: { amount: '0.00' },
      shippingPrice: { amount: '4.99' },
      taxPrice: { amount: '3.07' },
      totalPrice: { amount: '40.31' },
      shippingMethod: {
        code: 'flat',
        title: 'Flat rate',
        price: { amount: '4.99' },
      },
    });
    expect(checkout.lines[0]).toEqual({
      sku: 'mug',
      quantity: 2,
      title: 'Product mug',
      unitPrice: { amount: '12.50' },
      totalPrice: { amount: '25.00' },
      problem: null,
    });
  });

  it('ships free over the threshold and not at all for digital lines', async () => {
    const free = await stack.query(CHECKOUT_CREATE, {
      input: {
        lines: [{ sku: 'lamp', quantity: 2 }],
        shippingAddress: ADDRESS,
        shippingMethodCode: 'flat',
      },
    });
    // 120.00 is over 100: shipping 0; tax 8.25 % of 120.00 = 9.90.
    expect(free.data!.checkoutCreate.checkout).toMatchObject({
      shippingPrice: { amount: '0.00' },
      taxPrice: { amount: '9.90' },
      totalPrice: { amount: '129.90' },
    });
    const digital = await stack.query(CHECKOUT_CREATE, {
      input: { lines: [{ sku: 'ebook', quantity: 1 }] },
    });
    // 9.99 × 8.25 % = 0.824175 → 0.82.
    expect(digital.data!.checkoutCreate.checkout).toMatchObject({
      requiresShipping: false,
      availableShippingMethods: [],
      shippingMethod: null,
      shippingPrice: { amount: '0.00' },
      taxPrice: { amount: '0.82' },
      totalPrice: { amount: '10.81' },
    });
  });

  it('shows per-line problems and prices the other lines', async () => {
    const result = await stack.query(CHECKOUT_CREATE, {
      input: {
        lines: [
          { sku: 'mug', quantity: 1 },
          { sku: 'no-such-sku', quantity: 1 },
          { sku: 'lamp', quantity: 6 },
        ],
      },
    });
    const lines = result.data!.checkoutCreate.checkout.lines;
    expect(lines[0].problem).toBeNull();
    expect(lines[0].unitPrice).toEqual({ amount: '12.50' });
    expect(lines[1].problem).toEqual({
      field: ['lines', '1', 'sku'],
      message:
        'No variant has SKU "no-such-sku"; remove the line or correct the SKU.',
      code: 'UNKNOWN_SKU',
    });
    expect(lines[2].problem).toEqual({
      field: ['lines', '2', 'quantity'],
      message:
        'Only 5 of SKU "lamp" available, 6 requested; lower the quantity or remove the line.',
      code: 'OUT_OF_STOCK',
    });
    expect(result.data!.checkoutCreate.checkout.subtotalPrice.amount).toBe(
      '12.50',
    );
  });

  it('updates only the fields sent and refuses a completed checkout', async () => {
    const id = await readyCheckout(stack, [{ sku: 'poster', quantity: 1 }]);
    const updated = await stack.query(CHECKOUT_UPDATE, {
      input: { id, lines: [{ sku: 'poster', quantity: 3 }] },
    });
    expect(updated.data!.checkoutUpdate.checkout).toMatchObject({
      email: 'ada@example.com',
      subtotalPrice: { amount: '21.75' },
    });
    const done = await complete(
      stack,
      id,
      { method: 'BANK_TRANSFER' },
      'upd-1',
    );
    expect(done.data!.checkoutComplete.userErrors).toEqual([]);
    const again = await stack.query(CHECKOUT_UPDATE, {
      input: { id, email: 'other@example.com' },
    });
    expect(again.data!.checkoutUpdate.checkout).toBeNull();
    expect(again.data!.checkoutUpdate.userErrors[0]).toMatchObject({
      field: ['input', 'id'],
      code: 'CHECKOUT_COMPLETED',
    });
  });
});

describe('checkout ownership', () => {
  async function register(email: string) {
    const result = await stack.query(
      `mutation ($input: CustomerRegisterInput!) {
        customerRegister(input: $input) { accessToken customer { id } userErrors { message } }
      }`,
      { input: { email, password: 'a long enough password' } },
    );
    return {
      headers: {
        authorization: `Bearer ${result.data!.customerRegister.accessToken}`,
      },
    };
  }

  it('gives a customer their checkouts only, and guests theirs by id', async () => {
    const ada = await register('ada.owner@example.com');
    const bob = await register('bob.owner@example.com');
    const created = await stack.query(
      CHECKOUT_CREATE,
      { input: { lines: [{ sku: 'mug', quantity: 1 }] } },
      ada.headers,
    );
    const checkout = created.data!.checkoutCreate.checkout;
    expect(checkout.email).toBe('ada.owner@example.com');
    const read = `query ($id: ID!) { checkout(id: $id) { id email } }`;
    expect(
      (await stack.query(read, { id: checkout.id }, ada.headers)).data!
        .checkout,
    ).toEqual({ id: checkout.id, email: 'ada.owner@example.com' });
    expect(
      (await stack.query(read, { id: checkout.id }, bob.headers)).data!
        .checkout,
    ).toBeNull();
    expect(
      (await stack.query(read, { id: checkout.id })).data!.checkout,
    ).toBeNull();
    const bobUpdate = await stack.query(
      CHECKOUT_UPDATE,
      { input: { id: checkout.id, email: 'bob@example.com' } },
      bob.headers,
    );
    expect(bobUpdate.data!.checkoutUpdate.userErrors[0].code).toBe('NOT_FOUND');

    const guest = await readyCheckout(stack, [{ sku: 'mug', quantity: 1 }]);
    expect(
      (await stack.query(read, { id: guest }, bob.headers)).data!.checkout.id,
    ).toBe(guest);
  });
});

describe('checkoutComplete', () => {
  it('takes a card payment, freezes prices and posts the capture', async () => {
    const before = await quantityAvailable(stack, 'mug');
    const id = await readyCheckout(stack, [
      { sku: 'mug', quantity: 1 },
      { sku: 'mug', quantity: 1 },
    ]);
    const result = await complete(
      stack,
      id,
      { method: 'CARD', cardToken: 'tok_sandbox_visa' },
      'card-1',
    );
    const payload = result.data!.checkoutComplete;
    expect(payload.userErrors).toEqual([]);
    expect(payload.paymentAction).toBeNull();
    // 25.00 + 4.99 shipping; tax 8.25 % of 29.99 = 2.474175 → 2.47.
    expect(payload.order).toMatchObject({
      email: 'ada@example.com',
      financialStatus: 'PAID',
      subtotalPrice: { amount: '25.00' },
      shippingPrice: { amount: '4.99' },
      taxPrice: { amount: '2.47' },
      totalPrice: { amount: '32.46' },
      lines: [
        {
          sku: 'mug',
          title: 'Product mug',
          quantity: 1,
          unitPrice: { amount: '12.50' },
        },
        {
          sku: 'mug',
          title: 'Product mug',
          quantity: 1,
          unitPrice: { amount: '12.50' },
        },
      ],
      payments: [
        {
          method: 'CARD',
          provider: 'sandbox',
          status: 'CAPTURED',
          amount: { amount: '32.46' },
          capturedAmount: { amount: '32.46' },
        },
      ],
    });
    expect(await quantityAvailable(stack, 'mug')).toBe(before! - 2);
    const [order] = await db
      .select()
      .from(tables.orders)
      .where(eq(tables.orders.id, payload.order.id));
    expect(order!.reservationConfirmedAt).not.toBeNull();
    const entries = await db
      .select({ kind: tables.journalEntries.kind })
      .from(tables.journalEntries)
      .where(eq(tables.journalEntries.orderId, payload.order.id));
    expect(entries.map((entry) => entry.kind).sort()).toEqual([
      'CAPTURE',
      'PROVIDER_FEE',
    ]);
    const events = await db
      .select({ type: tables.outboxEvents.type })
      .from(tables.outboxEvents)
      .where(eq(tables.outboxEvents.aggregateId, payload.order.id));
    expect(events.map((event) => event.type)).toEqual([
      'order.created',
      'payment.captured',
    ]);
    const read = await stack.query(
      `query ($id: ID!) { checkout(id: $id) { ${CHECKOUT_FIELDS} } }`,
      { id },
    );
    expect(read.data!.checkout.order).toEqual({ id: payload.order.id });
    expect(read.data!.checkout.totalPrice).toEqual({ amount: '32.46' });
  });

  it.each([
    ['BANK_TRANSFER', 'manual', 'PENDING'],
    ['CASH_ON_DELIVERY', 'manual', 'PENDING'],
  ])(
    'leaves a %s order PENDING with the stock held',
    async (method, provider, status) => {
      const id = await readyCheckout(stack, [{ sku: 'poster', quantity: 1 }]);
      const result = await complete(stack, id, { method }, `manual-${method}`);
      const payload = result.data!.checkoutComplete;
      expect(payload.userErrors).toEqual([]);
      expect(payload.order.financialStatus).toBe('PENDING');
      expect(payload.order.payments).toEqual([
        expect.objectContaining({ method, provider, status }),
      ]);
      const [order] = await db
        .select()
        .from(tables.orders)
        .where(eq(tables.orders.id, payload.order.id));
      expect(order!.reservationConfirmedAt).not.toBeNull();
    },
  );

  it('refuses a declined card and leaves nothing behind', async () => {
    const before = await rowCounts();
    const available = await quantityAvailable(stack, 'lamp');
    const id = await readyCheckout(stack, [{ sku: 'lamp', quantity: 1 }]);
    const result = await complete(
      stack,
      id,
      { method: 'CARD', cardToken: 'tok_sandbox_declined' },
      'declined-1',
    );
    expect(result.data!.checkoutComplete).toEqual({
      order: null,
      paymentAction: null,
      userErrors: [
        {
          field: ['input', 'payment', 'cardToken'],
          message:
            'Your card was declined. Use another card or payment method.',
          code: 'PAYMENT_DECLINED',
        },
      ],
    });
    expect(await quantityAvailable(stack, 'lamp')).toBe(available);
    expect(await rowCounts()).toEqual(before);
    // The same key works again once the customer uses another card.
    const retry = await complete(
      stack,
      id,
      { method: 'CARD', cardToken: 'tok_sandbox_visa' },
      'declined-1',
    );
    expect(retry.data!.checkoutComplete.order.financialStatus).toBe('PAID');
  });

  it('refuses two lines of one SKU above the stock and reserves nothing', async () => {
    await createProduct(stack, { sku: 'vase', price: '30.00', stock: 3 });
    const before = await rowCounts();
    const id = await readyCheckout(stack, [
      { sku: 'vase', quantity: 2 },
      { sku: 'vase', quantity: 2 },
    ]);
    const result = await complete(
      stack,
      id,
      { method: 'CARD', cardToken: 'tok_sandbox_visa' },
      'vase-1',
    );
    expect(result.data!.checkoutComplete).toEqual({
      order: null,
      paymentAction: null,
      userErrors: [
        {
          field: ['checkout', 'lines', '0', 'quantity'],
          message:
            'Only 3 of SKU "vase" available, 4 requested; lower the quantity or remove the line.',
          code: 'OUT_OF_STOCK',
        },
      ],
    });
    expect(await quantityAvailable(stack, 'vase')).toBe(3);
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses a checkout without what it needs', async () => {
    const created = await stack.query(CHECKOUT_CREATE, {
      input: { lines: [{ sku: 'mug', quantity: 1 }] },
    });
    const id = created.data!.checkoutCreate.checkout.id;
    const result = await complete(
      stack,
      id,
      { method: 'CARD' },
      'incomplete-1',
    );
    expect(result.data!.checkoutComplete.userErrors).toEqual([
      {
        field: ['checkout', 'email'],
        message:
          'The checkout has no email; set one with checkoutUpdate so the customer gets the receipt.',
        code: 'REQUIRED',
      },
      {
        field: ['input', 'payment', 'cardToken'],
        message:
          "A card payment needs cardToken: the token from the payment provider's client library.",
        code: 'REQUIRED',
      },
    ]);
    await stack.query(CHECKOUT_UPDATE, {
      input: { id, email: 'ada@example.com' },
    });
    const noAddress = await complete(
      stack,
      id,
      { method: 'CARD', cardToken: 'tok_sandbox_visa' },
      'incomplete-1',
    );
    expect(
      noAddress.data!.checkoutComplete.userErrors.map(
        (error: any) => error.field,
      ),
    ).toEqual([
      ['checkout', 'shippingAddress'],
      ['checkout', 'shippingMethodCode'],
    ]);
  });

  it('completes once for one key, sequentially and concurrently', async () => {
    const before = await rowCounts();
    const id = await readyCheckout(stack, [{ sku: 'poster', quantity: 1 }]);
    const payment = { method: 'CARD', cardToken: 'tok_sandbox_visa' };
    const results = await Promise.all(
      Array.from({ length: 5 }, () => complete(stack, id, payment, 'same-key')),
    );
    const later = await complete(stack, id, payment, 'same-key');
    const orderIds = new Set(
      [...results, later].map(
        (result) => result.data!.checkoutComplete.order?.id,
      ),
    );
    expect(orderIds.size).toBe(1);
    expect([...orderIds][0]).toBeTruthy();
    const after = await rowCounts();
    expect(after.orders - before.orders).toBe(1);
    expect(after.payments - before.payments).toBe(1);

    const reused = await complete(
      stack,
      id,
      { method: 'BANK_TRANSFER' },
      'same-key',
    );
    expect(reused.data!.checkoutComplete.userErrors).toEqual([
      expect.objectContaining({
        field: ['input', 'idempotencyKey'],
        code: 'IDEMPOTENCY_KEY_REUSED',
      }),
    ]);
    const newKey = await complete(stack, id, payment, 'another-key');
    expect(newKey.data!.checkoutComplete.userErrors[0].code).toBe(
      'CHECKOUT_COMPLETED',
    );
    expect(await rowCounts()).toEqual(after);
  });
});
