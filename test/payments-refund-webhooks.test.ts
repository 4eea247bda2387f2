import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import { reconcileCheckouts } from '../subgraphs/orders/checkout/reconciliation.js';
import * as tables from '../subgraphs/orders/db/tables.js';
import {
  ordersDependencies,
  type OrdersDependencies,
} from '../subgraphs/orders/dependencies.js';
import type { SandboxPaymentProvider } from '../subgraphs/orders/payments/sandbox.js';
import { REFUNDED_AT_PROVIDER } from '../subgraphs/orders/refund-settlement.js';
import { FakeStripe } from './support/fake-stripe.js';
import {
  ADMIN,
  complete,
  createProduct,
  readyCheckout,
} from './support/checkout.js';
import { startTestStack, type TestStack } from './support/stack.js';

const logger = createLogger('test', 'silent');

const REFUND = `mutation ($input: OrderRefundInput!) {
  orderRefund(input: $input) {
    refund { id status }
    userErrors { field message code }
  }
}`;

/** A stack and what the tests read from it. */
interface Shop {
  stack: TestStack;
  db: Database<typeof tables>;
  dependencies: OrdersDependencies;
  webhookUrl: string;
}

async function startShop(settings: Record<string, string>): Promise<Shop> {
  const stack = await startTestStack({
    ...settings,
    // The tests run the reconciliation pass themselves.
    CHECKOUT_RECONCILE_INTERVAL_MS: '0',
  });
  const db = stack.subgraphs.orders.database.db as Database<typeof tables>;
  await createProduct(stack, { sku: 'kettle', price: '25.00', stock: 100 });
  return {
    stack,
    db,
    dependencies: ordersDependencies(db, stack.config),
    webhookUrl: `${new URL(stack.subgraphs.orders.url).origin}/webhooks/payments/${settings.PAYMENT_PROVIDER}`,
  };
}

/** Places a PAID order of 30.00 (25.00 and 5.00 shipping) paid with `token`. */
async function paidOrder(shop: Shop, token: string) {
  const checkoutId = await readyCheckout(shop.stack, [
    { sku: 'kettle', quantity: 1 },
  ]);
  const result = await complete(
    shop.stack,
    checkoutId,
    { method: 'CARD', cardToken: token },
    randomUUID(),
  );
  const order = result.data!.checkoutComplete.order;
  expect(order.financialStatus).toBe('PAID');
  const [payment] = await shop.db
    .select()
    .from(tables.payments)
    .where(eq(tables.payments.orderId, order.id));
  return {
    id: order.id as string,
    providerPaymentId: payment!.providerPaymentId!,
  };
}

async function refund(
  shop: Shop,
  orderId: string,
  amount: string,
  idempotencyKey: string = randomUUID(),
) {
  const result = await shop.stack.query(
    REFUND,
    { input: { orderId, amount, idempotencyKey } },
    ADMIN,
  );
  return result.data!.orderRefund;
}

/** Reads the order's status, refunded amount, refunds and ledger refunds. */
async function state(shop: Shop, orderId: string) {
  const [order] = await shop.db
    .select()
    .from(tables.orders)
    .where(eq(tables.orders.id, orderId));
  const [payment] = await shop.db
    .select()
    .from(tables.payments)
    .where(eq(tables.payments.orderId, orderId));
  const refunds = await shop.db
    .select()
    .from(tables.refunds)
    .where(eq(tables.refunds.orderId, orderId));
  const entries = await shop.db
    .select()
    .from(tables.journalEntries)
    .where(
      and(
        eq(tables.journalEntries.orderId, orderId),
        eq(tables.journalEntries.kind, 'REFUND'),
      ),
    );
  return {
    financialStatus: order!.financialStatus,
    refundedAmount: payment!.refundedAmount,
    refunds: refunds.map((row) => ({
      amount: row.amount,
      status: row.status,
      reason: row.reason,
      providerRefundId: row.providerRefundId,
    })),
    ledgerRefunds: entries.length,
  };
}

function reconcile(shop: Shop) {
  return reconcileCheckouts(
    shop.db,
    shop.dependencies,
    shop.stack.config,
    logger,
  );
}

describe('refunds reported by Stripe', () => {
  let shop: Shop;
  let stripe: FakeStripe;

  beforeAll(async () => {
    stripe = await FakeStripe.start();
    shop = await startShop({
      PAYMENT_PROVIDER: 'stripe',
      STRIPE_API_BASE_URL: stripe.url,
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
    });
  });

  afterAll(async () => {
    await shop?.stack.close();
    await stripe?.close();
  });

  /** Finds the fake's refund that the shop's refund `refundId` created. */
  function stripeRefundOf(refundId: string) {
    const found = [...stripe.refunds.values()].find(
      (candidate) => candidate.metadata.refund_id === refundId,
    );
    if (!found) throw new Error(`no Stripe refund for ${refundId}`);
    return found;
  }

  async function send(event: ReturnType<FakeStripe['event']>) {
    const response = await stripe.sendWebhook(shop.webhookUrl, event);
    expect(response.status).toBe(200);
    return (JSON.parse(response.body) as { outcome: string }).outcome;
  }

  it('completes a pending refund once when its webhook arrives', async () => {
    const order = await paidOrder(shop, 'pm_card_pendingRefund');
    const payload = await refund(shop, order.id, '10.00');
    expect(payload.userErrors).toEqual([]);
    expect(payload.refund.status).toBe('PENDING');
    expect(await state(shop, order.id)).toMatchObject({
      financialStatus: 'PAID',
      refundedAmount: 0,
      ledgerRefunds: 0,
    });
    const stripeRefund = stripeRefundOf(payload.refund.id);

    const event = stripe.settleRefund(stripeRefund.id, 'succeeded');
    expect(await send(event)).toBe('applied');

    const settled = await state(shop, order.id);
    expect(settled).toEqual({
      financialStatus: 'PARTIALLY_REFUNDED',
      refundedAmount: 1000,
      refunds: [
        {
          amount: 1000,
          status: 'SUCCEEDED',
          reason: null,
          providerRefundId: stripeRefund.id,
        },
      ],
      ledgerRefunds: 1,
    });

    // The same event again, the same news in another event type, and the
    // charge.refunded that Stripe also sends change nothing.
    expect(await send(event)).toBe('duplicate');
    expect(
      await send(stripe.event('refund.updated', { ...stripeRefund })),
    ).toBe('unchanged');
    expect(
      await send(stripe.chargeRefundedEvent(order.providerPaymentId)),
    ).toBe('unchanged');
    expect(await state(shop, order.id)).toEqual(settled);
  });

  it('releases the amount of a failed pending refund for a new refund', async () => {
    const order = await paidOrder(shop, 'pm_card_pendingRefund');
    const pending = await refund(shop, order.id, '30.00');
    expect(pending.refund.status).toBe('PENDING');
    const held = await refund(shop, order.id, '1.00');
    expect(held.userErrors[0].code).toBe('REFUND_EXCEEDS_CAPTURED');

    const failed = stripe.settleRefund(
      stripeRefundOf(pending.refund.id).id,
      'failed',
    );
    expect(await send(failed)).toBe('applied');
    expect(await state(shop, order.id)).toMatchObject({
      financialStatus: 'PAID',
      refundedAmount: 0,
      refunds: [{ amount: 3000, status: 'FAILED' }],
      ledgerRefunds: 0,
    });

    const again = await refund(shop, order.id, '30.00');
    expect(again.userErrors).toEqual([]);
    await send(
      stripe.settleRefund(stripeRefundOf(again.refund.id).id, 'succeeded'),
    );
    expect(await state(shop, order.id)).toMatchObject({
      financialStatus: 'REFUNDED',
      refundedAmount: 3000,
      ledgerRefunds: 1,
    });
  });

  it('records a refund made in the dashboard once', async () => {
    const order = await paidOrder(shop, 'pm_card_visa');
    const dashboard = stripe.refundInDashboard(order.providerPaymentId, 700);
    const event = stripe.chargeRefundedEvent(order.providerPaymentId);

    expect(await send(event)).toBe('applied');
    const recorded = await state(shop, order.id);
    expect(recorded).toEqual({
      financialStatus: 'PARTIALLY_REFUNDED',
      refundedAmount: 700,
      refunds: [
        {
          amount: 700,
          status: 'SUCCEEDED',
          reason: REFUNDED_AT_PROVIDER,
          providerRefundId: dashboard.id,
        },
      ],
      ledgerRefunds: 1,
    });

    expect(await send(event)).toBe('duplicate');
    expect(
      await send(stripe.chargeRefundedEvent(order.providerPaymentId)),
    ).toBe('unchanged');
    expect(await state(shop, order.id)).toEqual(recorded);
  });

  it('counts a staff refund once when its response is lost', async () => {
    const order = await paidOrder(shop, 'pm_card_visa');
    const key = randomUUID();
    // Stripe makes the refund, but every response to the shop is lost, so
    // the shop's refund stays PENDING without Stripe's refund id.
    stripe.dropNextResponses(3);
    const lost = await refund(shop, order.id, '12.00', key);
    expect(lost.userErrors[0].code).toBe('PAYMENT_PROVIDER_ERROR');
    expect((await state(shop, order.id)).refunds).toMatchObject([
      { status: 'PENDING', providerRefundId: null },
    ]);

    expect(
      await send(stripe.chargeRefundedEvent(order.providerPaymentId)),
    ).toBe('applied');
    const retried = await refund(shop, order.id, '12.00', key);
    expect(retried.userErrors).toEqual([]);
    expect(retried.refund.status).toBe('SUCCEEDED');

    expect(await state(shop, order.id)).toMatchObject({
      financialStatus: 'PARTIALLY_REFUNDED',
      refundedAmount: 1200,
      refunds: [{ amount: 1200, status: 'SUCCEEDED', reason: null }],
      ledgerRefunds: 1,
    });
  });

  it('completes a pending refund in the reconciliation pass without a webhook', async () => {
    const order = await paidOrder(shop, 'pm_card_pendingRefund');
    const payload = await refund(shop, order.id, '30.00');
    expect((await reconcile(shop)).refunds).toBe(0);

    stripe.settleRefund(stripeRefundOf(payload.refund.id).id, 'succeeded');
    expect((await reconcile(shop)).refunds).toBe(1);
    expect((await reconcile(shop)).refunds).toBe(0);

    expect(await state(shop, order.id)).toMatchObject({
      financialStatus: 'REFUNDED',
      refundedAmount: 3000,
      refunds: [{ status: 'SUCCEEDED' }],
      ledgerRefunds: 1,
    });
  });
});

describe('refunds reported by the sandbox', () => {
  let shop: Shop;
  let sandbox: SandboxPaymentProvider;

  beforeAll(async () => {
    shop = await startShop({ PAYMENT_PROVIDER: 'sandbox' });
    sandbox = shop.dependencies.payments as SandboxPaymentProvider;
  });

  afterAll(async () => {
    await shop?.stack.close();
  });

  async function post(request: {
    body: Buffer;
    headers: Record<string, string>;
  }) {
    const response = await fetch(shop.webhookUrl, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { outcome: string }).outcome;
  }

  async function providerRefundIdOf(orderId: string) {
    const { refunds } = await state(shop, orderId);
    return refunds[refunds.length - 1]!.providerRefundId!;
  }

  it('completes a pending refund once when its webhook arrives', async () => {
    const order = await paidOrder(shop, 'tok_sandbox_refund_pending');
    const payload = await refund(shop, order.id, '30.00');
    expect(payload.refund.status).toBe('PENDING');

    const webhook = await sandbox.settleRefund(
      await providerRefundIdOf(order.id),
      'succeeded',
    );
    expect(await post(webhook)).toBe('applied');
    expect(await post(webhook)).toBe('duplicate');

    expect(await state(shop, order.id)).toMatchObject({
      financialStatus: 'REFUNDED',
      refundedAmount: 3000,
      refunds: [{ status: 'SUCCEEDED' }],
      ledgerRefunds: 1,
    });
  });

  it('releases the amount of a failed pending refund for a new refund', async () => {
    const order = await paidOrder(shop, 'tok_sandbox_refund_pending');
    await refund(shop, order.id, '20.00');
    const webhook = await sandbox.settleRefund(
      await providerRefundIdOf(order.id),
      'failed',
    );
    expect(await post(webhook)).toBe('applied');

    const again = await refund(shop, order.id, '30.00');
    expect(again.userErrors).toEqual([]);
    expect(await state(shop, order.id)).toMatchObject({
      financialStatus: 'PAID',
      refunds: expect.arrayContaining([
        expect.objectContaining({ amount: 2000, status: 'FAILED' }),
        expect.objectContaining({ amount: 3000, status: 'PENDING' }),
      ]),
      ledgerRefunds: 0,
    });
  });

  it('records a refund made at the provider once', async () => {
    const order = await paidOrder(shop, 'tok_sandbox_visa');
    await refund(shop, order.id, '5.00');
    const webhook = await sandbox.refundAtProvider(
      order.providerPaymentId,
      1000,
    );

    expect(await post(webhook)).toBe('applied');
    expect(await post(webhook)).toBe('duplicate');
    const { refunds, ...rest } = await state(shop, order.id);
    expect(rest).toEqual({
      financialStatus: 'PARTIALLY_REFUNDED',
      refundedAmount: 1500,
      ledgerRefunds: 2,
    });
    expect(refunds.map((row) => [row.amount, row.reason]).sort()).toEqual([
      [1000, REFUNDED_AT_PROVIDER],
      [500, null],
    ]);
  });

  it('completes a pending refund in the reconciliation pass without a webhook', async () => {
    const order = await paidOrder(shop, 'tok_sandbox_refund_pending');
    await refund(shop, order.id, '10.00');
    await sandbox.settleRefund(await providerRefundIdOf(order.id), 'succeeded');

    expect((await reconcile(shop)).refunds).toBeGreaterThanOrEqual(1);
    expect(await state(shop, order.id)).toMatchObject({
      financialStatus: 'PARTIALLY_REFUNDED',
      refundedAmount: 1000,
      ledgerRefunds: 1,
    });
  });
});
