import { createHash } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import {
  userError,
  UserErrorCode,
  type UserError,
} from '../../../platform/errors.js';
import { uuidv7 } from '../../../platform/ids.js';
import { appendEvents } from '../../../platform/outbox.js';
import type { Context } from '../context.js';
import * as tables from '../db/tables.js';
import type { CheckoutRow, PaymentRow } from '../db/tables.js';
import {
  ordersDependencies,
  type OrdersDependencies,
} from '../dependencies.js';
import { transition, type FinancialStatus } from '../financial-status.js';
import {
  IdempotencyKeyBusyError,
  IdempotencyKeyReusedError,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  withIdempotencyKey,
  type FinishIdempotencyKey,
} from '../idempotency.js';
import { postCapture } from '../ledger/posting.js';
import {
  captureAtCheckout,
  PaymentProviderError,
  type ProviderPayment,
} from '../payments/index.js';
import {
  ReservationStateError,
  type PricedLine,
  type Reservation,
} from '../stock/stock-client.js';
import {
  checkoutCompletedError,
  checkoutNotFound,
  findCheckout,
} from './checkouts.js';
import { lineProblemError } from './line-pricing.js';
import { holdOrderStock } from './order-stock.js';
import {
  attemptAuthorizeRequest,
  recordAnswer,
  recordLostAnswer,
  recordOnOrder,
  sortedMetadata,
  startAttempt,
  undoAttempt,
  undoUnrecordedAttempts,
} from './payment-attempts.js';
import {
  checkoutSettings,
  computeTotals,
  type ShippingMethodValue,
  type CheckoutTotals,
} from './pricing.js';

type PaymentMethod = PaymentRow['method'];

export interface CheckoutCompleteInput {
  checkoutId: string;
  payment: { method: PaymentMethod; cardToken?: string | null };
  idempotencyKey: string;
}

export interface PaymentActionValue {
  providerPaymentId: string;
  provider: string;
  clientSecret: string | null;
}

/** Result of checkoutComplete, stored as JSON for repeats of the idempotency key. */
export interface CompletionResult {
  orderId: string | null;
  paymentAction: PaymentActionValue | null;
  userErrors: UserError[];
}

const failed = (...userErrors: UserError[]): CompletionResult => ({
  orderId: null,
  paymentAction: null,
  userErrors,
});

/**
 * Completes a checkout once per idempotency key: reserves the stock of
 * every line, takes the payment and writes the order. A failure before
 * the order is written releases the reservation and writes nothing, and
 * its result is not kept, so the customer can fix the problem and retry
 * with the same key.
 */
export async function completeCheckout(
  context: Context,
  input: CheckoutCompleteInput,
  shippingMethods?: readonly ShippingMethodValue[],
): Promise<CompletionResult> {
  const key = input.idempotencyKey;
  if (key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    return failed(
      userError(
        ['input', 'idempotencyKey'],
        `The idempotency key is ${key.length} characters long; use 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH}, such as a UUID made for this purchase.`,
        UserErrorCode.Invalid,
      ),
    );
  }
  const checkout = await findCheckout(context, input.checkoutId);
  if (!checkout) {
    return failed(checkoutNotFound(input.checkoutId, ['input', 'checkoutId']));
  }
  const request = {
    checkoutId: checkout.id,
    method: input.payment.method,
    cardToken: input.payment.cardToken ?? null,
  };
  try {
    return await withIdempotencyKey(
      context.db,
      {
        scope: `checkoutComplete:${checkout.id}`,
        key,
        request,
        keep: (result) => result.orderId !== null,
      },
      (finish) =>
        new Completion(
          context,
          checkout.id,
          input.payment,
          finish,
          shippingMethods,
        ).run(),
    );
  } catch (error) {
    if (error instanceof IdempotencyKeyReusedError) {
      return failed(
        userError(
          ['input', 'idempotencyKey'],
          `${error.message} The key "${key}" completed this checkout with other payment details.`,
          UserErrorCode.IdempotencyKeyReused,
        ),
      );
    }
    if (error instanceof IdempotencyKeyBusyError) {
      return failed(
        userError(
          ['input', 'idempotencyKey'],
          error.message,
          UserErrorCode.IdempotencyKeyInUse,
        ),
      );
    }
    throw error;
  }
}

/** Provider outcome of a card payment, or the pending manual payment. */
interface TakenPayment {
  provider: string;
  remote: ProviderPayment | null;
  /** Id of the recorded provider attempt of a card payment. */
  attemptId: string | null;
  status: PaymentRow['status'];
  orderStatus: FinancialStatus;
}

/** Steps of one completion attempt. */
class Completion {
  private readonly dependencies: OrdersDependencies;

  constructor(
    private readonly context: Context,
    private readonly checkoutId: string,
    private readonly payment: CheckoutCompleteInput['payment'],
    /** Callback that stores the result with the idempotency key in the order's transaction. */
    private readonly finish: FinishIdempotencyKey<CompletionResult>,
    /** Methods re-quoted before reserving; flat-rate methods when absent. */
    private readonly shippingMethods?: readonly ShippingMethodValue[],
  ) {
    this.dependencies = ordersDependencies(context.db, context.config);
  }

  async run(): Promise<CompletionResult> {
    // Every attempt uses the order id chosen by the first attempt, so the
    // stock service and the provider get one order however often the
    // customer retries.
    const checkout = await this.chooseOrderId();
    if (!checkout) {
      const completed = (await findCheckout(this.context, this.checkoutId))!;
      return failed(checkoutCompletedError(completed, ['input', 'checkoutId']));
    }
    const orderId = checkout.orderId!;
    const before = this.checkBeforeReserving(checkout);
    if (before.length > 0) return failed(...before);

    const reserved = await this.reserve(checkout, orderId);
    if ('userErrors' in reserved) return reserved;
    const { reservation } = reserved;

    const totals = computeTotals(
      checkoutSettings(this.context.config),
      reservation.lines,
      checkout.shippingMethodCode,
      false,
      this.shippingMethods,
    );
    const shipping = this.checkShipping(checkout, totals);
    if (shipping.length > 0) {
      await this.releaseUnlessCompleted(orderId);
      return failed(...shipping);
    }

    const taken = await this.takePayment(orderId, totals);
    if ('userErrors' in taken) {
      await this.releaseUnlessCompleted(orderId);
      return taken;
    }

    const result: CompletionResult = {
      orderId,
      paymentAction:
        taken.status === 'REQUIRES_ACTION' && taken.remote
          ? {
              providerPaymentId: taken.remote.providerPaymentId,
              provider: taken.provider,
              clientSecret: taken.remote.clientSecret ?? null,
            }
          : null,
      userErrors: [],
    };
    const written = await this.writeOrder(
      checkout,
      reservation,
      totals,
      taken,
      result,
    );
    if (written === 'completed-by-another') {
      await this.undoDuplicatePayment(taken);
    } else {
      if (taken.status !== 'REQUIRES_ACTION') await this.holdStock(orderId);
      // Earlier attempts may have charged too, when their response was lost
      // or the customer switched to another cart or card.
      await undoUnrecordedAttempts(
        this.context.db,
        this.dependencies,
        this.context.logger,
        orderId,
      );
    }
    return result;
  }

  /**
   * Releases the reservation of a failed attempt, unless another attempt
   * completed the checkout. Every attempt shares the order id, so in that
   * case the reservation belongs to the written order. The checkout row
   * stays locked until the release ends, so no attempt writes the order
   * meanwhile. Returns false when the checkout was completed.
   */
  private async releaseUnlessCompleted(orderId: string): Promise<boolean> {
    return this.context.db.transaction(async (transaction) => {
      const [checkout] = await transaction
        .select({ completedAt: tables.checkouts.completedAt })
        .from(tables.checkouts)
        .where(eq(tables.checkouts.id, this.checkoutId))
        .for('update');
      if (!checkout || checkout.completedAt !== null) return false;
      try {
        await this.dependencies.stock.release(orderId);
      } catch (error) {
        // A confirmed or committed reservation never belongs to this attempt.
        if (!(error instanceof ReservationStateError)) throw error;
        this.context.logger.warn(
          { orderId, code: error.code },
          'left the reservation of a failed checkout attempt as it is',
        );
      }
      return true;
    });
  }

  /** Sets the checkout's order id once, or returns null when the checkout is completed. */
  private async chooseOrderId(): Promise<CheckoutRow | null> {
    const [checkout] = await this.context.db
      .update(tables.checkouts)
      .set({
        orderId: sql`coalesce(${tables.checkouts.orderId}, ${uuidv7()}::uuid)`,
      })
      .where(
        and(
          eq(tables.checkouts.id, this.checkoutId),
          isNull(tables.checkouts.completedAt),
        ),
      )
      .returning();
    return checkout ?? null;
  }

  private checkBeforeReserving(checkout: CheckoutRow): UserError[] {
    const errors: UserError[] = [];
    if (checkout.lines.length === 0) {
      errors.push(
        userError(
          ['checkout', 'lines'],
          'The checkout has no lines; add some with checkoutUpdate.',
          UserErrorCode.Required,
        ),
      );
    }
    if (!checkout.email) {
      errors.push(
        userError(
          ['checkout', 'email'],
          'The checkout has no email; set one with checkoutUpdate so the customer gets the receipt.',
          UserErrorCode.Required,
        ),
      );
    }
    if (this.payment.method === 'MARKETPLACE') {
      errors.push(
        userError(
          ['input', 'payment', 'method'],
          'MARKETPLACE is recorded only on orders imported from a marketplace; pay with CARD, BANK_TRANSFER or CASH_ON_DELIVERY.',
          UserErrorCode.Invalid,
        ),
      );
    }
    if (this.payment.method === 'CARD' && !this.payment.cardToken?.trim()) {
      errors.push(
        userError(
          ['input', 'payment', 'cardToken'],
          "A card payment needs cardToken: the token from the payment provider's client library.",
          UserErrorCode.Required,
        ),
      );
    }
    return errors;
  }

  private checkShipping(
    checkout: CheckoutRow,
    totals: CheckoutTotals,
  ): UserError[] {
    if (!totals.requiresShipping) return [];
    const errors: UserError[] = [];
    if (!checkout.shippingAddress) {
      errors.push(
        userError(
          ['checkout', 'shippingAddress'],
          'The checkout has items to ship but no shipping address; set one with checkoutUpdate.',
          UserErrorCode.Required,
        ),
      );
    }
    if (!totals.shippingMethod) {
      errors.push(
        userError(
          ['checkout', 'shippingMethodCode'],
          `The checkout has items to ship but no shipping method; choose one of ${totals.shippingMethods
            .map((method) => method.code)
            .join(', ')} with checkoutUpdate.`,
          UserErrorCode.Required,
        ),
      );
    }
    return errors;
  }

  /**
   * Reserves every line at once. A reservation left by an earlier attempt
   * for other quantities (the lines changed since) is released and made
   * anew, so the order never reserves less or more than it sells.
   */
  private async reserve(
    checkout: CheckoutRow,
    orderId: string,
  ): Promise<{ reservation: Reservation } | CompletionResult> {
    const { stock } = this.dependencies;
    const ttlSeconds = this.context.config.STOCK_RESERVATION_TTL_SECONDS;
    for (let attempt = 0; ; attempt++) {
      const result = await stock.reserve(orderId, checkout.lines, {
        ttlSeconds,
      });
      if (!result.ok) {
        return failed(
          ...result.problems.map((problem) =>
            lineProblemError(
              problem,
              Math.max(
                0,
                checkout.lines.findIndex((line) => line.sku === problem.sku),
              ),
              ['checkout', 'lines'],
            ),
          ),
        );
      }
      if (matchesLines(result.reservation.lines, checkout) || attempt > 0) {
        return { reservation: result.reservation };
      }
      if (!(await this.releaseUnlessCompleted(orderId))) {
        const completed = (await findCheckout(this.context, this.checkoutId))!;
        return failed(
          checkoutCompletedError(completed, ['input', 'checkoutId']),
        );
      }
    }
  }

  private async takePayment(
    orderId: string,
    totals: CheckoutTotals,
  ): Promise<TakenPayment | CompletionResult> {
    const { payments } = this.dependencies;
    if (this.payment.method !== 'CARD') {
      return {
        provider: 'manual',
        remote: null,
        attemptId: null,
        status: 'PENDING',
        orderStatus: 'PENDING',
      };
    }
    const token = this.payment.cardToken!.trim();
    const capture = captureAtCheckout(this.context.config);
    // The attempt is recorded before the call, so a charge whose response
    // is lost is found and refunded or voided once the order is written.
    const attempt = await startAttempt(this.context.db, {
      orderId,
      checkoutId: this.checkoutId,
      provider: payments.name,
      // The same order, amount and token give the same key, so a retry
      // finds the first payment instead of charging again.
      requestKey: `order-${orderId}-${createHash('sha256')
        .update(`${totals.total}\n${capture}\n${token}`)
        .digest('hex')
        .slice(0, 32)}`,
      amount: totals.total,
      currencyCode: checkoutSettings(this.context.config).currencyCode,
      capture,
      paymentToken: token,
      metadata: sortedMetadata({ orderId, checkoutId: this.checkoutId }),
    });
    let remote: ProviderPayment;
    try {
      remote = await payments.authorize(attemptAuthorizeRequest(attempt));
    } catch (error) {
      if (!(error instanceof PaymentProviderError)) throw error;
      await recordLostAnswer(this.context.db, attempt.id);
      this.context.logger.warn(
        { err: error, orderId, attemptId: attempt.id },
        'card payment authorization failed',
      );
      return failed(
        userError(
          ['input', 'payment'],
          `The payment failed (${error.message}). Try again with the same idempotencyKey, because a repeat never charges twice.`,
          UserErrorCode.PaymentFailed,
        ),
      );
    }
    await recordAnswer(this.context.db, attempt.id, remote);
    switch (remote.status) {
      case 'captured':
        return {
          provider: payments.name,
          remote,
          attemptId: attempt.id,
          status: 'CAPTURED',
          orderStatus: 'PAID',
        };
      case 'authorized':
        return {
          provider: payments.name,
          remote,
          attemptId: attempt.id,
          status: 'AUTHORIZED',
          orderStatus: 'AUTHORIZED',
        };
      case 'requires_action':
      case 'processing':
        return {
          provider: payments.name,
          remote,
          attemptId: attempt.id,
          status: 'REQUIRES_ACTION',
          orderStatus: 'PENDING',
        };
      default:
        return failed(
          userError(
            ['input', 'payment', 'cardToken'],
            `${remote.declineMessage ?? 'The card was declined.'} Use another card or payment method.`,
            UserErrorCode.PaymentDeclined,
          ),
        );
    }
  }

  /**
   * Writes the order, its lines and payment, the ledger entry of a capture
   * and the outbox events in one transaction, marks the checkout
   * completed and keeps `result` with the idempotency key. When another
   * attempt completed it first, writes nothing.
   */
  private async writeOrder(
    checkout: CheckoutRow,
    reservation: Reservation,
    totals: CheckoutTotals,
    taken: TakenPayment,
    result: CompletionResult,
  ): Promise<'written' | 'completed-by-another'> {
    const orderId = checkout.orderId!;
    const currencyCode = checkoutSettings(this.context.config).currencyCode;
    const priced = new Map(reservation.lines.map((line) => [line.sku, line]));
    return this.context.db.transaction(async (transaction) => {
      // Mark the checkout completed first. The update locks its row, so a
      // concurrent attempt waits here until this transaction ends, then
      // finds it completed and writes nothing.
      const now = new Date();
      const [marked] = await transaction
        .update(tables.checkouts)
        .set({ completedAt: now, updatedAt: now })
        .where(
          and(
            eq(tables.checkouts.id, checkout.id),
            isNull(tables.checkouts.completedAt),
          ),
        )
        .returning({ id: tables.checkouts.id });
      if (!marked) return 'completed-by-another';

      // The order, its lines and its payment are sent together in one round
      // trip, and the connection runs them in this order.
      const { remote } = taken;
      const orderInsert = transaction
        .insert(tables.orders)
        .values({
          id: orderId,
          customerId: checkout.customerId,
          email: checkout.email!,
          financialStatus:
            taken.orderStatus === 'PENDING'
              ? 'PENDING'
              : transition('PENDING', taken.orderStatus),
          channel: 'online',
          checkoutId: checkout.id,
          currencyCode,
          subtotalAmount: totals.subtotal,
          discountAmount: totals.discount,
          shippingAmount: totals.shipping,
          taxAmount: totals.tax,
          totalAmount: totals.total,
          shippingAddress: totals.requiresShipping
            ? checkout.shippingAddress
            : null,
          shippingMethodCode: totals.shippingMethod?.code ?? null,
          shippingMethodTitle: totals.shippingMethod?.title ?? null,
        })
        .returning();
      const linesInsert = transaction.insert(tables.orderLines).values(
        checkout.lines.map((line, position) => {
          const catalogLine: PricedLine = priced.get(line.sku)!;
          return {
            id: uuidv7(),
            orderId,
            variantId: catalogLine.variantId,
            sku: line.sku,
            title: catalogLine.title,
            position,
            quantity: line.quantity,
            unitPriceAmount: catalogLine.unitPriceAmount,
          };
        }),
      );
      const paymentInsert = transaction
        .insert(tables.payments)
        .values({
          id: uuidv7(),
          orderId,
          method: this.payment.method,
          provider: taken.provider,
          providerPaymentId: remote?.providerPaymentId ?? null,
          status: taken.status,
          currencyCode,
          amount: totals.total,
          capturedAmount:
            taken.status === 'CAPTURED' ? remote!.amountCaptured : 0,
          feeAmount: taken.status === 'CAPTURED' ? (remote!.feeAmount ?? 0) : 0,
        })
        .returning();
      const [[order], , [payment]] = await allSettled([
        orderInsert,
        linesInsert,
        paymentInsert,
      ]);
      // The ledger entries and the events also go out together.
      const posting =
        taken.status === 'CAPTURED'
          ? postCapture(transaction, {
              order: order!,
              payment: payment!,
              amount: payment!.capturedAmount,
              feeAmount: payment!.feeAmount,
              reference: remote!.providerPaymentId,
            })
          : Promise.resolve();
      const events = appendEvents(transaction, [
        {
          type: 'order.created',
          aggregateId: orderId,
          payload: {
            orderId,
            number: order!.number,
            checkoutId: checkout.id,
            customerId: checkout.customerId,
            financialStatus: order!.financialStatus,
            currencyCode,
            totalAmount: totals.total,
            lines: checkout.lines.map((line) => ({
              sku: line.sku,
              variantId: priced.get(line.sku)!.variantId,
              quantity: line.quantity,
              unitPriceAmount: priced.get(line.sku)!.unitPriceAmount,
            })),
          },
        },
        {
          type: `payment.${paymentEventName(taken.status)}`,
          aggregateId: orderId,
          payload: {
            orderId,
            paymentId: payment!.id,
            method: payment!.method,
            provider: payment!.provider,
            amount: payment!.amount,
            capturedAmount: payment!.capturedAmount,
            currencyCode,
          },
        },
      ]);
      const attemptRecorded =
        taken.attemptId && remote
          ? recordOnOrder(
              transaction,
              taken.attemptId,
              remote.providerPaymentId,
            )
          : Promise.resolve();
      await allSettled([
        posting,
        events,
        attemptRecorded,
        this.finish(transaction, result),
      ]);
      return 'written';
    });
  }

  /** Holds the stock until fulfilment. Reconciliation retries a failure. */
  private async holdStock(orderId: string): Promise<void> {
    try {
      await holdOrderStock(
        this.context.db,
        this.dependencies,
        this.context.logger,
        orderId,
      );
    } catch (error) {
      this.context.logger.warn(
        { err: error, orderId },
        'confirming the stock of a new order failed; reconciliation retries it',
      );
    }
  }

  /**
   * Voids or refunds this attempt's card payment when another attempt with
   * another key completed the checkout first and recorded a different
   * payment, so the customer pays once.
   */
  private async undoDuplicatePayment(taken: TakenPayment): Promise<void> {
    if (!taken.attemptId) return;
    // This does nothing when the attempt is the order's payment (the same
    // card and amount share one attempt) or another run is undoing it.
    await undoAttempt(
      this.context.db,
      this.dependencies,
      this.context.logger,
      taken.attemptId,
    );
  }
}

/** Reports whether `error` is PostgreSQL's 25P02, directly or wrapped in drizzle's DrizzleQueryError. */
function isAbortedTransaction(error: unknown): boolean {
  const { code, cause } = (error ?? {}) as { code?: unknown; cause?: unknown };
  return (
    code === '25P02' ||
    (cause as { code?: unknown } | undefined)?.code === '25P02'
  );
}

/**
 * Awaits every statement like Promise.all, but waits for all of them to
 * finish before it rejects. Otherwise a statement of a transaction could
 * still run after the rollback, when its connection may be back in the pool.
 */
async function allSettled<T extends readonly unknown[]>(
  promises: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  const failures = results.flatMap((result) =>
    result.status === 'rejected' ? [result.reason as unknown] : [],
  );
  // A statement after a failed one fails with 25P02 because the transaction
  // is aborted, so the first other error is the cause.
  const failed =
    failures.find((reason) => !isAbortedTransaction(reason)) ?? failures[0];
  if (failures.length > 0) throw failed;
  return results.map(
    (result) => (result as PromiseFulfilledResult<unknown>).value,
  ) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

function paymentEventName(status: PaymentRow['status']): string {
  switch (status) {
    case 'CAPTURED':
      return 'captured';
    case 'AUTHORIZED':
      return 'authorized';
    case 'REQUIRES_ACTION':
      return 'requires_action';
    default:
      return 'pending';
  }
}

/** Reports whether the reservation contains exactly the checkout's quantities per SKU. */
function matchesLines(reserved: PricedLine[], checkout: CheckoutRow): boolean {
  const wanted = new Map<string, number>();
  for (const line of checkout.lines) {
    wanted.set(line.sku, (wanted.get(line.sku) ?? 0) + line.quantity);
  }
  return (
    reserved.length === wanted.size &&
    reserved.every((line) => wanted.get(line.sku) === line.quantity)
  );
}
