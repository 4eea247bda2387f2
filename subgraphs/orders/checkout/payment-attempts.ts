import { and, asc, desc, eq, inArray, or, sql } from 'drizzle-orm';
import type { Logger } from '../../../platform/logger.js';
import { uuidv7 } from '../../../platform/ids.js';
import { appendEvents } from '../../../platform/outbox.js';
import * as tables from '../db/tables.js';
import type { PaymentAttemptRow } from '../db/tables.js';
import type { OrdersDatabase, OrdersDependencies } from '../dependencies.js';
import type { OrdersTransaction } from '../ledger/posting.js';
import {
  PaymentProviderError,
  type AuthorizeRequest,
  type ProviderPayment,
} from '../payments/index.js';

/**
 * Age after which a PENDING attempt is taken to have lost its response
 * (the process stopped during the provider call), in seconds.
 */
const STALE_PENDING_SECONDS = 300;

/** Delay between two tries to undo the same attempt, in seconds. */
const UNDO_RETRY_SECONDS = 60;

/**
 * Age after which attempts of a checkout that was never completed are
 * undone, in seconds. Stripe may prune an idempotency key once it is 24
 * hours old (docs.stripe.com/idempotency), so a customer who retries
 * sooner gets the first payment instead of a second charge.
 */
const ABANDONED_CHECKOUT_SECONDS = 86_400;

/** Maximum number of attempts read per reconciliation pass. */
const BATCH_SIZE = 50;

export interface AttemptRequest {
  orderId: string;
  checkoutId: string;
  provider: string;
  /** Key derived from the order, amount and token, as described on `paymentAttempts.requestKey`. */
  requestKey: string;
  amount: number;
  currencyCode: string;
  capture: boolean;
  paymentToken: string;
  metadata: Record<string, string>;
}

/**
 * Records an attempt before the provider call and returns it. A repeat of
 * a request already sent reuses its attempt and idempotency key, so the
 * provider returns the first payment. Once that attempt is undone or being
 * undone, a new attempt with a numbered key is made, so the provider never
 * replays a payment that was refunded or voided.
 */
export async function startAttempt(
  db: OrdersDatabase,
  request: AttemptRequest,
): Promise<PaymentAttemptRow> {
  for (;;) {
    const existing = await db
      .select()
      .from(tables.paymentAttempts)
      .where(
        and(
          eq(tables.paymentAttempts.orderId, request.orderId),
          eq(tables.paymentAttempts.requestKey, request.requestKey),
        ),
      )
      .orderBy(desc(tables.paymentAttempts.createdAt));
    const [latest] = existing;
    const undone =
      latest?.status === 'VOIDED' ||
      latest?.status === 'REFUNDED' ||
      latest?.status === 'UNDOING';
    if (latest && !undone) {
      if (latest.status === 'PENDING' || latest.status === 'RECORDED') {
        return latest;
      }
      const [claimed] = await db
        .update(tables.paymentAttempts)
        .set({ status: 'PENDING', updatedAt: sql`now()` })
        .where(
          and(
            eq(tables.paymentAttempts.id, latest.id),
            eq(tables.paymentAttempts.status, latest.status),
          ),
        )
        .returning();
      if (claimed) return claimed;
      continue;
    }
    const idempotencyKey =
      existing.length === 0
        ? request.requestKey
        : `${request.requestKey}-${existing.length + 1}`;
    const [inserted] = await db
      .insert(tables.paymentAttempts)
      .values({
        id: uuidv7(),
        orderId: request.orderId,
        checkoutId: request.checkoutId,
        provider: request.provider,
        idempotencyKey,
        requestKey: request.requestKey,
        amount: request.amount,
        currencyCode: request.currencyCode,
        capture: request.capture,
        paymentToken: request.paymentToken,
        metadata: request.metadata,
        status: 'PENDING',
      })
      .onConflictDoNothing()
      .returning();
    if (inserted) return inserted;
  }
}

/** Builds the authorization request of an attempt, the same on every replay. */
export function attemptAuthorizeRequest(
  attempt: PaymentAttemptRow,
): AuthorizeRequest {
  return {
    amount: attempt.amount,
    currencyCode: attempt.currencyCode,
    paymentToken: attempt.paymentToken,
    capture: attempt.capture,
    idempotencyKey: attempt.idempotencyKey,
    metadata: sortedMetadata(attempt.metadata),
  };
}

/**
 * Metadata with its keys sorted. PostgreSQL's jsonb does not keep key
 * order, and a replay must send the parameters of the first request.
 */
export function sortedMetadata(
  metadata: Record<string, string>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(metadata).sort(([a], [b]) => a.localeCompare(b, 'en')),
  );
}

/**
 * Stores the provider's response. An attempt that another run recorded on
 * the order or is undoing keeps its status.
 */
export async function recordAnswer(
  db: OrdersDatabase,
  attemptId: string,
  remote: ProviderPayment,
): Promise<void> {
  const nothingHeld =
    remote.status === 'declined' || remote.status === 'canceled';
  await db
    .update(tables.paymentAttempts)
    .set({
      status: nothingHeld ? 'DECLINED' : 'ANSWERED',
      providerPaymentId: remote.providerPaymentId,
      updatedAt: sql`now()`,
    })
    .where(
      and(
        eq(tables.paymentAttempts.id, attemptId),
        inArray(tables.paymentAttempts.status, ['PENDING', 'UNKNOWN']),
      ),
    );
}

/** Marks an attempt whose provider call failed: it may have charged. */
export async function recordLostAnswer(
  db: OrdersDatabase,
  attemptId: string,
): Promise<void> {
  await db
    .update(tables.paymentAttempts)
    .set({ status: 'UNKNOWN', updatedAt: sql`now()` })
    .where(
      and(
        eq(tables.paymentAttempts.id, attemptId),
        eq(tables.paymentAttempts.status, 'PENDING'),
      ),
    );
}

/** Marks the attempt whose payment the order records, in the order's transaction. */
export async function recordOnOrder(
  transaction: OrdersTransaction,
  attemptId: string,
  providerPaymentId: string,
): Promise<void> {
  await transaction
    .update(tables.paymentAttempts)
    .set({ status: 'RECORDED', providerPaymentId, updatedAt: sql`now()` })
    .where(eq(tables.paymentAttempts.id, attemptId));
}

/**
 * Voids or refunds every attempt of a written order that is not its
 * payment and whose response arrived or was lost. Attempts waiting for
 * the provider are left to their own run, which finds the checkout
 * completed, and to reconciliation. Returns how many were undone.
 */
export async function undoUnrecordedAttempts(
  db: OrdersDatabase,
  dependencies: OrdersDependencies,
  logger: Logger,
  orderId: string,
): Promise<number> {
  const candidates = await db
    .select({ id: tables.paymentAttempts.id })
    .from(tables.paymentAttempts)
    .where(
      and(
        eq(tables.paymentAttempts.orderId, orderId),
        inArray(tables.paymentAttempts.status, ['UNKNOWN', 'ANSWERED']),
      ),
    );
  let undone = 0;
  for (const { id } of candidates) {
    if (await undoAttempt(db, dependencies, logger, id)) undone += 1;
  }
  return undone;
}

/**
 * Selects the attempts for reconciliation to undo: those of written orders
 * that are not the order's payment, and those of checkouts abandoned for
 * ABANDONED_CHECKOUT_SECONDS. A PENDING attempt counts once it is
 * STALE_PENDING_SECONDS old. An attempt whose undo failed is tried again
 * after UNDO_RETRY_SECONDS.
 */
export function attemptsToUndo(db: OrdersDatabase) {
  const orderWritten = sql`exists (select 1 from ${tables.orders} where ${tables.orders.id} = ${tables.paymentAttempts.orderId})`;
  return db
    .select({ id: tables.paymentAttempts.id })
    .from(tables.paymentAttempts)
    .where(
      and(
        or(
          inArray(tables.paymentAttempts.status, ['UNKNOWN', 'ANSWERED']),
          and(
            eq(tables.paymentAttempts.status, 'PENDING'),
            sql`${tables.paymentAttempts.updatedAt} < now() - make_interval(secs => ${STALE_PENDING_SECONDS})`,
          ),
        ),
        sql`${tables.paymentAttempts.updatedAt} < now() - make_interval(secs => ${UNDO_RETRY_SECONDS})`,
        or(
          orderWritten,
          sql`${tables.paymentAttempts.updatedAt} < now() - make_interval(secs => ${ABANDONED_CHECKOUT_SECONDS})`,
        ),
      ),
    )
    .orderBy(asc(tables.paymentAttempts.updatedAt))
    .limit(BATCH_SIZE);
}

/**
 * Returns the money of one attempt that is not an order's payment. A lost
 * response is first replayed with the attempt's idempotency key. Then an
 * authorized amount is voided and a captured one refunded, with keys
 * derived from the attempt, so a repeat never acts twice. The attempt is
 * claimed (status UNDOING) meanwhile. On a provider error it goes back to
 * its status with `lastError` for a later pass. Returns true when money
 * was returned.
 */
export async function undoAttempt(
  db: OrdersDatabase,
  dependencies: OrdersDependencies,
  logger: Logger,
  attemptId: string,
): Promise<boolean> {
  const [attempt] = await db
    .update(tables.paymentAttempts)
    .set({ status: 'UNDOING', updatedAt: sql`now()` })
    .where(
      and(
        eq(tables.paymentAttempts.id, attemptId),
        or(
          inArray(tables.paymentAttempts.status, ['UNKNOWN', 'ANSWERED']),
          and(
            eq(tables.paymentAttempts.status, 'PENDING'),
            sql`${tables.paymentAttempts.updatedAt} < now() - make_interval(secs => ${STALE_PENDING_SECONDS})`,
          ),
        ),
      ),
    )
    .returning();
  if (!attempt) return false;
  let providerPaymentId = attempt.providerPaymentId;
  try {
    const { payments } = dependencies;
    let remote: ProviderPayment;
    if (providerPaymentId === null) {
      // The provider returns the first result for a repeat of the key, and
      // creates the payment now if the first request never arrived.
      remote = await payments.authorize(attemptAuthorizeRequest(attempt));
      providerPaymentId = remote.providerPaymentId;
    } else {
      remote = await payments.status(providerPaymentId);
    }
    if (await isRecordedPayment(db, attempt.provider, providerPaymentId)) {
      await finishAttempt(db, attempt, 'RECORDED', providerPaymentId, 0);
      return false;
    }
    const outcome = await giveBack(dependencies, attempt, remote);
    if (outcome === 'processing') {
      await releaseClaim(db, attempt, providerPaymentId, null);
      return false;
    }
    await db.transaction(async (transaction) => {
      await finishAttempt(
        transaction,
        attempt,
        outcome.status,
        providerPaymentId!,
        outcome.amount,
      );
      if (outcome.amount > 0) {
        await appendEvents(transaction, [
          {
            type: 'payment.returned',
            aggregateId: attempt.orderId,
            payload: {
              orderId: attempt.orderId,
              paymentAttemptId: attempt.id,
              provider: attempt.provider,
              providerPaymentId,
              action: outcome.status,
              amount: outcome.amount,
              currencyCode: attempt.currencyCode,
              reason: 'A payment attempt that is not the order payment.',
            },
          },
        ]);
      }
    });
    if (outcome.amount > 0) {
      logger.info(
        {
          orderId: attempt.orderId,
          paymentAttemptId: attempt.id,
          action: outcome.status,
        },
        'gave back a payment attempt that is not the order payment',
      );
    }
    return outcome.amount > 0;
  } catch (error) {
    await releaseClaim(
      db,
      attempt,
      providerPaymentId,
      error instanceof Error ? error.message : String(error),
    );
    logger.warn(
      { err: error, orderId: attempt.orderId, paymentAttemptId: attempt.id },
      'undoing a payment attempt failed; reconciliation retries it',
    );
    return false;
  }
}

/**
 * Voids or refunds `remote`. Returns the attempt's final status and the
 * amount given back, or `processing` when the provider cannot act yet.
 */
async function giveBack(
  dependencies: OrdersDependencies,
  attempt: PaymentAttemptRow,
  remote: ProviderPayment,
): Promise<
  { status: 'VOIDED' | 'REFUNDED' | 'DECLINED'; amount: number } | 'processing'
> {
  const { payments } = dependencies;
  switch (remote.status) {
    case 'declined':
    case 'canceled':
      return { status: 'DECLINED', amount: 0 };
    case 'processing':
      return 'processing';
    case 'captured':
      return refundRest(dependencies, attempt, remote);
    case 'authorized':
    case 'requires_action': {
      try {
        const voided = await payments.void(
          remote.providerPaymentId,
          `attempt-void-${attempt.id}`,
        );
        return { status: 'VOIDED', amount: voided.amount };
      } catch (error) {
        if (!(error instanceof PaymentProviderError)) throw error;
        // Confirmed or captured since it was read: refund it instead.
        const now = await payments.status(remote.providerPaymentId);
        if (now.status === 'captured') {
          return refundRest(dependencies, attempt, now);
        }
        if (now.status === 'declined' || now.status === 'canceled') {
          return { status: 'DECLINED', amount: 0 };
        }
        throw error;
      }
    }
  }
}

async function refundRest(
  dependencies: OrdersDependencies,
  attempt: PaymentAttemptRow,
  remote: ProviderPayment,
): Promise<{ status: 'REFUNDED'; amount: number }> {
  const rest = remote.amountCaptured - (remote.amountRefunded ?? 0);
  if (rest <= 0) return { status: 'REFUNDED', amount: 0 };
  const refund = await dependencies.payments.refund(
    remote.providerPaymentId,
    rest,
    `attempt-refund-${attempt.id}`,
  );
  if (refund.status === 'failed') {
    throw new PaymentProviderError(
      `The refund ${refund.providerRefundId} of payment ${remote.providerPaymentId} failed at the provider`,
      false,
    );
  }
  return { status: 'REFUNDED', amount: refund.amount };
}

async function isRecordedPayment(
  db: OrdersDatabase,
  provider: string,
  providerPaymentId: string,
): Promise<boolean> {
  const [recorded] = await db
    .select({ id: tables.payments.id })
    .from(tables.payments)
    .where(
      and(
        eq(tables.payments.provider, provider),
        eq(tables.payments.providerPaymentId, providerPaymentId),
      ),
    );
  return recorded !== undefined;
}

async function finishAttempt(
  db: Pick<OrdersDatabase, 'update'>,
  attempt: PaymentAttemptRow,
  status: PaymentAttemptRow['status'],
  providerPaymentId: string,
  returnedAmount: number,
): Promise<void> {
  await db
    .update(tables.paymentAttempts)
    .set({
      status,
      providerPaymentId,
      returnedAmount: attempt.returnedAmount + returnedAmount,
      lastError: null,
      updatedAt: sql`now()`,
    })
    .where(
      and(
        eq(tables.paymentAttempts.id, attempt.id),
        eq(tables.paymentAttempts.status, 'UNDOING'),
      ),
    );
}

/** Releases the claim without a result, so a later pass retries the attempt. */
async function releaseClaim(
  db: OrdersDatabase,
  attempt: PaymentAttemptRow,
  providerPaymentId: string | null,
  lastError: string | null,
): Promise<void> {
  await db
    .update(tables.paymentAttempts)
    .set({
      status: providerPaymentId === null ? 'UNKNOWN' : 'ANSWERED',
      providerPaymentId,
      lastError,
      updatedAt: sql`now()`,
    })
    .where(
      and(
        eq(tables.paymentAttempts.id, attempt.id),
        eq(tables.paymentAttempts.status, 'UNDOING'),
      ),
    );
}
