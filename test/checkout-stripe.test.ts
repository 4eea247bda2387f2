import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import * as tables from '../subgraphs/orders/db/tables.js';
import type { Database } from '../platform/database.js';
import { startTestStack, type TestStack } from './support/stack.js';
import { FakeStripe } from './support/fake-stripe.js';
import {
  complete,
  createProduct,
  quantityAvailable,
  readyCheckout,
} from './support/checkout.js';

let stack: TestStack;
let stripe: FakeStripe;
let db: Database<typeof tables>;

beforeAll(async () => {
  stripe = await FakeStripe.start();
  stack = await startTestStack({
    PAYMENT_PROVIDER: 'stripe',
    STRIPE_API_BASE_URL: stripe.url,
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
    CHECKOUT_RECONCILE_INTERVAL_MS: '0',
  });
  db = stack.subgraphs.orders.database.db as Database<typeof tables>;
  await createProduct(stack, { sku: 'kettle', price: '25.00', stock: 10 });
});

afterAll(async () => {
  await stack?.close();
  await stripe?.close();
});

describe('checkout with the Stripe adapter', () => {
  it('captures a card payment once for one key', async () => {
    const id = await readyCheckout(stack, [{ sku: 'kettle', quantity: 1 }]);
    const payment = { method: 'CARD', cardToken: 'pm_card_visa' };
    const first = await complete(stack, id, payment, 'stripe-1');
    const again = await complete(stack, id, payment, 'stripe-1');
    const order = first.data!.checkoutComplete.order;
    expect(first.data!.checkoutComplete.userErrors).toEqual([]);
    expect(order.financialStatus).toBe('PAID');
    expect(order.payments[0]).toMatchObject({
      provider: 'stripe',
      status: 'CAPTURED',
    });
    expect(again.data!.checkoutComplete.order.id).toBe(order.id);
    expect(stripe.paymentIntents.size).toBe(1);
  });

  it("refuses a declined card with Stripe's message and releases the stock", async () => {
    const available = await quantityAvailable(stack, 'kettle');
    const id = await readyCheckout(stack, [{ sku: 'kettle', quantity: 1 }]);
    const result = await complete(
      stack,
      id,
      { method: 'CARD', cardToken: 'pm_card_chargeDeclined' },
      'stripe-2',
    );
    expect(result.data!.checkoutComplete.order).toBeNull();
    expect(result.data!.checkoutComplete.userErrors[0].code).toBe(
      'PAYMENT_DECLINED',
    );
    expect(await quantityAvailable(stack, 'kettle')).toBe(available);
  });

  it('completes an authentication through a signed Stripe webhook', async () => {
    const id = await readyCheckout(stack, [{ sku: 'kettle', quantity: 1 }]);
    const result = await complete(
      stack,
      id,
      { method: 'CARD', cardToken: 'pm_card_authenticationRequired' },
      'stripe-3',
    );
    const payload = result.data!.checkoutComplete;
    expect(payload.order.financialStatus).toBe('PENDING');
    expect(payload.paymentAction).toMatchObject({
      provider: 'stripe',
      providerPaymentId: expect.stringMatching(/^pi_/),
      clientSecret: expect.stringMatching(/_secret_/),
    });
    const event = stripe.completeAuthentication(
      payload.paymentAction.providerPaymentId,
      'succeeded',
    );
    const url = `${new URL(stack.subgraphs.orders.url).origin}/webhooks/payments/stripe`;
    expect((await stripe.sendWebhook(url, event)).status).toBe(200);
    const [order] = await db
      .select()
      .from(tables.orders)
      .where(eq(tables.orders.id, payload.order.id));
    expect(order!.financialStatus).toBe('PAID');
    expect(order!.reservationConfirmedAt).not.toBeNull();
  });
});
