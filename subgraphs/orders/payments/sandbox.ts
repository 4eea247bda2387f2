/**
 * An offline payment provider for development and tests. It takes no money
 * and accepts only the test tokens below. It enforces the rules of a real
 * provider: idempotency keys replay the first result, and captures, voids
 * and refunds are checked against the payment's state and amounts. It
 * charges a processing fee.
 *
 * Test tokens (`AuthorizeRequest.paymentToken`):
 * - `tok_sandbox_visa` succeeds: `authorized`, or `captured` when capturing.
 * - `tok_sandbox_declined` is declined with code `card_declined`.
 * - `tok_sandbox_async` returns `requires_action`; the outcome arrives later
 *   as a signed webhook built by `completeAsyncPayment`.
 * - `tok_sandbox_refund_pending` succeeds as `tok_sandbox_visa`, but its
 *   refunds stay `pending` until `settleRefund` decides them.
 *
 * `refundAtProvider` refunds as the provider's dashboard would, outside
 * the shop, and returns the `charge.refunded` webhook that reports it.
 *
 * State is kept so that any replica, and a restarted one, reads the same
 * payments. The immutable facts (amount, currency, capture mode, token) are
 * encoded in the payment id, which is derived from the idempotency key and
 * the request, so a repeated authorization produces the same id. The
 * mutable state lives in a `SandboxStorage` under `payment:<id>`, the
 * request fingerprint of each authorization key under `idempotency:<key>`,
 * and the payment of each refund id under `refund:<id>`.
 */

import { createHash, randomUUID } from 'node:crypto';
import {
  PaymentProviderError,
  WebhookVerificationError,
  type AuthorizeRequest,
  type PaymentProvider,
  type ProviderEvent,
  type ProviderPayment,
  type ProviderPaymentStatus,
  type ProviderRefund,
} from './provider.js';
import { headerValue, sign, verify } from './stripe-signature.js';

export const SANDBOX_TOKENS = {
  succeeds: 'tok_sandbox_visa',
  declines: 'tok_sandbox_declined',
  requiresAction: 'tok_sandbox_async',
  refundPending: 'tok_sandbox_refund_pending',
} as const;

/** The header that carries the sandbox's Stripe-style webhook signature. */
export const SANDBOX_SIGNATURE_HEADER = 'sandbox-signature';

/** Development secret used when SANDBOX_WEBHOOK_SECRET is not set. */
export const DEFAULT_SANDBOX_WEBHOOK_SECRET = 'whsec_sandbox_development';

/** The largest amount the sandbox accepts, as Stripe: eight digits. */
export const SANDBOX_MAX_AMOUNT = 99_999_999;

/**
 * Processing fee of a captured amount: 2.9 % rounded half up to a whole
 * minor unit, plus 30 minor units. Computed in integers:
 * round(amount × 29 / 1000) = floor((amount × 29 + 500) / 1000), exact for
 * every amount up to SANDBOX_MAX_AMOUNT.
 */
export function sandboxFee(amount: number): number {
  return Math.floor((amount * 29 + 500) / 1000) + 30;
}

/**
 * Durable JSON records by key, shared by all replicas of the orders
 * service. In PostgreSQL: a table with `key text primary key` and
 * `value jsonb not null`.
 */
export interface SandboxStorage {
  /** Returns the record stored under `key`, or undefined. */
  get(key: string): Promise<unknown>;
  /**
   * Stores `value` under `key` only if the stored record still equals
   * `expected` (undefined: no record), and returns whether it did. In SQL,
   * `insert ... on conflict do nothing` when `expected` is undefined,
   * otherwise `update ... set value = $value where key = $key and value = $expected`,
   * true when one row changed.
   */
  put(key: string, value: unknown, expected: unknown): Promise<boolean>;
}

/** SandboxStorage in process memory, for tests and a single process. */
export class MemorySandboxStorage implements SandboxStorage {
  private readonly records = new Map<string, string>();

  async get(key: string): Promise<unknown> {
    const stored = this.records.get(key);
    return stored === undefined ? undefined : JSON.parse(stored);
  }

  async put(key: string, value: unknown, expected: unknown): Promise<boolean> {
    const stored = this.records.get(key);
    const matches =
      expected === undefined
        ? stored === undefined
        : stored !== undefined && sameJson(JSON.parse(stored), expected);
    if (!matches) return false;
    this.records.set(key, JSON.stringify(value));
    return true;
  }
}

function sameJson(left: unknown, right: unknown): boolean {
  return canonicalJson(left) === canonicalJson(right);
}

/** JSON with object keys sorted, so equal records compare equal as jsonb does. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

type Outcome = 'ok' | 'dc' | 'as' | 'rp';

const TOKEN_OUTCOMES: Record<string, Outcome> = {
  [SANDBOX_TOKENS.succeeds]: 'ok',
  [SANDBOX_TOKENS.declines]: 'dc',
  [SANDBOX_TOKENS.requiresAction]: 'as',
  [SANDBOX_TOKENS.refundPending]: 'rp',
};

/** The facts encoded in a sandbox payment id. */
interface PaymentFacts {
  id: string;
  amount: number;
  currencyCode: string;
  capture: boolean;
  outcome: Outcome;
}

const PAYMENT_ID_PATTERN =
  /^sbxpi_(\d{1,8})_([a-z]{3})_([am])_(ok|dc|as|rp)_([0-9a-f]{24})$/;

function paymentId(
  facts: Omit<PaymentFacts, 'id'>,
  idempotencyKey: string,
  fingerprint: string,
): string {
  const digest = sha256(`${idempotencyKey}\n${fingerprint}`).slice(0, 24);
  const mode = facts.capture ? 'a' : 'm';
  return `sbxpi_${facts.amount}_${facts.currencyCode.toLowerCase()}_${mode}_${facts.outcome}_${digest}`;
}

function parsePaymentId(id: string): PaymentFacts {
  const match = PAYMENT_ID_PATTERN.exec(id);
  if (!match) {
    throw new PaymentProviderError(
      `Sandbox: "${id.slice(0, 80)}" is not a sandbox payment id`,
      false,
    );
  }
  return {
    id,
    amount: Number(match[1]),
    currencyCode: match[2]!.toUpperCase(),
    capture: match[3] === 'a',
    outcome: match[4] as Outcome,
  };
}

/** A stored result of a capture, void or refund, replayed for its key. */
interface OperationResult {
  fingerprint: string;
  result: ProviderPayment | ProviderRefund;
}

/** The mutable state of one payment, stored under `payment:<id>`. */
interface PaymentState {
  status: ProviderPaymentStatus;
  amountCaptured: number;
  amountRefunded: number;
  feeAmount: number | null;
  declineCode: string | null;
  declineMessage: string | null;
  /** Results of captures, voids and refunds by idempotency key. */
  operations: Record<string, OperationResult>;
  /** The webhook event of the asynchronous outcome, once decided. */
  asyncEvent: SandboxEvent | null;
  /**
   * Every refund by provider refund id, with its current status. Absent
   * from records written before refunds were kept here.
   */
  refunds?: Record<string, ProviderRefund>;
}

/** Stored under `refund:<id>`: the payment a refund id belongs to. */
interface RefundRecord {
  providerPaymentId: string;
}

interface AuthorizationRecord {
  fingerprint: string;
  providerPaymentId: string;
}

/** The body of a sandbox webhook; `data.object` is the payment after the event. */
export interface SandboxEvent {
  id: string;
  type: string;
  created: number;
  /** `refund` is set on `charge.refund.updated`: the refund after the event. */
  data: { object: ProviderPayment; refund?: ProviderRefund };
}

export interface SandboxWebhookRequest {
  body: Buffer;
  headers: Record<string, string>;
}

const DECLINE_MESSAGE = 'Your card was declined.';
const AUTHENTICATION_FAILED_MESSAGE =
  'The customer did not complete the authentication of the payment.';

/** Compare-and-set attempts before a write gives up under contention. */
const MAX_WRITE_ATTEMPTS = 8;

export interface SandboxProviderOptions {
  webhookSecret?: string;
  webhookToleranceSeconds?: number;
}

export class SandboxPaymentProvider implements PaymentProvider {
  readonly name = 'sandbox';
  private readonly webhookSecret: string;
  private readonly webhookToleranceSeconds: number | undefined;

  constructor(
    private readonly storage: SandboxStorage,
    options: SandboxProviderOptions = {},
  ) {
    this.webhookSecret =
      options.webhookSecret ?? DEFAULT_SANDBOX_WEBHOOK_SECRET;
    if (this.webhookSecret === '') {
      throw new Error('Sandbox provider: the webhook secret is empty');
    }
    this.webhookToleranceSeconds = options.webhookToleranceSeconds;
  }

  async authorize(request: AuthorizeRequest): Promise<ProviderPayment> {
    const outcome = TOKEN_OUTCOMES[request.paymentToken];
    if (outcome === undefined) {
      throw new PaymentProviderError(
        `Sandbox authorize failed: unknown payment token; use ${Object.values(SANDBOX_TOKENS).join(', ')}`,
        false,
      );
    }
    checkAmount('authorize', request.amount);
    if (!/^[A-Za-z]{3}$/.test(request.currencyCode)) {
      throw new PaymentProviderError(
        `Sandbox authorize failed: currency "${request.currencyCode}" is not an ISO 4217 code`,
        false,
      );
    }
    checkIdempotencyKey('authorize', request.idempotencyKey);

    const fingerprint = canonicalJson({
      amount: request.amount,
      currencyCode: request.currencyCode.toUpperCase(),
      paymentToken: request.paymentToken,
      capture: request.capture,
      metadata: request.metadata,
    });
    const facts = parsePaymentId(
      paymentId(
        {
          amount: request.amount,
          currencyCode: request.currencyCode,
          capture: request.capture,
          outcome,
        },
        request.idempotencyKey,
        fingerprint,
      ),
    );

    // Claim the key for this request; a concurrent or earlier request with
    // the same key and other parameters is rejected as Stripe does.
    const keyRecord = `idempotency:${request.idempotencyKey}`;
    const claim: AuthorizationRecord = {
      fingerprint,
      providerPaymentId: facts.id,
    };
    if (!(await this.storage.put(keyRecord, claim, undefined))) {
      const existing = (await this.storage.get(keyRecord)) as
        AuthorizationRecord | undefined;
      if (existing?.fingerprint !== fingerprint) {
        throw idempotencyError('authorize');
      }
    }

    // The first result depends only on the request, so every replay
    // rebuilds it from the id; the stored state may have moved on since.
    const initial = initialState(facts);
    await this.storage.put(paymentKey(facts.id), initial, undefined);
    return toPayment(facts, initial);
  }

  async capture(
    providerPaymentId: string,
    amount: number,
    idempotencyKey: string,
  ): Promise<ProviderPayment> {
    checkAmount('capture', amount);
    return this.operate(
      'capture',
      providerPaymentId,
      idempotencyKey,
      {
        amount,
      },
      (facts, state) => {
        if (state.status !== 'authorized') {
          throw stateError('capture', state.status, 'an authorized payment');
        }
        if (amount > facts.amount) {
          throw new PaymentProviderError(
            `Sandbox capture failed: amount ${amount} exceeds the authorized ${facts.amount}`,
            false,
          );
        }
        // As with Stripe, a partial capture releases the rest of the hold.
        const next: PaymentState = {
          ...state,
          status: 'captured',
          amountCaptured: amount,
          feeAmount: sandboxFee(amount),
        };
        return { state: next, result: toPayment(facts, next) };
      },
    );
  }

  async void(
    providerPaymentId: string,
    idempotencyKey: string,
  ): Promise<ProviderPayment> {
    return this.operate(
      'void',
      providerPaymentId,
      idempotencyKey,
      {},
      (facts, state) => {
        if (
          state.status !== 'authorized' &&
          state.status !== 'requires_action'
        ) {
          const hint =
            state.status === 'captured' ? '; refund a captured payment' : '';
          throw stateError(
            'void',
            state.status,
            `an authorized payment${hint}`,
          );
        }
        const next: PaymentState = { ...state, status: 'canceled' };
        return { state: next, result: toPayment(facts, next) };
      },
    );
  }

  async refund(
    providerPaymentId: string,
    amount: number,
    idempotencyKey: string,
    reference?: string,
  ): Promise<ProviderRefund> {
    checkAmount('refund', amount);
    checkIdempotencyKey('refund', idempotencyKey);
    const facts = parsePaymentId(providerPaymentId);
    // The index from refund id to payment is written first, so every
    // refund that exists can be found by `refundStatus`.
    const providerRefundId = refundId(facts.id, idempotencyKey);
    const index: RefundRecord = { providerPaymentId: facts.id };
    await this.storage.put(refundKey(providerRefundId), index, undefined);
    return this.operate(
      'refund',
      providerPaymentId,
      idempotencyKey,
      {
        amount,
        reference,
      },
      (facts, state) => {
        if (state.status !== 'captured') {
          throw stateError('refund', state.status, 'a captured payment');
        }
        const refundable = state.amountCaptured - state.amountRefunded;
        if (amount > refundable) {
          throw new PaymentProviderError(
            `Sandbox refund failed: amount ${amount} exceeds the ${refundable} not yet refunded of ${state.amountCaptured} captured`,
            false,
          );
        }
        const refund: ProviderRefund = {
          providerRefundId,
          status: facts.outcome === 'rp' ? 'pending' : 'succeeded',
          amount,
        };
        if (reference !== undefined) refund.reference = reference;
        // Pending refunds count as refunded until they fail, as Stripe's
        // `amount_refunded` does.
        const next: PaymentState = {
          ...state,
          amountRefunded: state.amountRefunded + amount,
          refunds: {
            ...state.refunds,
            [providerRefundId]: {
              ...refund,
              providerPaymentId: facts.id,
              reference: reference ?? null,
            },
          },
        };
        return { state: next, result: refund };
      },
    );
  }

  async status(providerPaymentId: string): Promise<ProviderPayment> {
    const facts = parsePaymentId(providerPaymentId);
    const state = await this.loadState('status', facts);
    return toPayment(facts, state);
  }

  async refundStatus(providerRefundId: string): Promise<ProviderRefund> {
    const facts = await this.paymentOfRefund('refund status', providerRefundId);
    const state = await this.loadState('refund status', facts);
    const refund = state.refunds?.[providerRefundId];
    if (!refund) throw refundNotFound('refund status', providerRefundId);
    return refund;
  }

  async refunds(providerPaymentId: string): Promise<ProviderRefund[]> {
    const facts = parsePaymentId(providerPaymentId);
    const state = await this.loadState('list refunds', facts);
    return Object.values(state.refunds ?? {});
  }

  /**
   * Decides a `pending` refund of a `tok_sandbox_refund_pending` payment,
   * as the card network would, and returns the signed
   * `charge.refund.updated` webhook that reports it. A failed refund is
   * no longer counted as refunded. Deciding it again the same way returns
   * the same event.
   */
  async settleRefund(
    providerRefundId: string,
    outcome: 'succeeded' | 'failed',
  ): Promise<SandboxWebhookRequest> {
    const facts = await this.paymentOfRefund('settle refund', providerRefundId);
    const { state, refund } = await this.write(
      facts,
      'settle refund',
      (current) => {
        const found = current.refunds?.[providerRefundId];
        if (!found) throw refundNotFound('settle refund', providerRefundId);
        if (found.status === outcome) {
          return { state: current, result: { state: current, refund: found } };
        }
        if (found.status !== 'pending') {
          throw new PaymentProviderError(
            `Sandbox settle refund failed: refund ${providerRefundId} has already ${found.status}`,
            false,
          );
        }
        const settled: ProviderRefund = { ...found, status: outcome };
        const next: PaymentState = {
          ...current,
          amountRefunded:
            outcome === 'failed'
              ? current.amountRefunded - found.amount
              : current.amountRefunded,
          refunds: { ...current.refunds, [providerRefundId]: settled },
        };
        return { state: next, result: { state: next, refund: settled } };
      },
    );
    const event: SandboxEvent = {
      id: `sbxevt_${sha256(`${providerRefundId}\n${outcome}`).slice(0, 24)}`,
      type: 'charge.refund.updated',
      created: Math.floor(Date.now() / 1000),
      data: { object: toPayment(facts, state), refund },
    };
    return buildSandboxWebhookRequest(event, this.webhookSecret);
  }

  /**
   * Refunds `amount` as a person in the provider's dashboard would,
   * without a reference to a refund of the shop, and returns the signed
   * `charge.refunded` webhook that reports it.
   */
  async refundAtProvider(
    providerPaymentId: string,
    amount: number,
  ): Promise<SandboxWebhookRequest> {
    const key = `dashboard_${randomUUID()}`;
    const refund = await this.refund(providerPaymentId, amount, key);
    const event: SandboxEvent = {
      id: `sbxevt_${sha256(`${refund.providerRefundId}\nrefunded`).slice(0, 24)}`,
      type: 'charge.refunded',
      created: Math.floor(Date.now() / 1000),
      data: { object: await this.status(providerPaymentId) },
    };
    return buildSandboxWebhookRequest(event, this.webhookSecret);
  }

  /**
   * Decides the outcome of a `tok_sandbox_async` payment, as the customer
   * completing or abandoning 3-D Secure would, and returns the signed
   * webhook request that reports it. Calling it again with the same outcome
   * returns the same event, signed anew.
   */
  async completeAsyncPayment(
    providerPaymentId: string,
    outcome: 'succeeded' | 'failed',
  ): Promise<SandboxWebhookRequest> {
    const facts = parsePaymentId(providerPaymentId);
    if (facts.outcome !== 'as') {
      throw new PaymentProviderError(
        `Sandbox: payment ${providerPaymentId} was not made with ${SANDBOX_TOKENS.requiresAction}`,
        false,
      );
    }
    const event = await this.write(facts, 'confirm', (state) => {
      if (state.asyncEvent) {
        const decided =
          state.asyncEvent.type === 'payment_intent.payment_failed'
            ? 'failed'
            : 'succeeded';
        if (decided !== outcome) {
          throw new PaymentProviderError(
            `Sandbox: payment ${providerPaymentId} has already ${decided}`,
            false,
          );
        }
        return { state, result: state.asyncEvent };
      }
      if (state.status !== 'requires_action') {
        throw stateError('confirm', state.status, 'a payment awaiting action');
      }
      const next = asyncOutcome(facts, state, outcome);
      const payment = toPayment(facts, next);
      const asyncEvent: SandboxEvent = {
        id: `sbxevt_${sha256(`${facts.id}\n${outcome}`).slice(0, 24)}`,
        type: asyncEventType(payment.status),
        created: Math.floor(Date.now() / 1000),
        data: { object: payment },
      };
      return { state: { ...next, asyncEvent }, result: asyncEvent };
    });
    return buildSandboxWebhookRequest(event, this.webhookSecret);
  }

  verifyWebhook(
    rawBody: Buffer,
    headers: Record<string, string | string[] | undefined>,
  ): ProviderEvent {
    verify(
      rawBody,
      headerValue(headers, SANDBOX_SIGNATURE_HEADER),
      this.webhookSecret,
      { toleranceSeconds: this.webhookToleranceSeconds },
    );
    let event: SandboxEvent;
    try {
      event = JSON.parse(rawBody.toString('utf8')) as SandboxEvent;
    } catch {
      throw new WebhookVerificationError('Webhook body is not valid JSON');
    }
    const payment = event?.data?.object;
    if (
      typeof event?.id !== 'string' ||
      typeof event.type !== 'string' ||
      typeof event.created !== 'number' ||
      typeof payment?.providerPaymentId !== 'string'
    ) {
      throw new WebhookVerificationError(
        'Webhook body is not a sandbox event (id, type, created, data.object)',
      );
    }
    const normalised: ProviderEvent = {
      eventId: event.id,
      type: event.type,
      providerPaymentId: payment.providerPaymentId,
      payment,
      createdAt: new Date(event.created * 1000).toISOString(),
    };
    if (event.data.refund) normalised.refund = event.data.refund;
    return normalised;
  }

  /**
   * Runs a capture, void or refund once per idempotency key: the result is
   * stored in the payment's record in the same write as the change, so a
   * repeated key returns the first result even from another replica.
   * Rejected requests store nothing and may be retried with the same key.
   */
  private async operate<T extends ProviderPayment | ProviderRefund>(
    operation: string,
    providerPaymentId: string,
    idempotencyKey: string,
    params: Record<string, unknown>,
    apply: (
      facts: PaymentFacts,
      state: PaymentState,
    ) => { state: PaymentState; result: T },
  ): Promise<T> {
    checkIdempotencyKey(operation, idempotencyKey);
    const facts = parsePaymentId(providerPaymentId);
    const fingerprint = canonicalJson({ operation, ...params });
    return this.write(facts, operation, (state) => {
      const previous = state.operations[idempotencyKey];
      if (previous) {
        if (previous.fingerprint !== fingerprint) {
          throw idempotencyError(operation);
        }
        return { state, result: previous.result as T };
      }
      const applied = apply(facts, state);
      return {
        state: {
          ...applied.state,
          operations: {
            ...applied.state.operations,
            [idempotencyKey]: { fingerprint, result: applied.result },
          },
        },
        result: applied.result,
      };
    });
  }

  /** Reads, changes and compare-and-sets a payment's state. */
  private async write<T>(
    facts: PaymentFacts,
    operation: string,
    change: (state: PaymentState) => { state: PaymentState; result: T },
  ): Promise<T> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt += 1) {
      const stored = (await this.storage.get(paymentKey(facts.id))) as
        PaymentState | undefined;
      if (stored === undefined) throw notFound(operation, facts.id);
      const { state, result } = change(stored);
      if (state === stored) return result;
      if (await this.storage.put(paymentKey(facts.id), state, stored)) {
        return result;
      }
    }
    throw new PaymentProviderError(
      `Sandbox ${operation} failed: payment ${facts.id} changed concurrently ${MAX_WRITE_ATTEMPTS} times`,
      true,
    );
  }

  /** The facts of the payment a refund id belongs to. */
  private async paymentOfRefund(
    operation: string,
    providerRefundId: string,
  ): Promise<PaymentFacts> {
    const record = (await this.storage.get(refundKey(providerRefundId))) as
      RefundRecord | undefined;
    if (!record) throw refundNotFound(operation, providerRefundId);
    return parsePaymentId(record.providerPaymentId);
  }

  private async loadState(
    operation: string,
    facts: PaymentFacts,
  ): Promise<PaymentState> {
    const stored = (await this.storage.get(paymentKey(facts.id))) as
      PaymentState | undefined;
    if (stored === undefined) throw notFound(operation, facts.id);
    return stored;
  }
}

/**
 * Builds a webhook request signed like Stripe's (`t=...,v1=...` in the
 * `sandbox-signature` header) for a sandbox event.
 */
export function buildSandboxWebhookRequest(
  event: SandboxEvent,
  secret: string,
  timestamp: number = Math.floor(Date.now() / 1000),
): SandboxWebhookRequest {
  const body = Buffer.from(JSON.stringify(event), 'utf8');
  return {
    body,
    headers: {
      'content-type': 'application/json',
      [SANDBOX_SIGNATURE_HEADER]: sign(body, secret, timestamp),
    },
  };
}

function initialState(facts: PaymentFacts): PaymentState {
  const state: PaymentState = {
    status: 'authorized',
    amountCaptured: 0,
    amountRefunded: 0,
    feeAmount: null,
    declineCode: null,
    declineMessage: null,
    operations: {},
    asyncEvent: null,
  };
  if (facts.outcome === 'dc') {
    return {
      ...state,
      status: 'declined',
      declineCode: 'card_declined',
      declineMessage: DECLINE_MESSAGE,
    };
  }
  if (facts.outcome === 'as') return { ...state, status: 'requires_action' };
  return facts.capture ? captureAll(facts, state) : state;
}

function asyncOutcome(
  facts: PaymentFacts,
  state: PaymentState,
  outcome: 'succeeded' | 'failed',
): PaymentState {
  if (outcome === 'failed') {
    return {
      ...state,
      status: 'declined',
      declineCode: 'payment_intent_authentication_failure',
      declineMessage: AUTHENTICATION_FAILED_MESSAGE,
    };
  }
  const authorized: PaymentState = { ...state, status: 'authorized' };
  return facts.capture ? captureAll(facts, authorized) : authorized;
}

function captureAll(facts: PaymentFacts, state: PaymentState): PaymentState {
  return {
    ...state,
    status: 'captured',
    amountCaptured: facts.amount,
    feeAmount: sandboxFee(facts.amount),
  };
}

/** Returns the Stripe event type that reports a payment reaching `status`. */
function asyncEventType(status: ProviderPaymentStatus): string {
  if (status === 'captured') return 'payment_intent.succeeded';
  if (status === 'authorized')
    return 'payment_intent.amount_capturable_updated';
  return 'payment_intent.payment_failed';
}

function toPayment(facts: PaymentFacts, state: PaymentState): ProviderPayment {
  return {
    providerPaymentId: facts.id,
    status: state.status,
    amount: facts.amount,
    amountCaptured: state.amountCaptured,
    currencyCode: facts.currencyCode,
    feeAmount: state.feeAmount,
    declineMessage: state.declineMessage,
    declineCode: state.declineCode,
    amountRefunded: state.amountRefunded,
    clientSecret: null,
  };
}

function paymentKey(id: string): string {
  return `payment:${id}`;
}

function refundKey(providerRefundId: string): string {
  return `refund:${providerRefundId}`;
}

/** A refund's id, derived from its payment and idempotency key. */
function refundId(providerPaymentId: string, idempotencyKey: string): string {
  return `sbxre_${sha256(`${providerPaymentId}\n${idempotencyKey}`).slice(0, 24)}`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function checkAmount(operation: string, amount: number): void {
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new PaymentProviderError(
      `Sandbox ${operation} failed: amount ${amount} is not a positive integer of minor units`,
      false,
    );
  }
  if (amount > SANDBOX_MAX_AMOUNT) {
    throw new PaymentProviderError(
      `Sandbox ${operation} failed: amount ${amount} exceeds the maximum ${SANDBOX_MAX_AMOUNT}`,
      false,
    );
  }
}

function checkIdempotencyKey(operation: string, key: string): void {
  if (key === '' || key.length > 255) {
    throw new PaymentProviderError(
      `Sandbox ${operation} failed: the idempotency key must have 1 to 255 characters`,
      false,
    );
  }
}

function idempotencyError(operation: string): PaymentProviderError {
  return new PaymentProviderError(
    `Sandbox ${operation} failed: the idempotency key was already used with other parameters`,
    false,
  );
}

function stateError(
  operation: string,
  status: ProviderPaymentStatus,
  expected: string,
): PaymentProviderError {
  return new PaymentProviderError(
    `Sandbox ${operation} failed: the payment is ${status}, expected ${expected}`,
    false,
  );
}

function refundNotFound(operation: string, id: string): PaymentProviderError {
  return new PaymentProviderError(
    `Sandbox ${operation} failed: no refund ${id.slice(0, 80)}`,
    false,
  );
}

function notFound(operation: string, id: string): PaymentProviderError {
  return new PaymentProviderError(
    `Sandbox ${operation} failed: no payment ${id}`,
    false,
  );
}
