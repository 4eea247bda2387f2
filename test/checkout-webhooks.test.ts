import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, eq } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tables from '../subgraphs/orders/db/tables.js';
import type { Database } from '../platform/database.js';
import { ordersDependencies } from '../subgraphs/orders/dependencies.js';
import {
  buildSandboxWebhookRequest,
  DEFAULT_SANDBOX_WEBHOOK_SECRET,
  SandboxPaymentProvider,
  type SandboxEvent,
} from '../subgraphs/orders/payments/sandbox.js';
import { startTestStack, type TestStack } from './support/stack.js';
import {
  complete,
  createProduct,
  quantityAvailable,
  readyCheckout,
} from './support/checkout.js';

const TTL_SECONDS = 3;
let stack: TestStack;
let db: Database<typeof tables>;
let sandbox: SandboxPaymentProvider;
let webhookUrl: string;

beforeAll(async () => {
  stack = await startTestStack({
    STOCK_RESERVATION_TTL_SECONDS: String(TTL_SECONDS),
    STOCK_RESERVATION_SWEEP_INTERVAL_MS: '200',
    CHECKOUT_RECONCILE_INTERVAL_MS: '300',
  });
  db = stack.subgraphs.orders.database.db as Database<typeof tables>;
  sandbox = ordersDependencies(db, stack.config)
    .payments as SandboxPaymentProvider;
  webhookUrl = `${new URL(stack.subgraphs.orders.url).origin}/webhooks/payments/sandbox`;
  await createProduct(stack, { sku: 'print', price: '40.00', stock: 50 });
});

afterAll(async () => {
  await stack?.close();
});

async function asyncOrder(key: string) {
  const id = await readyCheckout(stack, [{ sku: 'print', quantity: 1 }]);
  const result = await complete(
    stack,
    id,
    { method: 'CARD', cardToken: 'tok_sandbox_async' },
    key,
  );
  return result.data!.checkoutComplete;
}

function post(request: { body: Buffer; headers: Record<string, string> }) {
  return fetch(webhookUrl, {
    method: 'POST',
    headers: request.headers,
    body: request.body,
  });
}

async function orderRow(id: string) {
  const [order] = await db
    .select()
    .from(tables.orders)
    .where(eq(tables.orders.id, id));
  return order!;
}

async function journalCount() {
  const [row] = await db.select({ n: count() }).from(tables.journalEntries);
  return row!.n;
}

describe('asynchronous card confirmation', () => {
  it('waits PENDING, then a signed webhook makes the order PAID once', async () => {
    const available = await quantityAvailable(stack, 'print');
    const payload = await asyncOrder('async-1');
    expect(payload.userErrors).toEqual([]);
    expect(payload.order.financialStatus).toBe('PENDING');
    expect(payload.order.payments[0].status).toBe('REQUIRES_ACTION');
    expect(payload.paymentAction).toEqual({
      provider: 'sandbox',
      providerPaymentId: expect.stringMatching(/^sbxpi_/),
      clientSecret: null,
    });
    expect(await quantityAvailable(stack, 'print')).toBe(available! - 1);
    expect(
      (await orderRow(payload.order.id)).reservationConfirmedAt,
    ).toBeNull();

    const journal = await journalCount();
    const webhook = await sandbox.completeAsyncPayment(
      payload.paymentAction.providerPaymentId,
      'succeeded',
    );
    const response = await post(webhook);
    expect(response.status).toBe(200);
    const order = await orderRow(payload.order.id);
    expect(order.financialStatus).toBe('PAID');
    expect(order.reservationConfirmedAt).not.toBeNull();
    const entries = await db
      .select({ kind: tables.journalEntries.kind })
      .from(tables.journalEntries)
      .where(eq(tables.journalEntries.orderId, order.id));
    expect(entries.map((entry) => entry.kind).sort()).toEqual([
      'CAPTURE',
      'PROVIDER_FEE',
    ]);

    const replay = await post(webhook);
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({
      received: true,
      outcome: 'duplicate',
    });
    expect(await journalCount()).toBe(journal + 2);
    expect(await quantityAvailable(stack, 'print')).toBe(available! - 1);
  });

  it('rejects a bad signature and a stale timestamp, changing nothing', async () => {
    const payload = await asyncOrder('async-2');
    const webhook = await sandbox.completeAsyncPayment(
      payload.paymentAction.providerPaymentId,
      'succeeded',
    );
    const journal = await journalCount();
    const forged = await post({
      body: webhook.body,
      headers: {
        ...webhook.headers,
        'sandbox-signature': webhook.headers['sandbox-signature']!.replace(
          /v1=([0-9a-f])/,
          (_match, digit) => `v1=${digit === '0' ? '1' : '0'}`,
        ),
      },
    });
    expect(forged.status).toBe(400);
    expect(((await forged.json()) as { error: string }).error).toMatch(
      /^Webhook rejected: /,
    );
    const event = JSON.parse(webhook.body.toString('utf8')) as SandboxEvent;
    const stale = await post(
      buildSandboxWebhookRequest(
        event,
        DEFAULT_SANDBOX_WEBHOOK_SECRET,
        Math.floor(Date.now() / 1000) - 301,
      ),
    );
    expect(stale.status).toBe(400);
    expect((await orderRow(payload.order.id)).financialStatus).toBe('PENDING');
    expect(await journalCount()).toBe(journal);
    const [seen] = await db
      .select({ n: count() })
      .from(tables.providerWebhookEvents)
      .where(eq(tables.providerWebhookEvents.eventId, event.id));
    expect(seen!.n).toBe(0);

    expect((await post(webhook)).status).toBe(200);
    expect((await orderRow(payload.order.id)).financialStatus).toBe('PAID');
  });

  it('cancels the order and releases the stock when confirmation fails', async () => {
    const available = await quantityAvailable(stack, 'print');
    const payload = await asyncOrder('async-3');
    const webhook = await sandbox.completeAsyncPayment(
      payload.paymentAction.providerPaymentId,
      'failed',
    );
    expect((await post(webhook)).status).toBe(200);
    const order = await orderRow(payload.order.id);
    expect(order.financialStatus).toBe('CANCELLED');
    expect(order.cancelReason).toMatch(/^Payment declined: /);
    const [payment] = await db
      .select()
      .from(tables.payments)
      .where(eq(tables.payments.orderId, order.id));
    expect(payment!.status).toBe('DECLINED');
    expect(await quantityAvailable(stack, 'print')).toBe(available);
  });

  it('returns the stock and cancels the order when no confirmation arrives', async () => {
    const available = await quantityAvailable(stack, 'print');
    const payload = await asyncOrder('async-4');
    expect(await quantityAvailable(stack, 'print')).toBe(available! - 1);
    const deadline = Date.now() + 15_000;
    let order = await orderRow(payload.order.id);
    while (order.financialStatus !== 'CANCELLED' && Date.now() < deadline) {
      await sleep(200);
      order = await orderRow(payload.order.id);
    }
    expect(order.financialStatus).toBe('CANCELLED');
    expect(order.cancelReason).toBe(
      `The payment was not confirmed within ${TTL_SECONDS} seconds.`,
    );
    expect(await quantityAvailable(stack, 'print')).toBe(available);
  });
});
