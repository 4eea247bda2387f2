import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../../../platform/database.js';
import { badUserInput } from '../../../platform/errors.js';
import { uuidv7 } from '../../../platform/ids.js';
import { appendEvents, type DomainEvent } from '../../../platform/outbox.js';
import * as tables from '../db/tables.js';
import type {
  StockLevelRow,
  StockReservationCommitRow,
  StockReservationRow,
} from '../db/tables.js';
import { readStockLevels, type StockLineRequest } from './checkout-lines.js';
import type { CatalogTransaction } from './stock.js';

type CatalogDatabase = Database<typeof tables>;

/** Maximum length of a commit key. A shipment id (a UUID) has 36 characters. */
export const MAX_COMMIT_KEY_LENGTH = 200;

export type CommitErrorCode =
  | 'RESERVATION_NOT_FOUND'
  | 'RESERVATION_EXPIRED'
  | 'RESERVATION_RELEASED'
  | 'RESERVATION_COMMITTED'
  | 'COMMIT_KEY_REUSED'
  | 'SKU_NOT_RESERVED'
  | 'QUANTITY_EXCEEDS_RESERVED';

export interface CommitError {
  field: string[];
  message: string;
  code: CommitErrorCode;
}

/** Units of one SKU that a commit sold, summed over locations. */
export interface CommittedSku {
  sku: string;
  variantId: string;
  quantity: number;
}

export interface ReservationCommit {
  commitKey: string;
  orderId: string;
  status: 'COMMITTED' | 'UNCOMMITTED';
  lines: CommittedSku[];
  committedAt: Date;
  uncommittedAt: Date | null;
}

export type CommitOutcome =
  | { ok: true; commit: ReservationCommit }
  | { ok: false; errors: CommitError[] };

interface HeldLine {
  variantId: string;
  locationId: string;
  quantity: number;
}

/** Units a commit takes from one reservation line, which contains `heldQuantity` units. */
interface UnitsTaken extends HeldLine {
  sku: string;
  heldQuantity: number;
}

/** Raised inside a commit transaction to roll it back with the errors. */
class CommitRejected extends Error {
  constructor(readonly errors: CommitError[]) {
    super('reservation commit rejected');
  }
}

/**
 * Sells `lines` of the ACTIVE reservation of `orderId` once per
 * `commitKey`. On-hand and reserved of each stock row go down by the units
 * taken, and the reservation's own lines go down too, so a later release,
 * expiry or full commit handles only what is left.
 *
 * The reservation row is locked first and the stock rows after it in
 * (variant id, location id) order, as `commitReservation` does, so
 * concurrent commits of one order run one after another and cannot
 * deadlock with the other reservation calls. A commit key already stored
 * returns its commit unchanged, whatever the lines.
 *
 * SKUs of variants that do not track stock have no reserved units and are
 * left out of the commit. A tracked SKU that requests more units than the
 * reservation still contains rejects the whole commit.
 */
export async function commitReservationLines(
  db: CatalogDatabase,
  request: {
    orderId: string;
    commitKey: string;
    lines: readonly StockLineRequest[];
  },
): Promise<CommitOutcome> {
  requireCommitKey(request.commitKey);
  const demands = sumQuantitiesPerSku(request.lines);
  try {
    return await db.transaction(async (transaction) => {
      const reservation = await lockReservation(transaction, request.orderId);
      if (!reservation) return reservationNotFound(request.orderId);
      const existing = await findCommit(transaction, request.commitKey);
      if (existing) {
        if (existing.orderId !== request.orderId) {
          return keyReused(request.commitKey);
        }
        return {
          ok: true as const,
          commit: await describe(transaction, existing),
        };
      }
      const stateError = reservationStateError(
        reservation.row,
        reservation.pastExpiry,
      );
      if (stateError) return { ok: false as const, errors: [stateError] };

      const reservedSkus = new Set(
        reservation.row.pricedLines.map((line) => line.sku),
      );
      const variants = await transaction
        .select({
          id: tables.variants.id,
          sku: tables.variants.sku,
          tracksInventory: tables.variants.tracksInventory,
        })
        .from(tables.variants)
        .where(
          inArray(
            tables.variants.sku,
            demands.map((demand) => demand.sku),
          ),
        );
      const variantBySku = new Map(
        variants.map((variant) => [variant.sku, variant]),
      );
      const held = await readHeldLines(transaction, reservation.row.id);

      const errors: CommitError[] = [];
      const takes: UnitsTaken[] = [];
      demands.forEach((demand) => {
        const variant = variantBySku.get(demand.sku);
        const field = ['lines', String(demand.index), 'quantity'];
        if (!variant || !reservedSkus.has(demand.sku)) {
          errors.push({
            field: ['lines', String(demand.index), 'sku'],
            message: `SKU "${demand.sku}" is not part of the reservation of order ${request.orderId}.`,
            code: 'SKU_NOT_RESERVED',
          });
          return;
        }
        const lines = held.filter((line) => line.variantId === variant.id);
        const remaining = lines.reduce((sum, line) => sum + line.quantity, 0);
        if (remaining === 0 && !variant.tracksInventory) return;
        if (demand.quantity > remaining) {
          errors.push({
            field,
            message: `Cannot commit ${demand.quantity} units of SKU "${demand.sku}": the reservation of order ${request.orderId} has only ${remaining} uncommitted units left.`,
            code: 'QUANTITY_EXCEEDS_RESERVED',
          });
          return;
        }
        let left = demand.quantity;
        for (const line of lines) {
          if (left === 0) break;
          const quantity = Math.min(left, line.quantity);
          takes.push({
            ...line,
            quantity,
            heldQuantity: line.quantity,
            sku: demand.sku,
          });
          left -= quantity;
        }
      });
      if (errors.length > 0) throw new CommitRejected(errors);

      const [commit] = await transaction
        .insert(tables.stockReservationCommits)
        .values({
          commitKey: request.commitKey,
          reservationId: reservation.row.id,
          orderId: request.orderId,
        })
        .returning();
      if (takes.length > 0) {
        await takeUnits(transaction, reservation.row, request.commitKey, takes);
      }
      return {
        ok: true as const,
        commit: await describe(transaction, commit!),
      };
    });
  } catch (error) {
    if (error instanceof CommitRejected) {
      return { ok: false, errors: error.errors };
    }
    throw error;
  }
}

/**
 * Puts back the units of the commit `commitKey` of `orderId`, once. On-hand
 * goes up by them. While the reservation is ACTIVE, they are reserved for
 * the order again, so reserved and the reservation's lines go up. Otherwise
 * the reservation no longer reserves stock, so the units become available.
 *
 * A key with no commit gets an empty UNCOMMITTED commit, so that a commit
 * with that key still in flight (a retry racing a cancellation) sells
 * nothing when it arrives.
 */
export async function uncommitReservationLines(
  db: CatalogDatabase,
  request: { orderId: string; commitKey: string },
): Promise<CommitOutcome> {
  requireCommitKey(request.commitKey);
  return db.transaction(async (transaction) => {
    const reservation = await lockReservation(transaction, request.orderId);
    if (!reservation) return reservationNotFound(request.orderId);
    const existing = await findCommit(transaction, request.commitKey);
    if (existing && existing.orderId !== request.orderId) {
      return keyReused(request.commitKey);
    }
    if (!existing) {
      const [blocked] = await transaction
        .insert(tables.stockReservationCommits)
        .values({
          commitKey: request.commitKey,
          reservationId: reservation.row.id,
          orderId: request.orderId,
          uncommittedAt: sql`now()`,
        })
        .returning();
      return {
        ok: true as const,
        commit: await describe(transaction, blocked!),
      };
    }
    if (existing.uncommittedAt !== null) {
      return {
        ok: true as const,
        commit: await describe(transaction, existing),
      };
    }

    const lines = await transaction
      .select()
      .from(tables.stockReservationCommitLines)
      .where(
        eq(tables.stockReservationCommitLines.commitKey, request.commitKey),
      )
      .orderBy(
        asc(tables.stockReservationCommitLines.variantId),
        asc(tables.stockReservationCommitLines.locationId),
      );
    const reserveAgain =
      reservation.row.status === 'ACTIVE' && !reservation.pastExpiry;
    await readStockLevels(
      transaction,
      lines.map((line) => line.variantId),
      { lock: true },
    );
    const events: DomainEvent[] = [];
    for (const line of lines) {
      const reservedDelta = reserveAgain ? line.quantity : 0;
      const [level] = await transaction
        .update(tables.stockLevels)
        .set({
          onHand: sql`${tables.stockLevels.onHand} + ${line.quantity}`,
          reserved: sql`${tables.stockLevels.reserved} + ${reservedDelta}`,
          updatedAt: sql`now()`,
        })
        .where(levelKey(line))
        .returning();
      if (reserveAgain) {
        await transaction
          .insert(tables.stockReservationLines)
          .values({
            reservationId: reservation.row.id,
            variantId: line.variantId,
            locationId: line.locationId,
            quantity: line.quantity,
          })
          .onConflictDoUpdate({
            target: [
              tables.stockReservationLines.reservationId,
              tables.stockReservationLines.variantId,
              tables.stockReservationLines.locationId,
            ],
            set: {
              quantity: sql`${tables.stockReservationLines.quantity} + ${line.quantity}`,
            },
          });
      }
      await transaction.insert(tables.stockAdjustments).values({
        id: uuidv7(),
        variantId: line.variantId,
        locationId: line.locationId,
        delta: line.quantity,
        quantityAfter: level!.onHand,
        reason: 'RETURNED',
        note: `Order ${request.orderId}, commit ${request.commitKey} put back`,
      });
      events.push(
        stockChangedEvent(level!, {
          sku: line.sku,
          onHandDelta: line.quantity,
          reservedDelta,
          reason: 'RETURNED',
          orderId: request.orderId,
          commitKey: request.commitKey,
        }),
      );
    }
    await appendEvents(transaction, events);
    const [updated] = await transaction
      .update(tables.stockReservationCommits)
      .set({ uncommittedAt: sql`now()` })
      .where(eq(tables.stockReservationCommits.commitKey, request.commitKey))
      .returning();
    return { ok: true as const, commit: await describe(transaction, updated!) };
  });
}

/**
 * Subtracts `takes` from the reservation's lines and the stock rows, and
 * records stock adjustments and events.
 */
async function takeUnits(
  transaction: CatalogTransaction,
  reservation: StockReservationRow,
  commitKey: string,
  takes: UnitsTaken[],
): Promise<void> {
  await readStockLevels(
    transaction,
    takes.map((take) => take.variantId),
    { lock: true },
  );
  const sorted = [...takes].sort(
    (a, b) =>
      a.variantId.localeCompare(b.variantId) ||
      a.locationId.localeCompare(b.locationId),
  );
  const events: DomainEvent[] = [];
  for (const take of sorted) {
    const reservationLine = and(
      eq(tables.stockReservationLines.reservationId, reservation.id),
      eq(tables.stockReservationLines.variantId, take.variantId),
      eq(tables.stockReservationLines.locationId, take.locationId),
    );
    // `heldQuantity` is still current because the reservation row is locked.
    if (take.quantity === take.heldQuantity) {
      await transaction
        .delete(tables.stockReservationLines)
        .where(reservationLine);
    } else {
      await transaction
        .update(tables.stockReservationLines)
        .set({
          quantity: sql`${tables.stockReservationLines.quantity} - ${take.quantity}`,
        })
        .where(reservationLine);
    }
    const [level] = await transaction
      .update(tables.stockLevels)
      .set({
        onHand: sql`${tables.stockLevels.onHand} - ${take.quantity}`,
        reserved: sql`${tables.stockLevels.reserved} - ${take.quantity}`,
        updatedAt: sql`now()`,
      })
      .where(levelKey(take))
      .returning();
    await transaction.insert(tables.stockAdjustments).values({
      id: uuidv7(),
      variantId: take.variantId,
      locationId: take.locationId,
      delta: -take.quantity,
      quantityAfter: level!.onHand,
      reason: 'SOLD',
      note: `Order ${reservation.orderId}, commit ${commitKey}`,
    });
    events.push(
      stockChangedEvent(level!, {
        sku: take.sku,
        onHandDelta: -take.quantity,
        reservedDelta: -take.quantity,
        reason: 'SOLD',
        orderId: reservation.orderId,
        commitKey,
      }),
    );
  }
  await transaction.insert(tables.stockReservationCommitLines).values(
    sorted.map((take) => ({
      commitKey,
      variantId: take.variantId,
      locationId: take.locationId,
      sku: take.sku,
      quantity: take.quantity,
    })),
  );
  await appendEvents(transaction, events);
}

function requireCommitKey(commitKey: string): void {
  if (commitKey.length === 0 || commitKey.length > MAX_COMMIT_KEY_LENGTH) {
    throw badUserInput(
      `Invalid commitKey: use 1 to ${MAX_COMMIT_KEY_LENGTH} characters, such as the shipment id.`,
      'commitKey',
    );
  }
}

/**
 * Sums quantities per SKU and keeps the index of each SKU's first line for
 * error fields.
 */
function sumQuantitiesPerSku(
  lines: readonly StockLineRequest[],
): Array<{ sku: string; quantity: number; index: number }> {
  if (lines.length === 0) {
    throw badUserInput('Invalid lines: commit at least one line.', 'lines');
  }
  const demands = new Map<
    string,
    { sku: string; quantity: number; index: number }
  >();
  lines.forEach((line, index) => {
    if (!Number.isInteger(line.quantity) || line.quantity < 1) {
      throw badUserInput(
        `Invalid quantity ${line.quantity} for SKU "${line.sku}": use a whole number of at least 1.`,
        'lines',
      );
    }
    const demand = demands.get(line.sku);
    if (demand) demand.quantity += line.quantity;
    else
      demands.set(line.sku, { sku: line.sku, quantity: line.quantity, index });
  });
  return [...demands.values()];
}

async function lockReservation(
  transaction: CatalogTransaction,
  orderId: string,
): Promise<{ row: StockReservationRow; pastExpiry: boolean } | null> {
  const [current] = await transaction
    .select({
      row: tables.stockReservations,
      pastExpiry: sql<boolean>`coalesce(${tables.stockReservations.expiresAt} <= now(), false)`,
    })
    .from(tables.stockReservations)
    .where(eq(tables.stockReservations.orderId, orderId))
    .for('update');
  return current ?? null;
}

async function findCommit(
  transaction: CatalogTransaction,
  commitKey: string,
): Promise<StockReservationCommitRow | null> {
  const [row] = await transaction
    .select()
    .from(tables.stockReservationCommits)
    .where(eq(tables.stockReservationCommits.commitKey, commitKey));
  return row ?? null;
}

/** Reads the uncommitted units of a reservation per stock row, in lock order. */
function readHeldLines(
  transaction: CatalogTransaction,
  reservationId: string,
): Promise<HeldLine[]> {
  return transaction
    .select({
      variantId: tables.stockReservationLines.variantId,
      locationId: tables.stockReservationLines.locationId,
      quantity: tables.stockReservationLines.quantity,
    })
    .from(tables.stockReservationLines)
    .where(eq(tables.stockReservationLines.reservationId, reservationId))
    .orderBy(
      asc(tables.stockReservationLines.variantId),
      asc(tables.stockReservationLines.locationId),
    );
}

/** Reads a commit with its lines summed per SKU, in SKU order. */
async function describe(
  transaction: CatalogTransaction,
  row: StockReservationCommitRow,
): Promise<ReservationCommit> {
  const lines = await transaction
    .select({
      sku: tables.stockReservationCommitLines.sku,
      variantId: tables.stockReservationCommitLines.variantId,
      quantity: sql<number>`sum(${tables.stockReservationCommitLines.quantity})::int`,
    })
    .from(tables.stockReservationCommitLines)
    .where(eq(tables.stockReservationCommitLines.commitKey, row.commitKey))
    .groupBy(
      tables.stockReservationCommitLines.sku,
      tables.stockReservationCommitLines.variantId,
    )
    .orderBy(asc(tables.stockReservationCommitLines.sku));
  return {
    commitKey: row.commitKey,
    orderId: row.orderId,
    status: row.uncommittedAt === null ? 'COMMITTED' : 'UNCOMMITTED',
    lines,
    committedAt: row.committedAt,
    uncommittedAt: row.uncommittedAt,
  };
}

function reservationStateError(
  row: StockReservationRow,
  pastExpiry: boolean,
): CommitError | null {
  const field = ['orderId'];
  if (row.status === 'EXPIRED' || (row.status === 'ACTIVE' && pastExpiry)) {
    return {
      field,
      message: `Cannot commit lines of the reservation of order ${row.orderId}: it expired and its units were returned to stock.`,
      code: 'RESERVATION_EXPIRED',
    };
  }
  if (row.status === 'RELEASED') {
    return {
      field,
      message: `Cannot commit lines of the reservation of order ${row.orderId}: it was released and its units were returned to stock.`,
      code: 'RESERVATION_RELEASED',
    };
  }
  if (row.status === 'COMMITTED') {
    return {
      field,
      message: `Cannot commit lines of the reservation of order ${row.orderId}: the whole reservation is already committed.`,
      code: 'RESERVATION_COMMITTED',
    };
  }
  return null;
}

function reservationNotFound(orderId: string): CommitOutcome {
  return {
    ok: false,
    errors: [
      {
        field: ['orderId'],
        message: `Order ${orderId} has no stock reservation.`,
        code: 'RESERVATION_NOT_FOUND',
      },
    ],
  };
}

function keyReused(commitKey: string): CommitOutcome {
  return {
    ok: false,
    errors: [
      {
        field: ['commitKey'],
        message: `Commit key "${commitKey}" belongs to another order's commit: use a new key.`,
        code: 'COMMIT_KEY_REUSED',
      },
    ],
  };
}

function levelKey(line: { variantId: string; locationId: string }) {
  return and(
    eq(tables.stockLevels.variantId, line.variantId),
    eq(tables.stockLevels.locationId, line.locationId),
  );
}

/**
 * Builds a `stock.changed` event with the payload fields of the reservation
 * events, plus the commit key that caused the change.
 */
function stockChangedEvent(
  level: StockLevelRow,
  change: {
    sku: string;
    onHandDelta: number;
    reservedDelta: number;
    reason: 'SOLD' | 'RETURNED';
    orderId: string;
    commitKey: string;
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
      commitKey: change.commitKey,
    },
  };
}
