import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../platform/database.js';
import * as tables from '../subgraphs/orders/db/tables.js';
import {
  createStockedVariant,
  ORDER_STACK_SETTINGS,
  placeOrder,
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

const CAPTURE = `mutation ($input: OrderCaptureInput!) {
  orderCapture(input: $input) { order { financialStatus } userErrors { code } }
}`;
const REFUND = `mutation ($input: OrderRefundInput!) {
  orderRefund(input: $input) {
    order { financialStatus payments { refundedAmount { amount } } }
    refund { id amount { amount } status }
    userErrors { field message code }
  }
}`;

/** Places a PAID card order of 45.00 USD: two units at 20.00 and 5.00 shipping. */
async function paidOrder() {
  const order = await placeOrder(stack, { sku: 'lamp', quantity: 2 });
  const captured = await stack.query(
    CAPTURE,
    { input: { orderId: order.id, idempotencyKey: randomUUID() } },
    admin,
  );
  expect(captured.data!.orderCapture.order.financialStatus).toBe('PAID');
  return order;
}

function refund(orderId: string, amount: string, idempotencyKey: string) {
  return stack.query(
    REFUND,
    { input: { orderId, amount, idempotencyKey } },
    admin,
  );
}

async function storedRefunds(orderId: string) {
  return ordersDb
    .select()
    .from(tables.refunds)
    .where(eq(tables.refunds.orderId, orderId));
}

async function refundEntries(orderId: string) {
  const entries = await ordersDb
    .select()
    .from(tables.journalEntries)
    .where(eq(tables.journalEntries.orderId, orderId));
  return entries.filter((entry) => entry.kind === 'REFUND');
}

beforeAll(async () => {
  stack = await startTestStack(ORDER_STACK_SETTINGS);
  ordersDb = stack.subgraphs.orders.database.db as unknown as Database<
    typeof tables
  >;
  await createStockedVariant(stack, 'lamp', '20.00', 1000);
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

describe('concurrent refunds', () => {
  it('two exceeding the capture: one rejected', async () => {
    const order = await paidOrder();
    const results = await Promise.all([
      refund(order.id, '30.00', randomUUID()),
      refund(order.id, '30.00', randomUUID()),
    ]);
    const payloads = results.map((result) => {
      expect(result.errors).toBeUndefined();
      return result.data!.orderRefund;
    });
    const succeeded = payloads.filter((item) => item.userErrors.length === 0);
    const rejected = payloads.filter((item) => item.userErrors.length > 0);
    expect(succeeded).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.userErrors[0].code).toBe('REFUND_EXCEEDS_CAPTURED');
    expect(rejected[0]!.userErrors[0].message).toMatch(
      /^Refund amount 30\.00 USD exceeds the 15\.00 USD that can still be refunded/,
    );

    const rows = await storedRefunds(order.id);
    expect(rows.map((row) => [row.amount, row.status])).toEqual([
      [3000, 'SUCCEEDED'],
    ]);
    const [payment] = await ordersDb
      .select()
      .from(tables.payments)
      .where(eq(tables.payments.orderId, order.id));
    expect(payment!.refundedAmount).toBe(3000);
    expect(await refundEntries(order.id)).toHaveLength(1);
  });

  it('six refunds stop at the capture', async () => {
    const order = await paidOrder();
    const amounts = ['10.00', '10.00', '10.00', '10.00', '10.00', '10.00'];
    const results = await Promise.all(
      amounts.map((amount) => refund(order.id, amount, randomUUID())),
    );
    const codes = results.map(
      (result) => result.data!.orderRefund.userErrors[0]?.code ?? 'OK',
    );
    expect(codes.filter((code) => code === 'OK')).toHaveLength(4);
    expect(
      codes.filter((code) => code === 'REFUND_EXCEEDS_CAPTURED'),
    ).toHaveLength(2);
    const [payment] = await ordersDb
      .select()
      .from(tables.payments)
      .where(eq(tables.payments.orderId, order.id));
    expect(payment!.refundedAmount).toBe(4000);
    expect(payment!.status).toBe('PARTIALLY_REFUNDED');
    expect(await refundEntries(order.id)).toHaveLength(4);
  });

  it('one key refunds once', async () => {
    const order = await paidOrder();
    const idempotencyKey = randomUUID();
    const results = await Promise.all([
      refund(order.id, '12.00', idempotencyKey),
      refund(order.id, '12.00', idempotencyKey),
      refund(order.id, '12.00', idempotencyKey),
    ]);
    const refundIds = results.map((result) => {
      expect(result.data!.orderRefund.userErrors).toEqual([]);
      return result.data!.orderRefund.refund.id;
    });
    expect(new Set(refundIds).size).toBe(1);

    const rows = await storedRefunds(order.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.amount).toBe(1200);
    expect(await refundEntries(order.id)).toHaveLength(1);
    const [payment] = await ordersDb
      .select()
      .from(tables.payments)
      .where(eq(tables.payments.orderId, order.id));
    expect(payment!.refundedAmount).toBe(1200);
  });
});
