import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Config } from '../../../platform/config.js';
import type { Database } from '../../../platform/database.js';
import { badUserInput } from '../../../platform/errors.js';
import { uuidv7 } from '../../../platform/ids.js';
import { appendEvents, type DomainEvent } from '../../../platform/outbox.js';
import * as tables from '../db/tables.js';
import type {
  PricedLineValue,
  StockLevelRow,
  StockReservationRow,
} from '../db/tables.js';
import {
  allocate,
  findProblems,
  loadVariantsBySku,
  priceLine,
  readStockLevels,
  sumLinesPerSku,
  type LineProblem,
  type LocatedStockLevel,
  type StockLineRequest,
} from './checkout-lines.js';
import {
  DEFAULT_LOCATION_CODE,
  ensureDefaultLocation,
  type CatalogTransaction,
} from './stock.js';

type CatalogDatabase = Database<typeof tables>;

/** Maximum time, in seconds, that a reservation lasts before it is confirmed. */
export const MAX_RESERVATION_TTL_SECONDS = 86_400;

export type ReserveResult =
  | { ok: true; reservation: StockReservationRow }
  | { ok: false; problems: LineProblem[] };

export type ReservationStateErrorCode =
  | 'RESERVATION_EXPIRED'
  | 'RESERVATION_RELEASED'
  | 'RESERVATION_COMMITTED'
  | 'RESERVATION_CONFIRMED';

/** Error for a reservation call that the reservation's status does not allow. */
export interface ReservationStateError {
  code: ReservationStateErrorCode;
  message: string;
}

/**
 * Outcome of confirm, commit and release. `reservation` is null when the
 * order has none. `error` is set when the reservation's status does not
 * allow the call, and then `reservation` is its unchanged state.
 */
export interface ReservationOutcome {
  reservation: StockReservationRow | null;
  error: ReservationStateError | null;
}

/** Reason of a stock row change, sent as `reason` of its `stock.changed` event. */
type ReservationChangeReason = 'RESERVED' | 'RELEASED' | 'EXPIRED' | 'SOLD';

interface ReservationLine {
  reservationId: string;
  variantId: string;
  locationId: string;
  quantity: number;
  sku: string;
}

/** Raised inside a reservation transaction to roll it back with the problems. */
class LineProblemsFound extends Error {
  constructor(readonly problems: LineProblem[]) {
    super('checkout lines have problems');
  }
}

/**
 * Reserves every line for `orderId` in one transaction, or nothing.
 *
 * Quantities are summed per SKU. The stock rows of every variant involved
 * are locked FOR UPDATE in (variant id, location id) order, so concurrent
 * reservations of the same SKUs wait for each other and cannot deadlock.
 * Every check of available stock reads the locked rows. When any line has
 * a problem, every problem of every line is returned and the transaction
 * rolls back.
 *
 * An ACTIVE reservation within its expiry or a COMMITTED one is returned
 * unchanged, whatever the lines. A RELEASED or EXPIRED one, or an ACTIVE
 * one past its expiry that the sweep has not reached yet, is reserved anew.
 */
export async function reserveStock(
  db: CatalogDatabase,
  config: Pick<Config, 'SHOP_CURRENCY' | 'STOCK_RESERVATION_TTL_SECONDS'>,
  request: {
    orderId: string;
    lines: readonly StockLineRequest[];
    ttlSeconds?: number | null;
  },
): Promise<ReserveResult> {
  const demands = sumLinesPerSku(request.lines);
  const ttlSeconds = request.ttlSeconds ?? config.STOCK_RESERVATION_TTL_SECONDS;
  if (
    !Number.isInteger(ttlSeconds) ||
    ttlSeconds < 1 ||
    ttlSeconds > MAX_RESERVATION_TTL_SECONDS
  ) {
    throw badUserInput(
      `Invalid ttlSeconds ${ttlSeconds}: use a whole number of seconds from 1 to ${MAX_RESERVATION_TTL_SECONDS}.`,
      'ttlSeconds',
    );
  }

  try {
    return await db.transaction(async (transaction) => {
      // The variants and the default location are read in the same round
      // trips that lock the reservation. This is safe because the reads take
      // no locks and the connection runs the statements one after another.
      const [current, variants, foundDefaultLocationId] = await allSettled([
        lockReservation(transaction, request.orderId, { create: true }),
        loadVariantsBySku(
          transaction,
          demands.map((demand) => demand.sku),
        ),
        findDefaultLocationId(transaction),
      ]);
      const { row } = current!;
      if (
        row.status === 'COMMITTED' ||
        (row.status === 'ACTIVE' && !current!.pastExpiry)
      ) {
        return { ok: true as const, reservation: row };
      }

      const tracked = [...variants.values()]
        .map(({ variant }) => variant)
        .filter((variant) => variant.tracksInventory);
      const backordered = tracked.filter(
        (variant) => variant.inventoryPolicy === 'CONTINUE',
      );
      const defaultLocationId =
        backordered.length > 0
          ? (await ensureDefaultLocation(transaction)).id
          : foundDefaultLocationId;
      if (backordered.length > 0) {
        // Backorders may be reserved at the default location beyond its
        // stock, so its row must exist before the rows are locked.
        await transaction
          .insert(tables.stockLevels)
          .values(
            backordered
              .map((variant) => variant.id)
              .sort()
              .map((variantId) => ({
                variantId,
                locationId: defaultLocationId!,
              })),
          )
          .onConflictDoNothing();
      }

      const previousLines =
        row.status === 'ACTIVE' ? await readLines(transaction, [row.id]) : [];
      const levels = await readStockLevels(
        transaction,
        [
          ...tracked.map((variant) => variant.id),
          ...previousLines.map((line) => line.variantId),
        ],
        { lock: true },
      );
      if (previousLines.length > 0) {
        await returnReservedUnits(
          transaction,
          previousLines,
          new Map([[row.id, row.orderId]]),
          'EXPIRED',
          levels,
        );
      }
      // A reservation made just now has no lines yet.
      if (!current!.created) {
        await transaction
          .delete(tables.stockReservationLines)
          .where(eq(tables.stockReservationLines.reservationId, row.id));
      }

      const problems = demands.flatMap((demand) => {
        const found = variants.get(demand.sku);
        return findProblems(
          demand,
          found,
          found ? (levels.get(found.variant.id) ?? []) : [],
          config.SHOP_CURRENCY,
        );
      });
      if (problems.length > 0) throw new LineProblemsFound(problems);

      // The stock rows are locked, so the result of each update is known
      // in advance. The writes below are sent together in one round trip,
      // and each updated row is checked against its expected state after.
      const writes: Promise<unknown>[] = [];
      const events: DomainEvent[] = [];
      const pricedLines: PricedLineValue[] = [];
      for (const demand of demands) {
        const found = variants.get(demand.sku)!;
        const { variant } = found;
        if (variant.tracksInventory) {
          const variantLevels = levels.get(variant.id) ?? [];
          const { allocations, remainder } = allocate(
            variantLevels,
            demand.quantity,
            variant.inventoryPolicy === 'CONTINUE' ? defaultLocationId : null,
          );
          if (remainder > 0) {
            throw new Error(
              `Allocation of SKU "${variant.sku}" left ${remainder} units after the stock check passed.`,
            );
          }
          for (const allocation of allocations) {
            const change = {
              variantId: variant.id,
              locationId: allocation.locationId,
              quantity: allocation.quantity,
              allowBackorder: variant.inventoryPolicy === 'CONTINUE',
            };
            const locked = variantLevels.find(
              (level) => level.locationId === allocation.locationId,
            );
            let level: StockLevelRow;
            if (locked) {
              const expected = {
                ...locked,
                reserved: locked.reserved + allocation.quantity,
              };
              writes.push(
                addReserved(transaction, change).then((updated) =>
                  checkLevel(updated, expected),
                ),
              );
              level = expected;
            } else {
              level = await addReserved(transaction, change);
            }
            replaceLevel(levels, level);
            events.push(
              stockChangedEvent(level, {
                sku: variant.sku,
                onHandDelta: 0,
                reservedDelta: allocation.quantity,
                reason: 'RESERVED',
                orderId: row.orderId,
              }),
            );
          }
          if (allocations.length > 0) {
            writes.push(
              transaction.insert(tables.stockReservationLines).values(
                allocations.map((allocation) => ({
                  reservationId: row.id,
                  variantId: variant.id,
                  locationId: allocation.locationId,
                  quantity: allocation.quantity,
                })),
              ),
            );
          }
        }
        pricedLines.push(
          priceLine(demand, found, levels.get(variant.id) ?? []),
        );
      }
      writes.push(appendEvents(transaction, events));

      const [[reservation]] = await allSettled([
        transaction
          .update(tables.stockReservations)
          .set({
            status: 'ACTIVE',
            expiresAt: sql`now() + make_interval(secs => ${ttlSeconds}::int)`,
            pricedLines,
            updatedAt: sql`now()`,
          })
          .where(eq(tables.stockReservations.id, row.id))
          .returning(),
        ...writes,
      ]);
      return { ok: true as const, reservation: reservation! };
    });
  } catch (error) {
    if (error instanceof LineProblemsFound) {
      return { ok: false, problems: error.problems };
    }
    throw error;
  }
}

/**
 * Removes the expiry of an ACTIVE reservation, so it lasts until commit or
 * release.
 */
export async function confirmReservation(
  db: CatalogDatabase,
  orderId: string,
): Promise<ReservationOutcome> {
  // Handles the usual case, an ACTIVE reservation within its expiry, in one
  // statement. Like the transaction below, the update locks the row and
  // checks the condition again against the row's latest committed state.
  const [confirmed] = await db
    .update(tables.stockReservations)
    .set({ expiresAt: null, updatedAt: sql`now()` })
    .where(
      and(
        eq(tables.stockReservations.orderId, orderId),
        eq(tables.stockReservations.status, 'ACTIVE'),
        sql`${tables.stockReservations.expiresAt} > now()`,
      ),
    )
    .returning();
  if (confirmed) return { reservation: confirmed, error: null };
  return db.transaction(async (transaction) => {
    const current = await lockReservation(transaction, orderId);
    if (!current) return { reservation: null, error: null };
    const { row } = current;
    if (row.status === 'ACTIVE' && current.pastExpiry) {
      return expiredOutcome(await expireLocked(transaction, row), 'confirm');
    }
    if (row.status === 'RELEASED' || row.status === 'EXPIRED') {
      return closedOutcome(row, 'confirm');
    }
    if (row.status === 'COMMITTED' || row.expiresAt === null) {
      return { reservation: row, error: null };
    }
    return {
      reservation: await updateStatus(transaction, row.id, 'ACTIVE'),
      error: null,
    };
  });
}

/**
 * Sells the reserved units: on-hand and reserved both go down by each
 * line's quantity, and each stock row gets a SOLD adjustment. On-hand of a
 * backordered line goes below zero, which records the units still owed.
 */
export function commitReservation(
  db: CatalogDatabase,
  orderId: string,
): Promise<ReservationOutcome> {
  return db.transaction(async (transaction) => {
    const current = await lockReservation(transaction, orderId);
    if (!current) return { reservation: null, error: null };
    const { row } = current;
    if (row.status === 'COMMITTED') return { reservation: row, error: null };
    if (row.status === 'ACTIVE' && current.pastExpiry) {
      return expiredOutcome(await expireLocked(transaction, row), 'commit');
    }
    if (row.status === 'RELEASED' || row.status === 'EXPIRED') {
      return closedOutcome(row, 'commit');
    }

    const lines = await readLines(transaction, [row.id]);
    await readStockLevels(
      transaction,
      lines.map((line) => line.variantId),
      { lock: true },
    );
    const events: DomainEvent[] = [];
    for (const line of lines) {
      const [level] = await transaction
        .update(tables.stockLevels)
        .set({
          onHand: sql`${tables.stockLevels.onHand} - ${line.quantity}`,
          reserved: sql`${tables.stockLevels.reserved} - ${line.quantity}`,
          updatedAt: sql`now()`,
        })
        .where(levelKey(line))
        .returning();
      await transaction.insert(tables.stockAdjustments).values({
        id: uuidv7(),
        variantId: line.variantId,
        locationId: line.locationId,
        delta: -line.quantity,
        quantityAfter: level!.onHand,
        reason: 'SOLD',
        note: `Order ${row.orderId}`,
      });
      events.push(
        stockChangedEvent(level!, {
          sku: line.sku,
          onHandDelta: -line.quantity,
          reservedDelta: -line.quantity,
          reason: 'SOLD',
          orderId: row.orderId,
        }),
      );
    }
    await appendEvents(transaction, events);
    return {
      reservation: await updateStatus(transaction, row.id, 'COMMITTED'),
      error: null,
    };
  });
}

/**
 * Returns the units of an ACTIVE reservation to available stock. A
 * confirmed reservation (ACTIVE without expiry) belongs to an order that
 * was written, so it is released only with `force`. The orders service
 * sends `force` for an order it cancelled. Without it, the reservation is
 * left unchanged and RESERVATION_CONFIRMED is returned. Releasing a
 * released or expired reservation returns it unchanged.
 */
export function releaseReservation(
  db: CatalogDatabase,
  orderId: string,
  options: { force?: boolean } = {},
): Promise<ReservationOutcome> {
  return db.transaction(async (transaction) => {
    const current = await lockReservation(transaction, orderId);
    if (!current) return { reservation: null, error: null };
    const { row } = current;
    if (row.status === 'RELEASED' || row.status === 'EXPIRED') {
      return { reservation: row, error: null };
    }
    if (row.status === 'ACTIVE' && row.expiresAt === null && !options.force) {
      return {
        reservation: row,
        error: {
          code: 'RESERVATION_CONFIRMED',
          message: `The reservation of order ${orderId} is confirmed: its stock belongs to a written order. Cancel the order to release it.`,
        },
      };
    }
    if (row.status === 'COMMITTED') {
      return {
        reservation: row,
        error: {
          code: 'RESERVATION_COMMITTED',
          message: `The reservation of order ${orderId} is committed: its units are sold and cannot be released. Record returned units with stockAdjust and reason RETURNED.`,
        },
      };
    }
    const lines = await readLines(transaction, [row.id]);
    const levels = await readStockLevels(
      transaction,
      lines.map((line) => line.variantId),
      { lock: true },
    );
    await returnReservedUnits(
      transaction,
      lines,
      new Map([[row.id, row.orderId]]),
      'RELEASED',
      levels,
    );
    return {
      reservation: await updateStatus(transaction, row.id, 'RELEASED'),
      error: null,
    };
  });
}

/**
 * Expires up to `limit` ACTIVE reservations whose expiry has passed and
 * returns their units to available stock, in one transaction. Rows locked
 * by another transaction, such as another replica's sweep or a call on the
 * same order, are skipped. Returns the number of reservations expired.
 */
export function expireDueReservations(
  db: CatalogDatabase,
  limit: number,
): Promise<number> {
  return db.transaction(async (transaction) => {
    const due = await transaction
      .select({
        id: tables.stockReservations.id,
        orderId: tables.stockReservations.orderId,
      })
      .from(tables.stockReservations)
      .where(
        and(
          eq(tables.stockReservations.status, 'ACTIVE'),
          sql`${tables.stockReservations.expiresAt} <= now()`,
        ),
      )
      .orderBy(asc(tables.stockReservations.expiresAt))
      .limit(limit)
      .for('update', { skipLocked: true });
    if (due.length === 0) return 0;

    const ids = due.map((reservation) => reservation.id);
    const lines = await readLines(transaction, ids);
    const levels = await readStockLevels(
      transaction,
      lines.map((line) => line.variantId),
      { lock: true },
    );
    await returnReservedUnits(
      transaction,
      lines,
      new Map(due.map((reservation) => [reservation.id, reservation.orderId])),
      'EXPIRED',
      levels,
    );
    await transaction
      .update(tables.stockReservations)
      .set({ status: 'EXPIRED', updatedAt: sql`now()` })
      .where(inArray(tables.stockReservations.id, ids));
    return due.length;
  });
}

/**
 * Locks the reservation of `orderId`. With `create`, a missing reservation
 * is first inserted as RELEASED, with no units, so two concurrent first
 * reservations of one order serialize on the unique order id. The second
 * waits and then finds the first one's result.
 */
async function lockReservation(
  transaction: CatalogTransaction,
  orderId: string,
  options: { create?: boolean } = {},
): Promise<{
  row: StockReservationRow;
  pastExpiry: boolean;
  /** Whether this call inserted the reservation. */
  created: boolean;
} | null> {
  let created = false;
  if (options.create) {
    const inserted = await transaction
      .insert(tables.stockReservations)
      .values({ id: uuidv7(), orderId, status: 'RELEASED' })
      .onConflictDoNothing({ target: tables.stockReservations.orderId })
      .returning({ id: tables.stockReservations.id });
    created = inserted.length > 0;
  }
  const [current] = await transaction
    .select({
      row: tables.stockReservations,
      pastExpiry: sql<boolean>`coalesce(${tables.stockReservations.expiresAt} <= now(), false)`,
    })
    .from(tables.stockReservations)
    .where(eq(tables.stockReservations.orderId, orderId))
    .for('update');
  return current ? { ...current, created } : null;
}

async function findDefaultLocationId(
  transaction: CatalogTransaction,
): Promise<string | null> {
  const [location] = await transaction
    .select({ id: tables.locations.id })
    .from(tables.locations)
    .where(eq(tables.locations.code, DEFAULT_LOCATION_CODE));
  return location?.id ?? null;
}

/** Reads the lines of reservations with their SKUs, in (variant id, location id) order. */
async function readLines(
  transaction: CatalogTransaction,
  reservationIds: string[],
): Promise<ReservationLine[]> {
  return transaction
    .select({
      reservationId: tables.stockReservationLines.reservationId,
      variantId: tables.stockReservationLines.variantId,
      locationId: tables.stockReservationLines.locationId,
      quantity: tables.stockReservationLines.quantity,
      sku: tables.variants.sku,
    })
    .from(tables.stockReservationLines)
    .innerJoin(
      tables.variants,
      eq(tables.variants.id, tables.stockReservationLines.variantId),
    )
    .where(inArray(tables.stockReservationLines.reservationId, reservationIds))
    .orderBy(
      asc(tables.stockReservationLines.variantId),
      asc(tables.stockReservationLines.locationId),
    );
}

function levelKey(line: { variantId: string; locationId: string }) {
  return and(
    eq(tables.stockLevels.variantId, line.variantId),
    eq(tables.stockLevels.locationId, line.locationId),
  );
}

/**
 * Adds to `reserved` of a stock row that the transaction has locked. Unless
 * backorders are allowed, the update applies only while enough units are
 * available, which guards the stock check made before it.
 */
async function addReserved(
  transaction: CatalogTransaction,
  change: {
    variantId: string;
    locationId: string;
    quantity: number;
    allowBackorder: boolean;
  },
): Promise<StockLevelRow> {
  const enoughAvailable = change.allowBackorder
    ? undefined
    : sql`${tables.stockLevels.onHand} - ${tables.stockLevels.reserved} >= ${change.quantity}`;
  const [level] = await transaction
    .update(tables.stockLevels)
    .set({
      reserved: sql`${tables.stockLevels.reserved} + ${change.quantity}`,
      updatedAt: sql`now()`,
    })
    .where(and(levelKey(change), enoughAvailable))
    .returning();
  if (!level) {
    throw new Error(
      `Stock row of variant ${change.variantId} at location ${change.locationId} has fewer than ${change.quantity} units available after it was locked and checked.`,
    );
  }
  return level;
}

/**
 * Checks for PostgreSQL error 25P02 (in_failed_sql_transaction), also when
 * wrapped in drizzle's DrizzleQueryError.
 */
function isAbortedTransaction(error: unknown): boolean {
  const { code, cause } = (error ?? {}) as { code?: unknown; cause?: unknown };
  return (
    code === '25P02' ||
    (cause as { code?: unknown } | undefined)?.code === '25P02'
  );
}

/**
 * Awaits all promises like Promise.all, but rejects only after every
 * statement has finished. So no statement of a transaction still runs after
 * the rollback, when its connection may be back in the pool.
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

/**
 * Checks that an update of a locked stock row produced the values computed
 * from the locked row. Any other result means the lock failed, so the
 * check throws and the transaction does not commit.
 */
function checkLevel(updated: StockLevelRow, expected: StockLevelRow): void {
  if (
    updated.onHand !== expected.onHand ||
    updated.reserved !== expected.reserved
  ) {
    throw new Error(
      `Stock row of variant ${updated.variantId} at location ${updated.locationId} changed while locked: on hand ${updated.onHand}, reserved ${updated.reserved}; expected ${expected.onHand} and ${expected.reserved}.`,
    );
  }
}

/**
 * Subtracts the quantities of `lines` from `reserved`, with an event per
 * stock row.
 */
async function returnReservedUnits(
  transaction: CatalogTransaction,
  lines: ReservationLine[],
  orderIds: Map<string, string>,
  reason: 'RELEASED' | 'EXPIRED',
  levels: Map<string, LocatedStockLevel[]>,
): Promise<void> {
  const events: DomainEvent[] = [];
  for (const line of lines) {
    const [level] = await transaction
      .update(tables.stockLevels)
      .set({
        reserved: sql`${tables.stockLevels.reserved} - ${line.quantity}`,
        updatedAt: sql`now()`,
      })
      .where(levelKey(line))
      .returning();
    replaceLevel(levels, level!);
    events.push(
      stockChangedEvent(level!, {
        sku: line.sku,
        onHandDelta: 0,
        reservedDelta: -line.quantity,
        reason,
        orderId: orderIds.get(line.reservationId)!,
      }),
    );
  }
  await appendEvents(transaction, events);
}

/** Replaces the old copy of an updated stock row in `levels`. */
function replaceLevel(
  levels: Map<string, LocatedStockLevel[]>,
  level: StockLevelRow,
): void {
  const variantLevels = levels.get(level.variantId) ?? [];
  const index = variantLevels.findIndex(
    (candidate) => candidate.locationId === level.locationId,
  );
  if (index >= 0) {
    variantLevels[index] = { ...variantLevels[index]!, ...level };
  }
}

/**
 * Builds a `stock.changed` event with the same fields as the one from
 * `changeOnHand`. `delta` is the change of on-hand, and `reservedDelta` and
 * `orderId` describe the reservation's change.
 */
function stockChangedEvent(
  level: StockLevelRow,
  change: {
    sku: string;
    onHandDelta: number;
    reservedDelta: number;
    reason: ReservationChangeReason;
    orderId: string;
  },
): DomainEvent {
  return {
    type: 'stock.changed',
    aggregateId: level.variantId,
    payload: {
      variantId: level.variantId,
      sku: change.sku,
      locationId: level.locationId,
      onHand: level.onHand,
      reserved: level.reserved,
      available: level.onHand - level.reserved,
      delta: change.onHandDelta,
      reservedDelta: change.reservedDelta,
      reason: change.reason,
      orderId: change.orderId,
    },
  };
}

/** Expires a locked ACTIVE reservation that is past its expiry. */
async function expireLocked(
  transaction: CatalogTransaction,
  row: StockReservationRow,
): Promise<StockReservationRow> {
  const lines = await readLines(transaction, [row.id]);
  const levels = await readStockLevels(
    transaction,
    lines.map((line) => line.variantId),
    { lock: true },
  );
  await returnReservedUnits(
    transaction,
    lines,
    new Map([[row.id, row.orderId]]),
    'EXPIRED',
    levels,
  );
  return updateStatus(transaction, row.id, 'EXPIRED');
}

/**
 * Sets a reservation's status and clears its expiry, because only an
 * unconfirmed ACTIVE reservation has one.
 */
async function updateStatus(
  transaction: CatalogTransaction,
  id: string,
  status: StockReservationRow['status'],
): Promise<StockReservationRow> {
  const [row] = await transaction
    .update(tables.stockReservations)
    .set({ status, expiresAt: null, updatedAt: sql`now()` })
    .where(eq(tables.stockReservations.id, id))
    .returning();
  return row!;
}

function expiredOutcome(
  row: StockReservationRow,
  action: 'confirm' | 'commit',
): ReservationOutcome {
  return {
    reservation: row,
    error: {
      code: 'RESERVATION_EXPIRED',
      message: `Cannot ${action} the reservation of order ${row.orderId}: it expired and its units were returned to stock. Reserve the lines again.`,
    },
  };
}

function closedOutcome(
  row: StockReservationRow,
  action: 'confirm' | 'commit',
): ReservationOutcome {
  if (row.status === 'EXPIRED') return expiredOutcome(row, action);
  return {
    reservation: row,
    error: {
      code: 'RESERVATION_RELEASED',
      message: `Cannot ${action} the reservation of order ${row.orderId}: it was released and its units were returned to stock. Reserve the lines again.`,
    },
  };
}
