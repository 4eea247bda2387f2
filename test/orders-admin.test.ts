import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../platform/database.js';
import { uuidv7 } from '../platform/ids.js';
import * as tables from '../subgraphs/orders/db/tables.js';
import {
  createStockedVariant,
  ORDER_STACK_SETTINGS,
  placeOrder,
  registerCustomer,
} from './support/orders.js';
import {
  callerHeaders,
  STAFF_ADMIN,
  startTestStack,
  type TestStack,
} from './support/stack.js';

let stack: TestStack;
let ordersDb: Database<typeof tables>;
const admin = callerHeaders(STAFF_ADMIN);

const ORDER_FIELDS = `
  id number email financialStatus channel cancelledAt cancelReason
  subtotalPrice { amount currencyCode }
  shippingPrice { amount }
  discountPrice { amount }
  taxPrice { amount }
  totalPrice { amount }
  netPaymentPrice { amount }
  shippingAddress { name city countryCode }
  shippingMethod { code title price { amount } }
  lines { sku title quantity unitPrice { amount } totalPrice { amount } }
  payments { method provider status amount { amount } capturedAmount { amount } refundedAmount { amount } }
  refunds { amount { amount currencyCode } status reason }
  notes { body }`;

const CAPTURE = `mutation ($input: OrderCaptureInput!) {
  orderCapture(input: $input) { order { ${ORDER_FIELDS} } userErrors { field message code } }
}`;
const CANCEL = `mutation ($input: OrderCancelInput!) {
  orderCancel(input: $input) { order { ${ORDER_FIELDS} } userErrors { field message code } }
}`;
const REFUND = `mutation ($input: OrderRefundInput!) {
  orderRefund(input: $input) {
    order { ${ORDER_FIELDS} }
    refund { id amount { amount } status reason }
    userErrors { field message code }
  }
}`;
const MARK_PAID = `mutation ($input: OrderMarkPaidInput!) {
  orderMarkPaid(input: $input) { order { ${ORDER_FIELDS} } userErrors { field message code } }
}`;
const NOTE_ADD = `mutation ($input: OrderNoteAddInput!) {
  orderNoteAdd(input: $input) { order { notes { body createdAt } } userErrors { field message code } }
}`;
const ORDERS = `query ($first: Int, $after: String, $filter: OrderFilter) {
  orders(first: $first, after: $after, filter: $filter) {
    nodes { id number email financialStatus }
    pageInfo { hasNextPage endCursor }
  }
}`;
const VARIANT_STOCK = `query ($sku: String!) { variant(sku: $sku) { quantityAvailable } }`;

/** Journal entries of an order by kind, from the orders database. */
async function journalKinds(orderId: string): Promise<string[]> {
  const entries = await ordersDb
    .select({ kind: tables.journalEntries.kind })
    .from(tables.journalEntries)
    .where(eq(tables.journalEntries.orderId, orderId))
    .orderBy(tables.journalEntries.number);
  return entries.map((entry) => entry.kind);
}

async function eventTypes(orderId: string): Promise<string[]> {
  const events = await ordersDb
    .select({ type: tables.outboxEvents.type })
    .from(tables.outboxEvents)
    .where(eq(tables.outboxEvents.aggregateId, orderId))
    .orderBy(tables.outboxEvents.sequence);
  return events.map((event) => event.type);
}

async function available(sku: string): Promise<number> {
  const result = await stack.query(VARIANT_STOCK, { sku }, admin);
  return result.data!.variant.quantityAvailable;
}

async function capture(orderId: string, extra: Record<string, unknown> = {}) {
  const result = await stack.query(
    CAPTURE,
    { input: { orderId, idempotencyKey: randomUUID(), ...extra } },
    admin,
  );
  expect(result.errors).toBeUndefined();
  return result.data!.orderCapture;
}

async function paidOrder(sku = 'tee', quantity = 2) {
  const order = await placeOrder(stack, { sku, quantity });
  expect((await capture(order.id)).userErrors).toEqual([]);
  return order;
}

beforeAll(async () => {
  stack = await startTestStack(ORDER_STACK_SETTINGS);
  ordersDb = stack.subgraphs.orders.database.db as unknown as Database<
    typeof tables
  >;
  await createStockedVariant(stack, 'tee', '20.00', 1000);
  await createStockedVariant(stack, 'mug', '12.50', 10);
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

describe('orderCapture', () => {
  it('captures an authorized order and posts it', async () => {
    const order = await placeOrder(stack, { sku: 'tee', quantity: 2 });
    expect(order.financialStatus).toBe('AUTHORIZED');

    const payload = await capture(order.id);
    expect(payload.userErrors).toEqual([]);
    expect(payload.order).toMatchObject({
      financialStatus: 'PAID',
      channel: 'online',
      subtotalPrice: { amount: '40.00', currencyCode: 'USD' },
      shippingPrice: { amount: '5.00' },
      discountPrice: { amount: '0.00' },
      taxPrice: { amount: '0.00' },
      totalPrice: { amount: '45.00' },
      netPaymentPrice: { amount: '45.00' },
      shippingAddress: {
        name: 'Ada Lovelace',
        city: 'London',
        countryCode: 'GB',
      },
      shippingMethod: { code: 'flat', price: { amount: '5.00' } },
      lines: [
        {
          sku: 'tee',
          quantity: 2,
          unitPrice: { amount: '20.00' },
          totalPrice: { amount: '40.00' },
        },
      ],
      payments: [
        {
          method: 'CARD',
          provider: 'sandbox',
          status: 'CAPTURED',
          amount: { amount: '45.00' },
          capturedAmount: { amount: '45.00' },
          refundedAmount: { amount: '0.00' },
        },
      ],
      refunds: [],
      cancelledAt: null,
    });
    expect(payload.order.lines[0].title).toContain('tee');
    expect(await journalKinds(order.id)).toEqual(['CAPTURE', 'PROVIDER_FEE']);
    expect(await eventTypes(order.id)).toContain('order.paid');
  });

  it('returns the first result for a repeated key', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    const input = { orderId: order.id, idempotencyKey: randomUUID() };
    const first = await stack.query(CAPTURE, { input }, admin);
    const second = await stack.query(CAPTURE, { input }, admin);
    expect(first.data!.orderCapture.userErrors).toEqual([]);
    expect(second.data!.orderCapture.userErrors).toEqual([]);
    expect(second.data!.orderCapture.order.financialStatus).toBe('PAID');
    expect(await journalKinds(order.id)).toEqual(['CAPTURE', 'PROVIDER_FEE']);
  });

  it('rejects a key reused with another amount', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    const idempotencyKey = randomUUID();
    await capture(order.id, { idempotencyKey, amount: '25.00' });
    const reused = await capture(order.id, { idempotencyKey, amount: '24.00' });
    expect(reused.userErrors).toEqual([
      {
        field: ['input', 'idempotencyKey'],
        message:
          'This idempotency key was already used for a different request. Use a new key for each new request.',
        code: 'IDEMPOTENCY_KEY_REUSED',
      },
    ]);
  });

  it('captures part of the authorization', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    const payload = await capture(order.id, { amount: '10' });
    expect(payload.userErrors).toEqual([]);
    expect(payload.order.financialStatus).toBe('PAID');
    expect(payload.order.payments[0].capturedAmount).toEqual({
      amount: '10.00',
    });
    expect(payload.order.netPaymentPrice).toEqual({ amount: '10.00' });
  });

  it('rejects a paid order with both states', async () => {
    const order = await paidOrder();
    const payload = await capture(order.id);
    expect(payload).toEqual({
      order: null,
      userErrors: [
        {
          field: ['input', 'orderId'],
          message: `Order #${order.number}: An order that is PAID cannot become PAID; from PAID it can become PARTIALLY_REFUNDED or REFUNDED. Only an AUTHORIZED order can be captured.`,
          code: 'INVALID_TRANSITION',
        },
      ],
    });
  });

  it('points pending manual payments to orderMarkPaid', async () => {
    for (const method of ['BANK_TRANSFER', 'CASH_ON_DELIVERY'] as const) {
      const order = await placeOrder(stack, { sku: 'tee', method });
      expect(order.financialStatus, method).toBe('PENDING');

      const payload = await capture(order.id);

      expect(payload, method).toEqual({
        order: null,
        userErrors: [
          {
            field: ['input', 'orderId'],
            message: `Order #${order.number} has no card payment. Bank transfer and cash on delivery payments are marked paid with orderMarkPaid.`,
            code: 'INVALID_PAYMENT_METHOD',
          },
        ],
      });
      expect(await journalKinds(order.id), method).toEqual([]);
    }
  });

  it('rejects invalid and excessive amounts', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    expect((await capture(order.id, { amount: '1.999' })).userErrors).toEqual([
      {
        field: ['input', 'amount'],
        message:
          'Invalid amount: "1.999" has more than 2 decimal places, the most USD allows. Send a decimal string in USD, such as "10.00".',
        code: 'INVALID',
      },
    ]);
    expect((await capture(order.id, { amount: '0' })).userErrors).toEqual([
      {
        field: ['input', 'amount'],
        message:
          'Invalid amount "0": it must be more than 0. Send a positive decimal string in USD, such as "10.00".',
        code: 'INVALID',
      },
    ]);
    expect((await capture(order.id, { amount: '25.01' })).userErrors).toEqual([
      {
        field: ['input', 'amount'],
        message:
          'Capture amount 25.01 USD exceeds the authorized 25.00 USD. Capture at most that, or omit amount to capture all of it.',
        code: 'CAPTURE_EXCEEDS_AUTHORIZED',
      },
    ]);
  });

  it('returns NOT_FOUND for an unknown order', async () => {
    const orderId = uuidv7();
    expect((await capture(orderId)).userErrors).toEqual([
      {
        field: ['input', 'orderId'],
        message: `Order ${orderId} was not found. Check the id; orders are listed by the orders query.`,
        code: 'NOT_FOUND',
      },
    ]);
    expect((await capture('not-an-id')).userErrors[0].code).toBe('NOT_FOUND');
  });

  it('rejects an empty idempotency key', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    expect(
      (await capture(order.id, { idempotencyKey: '' })).userErrors,
    ).toEqual([
      {
        field: ['input', 'idempotencyKey'],
        message:
          'Invalid idempotencyKey: it has 0 characters. Send 1 to 255 characters, new for each action and the same on every retry of it.',
        code: 'INVALID',
      },
    ]);
  });
});

describe('orderCancel', () => {
  it('voids, releases stock and records the reason', async () => {
    const before = await available('mug');
    const order = await placeOrder(stack, { sku: 'mug', quantity: 3 });
    expect(await available('mug')).toBe(before - 3);

    const result = await stack.query(
      CANCEL,
      { input: { orderId: order.id, reason: 'Customer changed their mind' } },
      admin,
    );
    const payload = result.data!.orderCancel;
    expect(payload.userErrors).toEqual([]);
    expect(payload.order).toMatchObject({
      financialStatus: 'CANCELLED',
      cancelReason: 'Customer changed their mind',
      netPaymentPrice: { amount: '0.00' },
      payments: [{ status: 'VOIDED', capturedAmount: { amount: '0.00' } }],
    });
    expect(Date.parse(payload.order.cancelledAt)).not.toBeNaN();
    expect(await available('mug')).toBe(before);
    expect(await eventTypes(order.id)).toContain('order.cancelled');
    expect(await journalKinds(order.id)).toEqual([]);
  });

  it('returns a cancelled order unchanged on repeat', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    const input = { orderId: order.id, reason: 'Duplicate order' };
    const first = await stack.query(CANCEL, { input }, admin);
    const again = await stack.query(
      CANCEL,
      { input: { orderId: order.id, reason: 'Other reason' } },
      admin,
    );
    expect(again.data!.orderCancel.userErrors).toEqual([]);
    expect(again.data!.orderCancel.order).toEqual(
      first.data!.orderCancel.order,
    );
    const cancelled = (await eventTypes(order.id)).filter(
      (type) => type === 'order.cancelled',
    );
    expect(cancelled).toHaveLength(1);
  });

  it('cancels a pending bank transfer order', async () => {
    const order = await placeOrder(stack, {
      sku: 'tee',
      method: 'BANK_TRANSFER',
    });
    expect(order.financialStatus).toBe('PENDING');
    const result = await stack.query(
      CANCEL,
      { input: { orderId: order.id } },
      admin,
    );
    expect(result.data!.orderCancel.order).toMatchObject({
      financialStatus: 'CANCELLED',
      cancelReason: null,
      payments: [{ method: 'BANK_TRANSFER', status: 'VOIDED' }],
    });
  });

  it('tells staff to refund a paid order', async () => {
    const order = await paidOrder();
    const result = await stack.query(
      CANCEL,
      { input: { orderId: order.id } },
      admin,
    );
    expect(result.data!.orderCancel).toEqual({
      order: null,
      userErrors: [
        {
          field: ['input', 'orderId'],
          message: `Order #${order.number}: An order that is PAID cannot become CANCELLED; from PAID it can become PARTIALLY_REFUNDED or REFUNDED. A paid order is not cancelled: refund it with orderRefund instead.`,
          code: 'INVALID_TRANSITION',
        },
      ],
    });
  });

  it('rejects a reason over 1000 characters', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    const result = await stack.query(
      CANCEL,
      { input: { orderId: order.id, reason: 'x'.repeat(1001) } },
      admin,
    );
    expect(result.data!.orderCancel.userErrors).toEqual([
      {
        field: ['input', 'reason'],
        message:
          'Invalid reason: it has 1001 characters. Shorten it to at most 1000.',
        code: 'INVALID',
      },
    ]);
  });
});

describe('orderRefund', () => {
  async function refund(orderId: string, amount: string, extra = {}) {
    const result = await stack.query(
      REFUND,
      {
        input: { orderId, amount, idempotencyKey: randomUUID(), ...extra },
      },
      admin,
    );
    expect(result.errors).toBeUndefined();
    return result.data!.orderRefund;
  }

  it('refunds in parts, then in full', async () => {
    const order = await paidOrder();
    const partial = await refund(order.id, '15.00', { reason: 'Damaged' });
    expect(partial.userErrors).toEqual([]);
    expect(partial.refund).toMatchObject({
      amount: { amount: '15.00' },
      status: 'SUCCEEDED',
      reason: 'Damaged',
    });
    expect(partial.order).toMatchObject({
      financialStatus: 'PARTIALLY_REFUNDED',
      netPaymentPrice: { amount: '30.00' },
      payments: [
        { status: 'PARTIALLY_REFUNDED', refundedAmount: { amount: '15.00' } },
      ],
    });

    const rest = await refund(order.id, '30');
    expect(rest.userErrors).toEqual([]);
    expect(rest.order).toMatchObject({
      financialStatus: 'REFUNDED',
      netPaymentPrice: { amount: '0.00' },
      payments: [{ status: 'REFUNDED', refundedAmount: { amount: '45.00' } }],
    });
    expect(rest.order.refunds.map((item: any) => item.amount.amount)).toEqual([
      '15.00',
      '30.00',
    ]);
    expect(await journalKinds(order.id)).toEqual([
      'CAPTURE',
      'PROVIDER_FEE',
      'REFUND',
      'REFUND',
    ]);
    const events = await eventTypes(order.id);
    expect(events).toContain('order.partially_refunded');
    expect(events).toContain('order.refunded');
  });

  it('rejects more than was captured, naming both amounts', async () => {
    const order = await paidOrder();
    await refund(order.id, '40.00');
    expect((await refund(order.id, '5.01')).userErrors).toEqual([
      {
        field: ['input', 'amount'],
        message: `Refund amount 5.01 USD exceeds the 5.00 USD that can still be refunded of order #${order.number} (45.00 USD captured, 40.00 USD refunded). Refund at most 5.00 USD.`,
        code: 'REFUND_EXCEEDS_CAPTURED',
      },
    ]);
  });

  it('refunds once for a repeated key', async () => {
    const order = await paidOrder();
    const idempotencyKey = randomUUID();
    const first = await refund(order.id, '10.00', { idempotencyKey });
    const second = await refund(order.id, '10.00', { idempotencyKey });
    expect(second.refund.id).toBe(first.refund.id);
    expect(second.order.payments[0].refundedAmount).toEqual({
      amount: '10.00',
    });
    expect(await journalKinds(order.id)).toEqual([
      'CAPTURE',
      'PROVIDER_FEE',
      'REFUND',
    ]);
  });

  it('rejects an unpaid order', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    expect((await refund(order.id, '1.00')).userErrors).toEqual([
      {
        field: ['input', 'orderId'],
        message: `Order #${order.number}: An order that is AUTHORIZED cannot become PARTIALLY_REFUNDED; from AUTHORIZED it can become PAID or CANCELLED. Only a PAID or PARTIALLY_REFUNDED order can be refunded; an unpaid order is cancelled with orderCancel.`,
        code: 'INVALID_TRANSITION',
      },
    ]);
  });

  it('records a manual refund of cash on delivery', async () => {
    const order = await placeOrder(stack, {
      sku: 'tee',
      method: 'CASH_ON_DELIVERY',
    });
    const paid = await stack.query(
      MARK_PAID,
      { input: { orderId: order.id, idempotencyKey: randomUUID() } },
      admin,
    );
    expect(paid.data!.orderMarkPaid.userErrors).toEqual([]);
    const payload = await refund(order.id, '10.00');
    expect(payload.userErrors).toEqual([]);
    expect(payload.refund.status).toBe('SUCCEEDED');
    expect(payload.order.financialStatus).toBe('PARTIALLY_REFUNDED');
    expect(await journalKinds(order.id)).toEqual(['CASH_COLLECTION', 'REFUND']);
  });
});

describe('orderMarkPaid', () => {
  it('records a bank transfer once', async () => {
    const order = await placeOrder(stack, {
      sku: 'tee',
      method: 'BANK_TRANSFER',
    });
    const input = { orderId: order.id, idempotencyKey: randomUUID() };
    const first = await stack.query(MARK_PAID, { input }, admin);
    const second = await stack.query(MARK_PAID, { input }, admin);
    expect(first.data!.orderMarkPaid.userErrors).toEqual([]);
    expect(first.data!.orderMarkPaid.order).toMatchObject({
      financialStatus: 'PAID',
      netPaymentPrice: { amount: '25.00' },
      payments: [
        {
          method: 'BANK_TRANSFER',
          provider: 'manual',
          status: 'CAPTURED',
          capturedAmount: { amount: '25.00' },
        },
      ],
    });
    expect(second.data!.orderMarkPaid).toEqual(first.data!.orderMarkPaid);
    expect(await journalKinds(order.id)).toEqual(['BANK_TRANSFER']);
    expect(await eventTypes(order.id)).toContain('order.paid');
  });

  it('rejects a card order', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    const result = await stack.query(
      MARK_PAID,
      { input: { orderId: order.id, idempotencyKey: randomUUID() } },
      admin,
    );
    expect(result.data!.orderMarkPaid.userErrors).toEqual([
      {
        field: ['input', 'orderId'],
        message: `Order #${order.number} has no bank transfer or cash on delivery payment. Card payments are captured with orderCapture.`,
        code: 'INVALID_PAYMENT_METHOD',
      },
    ]);
  });

  it('rejects a paid order with a new key', async () => {
    const order = await placeOrder(stack, {
      sku: 'tee',
      method: 'CASH_ON_DELIVERY',
    });
    const markPaid = () =>
      stack.query(
        MARK_PAID,
        { input: { orderId: order.id, idempotencyKey: randomUUID() } },
        admin,
      );
    await markPaid();
    const again = await markPaid();
    expect(again.data!.orderMarkPaid.userErrors).toEqual([
      {
        field: ['input', 'orderId'],
        message: `Order #${order.number}: An order that is PAID cannot become PAID; from PAID it can become PARTIALLY_REFUNDED or REFUNDED. Only a PENDING order whose CASH_ON_DELIVERY payment is PENDING can be marked paid; its payment is CAPTURED.`,
        code: 'INVALID_TRANSITION',
      },
    ]);
    expect(await journalKinds(order.id)).toEqual(['CASH_COLLECTION']);
  });
});

describe('orderNoteAdd', () => {
  it('adds notes oldest first with the staff author', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    for (const body of ['Called the customer', 'Ships on Monday']) {
      const result = await stack.query(
        NOTE_ADD,
        { input: { orderId: order.id, body } },
        admin,
      );
      expect(result.data!.orderNoteAdd.userErrors).toEqual([]);
    }
    const result = await stack.query(
      `query ($id: ID!) { order(id: $id) { notes { body } } }`,
      { id: order.id },
      admin,
    );
    expect(result.data!.order.notes).toEqual([
      { body: 'Called the customer' },
      { body: 'Ships on Monday' },
    ]);
    const [note] = await ordersDb
      .select()
      .from(tables.orderNotes)
      .where(eq(tables.orderNotes.orderId, order.id))
      .limit(1);
    expect(note!.authorId).toBe(STAFF_ADMIN.subject);
  });

  it('rejects an empty or too long body', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    for (const [body, length] of [
      ['   ', 0],
      ['x'.repeat(5001), 5001],
    ] as const) {
      const result = await stack.query(
        NOTE_ADD,
        { input: { orderId: order.id, body } },
        admin,
      );
      expect(result.data!.orderNoteAdd.userErrors).toEqual([
        {
          field: ['input', 'body'],
          message: `Invalid body: it has ${length} characters without surrounding spaces. Write 1 to 5000.`,
          code: 'INVALID',
        },
      ]);
    }
    const notes = await ordersDb
      .select()
      .from(tables.orderNotes)
      .where(eq(tables.orderNotes.orderId, order.id));
    expect(notes).toEqual([]);
  });
});

describe('permissions', () => {
  it('forbids support staff every mutation', async () => {
    const order = await placeOrder(stack, { sku: 'tee' });
    const support = await stack.staffHeaders('support');
    const attempts: [string, Record<string, unknown>][] = [
      [CAPTURE, { orderId: order.id, idempotencyKey: randomUUID() }],
      [CANCEL, { orderId: order.id }],
      [
        REFUND,
        { orderId: order.id, amount: '1.00', idempotencyKey: randomUUID() },
      ],
      [MARK_PAID, { orderId: order.id, idempotencyKey: randomUUID() }],
      [NOTE_ADD, { orderId: order.id, body: 'Hello' }],
    ];
    for (const [document, input] of attempts) {
      const result = await stack.query(document, { input }, support);
      expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    const [row] = await ordersDb
      .select()
      .from(tables.orders)
      .where(eq(tables.orders.id, order.id));
    expect(row!.financialStatus).toBe('AUTHORIZED');
  });

  it("hides another customer's order", async () => {
    const alice = await registerCustomer(stack, 'alice@example.com');
    const bob = await registerCustomer(stack, 'bob@example.com');
    const order = await placeOrder(stack, {
      sku: 'tee',
      customer: bob,
      email: 'bob@example.com',
    });
    const query = `query ($id: ID!) { order(id: $id) { id payments { status } } }`;
    const asAlice = await stack.query(
      query,
      { id: order.id },
      callerHeaders(alice),
    );
    expect(asAlice.errors).toBeUndefined();
    expect(asAlice.data!.order).toBeNull();
    const asBob = await stack.query(
      query,
      { id: order.id },
      callerHeaders(bob),
    );
    expect(asBob.data!.order).toEqual({
      id: order.id,
      payments: [{ status: 'AUTHORIZED' }],
    });
  });
});

describe('orders query', () => {
  let placed: Awaited<ReturnType<typeof placeOrder>>[];

  beforeAll(async () => {
    placed = [];
    for (const email of [
      'Search.One@Example.com',
      'search.two@example.com',
      'other@example.org',
    ]) {
      placed.push(await placeOrder(stack, { sku: 'tee', email }));
    }
    await capture(placed[1]!.id);
  });

  async function list(variables: Record<string, unknown>) {
    const result = await stack.query(ORDERS, variables, admin);
    expect(result.errors).toBeUndefined();
    return result.data!.orders;
  }

  it('lists newest first across pages', async () => {
    const all = await list({ first: 250 });
    const numbers = all.nodes.map((order: any) => order.number);
    expect(numbers).toEqual([...numbers].sort((a, b) => b - a));
    const first = await list({ first: 2 });
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = await list({ first: 2, after: first.pageInfo.endCursor });
    expect([...first.nodes, ...second.nodes]).toEqual(all.nodes.slice(0, 4));
  });

  it('finds an order by number', async () => {
    const target = placed[2]!;
    for (const query of [String(target.number), `#${target.number}`]) {
      const found = await list({ filter: { query } });
      expect(found.nodes.map((order: any) => order.id)).toEqual([target.id]);
    }
    expect((await list({ filter: { query: '99999999999' } })).nodes).toEqual(
      [],
    );
  });

  it('finds orders by part of the email without case', async () => {
    const found = await list({ filter: { query: 'SEARCH.' } });
    expect(found.nodes.map((order: any) => order.id)).toEqual([
      placed[1]!.id,
      placed[0]!.id,
    ]);
    const wildcard = await list({ filter: { query: '%' } });
    expect(wildcard.nodes).toEqual([]);
  });

  it('filters by financial status', async () => {
    const found = await list({
      filter: { query: 'search', financialStatus: 'PAID' },
    });
    expect(found.nodes.map((order: any) => order.id)).toEqual([placed[1]!.id]);
    const paid = await list({
      first: 250,
      filter: { financialStatus: 'PAID' },
    });
    expect(
      paid.nodes.every((order: any) => order.financialStatus === 'PAID'),
    ).toBe(true);
  });

  it('forbids customers', async () => {
    const customer = await registerCustomer(stack, 'carol@example.com');
    const result = await stack.query(ORDERS, {}, callerHeaders(customer));
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
