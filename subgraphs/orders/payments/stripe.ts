/**
 * PaymentProvider over Stripe's PaymentIntents API (HTTP, form-encoded
 * requests, JSON responses). Every POST carries an `Idempotency-Key`, and
 * Stripe applies an operation at most once per key and replays the saved
 * response. So a request that failed with a network error, HTTP 429 or
 * HTTP 5xx is sent again with the same key, a bounded number of times.
 *
 * Neither the secret key nor card data ever reaches an error message: the
 * adapter sends payment method ids only, and redacts anything shaped like
 * a Stripe key from the messages Stripe returns.
 */

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
import { headerValue, verify } from './stripe-signature.js';

/** The API version every request pins with the `Stripe-Version` header. */
export const STRIPE_API_VERSION = '2024-06-20';

/** Expanding this path puts the charge's fee on the returned PaymentIntent. */
const EXPAND_FEE = 'latest_charge.balance_transaction';

export interface StripeProviderOptions {
  /** Such as `https://api.stripe.com`; tests use a local fake. */
  apiBaseUrl: string;
  secretKey: string;
  /** The endpoint's signing secret, or several while rolling the secret. */
  webhookSecret: string | readonly string[];
  apiVersion?: string;
  /** Retries after the first attempt of a request that failed retryably. */
  maxRetries?: number;
  /** First retry delay in milliseconds; each further retry doubles it. */
  retryBaseDelayMs?: number;
  /** Upper bound of one retry delay, including a `Retry-After` delay, in ms. */
  retryMaxDelayMs?: number;
  /** Time limit of one HTTP attempt, in milliseconds. */
  timeoutMs?: number;
  webhookToleranceSeconds?: number;
}

/** A form value: nested objects become `a[b]` keys, arrays become `a[]`. */
export type FormValue =
  | string
  | number
  | boolean
  | undefined
  | readonly FormValue[]
  | { readonly [key: string]: FormValue };

/**
 * Encodes parameters the way Stripe's API reads them, such as
 * `metadata[order_id]=42&expand[]=latest_charge`. Undefined values are left out.
 */
export function encodeForm(params: Record<string, FormValue>): string {
  const pairs: string[] = [];
  const add = (key: string, value: FormValue): void => {
    if (value === undefined) return;
    if (Array.isArray(value)) {
      for (const item of value) add(`${key}[]`, item);
    } else if (typeof value === 'object') {
      for (const [name, item] of Object.entries(value)) {
        add(`${key}[${name}]`, item);
      }
    } else {
      pairs.push(
        `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`,
      );
    }
  };
  for (const [key, value] of Object.entries(params)) add(key, value);
  return pairs.join('&');
}

interface StripeErrorBody {
  type?: string;
  code?: string;
  decline_code?: string;
  message?: string;
  payment_intent?: StripePaymentIntent;
}

interface StripeBalanceTransaction {
  id: string;
  currency: string;
  fee: number;
}

interface StripeCharge {
  id: string;
  object: 'charge';
  payment_intent: string | StripePaymentIntent | null;
  amount_refunded?: number;
  balance_transaction?: string | StripeBalanceTransaction | null;
}

interface StripePaymentIntent {
  id: string;
  object: 'payment_intent';
  status: string;
  amount: number;
  amount_received?: number;
  currency: string;
  client_secret?: string | null;
  latest_charge?: string | StripeCharge | null;
  last_payment_error?: StripeErrorBody | null;
}

interface StripeRefund {
  id: string;
  object: 'refund';
  amount: number;
  status: string;
  payment_intent?: string | { id: string } | null;
  metadata?: Record<string, string> | null;
}

interface StripeList<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
}

/** The metadata key that carries `reference` on refunds the adapter creates. */
export const REFUND_REFERENCE_KEY = 'refund_id';

/** Page size of list requests; Stripe allows at most 100. */
const LIST_PAGE_SIZE = 100;

/** A Stripe response other than 2xx, after retries. */
class StripeApiError extends PaymentProviderError {
  constructor(
    message: string,
    retryable: boolean,
    readonly httpStatus: number,
    readonly error: StripeErrorBody,
  ) {
    super(message, retryable);
  }
}

type HttpMethod = 'GET' | 'POST';

interface HttpAnswer {
  status: number;
  body: unknown;
  headers: Headers;
}

export class StripePaymentProvider implements PaymentProvider {
  readonly name = 'stripe';
  private readonly baseUrl: string;
  private readonly secretKey: string;
  private readonly webhookSecrets: readonly string[];
  private readonly apiVersion: string;
  private readonly maxRetries: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly webhookToleranceSeconds: number | undefined;

  constructor(options: StripeProviderOptions) {
    if (options.secretKey === '') {
      throw new Error('Stripe provider: the secret key is empty');
    }
    this.baseUrl = options.apiBaseUrl.replace(/\/+$/, '');
    this.secretKey = options.secretKey;
    this.webhookSecrets =
      typeof options.webhookSecret === 'string'
        ? [options.webhookSecret]
        : options.webhookSecret;
    if (this.webhookSecrets.length === 0 || this.webhookSecrets.includes('')) {
      throw new Error('Stripe provider: the webhook secret is empty');
    }
    this.apiVersion = options.apiVersion ?? STRIPE_API_VERSION;
    this.maxRetries = options.maxRetries ?? 2;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 500;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? 5_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.webhookToleranceSeconds = options.webhookToleranceSeconds;
  }

  async authorize(request: AuthorizeRequest): Promise<ProviderPayment> {
    checkAmount('authorize', request.amount);
    const params: Record<string, FormValue> = {
      amount: request.amount,
      currency: request.currencyCode.toLowerCase(),
      payment_method: request.paymentToken,
      confirm: true,
      capture_method: request.capture ? 'automatic' : 'manual',
      metadata: request.metadata,
      expand: [EXPAND_FEE],
    };
    if (request.returnUrl !== undefined) {
      params.return_url = request.returnUrl;
    } else {
      // Confirming on the server without a return URL is only allowed when
      // payment methods that redirect the customer are turned off.
      params.automatic_payment_methods = {
        enabled: true,
        allow_redirects: 'never',
      };
    }
    try {
      const intent = await this.request<StripePaymentIntent>(
        'authorize',
        'POST',
        '/v1/payment_intents',
        params,
        request.idempotencyKey,
      );
      return toPayment(intent);
    } catch (error) {
      const decline = declineFrom(error);
      if (decline) return decline;
      throw error;
    }
  }

  async capture(
    providerPaymentId: string,
    amount: number,
    idempotencyKey: string,
  ): Promise<ProviderPayment> {
    checkAmount('capture', amount);
    const intent = await this.request<StripePaymentIntent>(
      'capture',
      'POST',
      `${paymentIntentPath(providerPaymentId)}/capture`,
      { amount_to_capture: amount, expand: [EXPAND_FEE] },
      idempotencyKey,
    );
    return toPayment(intent);
  }

  async void(
    providerPaymentId: string,
    idempotencyKey: string,
  ): Promise<ProviderPayment> {
    const intent = await this.request<StripePaymentIntent>(
      'void',
      'POST',
      `${paymentIntentPath(providerPaymentId)}/cancel`,
      { expand: [EXPAND_FEE] },
      idempotencyKey,
    );
    return toPayment(intent);
  }

  async refund(
    providerPaymentId: string,
    amount: number,
    idempotencyKey: string,
    reference?: string,
  ): Promise<ProviderRefund> {
    checkAmount('refund', amount);
    paymentIntentPath(providerPaymentId);
    const params: Record<string, FormValue> = {
      payment_intent: providerPaymentId,
      amount,
    };
    if (reference !== undefined) {
      params.metadata = { [REFUND_REFERENCE_KEY]: reference };
    }
    const refund = await this.request<StripeRefund>(
      'refund',
      'POST',
      '/v1/refunds',
      params,
      idempotencyKey,
    );
    const result: ProviderRefund = {
      providerRefundId: refund.id,
      status: refundStatus(refund.status),
      amount: refund.amount,
    };
    if (reference !== undefined) result.reference = reference;
    return result;
  }

  async refundStatus(providerRefundId: string): Promise<ProviderRefund> {
    if (!/^(?:re|pyr)_[A-Za-z0-9_]{1,250}$/.test(providerRefundId)) {
      throw new PaymentProviderError(
        `Stripe refund status failed: "${providerRefundId.slice(0, 80)}" is not a Refund id (re_...)`,
        false,
      );
    }
    const refund = await this.request<StripeRefund>(
      'refund status',
      'GET',
      `/v1/refunds/${providerRefundId}`,
      {},
    );
    return toRefund(refund);
  }

  async refunds(providerPaymentId: string): Promise<ProviderRefund[]> {
    paymentIntentPath(providerPaymentId);
    const refunds: ProviderRefund[] = [];
    let startingAfter: string | undefined;
    for (;;) {
      const page = await this.request<StripeList<StripeRefund>>(
        'list refunds',
        'GET',
        '/v1/refunds',
        {
          payment_intent: providerPaymentId,
          limit: LIST_PAGE_SIZE,
          starting_after: startingAfter,
        },
      );
      refunds.push(...page.data.map(toRefund));
      if (!page.has_more || page.data.length === 0) return refunds;
      startingAfter = page.data[page.data.length - 1]!.id;
    }
  }

  async status(providerPaymentId: string): Promise<ProviderPayment> {
    const intent = await this.request<StripePaymentIntent>(
      'status',
      'GET',
      paymentIntentPath(providerPaymentId),
      { expand: [EXPAND_FEE] },
    );
    return toPayment(intent);
  }

  verifyWebhook(
    rawBody: Buffer,
    headers: Record<string, string | string[] | undefined>,
  ): ProviderEvent {
    verify(
      rawBody,
      headerValue(headers, 'stripe-signature'),
      this.webhookSecrets,
      {
        toleranceSeconds: this.webhookToleranceSeconds,
      },
    );
    return normaliseEvent(parseEvent(rawBody));
  }

  /**
   * Sends one API request, retrying network errors, 429 and 5xx responses
   * with exponential backoff. POSTs keep their idempotency key across
   * attempts, which makes the retry safe.
   */
  private async request<T>(
    operation: string,
    method: HttpMethod,
    path: string,
    params: Record<string, FormValue>,
    idempotencyKey?: string,
  ): Promise<T> {
    if (method === 'POST' && (idempotencyKey ?? '') === '') {
      throw new PaymentProviderError(
        `Stripe ${operation} failed: an idempotency key is required`,
        false,
      );
    }
    for (let attempt = 0; ; attempt += 1) {
      let failure: PaymentProviderError;
      let retryAfterMs: number | undefined;
      try {
        const answer = await this.send(
          operation,
          method,
          path,
          params,
          idempotencyKey,
        );
        if (answer.status >= 200 && answer.status < 300) {
          return answer.body as T;
        }
        failure = this.apiError(operation, answer);
        retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'));
      } catch (error) {
        if (!(error instanceof PaymentProviderError)) throw error;
        failure = error;
      }
      if (!failure.retryable || attempt >= this.maxRetries) throw failure;
      await sleep(this.retryDelay(attempt, retryAfterMs));
    }
  }

  private async send(
    operation: string,
    method: HttpMethod,
    path: string,
    params: Record<string, FormValue>,
    idempotencyKey: string | undefined,
  ): Promise<HttpAnswer> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.secretKey}`,
      'stripe-version': this.apiVersion,
      accept: 'application/json',
    };
    const form = encodeForm(params);
    let url = `${this.baseUrl}${path}`;
    let body: string | undefined;
    if (method === 'POST') {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['idempotency-key'] = idempotencyKey!;
      body = form;
    } else if (form !== '') {
      url = `${url}?${form}`;
    }

    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new PaymentProviderError(
        `Stripe ${operation} failed: the API could not be reached (${networkErrorCode(error)})`,
        true,
      );
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new PaymentProviderError(
        `Stripe ${operation} failed: the response was cut off (${networkErrorCode(error)})`,
        true,
      );
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      // A proxy or load balancer may respond with HTML. Only 5xx is retryable.
      throw new PaymentProviderError(
        `Stripe ${operation} failed: HTTP ${response.status} with a body that is not JSON`,
        response.status >= 500,
      );
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }

  private apiError(operation: string, answer: HttpAnswer): StripeApiError {
    const error =
      (answer.body as { error?: StripeErrorBody } | null)?.error ?? {};
    const shouldRetry = answer.headers.get('stripe-should-retry');
    let retryable =
      answer.status === 429 || answer.status === 409 || answer.status >= 500;
    if (shouldRetry === 'true') retryable = true;
    if (shouldRetry === 'false') retryable = false;

    const parts = [`Stripe ${operation} failed: HTTP ${answer.status}`];
    if (error.type) parts.push(error.type);
    if (error.code) parts.push(`(${error.code})`);
    let message = parts.join(' ');
    if (error.message) {
      message += `: ${redact(error.message, this.secretKey)}`;
    }
    const requestId = answer.headers.get('request-id');
    if (requestId) message += ` [request ${requestId}]`;
    return new StripeApiError(message, retryable, answer.status, error);
  }

  private retryDelay(
    attempt: number,
    retryAfterMs: number | undefined,
  ): number {
    const exponential = this.retryBaseDelayMs * 2 ** attempt;
    // Jitter between half and all of the delay spreads out the retries of
    // replicas that failed together.
    const jittered = exponential * (0.5 + Math.random() * 0.5);
    const delay = Math.max(jittered, retryAfterMs ?? 0);
    return Math.min(delay, this.retryMaxDelayMs);
  }
}

function checkAmount(operation: string, amount: number): void {
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new PaymentProviderError(
      `Stripe ${operation} failed: amount ${amount} is not a positive integer of minor units`,
      false,
    );
  }
}

/** Returns the API path of a PaymentIntent, rejecting ids that are not `pi_...`. */
function paymentIntentPath(providerPaymentId: string): string {
  if (!/^pi_[A-Za-z0-9_]{1,250}$/.test(providerPaymentId)) {
    throw new PaymentProviderError(
      `Stripe request failed: "${providerPaymentId.slice(0, 80)}" is not a PaymentIntent id (pi_...)`,
      false,
    );
  }
  return `/v1/payment_intents/${providerPaymentId}`;
}

/** Converts the card decline error of a PaymentIntent create into a result. */
function declineFrom(error: unknown): ProviderPayment | null {
  if (
    !(error instanceof StripeApiError) ||
    error.httpStatus !== 402 ||
    error.error.type !== 'card_error' ||
    !error.error.payment_intent
  ) {
    return null;
  }
  const payment = toPayment(error.error.payment_intent);
  return {
    ...payment,
    status: 'declined',
    declineCode:
      error.error.decline_code ?? error.error.code ?? payment.declineCode,
    declineMessage: error.error.message ?? payment.declineMessage,
  };
}

const STATUS_MAP: Record<string, ProviderPaymentStatus> = {
  requires_confirmation: 'requires_action',
  requires_action: 'requires_action',
  processing: 'processing',
  requires_capture: 'authorized',
  succeeded: 'captured',
  canceled: 'canceled',
  // After confirmation, Stripe returns a PaymentIntent to this state when
  // the payment failed and a new payment method is needed.
  requires_payment_method: 'declined',
};

function toPayment(intent: StripePaymentIntent): ProviderPayment {
  const status = STATUS_MAP[intent.status];
  if (status === undefined) {
    throw new PaymentProviderError(
      `Stripe returned PaymentIntent ${intent.id} with unknown status "${intent.status}"`,
      false,
    );
  }
  const charge =
    typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
  const balance =
    charge && typeof charge.balance_transaction === 'object'
      ? charge.balance_transaction
      : null;
  // The balance transaction is in the settlement currency, which can differ
  // from the charge currency; the interface reports fees in the latter only.
  const feeAmount =
    balance && balance.currency.toLowerCase() === intent.currency.toLowerCase()
      ? balance.fee
      : null;
  const lastError = status === 'declined' ? intent.last_payment_error : null;
  const payment: ProviderPayment = {
    providerPaymentId: intent.id,
    status,
    amount: intent.amount,
    amountCaptured: intent.amount_received ?? 0,
    currencyCode: intent.currency.toUpperCase(),
    feeAmount,
    declineMessage: lastError?.message ?? null,
    declineCode: lastError?.decline_code ?? lastError?.code ?? null,
    clientSecret:
      status === 'requires_action' ? (intent.client_secret ?? null) : null,
  };
  if (charge?.amount_refunded !== undefined) {
    payment.amountRefunded = charge.amount_refunded;
  }
  return payment;
}

function toRefund(refund: StripeRefund): ProviderRefund {
  const intent = refund.payment_intent;
  const result: ProviderRefund = {
    providerRefundId: refund.id,
    status: refundStatus(refund.status),
    amount: refund.amount,
    reference: refund.metadata?.[REFUND_REFERENCE_KEY] ?? null,
  };
  const providerPaymentId = typeof intent === 'string' ? intent : intent?.id;
  if (providerPaymentId) result.providerPaymentId = providerPaymentId;
  return result;
}

function refundStatus(status: string): ProviderRefund['status'] {
  if (status === 'succeeded') return 'succeeded';
  if (status === 'failed' || status === 'canceled') return 'failed';
  // `pending` and `requires_action` both end in a later `refund.updated`.
  return 'pending';
}

interface StripeEvent {
  id: string;
  type: string;
  created: number;
  data: { object: Record<string, unknown> };
}

function parseEvent(rawBody: Buffer): StripeEvent {
  let event: unknown;
  try {
    event = JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new WebhookVerificationError('Webhook body is not valid JSON');
  }
  const candidate = event as Partial<StripeEvent> | null;
  if (
    typeof candidate?.id !== 'string' ||
    typeof candidate.type !== 'string' ||
    typeof candidate.created !== 'number' ||
    typeof candidate.data?.object !== 'object' ||
    candidate.data.object === null
  ) {
    throw new WebhookVerificationError(
      'Webhook body is not a Stripe event (id, type, created, data.object)',
    );
  }
  return candidate as StripeEvent;
}

/**
 * Normalises three kinds of events:
 * - `payment_intent.*`, which carry the PaymentIntent;
 * - events whose object is one refund, which set `refund`:
 *   `charge.refund.updated`, and from API version 2024-10-28 also
 *   `refund.created`, `refund.updated` and `refund.failed` for card refunds;
 * - other `charge.*` events such as `charge.refunded`, which carry only the
 *   charge. Their payment id is set and `payment` is null, so the receiver
 *   reads the current state with `status()`.
 */
function normaliseEvent(event: StripeEvent): ProviderEvent {
  const object = event.data.object;
  let providerPaymentId: string | null = null;
  let payment: ProviderPayment | null = null;
  let refund: ProviderRefund | null = null;
  if (
    event.type.startsWith('payment_intent.') &&
    object.object === 'payment_intent'
  ) {
    payment = toPayment(object as unknown as StripePaymentIntent);
    providerPaymentId = payment.providerPaymentId;
  } else if (object.object === 'refund') {
    refund = toRefund(object as unknown as StripeRefund);
    providerPaymentId = refund.providerPaymentId ?? null;
  } else if (event.type.startsWith('charge.') && object.object === 'charge') {
    const reference = (object as unknown as StripeCharge).payment_intent;
    providerPaymentId =
      typeof reference === 'string' ? reference : (reference?.id ?? null);
  }
  const normalised: ProviderEvent = {
    eventId: event.id,
    type: event.type,
    providerPaymentId,
    payment,
    createdAt: new Date(event.created * 1000).toISOString(),
  };
  if (refund) normalised.refund = refund;
  return normalised;
}

/** Removes the secret key and anything shaped like a Stripe key or secret. */
function redact(text: string, secretKey: string): string {
  return text
    .split(secretKey)
    .join('[redacted]')
    .replace(/\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9*]+/g, '[redacted]')
    .replace(/\bwhsec_[A-Za-z0-9*]+/g, '[redacted]');
}

function networkErrorCode(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    const cause = (error as { cause?: { code?: unknown } }).cause;
    if (typeof cause?.code === 'string') return cause.code;
    return error.name;
  }
  return 'unknown error';
}

function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value) * 1000;
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
