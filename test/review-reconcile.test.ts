/**
 * Review finding on checkout reconciliation racing the customer's
 * confirmation, shown with the orders service's real reconciliation pass,
 * real PostgreSQL and the Stripe adapter talking to fake-stripe through a
 * small proxy that lets the customer finish 3-D Secure right after the
 * pass has read the PaymentIntent.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../platform/database.js';
import * as tables from '../subgraphs/orders/db/tables.js';
import { FakeStripe } from './support/fake-stripe.js';
import { complete, createProduct, readyCheckout } from './support/checkout.js';
import { startTestStack, type TestStack } from './support/stack.js';

let stack: TestStack;
let stripe: FakeStripe;
let proxy: Server;
let db: Database<typeof tables>;
let webhookUrl: string;
/** The PaymentIntent the customer confirms as soon as reconciliation reads it. */
let confirmOnRead: string | null = null;
let confirmedEvent: ReturnType<FakeStripe['completeAuthentication']> | null =
  null;

beforeAll(async () => {
  stripe = await FakeStripe.start();
  proxy = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      const hopByHop = ['host', 'connection', 'content-length', 'keep-alive'];
      if (typeof value === 'string' && !hopByHop.includes(name)) {
        headers[name] = value;
      }
    }
    const forwarded = await fetch(`${stripe.url}${request.url}`, {
      method: request.method,
      headers,
      body: request.method === 'GET' ? undefined : Buffer.concat(chunks),
    });
    const body = await forwarded.text();
    const id = confirmOnRead;
    if (
      id &&
      request.method === 'GET' &&
      request.url?.startsWith(`/v1/payment_intents/${id}`)
    ) {
      // The customer finishes 3-D Secure just after the pass read the
      // PaymentIntent as requires_action.
      confirmOnRead = null;
      confirmedEvent = stripe.completeAuthentication(id, 'succeeded');
    }
    response.writeHead(forwarded.status, {
      'content-type': 'application/json',
      'request-id': forwarded.headers.get('request-id') ?? 'req_proxy',
    });
    response.end(body);
  });
  await new Promise<void>((resolve) =>
    proxy.listen(0, '127.0.0.1', () => resolve()),
  );
  const { port } = proxy.address() as AddressInfo;
  stack = await startTestStack({
    PAYMENT_PROVIDER: 'stripe',
    PAYMENT_CAPTURE: 'automatic',
    STRIPE_API_BASE_URL: `http://127.0.0.1:${port}`,
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
    STOCK_RESERVATION_TTL_SECONDS: '1',
    STOCK_RESERVATION_SWEEP_INTERVAL_MS: '200',
    CHECKOUT_RECONCILE_INTERVAL_MS: '200',
  });
  db = stack.subgraphs.orders.database.db as Database<typeof tables>;
  webhookUrl = `${new URL(stack.subgraphs.orders.url).origin}/webhooks/payments/stripe`;
});

afterAll(async () => {
  await stack?.close();
  proxy?.closeAllConnections();
  await new Promise<void>((resolve) =>
    proxy ? proxy.close(() => resolve()) : resolve(),
  );
  await stripe?.close();
});

describe('reconciliation of a stale payment racing the customer', () => {
  // settleStalePayment (checkout/reconciliation.ts) reads the payment as
  // requires_action, then cancelUnpaidOrder voids it. The customer
  // completed 3-D Secure in between, so the void fails (a succeeded
  // PaymentIntent cannot be cancelled); cancelUnpaidOrder
  // (checkout/order-stock.ts) only logs that, marks the payment VOIDED and
  // cancels the order. The `payment_intent.succeeded` webhook then finds a
  // payment that is not open and changes nothing: the card is charged for
  // a cancelled order whose stock was released.
  //
  // Correct: when the void fails, read the payment again and apply what
  // the provider says (here: a capture, so the order is PAID) instead of
  // cancelling, or at least refund/flag a capture reported for a
  // cancelled order.
  it('does not cancel an order whose payment was captured while it was being voided', async () => {
    await createProduct(stack, { sku: 's-cup', price: '12.00', stock: 5 });
    const checkoutId = await readyCheckout(stack, [
      { sku: 's-cup', quantity: 1 },
    ]);
    const placed = await complete(
      stack,
      checkoutId,
      { method: 'CARD', cardToken: 'pm_card_authenticationRequired' },
      randomUUID(),
    );
    const payload = placed.data!.checkoutComplete;
    expect(payload.order.financialStatus).toBe('PENDING');
    const intentId: string = payload.paymentAction.providerPaymentId;
    confirmOnRead = intentId;

    let order: tables.OrderRow | undefined;
    for (let waited = 0; waited < 10_000; waited += 100) {
      await sleep(100);
      [order] = await db
        .select()
        .from(tables.orders)
        .where(eq(tables.orders.id, payload.order.id));
      if (order!.financialStatus !== 'PENDING' && confirmedEvent) break;
    }
    expect(confirmedEvent).not.toBeNull();
    expect(stripe.paymentIntents.get(intentId)!.status).toBe('succeeded');
    // Stripe reports the capture.
    expect((await stripe.sendWebhook(webhookUrl, confirmedEvent!)).status).toBe(
      200,
    );
    [order] = await db
      .select()
      .from(tables.orders)
      .where(eq(tables.orders.id, payload.order.id));
    const refunded = [...stripe.refunds.values()].some(
      (refund) => refund.payment_intent === intentId,
    );
    // The money taken is either the order's payment or given back.
    expect(order!.financialStatus === 'PAID' || refunded).toBe(true);
  });
});
