/**
 * What the orders service needs from a payment provider. Each provider
 * (the offline sandbox, Stripe) implements it over its own protocol; the
 * checkout and the admin mutations only see these types.
 *
 * Amounts are integers in minor units of `currencyCode`. Every call that
 * moves money takes an idempotency key: the provider applies a repeated
 * call with the same key once and answers it with the first result.
 */

export type ProviderPaymentStatus =
  /** The customer must confirm (3-D Secure, a bank redirect); a webhook reports the outcome. */
  | 'requires_action'
  /** The provider is still working on it; a webhook reports the outcome. */
  | 'processing'
  /** The amount is held on the card and can be captured or voided. */
  | 'authorized'
  /** The money is taken. */
  | 'captured'
  | 'declined'
  /** Voided before capture. */
  | 'canceled';

export interface ProviderPayment {
  /** The provider's id, such as a Stripe PaymentIntent id `pi_...`. */
  providerPaymentId: string;
  status: ProviderPaymentStatus;
  amount: number;
  /** Captured so far. */
  amountCaptured: number;
  currencyCode: string;
  /**
   * The provider's processing fee for the captured amount, in minor units
   * of `currencyCode`; null until captured or when the provider does not
   * report it.
   */
  feeAmount: number | null;
  /** For `declined`: the provider's reason, safe to show to the customer. */
  declineMessage: string | null;
  /** For `declined`: the provider's code, such as `card_declined`. */
  declineCode: string | null;
  /** Refunded so far, when the provider reports it. */
  amountRefunded?: number;
  /**
   * For `requires_action`: the secret the storefront passes to the
   * provider's client library (Stripe.js `handleNextAction`) so the
   * customer can complete the action. Not a credential of the shop, but
   * it must only be sent to the customer who pays.
   */
  clientSecret?: string | null;
}

export interface ProviderRefund {
  providerRefundId: string;
  /**
   * `pending` ends later in `succeeded` or `failed`, reported by a refund
   * webhook and by `refundStatus`.
   */
  status: 'succeeded' | 'pending' | 'failed';
  amount: number;
  /** The payment refunded; set on refunds read back from the provider. */
  providerPaymentId?: string;
  /**
   * The `reference` the refund was created with (the shop's refund id);
   * null for a refund made at the provider, such as in its dashboard.
   */
  reference?: string | null;
}

export interface AuthorizeRequest {
  amount: number;
  currencyCode: string;
  /** A token or payment method id from the provider's client library. */
  paymentToken: string;
  /** True to capture at once; false to hold the amount for a later capture. */
  capture: boolean;
  idempotencyKey: string;
  /** Stored with the provider's record, such as the order id. No personal data. */
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
  /** The provider's event id; the same id is applied once. */
  eventId: string;
  /** The provider's own event type, such as `payment_intent.succeeded`. */
  type: string;
  /** The payment the event is about; null for events about other objects. */
  providerPaymentId: string | null;
  /** The payment's state after the event, when the event carries it. */
  payment: ProviderPayment | null;
  /**
   * For events about one refund (Stripe: `charge.refund.updated`,
   * `refund.updated`): the refund after the event. Events that only say a
   * payment was refunded (`charge.refunded`) leave it unset; the receiver
   * lists the payment's refunds with `refunds()`.
   */
  refund?: ProviderRefund | null;
  /** ISO 8601 time the provider created the event. */
  createdAt: string;
}

/** Raised for a webhook whose signature or timestamp does not verify. */
export class WebhookVerificationError extends Error {}

/**
 * Raised when the provider cannot be reached or answers with an error that
 * is not a decline. The message names the operation and the provider's
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
  /** `sandbox` or `stripe`; stored on every payment. */
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
  /** The payment as the provider reports it now. */
  status(providerPaymentId: string): Promise<ProviderPayment>;
  /** A refund as the provider reports it now, such as a `pending` one. */
  refundStatus(providerRefundId: string): Promise<ProviderRefund>;
  /**
   * Every refund of a payment, whoever made it (the shop or the provider's
   * dashboard), with its current status.
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
