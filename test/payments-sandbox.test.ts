import { describe, expect, it } from 'vitest';
import { loadConfig } from '../platform/config.js';
import {
  captureAtCheckout,
  createPaymentProvider,
} from '../subgraphs/orders/payments/index.js';
import {
  PaymentProviderError,
  WebhookVerificationError,
  type AuthorizeRequest,
} from '../subgraphs/orders/payments/provider.js';
import {
  buildSandboxWebhookRequest,
  DEFAULT_SANDBOX_WEBHOOK_SECRET,
  MemorySandboxStorage,
  SANDBOX_TOKENS,
  SandboxPaymentProvider,
  sandboxFee,
  type SandboxEvent,
  type SandboxStorage,
} from '../subgraphs/orders/payments/sandbox.js';
import { StripePaymentProvider } from '../subgraphs/orders/payments/stripe.js';

const secret = 'whsec_sandbox_test';
let keyCounter = 0;

function newKey(): string {
  keyCounter += 1;
  return `sandbox-key-${keyCounter}`;
}

function request(overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest {
  return {
    amount: 10_000,
    currencyCode: 'USD',
    paymentToken: SANDBOX_TOKENS.succeeds,
    capture: false,
    idempotencyKey: newKey(),
    metadata: { order_id: '7' },
    ...overrides,
  };
}

function sandbox(storage: SandboxStorage = new MemorySandboxStorage()) {
  return new SandboxPaymentProvider(storage, { webhookSecret: secret });
}

async function rejection(
  promise: Promise<unknown>,
): Promise<PaymentProviderError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PaymentProviderError);
    return error as PaymentProviderError;
  }
  throw new Error('the call succeeded');
}

describe('sandbox fee', () => {
  it.each([
    [1, 30],
    [17, 30], // 0.493 rounds down
    [18, 31], // 0.522 rounds up
    [500, 45], // 14.5 rounds half up
    [1000, 59],
    [2599, 105], // 75.371
    [99_999_999, 2_900_030], // 2,899,999.971
  ])('charges %i → %i', (amount, fee) => {
    expect(sandboxFee(amount)).toBe(fee);
  });
});

describe('sandbox authorize', () => {
  it('authorizes tok_sandbox_visa', async () => {
    const payment = await sandbox().authorize(request());

    expect(payment.providerPaymentId).toMatch(
      /^sbxpi_10000_usd_m_ok_[0-9a-f]{24}$/,
    );
    expect(payment.status).toBe('authorized');
    expect(payment.amount).toBe(10_000);
    expect(payment.amountCaptured).toBe(0);
    expect(payment.currencyCode).toBe('USD');
    expect(payment.feeAmount).toBeNull();
  });

  it('captures at once when asked', async () => {
    const payment = await sandbox().authorize(request({ capture: true }));

    expect(payment.status).toBe('captured');
    expect(payment.amountCaptured).toBe(10_000);
    expect(payment.feeAmount).toBe(sandboxFee(10_000));
  });

  it('declines tok_sandbox_declined', async () => {
    const provider = sandbox();
    const payment = await provider.authorize(
      request({ paymentToken: SANDBOX_TOKENS.declines }),
    );

    expect(payment.status).toBe('declined');
    expect(payment.declineCode).toBe('card_declined');
    expect(payment.declineMessage).toBe('Your card was declined.');
    expect((await provider.status(payment.providerPaymentId)).status).toBe(
      'declined',
    );
  });

  it('rejects an unknown token', async () => {
    const error = await rejection(
      sandbox().authorize(request({ paymentToken: 'tok_visa' })),
    );

    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/unknown payment token/);
    expect(error.message).toContain(SANDBOX_TOKENS.succeeds);
  });

  it.each([0, -5, 1.5, 100_000_000])('rejects amount %s', async (amount) => {
    await expect(sandbox().authorize(request({ amount }))).rejects.toThrow(
      PaymentProviderError,
    );
  });

  it('returns the first result for a repeated key', async () => {
    const provider = sandbox();
    const first = request({ capture: false });
    const authorized = await provider.authorize(first);
    await provider.capture(authorized.providerPaymentId, 10_000, newKey());

    const again = await provider.authorize(first);

    expect(again).toEqual(authorized);
    expect((await provider.status(authorized.providerPaymentId)).status).toBe(
      'captured',
    );
  });

  it('rejects a repeated key with other parameters', async () => {
    const provider = sandbox();
    const first = request();
    await provider.authorize(first);

    const error = await rejection(
      provider.authorize({ ...first, amount: 20_000 }),
    );

    expect(error.message).toMatch(/already used with other parameters/);
  });

  it('creates one payment for concurrent requests with one key', async () => {
    const provider = sandbox();
    const same = request();

    const results = await Promise.all([
      provider.authorize(same),
      provider.authorize(same),
      provider.authorize(same),
    ]);

    expect(new Set(results.map((r) => r.providerPaymentId)).size).toBe(1);
  });
});

describe('sandbox capture, void and refund', () => {
  it('captures part and fixes the fee on the captured amount', async () => {
    const provider = sandbox();
    const { providerPaymentId } = await provider.authorize(request());

    const captured = await provider.capture(providerPaymentId, 2599, newKey());

    expect(captured.status).toBe('captured');
    expect(captured.amountCaptured).toBe(2599);
    expect(captured.feeAmount).toBe(105);
  });

  it('rejects a capture above the authorized amount', async () => {
    const provider = sandbox();
    const { providerPaymentId } = await provider.authorize(request());

    const error = await rejection(
      provider.capture(providerPaymentId, 10_001, newKey()),
    );

    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/exceeds the authorized 10000/);
    expect((await provider.status(providerPaymentId)).status).toBe(
      'authorized',
    );
  });

  it('captures once', async () => {
    const provider = sandbox();
    const { providerPaymentId } = await provider.authorize(request());
    await provider.capture(providerPaymentId, 5000, newKey());

    const error = await rejection(
      provider.capture(providerPaymentId, 5000, newKey()),
    );

    expect(error.message).toMatch(/the payment is captured/);
  });

  it('replays a capture for its key', async () => {
    const provider = sandbox();
    const { providerPaymentId } = await provider.authorize(request());
    const key = newKey();

    const first = await provider.capture(providerPaymentId, 4000, key);
    const again = await provider.capture(providerPaymentId, 4000, key);

    expect(again).toEqual(first);
    await expect(
      provider.capture(providerPaymentId, 3000, key),
    ).rejects.toThrow(/already used with other parameters/);
  });

  it('voids an authorization', async () => {
    const provider = sandbox();
    const { providerPaymentId } = await provider.authorize(request());

    const voided = await provider.void(providerPaymentId, newKey());

    expect(voided.status).toBe('canceled');
    await expect(
      provider.capture(providerPaymentId, 1, newKey()),
    ).rejects.toThrow(/the payment is canceled/);
  });

  it('rejects a void after capture', async () => {
    const provider = sandbox();
    const { providerPaymentId } = await provider.authorize(
      request({ capture: true }),
    );

    const error = await rejection(provider.void(providerPaymentId, newKey()));

    expect(error.message).toMatch(/the payment is captured.*refund/);
  });

  it('refunds in parts up to the captured amount', async () => {
    const provider = sandbox();
    const { providerPaymentId } = await provider.authorize(request());
    await provider.capture(providerPaymentId, 6000, newKey());
    const key = newKey();

    const refund = await provider.refund(providerPaymentId, 4000, key);
    expect(refund).toEqual({
      providerRefundId: expect.stringMatching(/^sbxre_[0-9a-f]{24}$/),
      status: 'succeeded',
      amount: 4000,
    });
    expect(await provider.refund(providerPaymentId, 4000, key)).toEqual(refund);

    const error = await rejection(
      provider.refund(providerPaymentId, 2001, newKey()),
    );
    expect(error.message).toMatch(/exceeds the 2000 not yet refunded of 6000/);

    await provider.refund(providerPaymentId, 2000, newKey());
    const current = await provider.status(providerPaymentId);
    expect(current.amountRefunded).toBe(6000);
    expect(current.feeAmount).toBe(sandboxFee(6000));
  });

  it('rejects a refund before capture', async () => {
    const provider = sandbox();
    const { providerPaymentId } = await provider.authorize(request());

    await expect(
      provider.refund(providerPaymentId, 100, newKey()),
    ).rejects.toThrow(/expected a captured payment/);
  });

  it('rejects concurrent refunds beyond the captured amount', async () => {
    const provider = sandbox();
    const { providerPaymentId } = await provider.authorize(
      request({ capture: true }),
    );

    const results = await Promise.allSettled(
      [1, 2, 3].map(() => provider.refund(providerPaymentId, 4000, newKey())),
    );

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    expect((await provider.status(providerPaymentId)).amountRefunded).toBe(
      8000,
    );
  });

  it('reports an unknown payment', async () => {
    const provider = sandbox();
    await expect(
      provider.status('sbxpi_100_usd_m_ok_000000000000000000000000'),
    ).rejects.toThrow(/no payment/);
    await expect(provider.status('pi_123')).rejects.toThrow(
      /not a sandbox payment id/,
    );
  });
});

describe('sandbox state', () => {
  it('is shared by providers on one storage', async () => {
    const storage = new MemorySandboxStorage();
    const first = sandbox(storage);
    const second = sandbox(storage);
    const authorizeKey = newKey();

    const { providerPaymentId } = await first.authorize(
      request({ idempotencyKey: authorizeKey }),
    );
    await second.capture(providerPaymentId, 7000, newKey());

    const seen = await first.status(providerPaymentId);
    expect(seen.status).toBe('captured');
    expect(seen.amountCaptured).toBe(7000);
    const replayed = await second.authorize(
      request({ idempotencyKey: authorizeKey }),
    );
    expect(replayed.providerPaymentId).toBe(providerPaymentId);
  });

  it('stores JSON that survives a round trip', async () => {
    const records = new Map<string, string>();
    const storage: SandboxStorage = {
      async get(key) {
        const value = records.get(key);
        return value === undefined ? undefined : JSON.parse(value);
      },
      async put(key, value, expected) {
        const stored = records.get(key);
        if (
          expected === undefined
            ? stored !== undefined
            : stored !== JSON.stringify(expected)
        ) {
          return false;
        }
        records.set(key, JSON.stringify(value));
        return true;
      },
    };
    const provider = sandbox(storage);
    const { providerPaymentId } = await provider.authorize(request());
    await provider.capture(providerPaymentId, 100, newKey());

    expect([...records.keys()].sort()).toEqual([
      expect.stringMatching(/^idempotency:/),
      `payment:${providerPaymentId}`,
    ]);
    expect(
      (await sandbox(storage).status(providerPaymentId)).amountCaptured,
    ).toBe(100);
  });
});

describe('sandbox asynchronous confirmation', () => {
  it('requires action, then reports success by a signed webhook', async () => {
    const provider = sandbox();
    const payment = await provider.authorize(
      request({ paymentToken: SANDBOX_TOKENS.requiresAction, capture: true }),
    );
    expect(payment.status).toBe('requires_action');

    const webhook = await provider.completeAsyncPayment(
      payment.providerPaymentId,
      'succeeded',
    );
    const event = provider.verifyWebhook(webhook.body, webhook.headers);

    expect(webhook.headers['sandbox-signature']).toMatch(
      /^t=\d+,v1=[0-9a-f]{64}$/,
    );
    expect(event.type).toBe('payment_intent.succeeded');
    expect(event.eventId).toMatch(/^sbxevt_/);
    expect(event.providerPaymentId).toBe(payment.providerPaymentId);
    expect(event.payment?.status).toBe('captured');
    expect(event.payment?.feeAmount).toBe(sandboxFee(10_000));
    expect((await provider.status(payment.providerPaymentId)).status).toBe(
      'captured',
    );

    const again = await provider.completeAsyncPayment(
      payment.providerPaymentId,
      'succeeded',
    );
    expect(provider.verifyWebhook(again.body, again.headers).eventId).toBe(
      event.eventId,
    );
    await expect(
      provider.completeAsyncPayment(payment.providerPaymentId, 'failed'),
    ).rejects.toThrow(/already succeeded/);
  });

  it('authorizes a manual-capture payment on success', async () => {
    const provider = sandbox();
    const payment = await provider.authorize(
      request({ paymentToken: SANDBOX_TOKENS.requiresAction }),
    );

    const webhook = await provider.completeAsyncPayment(
      payment.providerPaymentId,
      'succeeded',
    );
    const event = provider.verifyWebhook(webhook.body, webhook.headers);

    expect(event.type).toBe('payment_intent.amount_capturable_updated');
    expect(event.payment?.status).toBe('authorized');
  });

  it('reports a failed confirmation as declined', async () => {
    const provider = sandbox();
    const payment = await provider.authorize(
      request({ paymentToken: SANDBOX_TOKENS.requiresAction }),
    );

    const webhook = await provider.completeAsyncPayment(
      payment.providerPaymentId,
      'failed',
    );
    const event = provider.verifyWebhook(webhook.body, webhook.headers);

    expect(event.type).toBe('payment_intent.payment_failed');
    expect(event.payment?.status).toBe('declined');
    expect(event.payment?.declineCode).toBe(
      'payment_intent_authentication_failure',
    );
  });

  it('rejects confirming a payment made with another token', async () => {
    const provider = sandbox();
    const payment = await provider.authorize(request());

    await expect(
      provider.completeAsyncPayment(payment.providerPaymentId, 'succeeded'),
    ).rejects.toThrow(/was not made with tok_sandbox_async/);
  });
});

describe('sandbox webhooks', () => {
  const event: SandboxEvent = {
    id: 'sbxevt_1',
    type: 'payment_intent.succeeded',
    created: Math.floor(Date.now() / 1000),
    data: {
      object: {
        providerPaymentId: 'sbxpi_100_usd_a_as_000000000000000000000000',
        status: 'captured',
        amount: 100,
        amountCaptured: 100,
        currencyCode: 'USD',
        feeAmount: 33,
        declineCode: null,
        declineMessage: null,
      },
    },
  };

  it('rejects a webhook signed with another secret', () => {
    const webhook = buildSandboxWebhookRequest(event, 'whsec_other');

    expect(() =>
      sandbox().verifyWebhook(webhook.body, webhook.headers),
    ).toThrow(WebhookVerificationError);
  });

  it('rejects a tampered webhook', () => {
    const webhook = buildSandboxWebhookRequest(event, secret);
    const body = Buffer.from(
      webhook.body.toString().replace('"captured"', '"authorized"'),
    );

    expect(() => sandbox().verifyWebhook(body, webhook.headers)).toThrow(
      /signature mismatch/,
    );
  });

  it('rejects a stale webhook', () => {
    const webhook = buildSandboxWebhookRequest(
      event,
      secret,
      Math.floor(Date.now() / 1000) - 301,
    );

    expect(() =>
      sandbox().verifyWebhook(webhook.body, webhook.headers),
    ).toThrow(/outside the tolerance/);
  });

  it('uses the development secret by default', () => {
    const provider = new SandboxPaymentProvider(new MemorySandboxStorage());
    const webhook = buildSandboxWebhookRequest(
      event,
      DEFAULT_SANDBOX_WEBHOOK_SECRET,
    );

    expect(provider.verifyWebhook(webhook.body, webhook.headers).eventId).toBe(
      'sbxevt_1',
    );
  });
});

describe('payment configuration', () => {
  it('defaults to the sandbox with automatic capture', () => {
    const config = loadConfig({});

    expect(config.PAYMENT_PROVIDER).toBe('sandbox');
    expect(config.PAYMENT_CAPTURE).toBe('automatic');
    expect(config.STRIPE_API_BASE_URL).toBe('https://api.stripe.com');
    expect(config.SANDBOX_WEBHOOK_SECRET).toBe(DEFAULT_SANDBOX_WEBHOOK_SECRET);
    expect(captureAtCheckout(config)).toBe(true);
    expect(
      createPaymentProvider(config, new MemorySandboxStorage()),
    ).toBeInstanceOf(SandboxPaymentProvider);
  });

  it('rejects stripe without its secrets, naming them', () => {
    expect(() => loadConfig({ PAYMENT_PROVIDER: 'stripe' })).toThrow(
      /STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET: required when PAYMENT_PROVIDER=stripe/,
    );
    expect(() =>
      loadConfig({
        PAYMENT_PROVIDER: 'stripe',
        STRIPE_SECRET_KEY: 'sk_test_1',
      }),
    ).toThrow(/STRIPE_WEBHOOK_SECRET: required/);
  });

  it('creates the Stripe provider when configured', () => {
    const config = loadConfig({
      PAYMENT_PROVIDER: 'stripe',
      STRIPE_SECRET_KEY: 'sk_test_1',
      STRIPE_WEBHOOK_SECRET: 'whsec_1',
      PAYMENT_CAPTURE: 'manual',
    });

    expect(
      createPaymentProvider(config, new MemorySandboxStorage()),
    ).toBeInstanceOf(StripePaymentProvider);
    expect(captureAtCheckout(config)).toBe(false);
  });

  it('rejects an unknown provider', () => {
    expect(() => loadConfig({ PAYMENT_PROVIDER: 'paypal' })).toThrow(
      /PAYMENT_PROVIDER/,
    );
  });
});
