/**
 * A local stand-in for the part of Stripe's API that the payment adapter
 * uses. It follows Stripe's protocol: bearer secret key, form-encoded
 * bodies with `a[b]` and `a[]` keys, JSON objects and error bodies and
 * `Idempotency-Key` replay. It serves PaymentIntents with Stripe's test
 * payment methods, refunds, expandable balance transactions and signed
 * webhooks.
 *
 * Test payment methods:
 * - `pm_card_visa` succeeds;
 * - `pm_card_chargeDeclined` is declined: HTTP 402, `card_error`,
 *   code `card_declined`, decline code `generic_decline`;
 * - `pm_card_authenticationRequired` stops in `requires_action` until
 *   `completeAuthentication` decides it;
 * - `pm_card_pendingRefund` succeeds, and its refunds start `pending`
 *   until `settleRefund` decides them, which returns the
 *   `charge.refund.updated` event Stripe would send.
 *
 * `refundInDashboard` refunds as a person in Stripe's dashboard would
 * (no metadata, no API request of the shop); `chargeRefundedEvent` then
 * builds the event that reports it. Refunds are listed with
 * `GET /v1/refunds?payment_intent=...` and read with `GET /v1/refunds/:id`.
 *
 * Only listens on 127.0.0.1 and only sends webhooks to loopback addresses.
 */

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { sign } from '../../subgraphs/orders/payments/stripe-signature.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, unknown>;
  headers: Record<string, string | undefined>;
  params: Record<string, unknown>;
  rawBody: string;
}

export interface StripeEventObject {
  id: string;
  object: 'event';
  api_version: string;
  type: string;
  created: number;
  livemode: false;
  data: { object: Record<string, unknown> };
}

interface ErrorBody {
  type: string;
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  charge?: string;
  payment_intent?: Record<string, unknown>;
}

interface Answer {
  status: number;
  body: unknown;
  /** False for responses Stripe does not save for an idempotency key. */
  save: boolean;
}

interface PaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_capturable: number;
  amount_received: number;
  currency: string;
  status: string;
  capture_method: string;
  client_secret: string;
  created: number;
  latest_charge: string | null;
  last_payment_error: ErrorBody | null;
  metadata: Record<string, string>;
  payment_method: string;
  next_action: Record<string, unknown> | null;
  canceled_at: number | null;
  cancellation_reason: string | null;
  livemode: false;
}

interface Charge {
  id: string;
  object: 'charge';
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  captured: boolean;
  refunded: boolean;
  paid: boolean;
  status: 'succeeded' | 'failed';
  currency: string;
  payment_intent: string;
  balance_transaction: string | null;
  failure_code: string | null;
  created: number;
  livemode: false;
}

interface BalanceTransaction {
  id: string;
  object: 'balance_transaction';
  amount: number;
  currency: string;
  fee: number;
  net: number;
  type: 'charge';
  fee_details: { amount: number; currency: string; type: string }[];
}

interface Refund {
  id: string;
  object: 'refund';
  amount: number;
  charge: string;
  payment_intent: string;
  currency: string;
  status: 'pending' | 'succeeded' | 'failed' | 'canceled';
  failure_reason: string | null;
  metadata: Record<string, string>;
  created: number;
}

interface SavedResponse {
  fingerprint: string;
  status: number;
  body: unknown;
}

/** Returns the fee the fake puts on a charge: 2.9 % rounded half up, plus 30. */
export function fakeStripeFee(amount: number): number {
  return Math.floor((amount * 29 + 500) / 1000) + 30;
}

const API_VERSION = '2024-06-20';
const CANCELABLE = new Set([
  'requires_payment_method',
  'requires_capture',
  'requires_confirmation',
  'requires_action',
  'processing',
]);

class ParamError extends Error {
  constructor(
    message: string,
    readonly param?: string,
    readonly code?: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface FakeStripeOptions {
  secretKey?: string;
  webhookSecret?: string;
}

export class FakeStripe {
  readonly secretKey: string;
  readonly webhookSecret: string;
  /** Every request received, in order, including rejected ones. */
  readonly requests: RecordedRequest[] = [];
  readonly paymentIntents = new Map<string, PaymentIntent>();
  readonly charges = new Map<string, Charge>();
  readonly balanceTransactions = new Map<string, BalanceTransaction>();
  readonly refunds = new Map<string, Refund>();
  private readonly idempotency = new Map<string, SavedResponse>();
  private failures: { status: 500 | 429; remaining: number } | null = null;
  private responsesToDrop = 0;
  private server!: Server;
  url = '';

  private constructor(options: FakeStripeOptions) {
    this.secretKey = options.secretKey ?? `sk_test_${randomId(24)}`;
    this.webhookSecret = options.webhookSecret ?? `whsec_${randomId(32)}`;
  }

  static async start(options: FakeStripeOptions = {}): Promise<FakeStripe> {
    const fake = new FakeStripe(options);
    fake.server = createServer((request, response) => {
      fake.handle(request).then(
        (result) => {
          if (result.drop) {
            response.socket?.destroy();
            return;
          }
          response.writeHead(result.status, {
            'content-type': 'application/json',
            'request-id': `req_${randomId(14)}`,
            'stripe-version': API_VERSION,
            ...result.headers,
          });
          response.end(JSON.stringify(result.body));
        },
        (error: unknown) => {
          response.writeHead(500, { 'content-type': 'application/json' });
          response.end(
            JSON.stringify({
              error: { type: 'api_error', message: String(error) },
            }),
          );
        },
      );
    });
    await new Promise<void>((resolve) =>
      fake.server.listen(0, '127.0.0.1', resolve),
    );
    const { port } = fake.server.address() as AddressInfo;
    fake.url = `http://127.0.0.1:${port}`;
    return fake;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Fails the next `count` requests with `status` before processing them. */
  failNext(count: number, status: 500 | 429 = 500): void {
    this.failures = { status, remaining: count };
  }

  /**
   * Processes the next `count` requests but closes the connection instead
   * of responding, as when a response is lost on the network.
   */
  dropNextResponses(count: number): void {
    this.responsesToDrop = count;
  }

  /** Requests to one path, such as `POST /v1/payment_intents`. */
  requestsTo(method: string, path: string): RecordedRequest[] {
    return this.requests.filter(
      (request) => request.method === method && request.path === path,
    );
  }

  /**
   * Decides a PaymentIntent in `requires_action`, as the customer completing
   * or failing 3-D Secure would, and returns the event Stripe would send.
   */
  completeAuthentication(
    paymentIntentId: string,
    outcome: 'succeeded' | 'failed',
  ): StripeEventObject {
    const intent = this.paymentIntents.get(paymentIntentId);
    if (!intent || intent.status !== 'requires_action') {
      throw new Error(`${paymentIntentId} is not awaiting authentication`);
    }
    intent.next_action = null;
    if (outcome === 'failed') {
      intent.status = 'requires_payment_method';
      intent.last_payment_error = {
        type: 'card_error',
        code: 'payment_intent_authentication_failure',
        message:
          'The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.',
      };
      return this.event('payment_intent.payment_failed', this.render(intent));
    }
    this.authorizeCharge(intent);
    const type =
      (intent.status as string) === 'succeeded'
        ? 'payment_intent.succeeded'
        : 'payment_intent.amount_capturable_updated';
    return this.event(type, this.render(intent));
  }

  /**
   * Decides a `pending` refund, as the card network would, and returns
   * the event Stripe sends for it (`charge.refund.updated` by default; from
   * API version 2024-10-28 also `refund.updated` or `refund.failed`). A
   * failed refund gives its amount back to the charge.
   */
  settleRefund(
    refundId: string,
    outcome: 'succeeded' | 'failed',
    type = 'charge.refund.updated',
  ): StripeEventObject {
    const refund = this.refunds.get(refundId);
    if (!refund || refund.status !== 'pending') {
      throw new Error(`${refundId} is not a pending refund`);
    }
    refund.status = outcome;
    if (outcome === 'failed') {
      refund.failure_reason = 'expired_or_canceled_card';
      const charge = this.charges.get(refund.charge)!;
      charge.amount_refunded -= refund.amount;
      charge.refunded = false;
    }
    return this.event(type, { ...refund });
  }

  /**
   * Refunds `amount` of a PaymentIntent as a person in Stripe's dashboard
   * would: a refund without the shop's metadata, and no API request.
   */
  refundInDashboard(paymentIntentId: string, amount: number): Refund {
    const answer = this.createRefund({
      payment_intent: paymentIntentId,
      amount: String(amount),
    });
    if (answer.status !== 200) {
      throw new Error(
        `Dashboard refund failed: ${JSON.stringify(answer.body)}`,
      );
    }
    return answer.body as Refund;
  }

  /** Builds the `charge.refunded` event of a PaymentIntent's latest charge. */
  chargeRefundedEvent(paymentIntentId: string): StripeEventObject {
    const intent = this.paymentIntents.get(paymentIntentId);
    const charge = intent?.latest_charge
      ? this.charges.get(intent.latest_charge)
      : undefined;
    if (!charge) throw new Error(`${paymentIntentId} has no charge`);
    return this.event('charge.refunded', { ...charge });
  }

  event(type: string, object: Record<string, unknown>): StripeEventObject {
    return {
      id: `evt_${randomId(24)}`,
      object: 'event',
      api_version: API_VERSION,
      type,
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      data: { object },
    };
  }

  /** The body and headers of a webhook request signed with the endpoint secret. */
  signedWebhook(
    event: StripeEventObject,
    timestamp = Math.floor(Date.now() / 1000),
  ): { body: Buffer; headers: Record<string, string> } {
    const body = Buffer.from(JSON.stringify(event, null, 2), 'utf8');
    return {
      body,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'stripe-signature': sign(body, this.webhookSecret, timestamp),
      },
    };
  }

  /** POSTs a signed webhook to a loopback URL and returns the response. */
  async sendWebhook(
    url: string,
    event: StripeEventObject,
  ): Promise<{ status: number; body: string }> {
    const target = new URL(url);
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) {
      throw new Error(`The fake only sends webhooks to loopback, not ${url}`);
    }
    const { body, headers } = this.signedWebhook(event);
    const response = await fetch(target, { method: 'POST', headers, body });
    return { status: response.status, body: await response.text() };
  }

  private async handle(request: IncomingMessage): Promise<{
    status: number;
    body: unknown;
    headers?: Record<string, string>;
    drop?: boolean;
  }> {
    const rawBody = await readBody(request);
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const method = request.method ?? 'GET';
    let params: Record<string, unknown> = {};
    let query: Record<string, unknown> = {};
    try {
      query = parseForm(url.search.slice(1));
      params = parseForm(rawBody);
    } catch (error) {
      return errorAnswer(error as ParamError);
    } finally {
      this.requests.push({
        method,
        path: url.pathname,
        query,
        headers,
        params,
        rawBody,
      });
    }

    if (this.failures && this.failures.remaining > 0) {
      this.failures.remaining -= 1;
      const { status } = this.failures;
      return status === 429
        ? errorAnswer(
            new ParamError(
              'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.',
              undefined,
              'rate_limit',
              429,
            ),
          )
        : {
            status: 500,
            body: {
              error: {
                type: 'api_error',
                message:
                  'An unknown error occurred while processing the request.',
              },
            },
          };
    }

    const authorization = headers.authorization ?? '';
    if (!authorization.startsWith('Bearer ')) {
      return unauthorized(
        'You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth.',
      );
    }
    const key = authorization.slice('Bearer '.length);
    if (key !== this.secretKey) {
      return unauthorized(`Invalid API Key provided: ${maskKey(key)}`);
    }

    const idempotencyKey = headers['idempotency-key'];
    const fingerprint = JSON.stringify([method, url.pathname, params]);
    if (method === 'POST' && idempotencyKey !== undefined) {
      const saved = this.idempotency.get(idempotencyKey);
      if (saved) {
        if (saved.fingerprint !== fingerprint) {
          return {
            status: 400,
            body: {
              error: {
                type: 'idempotency_error',
                message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
              },
            },
          };
        }
        return this.maybeDrop({
          status: saved.status,
          body: saved.body,
          headers: {
            'idempotency-key': idempotencyKey,
            'idempotent-replayed': 'true',
          },
        });
      }
    }

    let answer: Answer;
    try {
      answer = this.route(method, url.pathname, { ...query, ...params });
    } catch (error) {
      if (!(error instanceof ParamError)) throw error;
      answer = { ...errorAnswer(error), save: false };
    }
    if (method === 'POST' && idempotencyKey !== undefined && answer.save) {
      this.idempotency.set(idempotencyKey, {
        fingerprint,
        status: answer.status,
        body: answer.body,
      });
    }
    const replyHeaders: Record<string, string> = {};
    if (idempotencyKey !== undefined) {
      replyHeaders['idempotency-key'] = idempotencyKey;
    }
    return this.maybeDrop({
      status: answer.status,
      body: answer.body,
      headers: replyHeaders,
    });
  }

  private maybeDrop<T extends object>(answer: T): T & { drop?: boolean } {
    if (this.responsesToDrop > 0) {
      this.responsesToDrop -= 1;
      return { ...answer, drop: true };
    }
    return answer;
  }

  private route(
    method: string,
    path: string,
    params: Record<string, unknown>,
  ): Answer {
    const expand = expandList(params.expand);
    if (method === 'POST' && path === '/v1/payment_intents') {
      return this.createPaymentIntent(params, expand);
    }
    if (method === 'POST' && path === '/v1/refunds') {
      return this.createRefund(params);
    }
    if (method === 'GET' && path === '/v1/refunds') {
      return this.listRefunds(params);
    }
    const refundMatch = /^\/v1\/refunds\/([^/]+)$/.exec(path);
    if (method === 'GET' && refundMatch) {
      const refund = this.refunds.get(refundMatch[1]!);
      if (!refund) {
        throw new ParamError(
          `No such refund: '${refundMatch[1]}'`,
          'id',
          'resource_missing',
          404,
        );
      }
      return ok({ ...refund });
    }
    const match =
      /^\/v1\/payment_intents\/([^/]+)(?:\/(capture|cancel))?$/.exec(path);
    if (match) {
      const intent = this.paymentIntents.get(match[1]!);
      if (!intent) {
        throw new ParamError(
          `No such payment_intent: '${match[1]}'`,
          'intent',
          'resource_missing',
          404,
        );
      }
      if (method === 'GET' && match[2] === undefined) {
        return ok(this.render(intent, expand));
      }
      if (method === 'POST' && match[2] === 'capture') {
        return this.capture(intent, params, expand);
      }
      if (method === 'POST' && match[2] === 'cancel') {
        return this.cancel(intent, params, expand);
      }
    }
    throw new ParamError(
      `Unrecognized request URL (${method}: ${path}).`,
      undefined,
      undefined,
      404,
    );
  }

  private createPaymentIntent(
    params: Record<string, unknown>,
    expand: string[],
  ): Answer {
    const amount = integerParam(params, 'amount');
    if (amount < 50) {
      throw new ParamError(
        'Amount must be at least 50 cents',
        'amount',
        'amount_too_small',
      );
    }
    const currency = params.currency;
    if (typeof currency !== 'string' || !/^[a-z]{3}$/.test(currency)) {
      throw new ParamError(
        `Invalid currency: ${String(currency)}. Stripe currencies are three lower-case letters.`,
        'currency',
      );
    }
    const captureMethod = params.capture_method ?? 'automatic';
    if (captureMethod !== 'automatic' && captureMethod !== 'manual') {
      throw new ParamError(
        `Invalid capture_method: ${String(captureMethod)}`,
        'capture_method',
      );
    }
    const paymentMethod = params.payment_method;
    if (
      typeof paymentMethod !== 'string' ||
      ![
        'pm_card_visa',
        'pm_card_chargeDeclined',
        'pm_card_authenticationRequired',
        'pm_card_pendingRefund',
      ].includes(paymentMethod)
    ) {
      throw new ParamError(
        `No such PaymentMethod: '${String(paymentMethod)}'`,
        'payment_method',
        'resource_missing',
      );
    }
    const metadata = (params.metadata ?? {}) as Record<string, string>;
    const id = `pi_${randomId(24)}`;
    const intent: PaymentIntent = {
      id,
      object: 'payment_intent',
      amount,
      amount_capturable: 0,
      amount_received: 0,
      currency,
      status: 'requires_confirmation',
      capture_method: captureMethod,
      client_secret: `${id}_secret_${randomId(24)}`,
      created: Math.floor(Date.now() / 1000),
      latest_charge: null,
      last_payment_error: null,
      metadata,
      payment_method: paymentMethod,
      next_action: null,
      canceled_at: null,
      cancellation_reason: null,
      livemode: false,
    };
    this.paymentIntents.set(id, intent);
    if (params.confirm !== 'true') return ok(this.render(intent, expand));

    if (paymentMethod === 'pm_card_authenticationRequired') {
      intent.status = 'requires_action';
      intent.next_action = {
        type: 'use_stripe_sdk',
        use_stripe_sdk: { type: 'three_d_secure_redirect' },
      };
      return ok(this.render(intent, expand));
    }
    if (paymentMethod === 'pm_card_chargeDeclined') {
      const charge = this.newCharge(intent);
      charge.status = 'failed';
      charge.paid = false;
      charge.failure_code = 'card_declined';
      intent.status = 'requires_payment_method';
      intent.last_payment_error = {
        type: 'card_error',
        code: 'card_declined',
        decline_code: 'generic_decline',
        message: 'Your card was declined.',
        charge: charge.id,
      };
      return {
        status: 402,
        body: {
          error: {
            ...intent.last_payment_error,
            payment_intent: this.render(intent, expand),
          },
        },
        save: true,
      };
    }
    this.authorizeCharge(intent);
    return ok(this.render(intent, expand));
  }

  /** Creates the charge of a confirmed intent; captures it when automatic. */
  private authorizeCharge(intent: PaymentIntent): void {
    this.newCharge(intent);
    if (intent.capture_method === 'manual') {
      intent.status = 'requires_capture';
      intent.amount_capturable = intent.amount;
    } else {
      this.captureCharge(intent, intent.amount);
    }
  }

  private newCharge(intent: PaymentIntent): Charge {
    const charge: Charge = {
      id: `ch_${randomId(24)}`,
      object: 'charge',
      amount: intent.amount,
      amount_captured: 0,
      amount_refunded: 0,
      captured: false,
      refunded: false,
      paid: true,
      status: 'succeeded',
      currency: intent.currency,
      payment_intent: intent.id,
      balance_transaction: null,
      failure_code: null,
      created: Math.floor(Date.now() / 1000),
      livemode: false,
    };
    this.charges.set(charge.id, charge);
    intent.latest_charge = charge.id;
    return charge;
  }

  private captureCharge(intent: PaymentIntent, amount: number): void {
    const charge = this.charges.get(intent.latest_charge!)!;
    const fee = fakeStripeFee(amount);
    const balance: BalanceTransaction = {
      id: `txn_${randomId(24)}`,
      object: 'balance_transaction',
      amount,
      currency: intent.currency,
      fee,
      net: amount - fee,
      type: 'charge',
      fee_details: [
        { amount: fee, currency: intent.currency, type: 'stripe_fee' },
      ],
    };
    this.balanceTransactions.set(balance.id, balance);
    charge.captured = true;
    charge.amount_captured = amount;
    charge.balance_transaction = balance.id;
    intent.status = 'succeeded';
    intent.amount_received = amount;
    intent.amount_capturable = 0;
  }

  private capture(
    intent: PaymentIntent,
    params: Record<string, unknown>,
    expand: string[],
  ): Answer {
    if (intent.status !== 'requires_capture') {
      return unexpectedState(intent, 'captured', ['requires_capture']);
    }
    const amount =
      params.amount_to_capture === undefined
        ? intent.amount_capturable
        : integerParam(params, 'amount_to_capture');
    if (amount > intent.amount_capturable) {
      throw new ParamError(
        `The amount_to_capture (${amount}) must be less than or equal to the amount_capturable (${intent.amount_capturable}).`,
        'amount_to_capture',
        'amount_too_large',
      );
    }
    this.captureCharge(intent, amount);
    return ok(this.render(intent, expand));
  }

  private cancel(
    intent: PaymentIntent,
    params: Record<string, unknown>,
    expand: string[],
  ): Answer {
    if (!CANCELABLE.has(intent.status)) {
      return unexpectedState(intent, 'canceled', [...CANCELABLE]);
    }
    intent.status = 'canceled';
    intent.amount_capturable = 0;
    intent.next_action = null;
    intent.canceled_at = Math.floor(Date.now() / 1000);
    intent.cancellation_reason =
      typeof params.cancellation_reason === 'string'
        ? params.cancellation_reason
        : null;
    return ok(this.render(intent, expand));
  }

  private createRefund(params: Record<string, unknown>): Answer {
    const intentId = params.payment_intent;
    const intent =
      typeof intentId === 'string'
        ? this.paymentIntents.get(intentId)
        : undefined;
    if (!intent) {
      throw new ParamError(
        `No such payment_intent: '${String(intentId)}'`,
        'payment_intent',
        'resource_missing',
      );
    }

    const charge = intent.latest_charge
      ? this.charges.get(intent.latest_charge)
      : undefined;
    if (intent.status !== 'succeeded' || !charge?.captured) {
      return {
        status: 400,
        body: {
          error: {
            type: 'invalid_request_error',
            message: `This PaymentIntent (${intent.id}) does not have a successful charge to refund.`,
          },
        },
        save: true,
      };
    }
    const remaining = charge.amount_captured - charge.amount_refunded;
    if (remaining === 0) {
      return {
        status: 400,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'charge_already_refunded',
            message: `Charge ${charge.id} has already been refunded.`,
          },
        },
        save: true,
      };
    }

    const amount =
      params.amount === undefined ? remaining : integerParam(params, 'amount');
    if (amount > remaining) {
      throw new ParamError(
        `Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining})`,
        'amount',
      );
    }

    const metadata = params.metadata ?? {};
    if (typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw new ParamError('Invalid hash', 'metadata');
    }
    const refund: Refund = {
      id: `re_${randomId(24)}`,
      object: 'refund',
      amount,
      charge: charge.id,
      payment_intent: intent.id,
      currency: intent.currency,
      status:
        intent.payment_method === 'pm_card_pendingRefund'
          ? 'pending'
          : 'succeeded',
      failure_reason: null,
      metadata: metadata as Record<string, string>,
      created: Math.floor(Date.now() / 1000),
    };
    this.refunds.set(refund.id, refund);
    // As Stripe's, `amount_refunded` counts pending refunds until they fail.
    charge.amount_refunded += amount;
    charge.refunded = charge.amount_refunded === charge.amount_captured;
    return ok({ ...refund });
  }

  /** `GET /v1/refunds`: newest first, filtered by `payment_intent`, paged. */
  private listRefunds(params: Record<string, unknown>): Answer {
    const limit =
      params.limit === undefined ? 10 : integerParam(params, 'limit');
    if (limit < 1 || limit > 100) {
      throw new ParamError('This value must be between 1 and 100.', 'limit');
    }
    let refunds = [...this.refunds.values()]
      .filter(
        (refund) =>
          params.payment_intent === undefined ||
          refund.payment_intent === params.payment_intent,
      )
      .reverse();
    if (typeof params.starting_after === 'string') {
      const index = refunds.findIndex(
        (refund) => refund.id === params.starting_after,
      );
      refunds = refunds.slice(index + 1);
    }
    return ok({
      object: 'list',
      url: '/v1/refunds',
      has_more: refunds.length > limit,
      data: refunds.slice(0, limit).map((refund) => ({ ...refund })),
    });
  }

  /** Returns a copy of the intent with the `expand[]` paths replaced by objects. */
  render(
    intent: PaymentIntent,
    expand: string[] = [],
  ): Record<string, unknown> {
    const copy = structuredClone(intent) as unknown as Record<string, unknown>;
    for (const path of expand) {
      let target: Record<string, unknown> | null = copy;
      for (const field of path.split('.')) {
        if (target === null) break;
        const value = target[field];
        if (typeof value === 'string') {
          const expanded = this.lookup(value);
          target[field] = expanded;
          target = expanded;
        } else if (value !== null && typeof value === 'object') {
          target = value as Record<string, unknown>;
        } else {
          target = null;
        }
      }
    }
    return copy;
  }

  private lookup(id: string): Record<string, unknown> | null {
    const found =
      this.charges.get(id) ??
      this.balanceTransactions.get(id) ??
      this.paymentIntents.get(id);
    return found
      ? (structuredClone(found) as unknown as Record<string, unknown>)
      : null;
  }
}

function ok(body: unknown): Answer {
  return { status: 200, body, save: true };
}

function unexpectedState(
  intent: PaymentIntent,
  action: string,
  allowed: string[],
): Answer {
  return {
    status: 400,
    body: {
      error: {
        type: 'invalid_request_error',
        code: 'payment_intent_unexpected_state',
        message: `This PaymentIntent could not be ${action} because it has a status of ${intent.status}. Only a PaymentIntent with one of the following statuses may be ${action}: ${allowed.join(', ')}.`,
      },
    },
    save: true,
  };
}

function errorAnswer(error: ParamError): {
  status: number;
  body: unknown;
  save: false;
} {
  const body: ErrorBody = {
    type: 'invalid_request_error',
    message: error.message,
  };
  if (error.code) body.code = error.code;
  if (error.param) body.param = error.param;
  return { status: error.status, body: { error: body }, save: false };
}

function unauthorized(message: string): { status: number; body: unknown } {
  return {
    status: 401,
    body: { error: { type: 'invalid_request_error', message } },
  };
}

/** Masks a key as Stripe does in its 401 message: prefix, stars, last four. */
function maskKey(key: string): string {
  const prefix = /^[a-z]+_(?:test|live)_/.exec(key)?.[0] ?? '';
  return `${prefix}${'*'.repeat(Math.max(0, key.length - prefix.length - 4))}${key.slice(-4)}`;
}

function integerParam(params: Record<string, unknown>, name: string): number {
  const value = params[name];
  if (typeof value !== 'string' || !/^\d+$/.test(value)) {
    throw new ParamError(
      `Invalid integer: ${String(value)}`,
      name,
      value === undefined ? 'parameter_missing' : undefined,
    );
  }
  return Number(value);
}

function expandList(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new ParamError('Invalid array', 'expand');
  }
  return value as string[];
}

/**
 * Parses a form-encoded body into nested objects: `a[b]=1` becomes
 * `{ a: { b: '1' } }` and `a[]=1&a[]=2` becomes `{ a: ['1', '2'] }`.
 */
export function parseForm(text: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const match = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
    if (!match) throw new ParamError(`Invalid parameter name: ${key}`);
    const segments = [
      match[1]!,
      ...[...match[2]!.matchAll(/\[([^[\]]*)\]/g)].map((part) => part[1]!),
    ];
    let target: Record<string, unknown> | unknown[] = result;
    for (let index = 0; index < segments.length; index += 1) {
      const segment = segments[index]!;
      const last = index === segments.length - 1;
      if (segment === '') {
        if (!last || !Array.isArray(target)) {
          throw new ParamError(`Invalid parameter name: ${key}`);
        }
        target.push(value);
        break;
      }
      if (Array.isArray(target)) {
        throw new ParamError(`Invalid parameter name: ${key}`);
      }
      if (last) {
        target[segment] = value;
        break;
      }
      const next = segments[index + 1] === '' ? [] : {};
      target[segment] ??= next;
      target = target[segment] as Record<string, unknown> | unknown[];
    }
  }
  return result;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function randomId(length: number): string {
  return randomBytes(length)
    .toString('base64url')
    .replace(/[-_]/g, '')
    .slice(0, length)
    .padEnd(length, '0');
}
