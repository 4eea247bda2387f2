import { createHash, randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../../platform/database.js';
import * as tables from './db/tables.js';

type OrdersDatabase = Database<typeof tables>;

/** Maximum length of an idempotency key, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** Raised when a key is reused for a different request. */
export class IdempotencyKeyReusedError extends Error {
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  constructor() {
    super(
      'This idempotency key was already used for a different request. Use a new key for each new request.',
    );
  }
}

/** Raised when the first request with a key is still running after the wait. */
export class IdempotencyKeyBusyError extends Error {
  readonly code = 'IDEMPOTENCY_KEY_IN_USE';
  constructor() {
    super(
      'A request with this idempotency key is still running. Retry in a few seconds with the same key.',
    );
  }
}

/**
 * Raised by a run whose key was taken over by a repeat after its lock
 * expired. The run's writes, including the transaction that called
 * `finish`, do not take effect, so the repeat's result is the only one.
 */
export class IdempotencyKeyTakenOverError extends IdempotencyKeyBusyError {
  constructor() {
    super();
    this.message =
      'A repeat of this request took over its idempotency key because this run kept it past its lock expiry. Retry with the same key to get the result.';
  }
}

/** Hashes a request's canonical JSON with SHA-256, to detect a key reused for another request. */
export function hashRequest(request: unknown): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('hex');
}

export interface IdempotencyOptions<TResult> {
  /** Operation and the object it acts on, such as `checkoutComplete:<id>`. */
  scope: string;
  key: string;
  /** Request parameters, which a repeat must send unchanged. */
  request: unknown;
  /**
   * Predicate that decides whether to keep a result for repeats. Results
   * that changed nothing, such as a declined payment, are not kept, so a retry with the same key
   * runs again once the customer has fixed the problem. Defaults to keep.
   */
  keep?: (result: TResult) => boolean;
  /** Lock duration of a running request's key, after which a repeat may take over. */
  lockSeconds?: number;
  /** Maximum time a concurrent repeat waits for the first request's result. */
  waitMs?: number;
}

/**
 * Stores `result` for the key inside the caller's transaction, so the
 * result is kept in the same commit as the change it reports. A result
 * that `keep` rejects is not stored here. See `withIdempotencyKey`.
 */
export type FinishIdempotencyKey<TResult> = (
  transaction: Pick<OrdersDatabase, 'update'>,
  result: TResult,
) => Promise<void>;

/**
 * Runs `run` once per (scope, key) and returns its result to every repeat.
 *
 * The first request claims the key with an insert. A concurrent repeat
 * finds the claim and waits for the stored result, so two simultaneous
 * requests with one key do the work once. When `run` throws, the claim is
 * removed and the error propagates, so a retry runs again.
 *
 * A claim whose owner died (its lock expired) is taken over by the next
 * repeat. The work itself must then be safe to run again, which is why
 * every caller uses idempotent provider and stock calls. Each claim stores
 * a random owner token, and every later write of a run is conditional on
 * it. A run that was taken over neither completes nor removes the key, and
 * its `finish` throws IdempotencyKeyTakenOverError, which rolls back the
 * caller's transaction.
 *
 * The result must survive a JSON round trip.
 *
 * `run` may call `finish` with its result inside the transaction that
 * writes its change, and must then return that same result object. The
 * key is completed in that commit, and not in a statement of its own
 * afterwards. A transaction that rolls back takes the completion with it,
 * and `run` then throws, which removes the claim as above.
 */
export async function withIdempotencyKey<TResult>(
  db: OrdersDatabase,
  options: IdempotencyOptions<TResult>,
  run: (finish: FinishIdempotencyKey<TResult>) => Promise<TResult>,
): Promise<TResult> {
  const { scope, key } = options;
  const requestHash = hashRequest(options.request);
  const lockSeconds = options.lockSeconds ?? 60;
  const deadline = Date.now() + (options.waitMs ?? 30_000);
  const keyMatches = and(
    eq(tables.idempotencyKeys.scope, scope),
    eq(tables.idempotencyKeys.key, key),
  );
  const ownerToken = randomUUID();
  const owns = and(
    keyMatches,
    eq(tables.idempotencyKeys.ownerToken, ownerToken),
  );

  let delayMs = 10;
  for (;;) {
    const claimed = await db
      .insert(tables.idempotencyKeys)
      .values({
        scope,
        key,
        requestHash,
        status: 'IN_PROGRESS',
        lockedUntil: sql`now() + make_interval(secs => ${lockSeconds})`,
        ownerToken,
      })
      .onConflictDoNothing()
      .returning({ key: tables.idempotencyKeys.key });
    let owned = claimed.length > 0;

    if (!owned) {
      const [existing] = await db
        .select()
        .from(tables.idempotencyKeys)
        .where(keyMatches);
      // The claim was removed between the insert and the read, so claim it again.
      if (!existing) continue;
      if (existing.requestHash !== requestHash) {
        throw new IdempotencyKeyReusedError();
      }
      if (existing.status === 'COMPLETED') return existing.response as TResult;
      const takenOver = await db
        .update(tables.idempotencyKeys)
        .set({
          lockedUntil: sql`now() + make_interval(secs => ${lockSeconds})`,
          ownerToken,
        })
        .where(
          and(
            keyMatches,
            eq(tables.idempotencyKeys.status, 'IN_PROGRESS'),
            sql`${tables.idempotencyKeys.lockedUntil} < now()`,
          ),
        )
        .returning({ key: tables.idempotencyKeys.key });
      owned = takenOver.length > 0;
      if (!owned) {
        if (Date.now() >= deadline) throw new IdempotencyKeyBusyError();
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, 200);
        continue;
      }
    }

    let finished: TResult | undefined;
    const finish: FinishIdempotencyKey<TResult> = async (
      transaction,
      value,
    ) => {
      if (options.keep && !options.keep(value)) return;
      const completed = await transaction
        .update(tables.idempotencyKeys)
        .set(completion(value))
        .where(owns)
        .returning({ key: tables.idempotencyKeys.key });
      if (completed.length === 0) throw new IdempotencyKeyTakenOverError();
      finished = value;
    };
    let result: TResult;
    try {
      result = await run(finish);
    } catch (error) {
      await db.delete(tables.idempotencyKeys).where(owns);
      throw error;
    }
    if (finished !== undefined && finished === result) return result;
    if (options.keep && !options.keep(result)) {
      await db.delete(tables.idempotencyKeys).where(owns);
    } else {
      await db
        .update(tables.idempotencyKeys)
        .set(completion(result))
        .where(owns);
    }
    return result;
  }
}

/** Builds the column values of a completed key that stores `result`. */
function completion(result: unknown) {
  return {
    status: 'COMPLETED' as const,
    response: result as object,
    completedAt: sql`now()`,
    lockedUntil: null,
  };
}
