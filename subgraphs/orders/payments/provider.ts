/**
 * Payment provider interface of the orders service. Each provider (the
 * offline sandbox, Stripe) implements it over its own protocol, and the
 * checkout and the admin mutations use only these types.
 *
 * Amounts are integers in minor units of `currencyCode`. Every call that
 * moves money takes an idempotency key. The provider applies a repeated
 * call with the same key once and returns the first result for it.
 */

export type ProviderPaymentStatus =
  /** Customer confirmation required (3-D Secure, a bank redirect), and a webhook reports the outcome. */
  | 'requires_action'
  /** Still in progress at the provider, and a webhook reports the outcome. */
  | 'processing'
  /** Amount authorized on the card, which can be captured or voided. */
  | 'authorized'
  /** Money captured. */
  | 'captured'
  | 'declined'
  /** Voided before capture. */
  | 'canceled';

export interface ProviderPayment {
  /** Provider's id, such as a Stripe PaymentIntent id `pi_...`. */
  providerPaymentId: string;
  status: ProviderPaymentStatus;
  amount: number;
  /** Amount captured so far. */
  amountCaptured: number;
  currencyCode: string;
  /**
   * Provider's processing fee for the captured amount, in minor units of
   * `currencyCode`. It is null until captured or when the provider does not
   * report it.
   */
  feeAmount: number | null;
  /** Provider's decline reason for `declined`, safe to show to the customer. */
  declineMessage: string | null;
  /** Provider's decline code for `declined`, such as `card_declined`. */
  declineCode: string | null;
  /** Amount refunded so far, when the provider reports it. */
  amountRefunded?: number;
  /**
   * Client secret for `requires_action`, which the storefront passes to the
   * provider's client library (Stripe.js `handleNextAction`) so the
   * customer can complete the action. It is not a credential of the shop,
   * but it must only be sent to the customer who pays.
   */
  clientSecret?: string | null;
}

export interface ProviderRefund {
  providerRefundId: string;
  /**
   * Refund status. `pending` later becomes `succeeded` or `failed`, which a
   * refund webhook and `refundStatus` report.
   */
  status: 'succeeded' | 'pending' | 'failed';
  amount: number;
  /** Id of the refunded payment, set on refunds read back from the provider. */
  providerPaymentId?: string;
  /**
   * Reference the refund was created with (the shop's refund id). It is
   * null for a refund made at the provider, such as in its dashboard.
   */
  reference?: string | null;
}

export interface AuthorizeRequest {
  amount: number;
  currencyCode: string;
  /** A token or payment method id from the provider's client library. */
  paymentToken: string;
  /** Capture mode: true captures at once, and false authorizes the amount for a later capture. */
  capture: boolean;
  idempotencyKey: string;
  /** Metadata stored with the provider's record, such as the order id, with no personal data. */
  metadata: Record<string, string>;
  /**
   * URL the provider returns the customer to after a redirect-based
   * confirmation (a bank page). Without it the provider offers only
   * payment methods that need no redirect.
   */
  returnUrl?: string;
}

/** A verified, normalised provider webhook event. */
export interface ProviderEvent {
  /** Provider's event id, which is applied only once. */
  eventId: string;
  /** Provider's own event type, such as `payment_intent.succeeded`. */
  type: string;
  /** Payment the event is about, or null for events about other objects. */
  providerPaymentId: string | null;
  /** Payment state after the event, when the event contains it. */
  payment: ProviderPayment | null;
  /**
   * Refund state after the event, for events about one refund (Stripe:
   * `charge.refund.updated`, `refund.updated`). Events that only report that
   * a payment was refunded (`charge.refunded`) leave it unset, and the
   * receiver lists the payment's refunds with `refunds()`.
   */
  refund?: ProviderRefund | null;
  /** ISO 8601 time the provider created the event. */
  createdAt: string;
}

/** Raised for a webhook whose signature or timestamp does not verify. */
export class WebhookVerificationError extends Error {}

/**
 * Raised when the provider cannot be reached or returns an error that is
 * not a decline. The message names the operation and the provider's
 * error code, never credentials or card data.
 */
export class PaymentProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export interface PaymentProvider {
  /** Provider name, `sandbox` or `stripe`, stored on every payment. */
  readonly name: string;
  authorize(request: AuthorizeRequest): Promise<ProviderPayment>;
  /** Captures `amount` (at most the authorized amount) of an authorized payment. */
  capture(
    providerPaymentId: string,
    amount: number,
    idempotencyKey: string,
  ): Promise<ProviderPayment>;
  /** Releases an authorization without taking money. */
  void(
    providerPaymentId: string,
    idempotencyKey: string,
  ): Promise<ProviderPayment>;
  /**
   * Refunds `amount` of a captured payment to the original payment method.
   * `reference` (the shop's refund id) is stored with the provider's refund
   * and comes back as `ProviderRefund.reference`, so a refund event that
   * arrives before the shop recorded the provider's refund id still matches.
   */
  refund(
    providerPaymentId: string,
    amount: number,
    idempotencyKey: string,
    reference?: string,
  ): Promise<ProviderRefund>;
  /** Reads the payment's current state at the provider. */
  status(providerPaymentId: string): Promise<ProviderPayment>;
  /** Reads a refund's current state at the provider, such as a `pending` refund. */
  refundStatus(providerRefundId: string): Promise<ProviderRefund>;
  /**
   * Lists every refund of a payment with its current status, whether the
   * shop or the provider's dashboard made it.
   */
  refunds(providerPaymentId: string): Promise<ProviderRefund[]>;
  /**
   * Verifies a webhook request from its raw body and headers and returns
   * the event. Throws WebhookVerificationError when it does not verify.
   */
  verifyWebhook(
    rawBody: Buffer,
    headers: Record<string, string | string[] | undefined>,
  ): ProviderEvent;
}
