import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PaymentProviderError,
  WebhookVerificationError,
  type AuthorizeRequest,
  type ProviderEvent,
} from '../subgraphs/orders/payments/provider.js';
import {
  encodeForm,
  STRIPE_API_VERSION,
  StripePaymentProvider,
} from '../subgraphs/orders/payments/stripe.js';
import { FakeStripe, fakeStripeFee } from './support/fake-stripe.js';

let fake: FakeStripe;
let provider: StripePaymentProvider;
let keyCounter = 0;

function newKey(): string {
  keyCounter += 1;
  return `test-key-${Date.now()}-${keyCounter}`;
}

function authorizeRequest(
  overrides: Partial<AuthorizeRequest> = {},
): AuthorizeRequest {
  return {
    amount: 5000,
    currencyCode: 'USD',
    paymentToken: 'pm_card_visa',
    capture: true,
    idempotencyKey: newKey(),
    metadata: { order_id: '42' },
    ...overrides,
  };
}

function providerFor(
  options: Partial<ConstructorParameters<typeof StripePaymentProvider>[0]>,
): StripePaymentProvider {
  return new StripePaymentProvider({
    apiBaseUrl: fake.url,
    secretKey: fake.secretKey,
    webhookSecret: fake.webhookSecret,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
    ...options,
  });
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

/** Starts a webhook endpoint on 127.0.0.1 that verifies with `provider`. */
async function startReceiver(): Promise<{
  url: string;
  events: ProviderEvent[];
  server: Server;
}> {
  const events: ProviderEvent[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      try {
        events.push(
          provider.verifyWebhook(Buffer.concat(chunks), request.headers),
        );
        response.writeHead(200).end();
      } catch (error) {
        response.writeHead(400).end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/webhooks/stripe`, events, server };
}

beforeAll(async () => {
  fake = await FakeStripe.start();
  provider = providerFor({});
});

afterAll(async () => {
  await fake.close();
});

describe('form encoding', () => {
  it('encodes nested keys and arrays', () => {
    expect(
      encodeForm({
        amount: 100,
        metadata: { order_id: '7 & 8' },
        expand: ['latest_charge'],
        skipped: undefined,
      }),
    ).toBe(
      'amount=100&metadata%5Border_id%5D=7%20%26%208&expand%5B%5D=latest_charge',
    );
  });
});

describe('stripe authorize', () => {
  it('captures a successful payment with its fee', async () => {
    const request = authorizeRequest({ amount: 2599 });

    const payment = await provider.authorize(request);

    expect(payment.providerPaymentId).toMatch(/^pi_/);
    expect(payment.status).toBe('captured');
    expect(payment.amount).toBe(2599);
    expect(payment.amountCaptured).toBe(2599);
    expect(payment.currencyCode).toBe('USD');
    expect(payment.feeAmount).toBe(fakeStripeFee(2599));
    expect(payment.declineCode).toBeNull();
  });

  it('sends the Stripe protocol headers and form body', async () => {
    const request = authorizeRequest({ capture: false });
    await provider.authorize(request);

    const sent = fake.requestsTo('POST', '/v1/payment_intents').at(-1)!;
    expect(sent.headers.authorization).toBe(`Bearer ${fake.secretKey}`);
    expect(sent.headers['stripe-version']).toBe(STRIPE_API_VERSION);
    expect(sent.headers['idempotency-key']).toBe(request.idempotencyKey);
    expect(sent.headers['content-type']).toBe(
      'application/x-www-form-urlencoded',
    );
    expect(sent.params).toEqual({
      amount: '5000',
      currency: 'usd',
      payment_method: 'pm_card_visa',
      confirm: 'true',
      capture_method: 'manual',
      metadata: { order_id: '42' },
      expand: ['latest_charge.balance_transaction'],
      automatic_payment_methods: { enabled: 'true', allow_redirects: 'never' },
    });
  });

  it('returns a decline instead of throwing', async () => {
    const before = fake.requests.length;

    const payment = await provider.authorize(
      authorizeRequest({ paymentToken: 'pm_card_chargeDeclined' }),
    );

    expect(payment.status).toBe('declined');
    expect(payment.providerPaymentId).toMatch(/^pi_/);
    expect(payment.declineCode).toBe('generic_decline');
    expect(payment.declineMessage).toBe('Your card was declined.');
    expect(payment.amountCaptured).toBe(0);
    expect(payment.feeAmount).toBeNull();
    expect(fake.requests.length - before).toBe(1);
  });

  it('returns requires_action, then reads the outcome from a webhook', async () => {
    const receiver = await startReceiver();
    try {
      const payment = await provider.authorize(
        authorizeRequest({
          paymentToken: 'pm_card_authenticationRequired',
          capture: false,
        }),
      );
      expect(payment.status).toBe('requires_action');
      expect(payment.clientSecret).toMatch(/^pi_.+_secret_/);

      const event = fake.completeAuthentication(
        payment.providerPaymentId,
        'succeeded',
      );
      const delivery = await fake.sendWebhook(receiver.url, event);

      expect(delivery.status).toBe(200);
      expect(receiver.events).toHaveLength(1);
      const received = receiver.events[0]!;
      expect(received.eventId).toBe(event.id);
      expect(received.type).toBe('payment_intent.amount_capturable_updated');
      expect(received.providerPaymentId).toBe(payment.providerPaymentId);
      expect(received.payment?.status).toBe('authorized');
      expect(received.createdAt).toBe(
        new Date(event.created * 1000).toISOString(),
      );

      const current = await provider.status(payment.providerPaymentId);
      expect(current.status).toBe('authorized');
      expect(current.clientSecret).toBeNull();
    } finally {
      receiver.server.close();
    }
  });

  it('reports a failed authentication as declined', async () => {
    const payment = await provider.authorize(
      authorizeRequest({ paymentToken: 'pm_card_authenticationRequired' }),
    );
    const event = fake.completeAuthentication(
      payment.providerPaymentId,
      'failed',
    );
    const { body, headers } = fake.signedWebhook(event);

    const received = provider.verifyWebhook(body, headers);

    expect(received.type).toBe('payment_intent.payment_failed');
    expect(received.payment?.status).toBe('declined');
    expect(received.payment?.declineCode).toBe(
      'payment_intent_authentication_failure',
    );
  });

  it('sends return_url when given', async () => {
    await provider.authorize(
      authorizeRequest({ returnUrl: 'https://shop.example.com/return' }),
    );

    const sent = fake.requestsTo('POST', '/v1/payment_intents').at(-1)!;
    expect(sent.params.return_url).toBe('https://shop.example.com/return');
    expect(sent.params.automatic_payment_methods).toBeUndefined();
  });
});

describe('stripe capture and void', () => {
  it('captures part of an authorization', async () => {
    const authorized = await provider.authorize(
      authorizeRequest({ capture: false }),
    );
    expect(authorized.status).toBe('authorized');
    expect(authorized.feeAmount).toBeNull();

    const captured = await provider.capture(
      authorized.providerPaymentId,
      3000,
      newKey(),
    );

    expect(captured.status).toBe('captured');
    expect(captured.amount).toBe(5000);
    expect(captured.amountCaptured).toBe(3000);
    expect(captured.feeAmount).toBe(fakeStripeFee(3000));
    const sent = fake.requestsTo(
      'POST',
      `/v1/payment_intents/${authorized.providerPaymentId}/capture`,
    )[0]!;
    expect(sent.params.amount_to_capture).toBe('3000');
  });

  it('captures a full authorization once', async () => {
    const { providerPaymentId } = await provider.authorize(
      authorizeRequest({ capture: false }),
    );

    const captured = await provider.capture(providerPaymentId, 5000, newKey());
    expect(captured.amountCaptured).toBe(5000);

    const error = await rejection(
      provider.capture(providerPaymentId, 5000, newKey()),
    );
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/payment_intent_unexpected_state/);
  });

  it('rejects a capture above the authorized amount', async () => {
    const { providerPaymentId } = await provider.authorize(
      authorizeRequest({ capture: false }),
    );

    const error = await rejection(
      provider.capture(providerPaymentId, 5001, newKey()),
    );
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/amount_too_large/);
  });

  it('voids an authorization', async () => {
    const { providerPaymentId } = await provider.authorize(
      authorizeRequest({ capture: false }),
    );

    const voided = await provider.void(providerPaymentId, newKey());

    expect(voided.status).toBe('canceled');
    expect(voided.amountCaptured).toBe(0);
    expect((await provider.status(providerPaymentId)).status).toBe('canceled');
  });

  it('rejects a void after capture', async () => {
    const { providerPaymentId } = await provider.authorize(authorizeRequest());

    const error = await rejection(provider.void(providerPaymentId, newKey()));

    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/Stripe void failed: HTTP 400/);
  });
});

describe('stripe refund', () => {
  it('refunds part, then rejects an over-refund', async () => {
    const { providerPaymentId } = await provider.authorize(authorizeRequest());

    const refund = await provider.refund(providerPaymentId, 2000, newKey());
    expect(refund.providerRefundId).toMatch(/^re_/);
    expect(refund.status).toBe('succeeded');
    expect(refund.amount).toBe(2000);

    const error = await rejection(
      provider.refund(providerPaymentId, 3001, newKey()),
    );
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/greater than unrefunded amount/);

    const current = await provider.status(providerPaymentId);
    expect(current.amountCaptured).toBe(5000);
    expect(current.amountRefunded).toBe(2000);

    const rest = await provider.refund(providerPaymentId, 3000, newKey());
    expect(rest.amount).toBe(3000);
  });

  it('normalises charge.refunded to the payment id', () => {
    const [intent] = [...fake.paymentIntents.values()].filter(
      (candidate) => candidate.status === 'succeeded',
    );
    const { body, headers } = fake.signedWebhook(
      fake.chargeRefundedEvent(intent!.id),
    );

    const event = provider.verifyWebhook(body, headers);

    expect(event.type).toBe('charge.refunded');
    expect(event.providerPaymentId).toBe(intent!.id);
    expect(event.payment).toBeNull();
  });
});

describe('stripe retries and idempotency', () => {
  it('retries after a 500 and creates one PaymentIntent', async () => {
    const before = fake.paymentIntents.size;
    const request = authorizeRequest();
    fake.failNext(1, 500);

    const payment = await provider.authorize(request);

    expect(payment.status).toBe('captured');
    expect(fake.paymentIntents.size - before).toBe(1);
    const attempts = fake
      .requestsTo('POST', '/v1/payment_intents')
      .filter(
        (sent) => sent.headers['idempotency-key'] === request.idempotencyKey,
      );
    expect(attempts).toHaveLength(2);
  });

  it('replays the first response after a lost response', async () => {
    const before = fake.paymentIntents.size;
    const request = authorizeRequest();
    fake.dropNextResponses(1);

    const payment = await provider.authorize(request);

    expect(fake.paymentIntents.size - before).toBe(1);
    expect(fake.paymentIntents.has(payment.providerPaymentId)).toBe(true);
  });

  it('retries after a 429', async () => {
    fake.failNext(2, 429);

    const payment = await provider.authorize(authorizeRequest());

    expect(payment.status).toBe('captured');
  });

  it('gives up after the retry limit with a retryable error', async () => {
    const limited = providerFor({ maxRetries: 2 });
    const before = fake.requests.length;
    fake.failNext(3, 500);

    const error = await rejection(limited.authorize(authorizeRequest()));

    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(
      /Stripe authorize failed: HTTP 500 api_error/,
    );
    expect(fake.requests.length - before).toBe(3);
  });

  it('returns the first result for a repeated key', async () => {
    const request = authorizeRequest();

    const first = await provider.authorize(request);
    const second = await provider.authorize(request);

    expect(second).toEqual(first);
  });

  it('rejects a repeated key with other parameters', async () => {
    const request = authorizeRequest();
    await provider.authorize(request);

    const error = await rejection(
      provider.authorize({ ...request, amount: 6000 }),
    );

    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/HTTP 400 idempotency_error/);
  });

  it('retries a status read', async () => {
    const { providerPaymentId } = await provider.authorize(authorizeRequest());
    fake.failNext(1, 500);

    expect((await provider.status(providerPaymentId)).status).toBe('captured');
  });

  it('reports an unknown PaymentIntent', async () => {
    const error = await rejection(provider.status('pi_doesnotexist'));

    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/HTTP 404 .*resource_missing/);
  });
});

describe('stripe secrets', () => {
  it('keeps the secret key out of an authentication error', async () => {
    const wrongKey = 'sk_test_wrongWRONGwrong1234567890';
    const wrong = providerFor({ secretKey: wrongKey });

    const error = await rejection(wrong.authorize(authorizeRequest()));

    expect(error.message).toMatch(/HTTP 401/);
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain(wrongKey);
    expect(error.message).not.toContain('7890');
    expect(error.message).not.toContain(fake.secretKey);
    expect(error.stack ?? '').not.toContain(wrongKey);
  });

  it('keeps the secret key out of a network error', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) =>
      closed.listen(0, '127.0.0.1', resolve),
    );
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = providerFor({
      apiBaseUrl: `http://127.0.0.1:${port}`,
      maxRetries: 1,
    });

    const error = await rejection(unreachable.authorize(authorizeRequest()));

    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/could not be reached \(ECONNREFUSED\)/);
    expect(error.message).not.toContain(fake.secretKey);
    expect(JSON.stringify(error)).not.toContain(fake.secretKey);
  });

  it('keeps secrets out of API and webhook errors', async () => {
    const { providerPaymentId } = await provider.authorize(authorizeRequest());
    const errors: Error[] = [
      await rejection(provider.refund(providerPaymentId, 999_999, newKey())),
      await rejection(provider.void(providerPaymentId, newKey())),
    ];
    const event = fake.event('payment_intent.succeeded', {});
    const { body, headers } = fake.signedWebhook(event);
    try {
      provider.verifyWebhook(Buffer.concat([body, Buffer.from(' ')]), headers);
    } catch (error) {
      errors.push(error as Error);
    }

    expect(errors).toHaveLength(3);
    expect(errors[2]).toBeInstanceOf(WebhookVerificationError);
    for (const error of errors) {
      expect(error.message).not.toContain(fake.secretKey);
      expect(error.message).not.toContain(fake.webhookSecret);
    }
  });
});

describe('stripe webhooks', () => {
  it('rejects a webhook signed with another secret', () => {
    const other = new StripePaymentProvider({
      apiBaseUrl: fake.url,
      secretKey: fake.secretKey,
      webhookSecret: 'whsec_other',
    });
    const { body, headers } = fake.signedWebhook(
      fake.event('payment_intent.canceled', {}),
    );

    expect(() => other.verifyWebhook(body, headers)).toThrow(
      /signature mismatch/,
    );
  });

  it('rejects a webhook without a signature header', () => {
    const { body } = fake.signedWebhook(
      fake.event('payment_intent.canceled', {}),
    );

    expect(() => provider.verifyWebhook(body, {})).toThrow(
      /Missing webhook signature header/,
    );
  });

  it('accepts the old and new secret while rolling', () => {
    const rolling = new StripePaymentProvider({
      apiBaseUrl: fake.url,
      secretKey: fake.secretKey,
      webhookSecret: ['whsec_new', fake.webhookSecret],
    });
    const { body, headers } = fake.signedWebhook(
      fake.event('customer.created', { object: 'customer', id: 'cus_1' }),
    );

    const event = rolling.verifyWebhook(body, headers);
    expect(event.providerPaymentId).toBeNull();
    expect(event.payment).toBeNull();
  });
});
