import { and, eq, isNull, ne, sql } from 'drizzle-orm';
import { GraphQLError } from 'graphql';
import { ErrorCode } from '../../platform/errors.js';
import { isUuid, uuidv7 } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import { appendEvents } from '../../platform/outbox.js';
import { ServiceRequestError } from '../../platform/service-client.js';
import { CarrierError } from './carriers/carrier.js';
import type { StockCommitResult } from './clients.js';
import * as tables from './db/tables.js';
import type { OrderLineSnapshot, ShipmentRow } from './db/tables.js';
import type {
  ShipmentsDatabase,
  ShipmentsDependencies,
} from './dependencies.js';
import { statusChangeEvents, type ShipmentsTransaction } from './tracking.js';

/** Maximum length of a `fulfillmentCreate` idempotency key. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

export interface UserError {
  field: string[];
  message: string;
  code: string;
}

export interface ShipmentResult {
  shipment: ShipmentRow | null;
  userErrors: UserError[];
}

/**
 * Statuses in which the carrier has not taken the parcel, so the shipment
 * can be cancelled.
 */
const CANCELLABLE: ReadonlySet<ShipmentRow['status']> = new Set([
  'PENDING',
  'LABEL_CREATED',
]);

function failed(
  field: string[],
  message: string,
  code: string,
): ShipmentResult {
  return { shipment: null, userErrors: [{ field, message, code }] };
}

/**
 * Creates a PENDING shipment of `lines` (every unfulfilled unit when
 * omitted) of an order, then commits their stock in the catalog with the
 * shipment id as commit key.
 *
 * The order's lines are copied into `order_snapshots` at its first
 * fulfilment, and that row is locked while quantities are checked and the
 * shipment is written, so concurrent fulfilments of one order cannot ship
 * a unit twice. A shipment with the same (order, idempotency key) is
 * returned instead of a new one, after finishing its stock commit if an
 * earlier attempt could not.
 */
export async function createFulfillment(
  db: ShipmentsDatabase,
  dependencies: ShipmentsDependencies,
  logger: Logger,
  input: {
    orderId: string;
    lines?: ReadonlyArray<{ orderLineId: string; quantity: number }> | null;
    idempotencyKey: string;
  },
): Promise<ShipmentResult> {
  const key = input.idempotencyKey;
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    return failed(
      ['input', 'idempotencyKey'],
      `Invalid idempotencyKey: use 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters.`,
      'INVALID',
    );
  }
  if (!isUuid(input.orderId)) {
    return failed(
      ['input', 'orderId'],
      `Order "${input.orderId}" not found.`,
      'NOT_FOUND',
    );
  }
  const earlier = await findByIdempotencyKey(db, input.orderId, key);
  if (earlier) return commitStock(db, dependencies, logger, earlier);

  const order = await callOrders(() =>
    dependencies.orders.orderForFulfillment(input.orderId),
  );
  if (!order) {
    return failed(
      ['input', 'orderId'],
      `Order "${input.orderId}" not found.`,
      'NOT_FOUND',
    );
  }
  if (order.financialStatus === 'CANCELLED') {
    return failed(
      ['input', 'orderId'],
      `Order ${order.number} is cancelled and cannot be fulfilled.`,
      'ORDER_CANCELLED',
    );
  }

  const created = await db.transaction(async (transaction) => {
    await transaction
      .insert(tables.orderSnapshots)
      .values({
        orderId: order.id,
        orderNumber: order.number,
        lines: order.lines.map((line) => ({
          orderLineId: line.id,
          sku: line.sku,
          variantId: line.variantId,
          title: line.title,
          quantity: line.quantity,
        })),
      })
      .onConflictDoNothing();
    const [snapshot] = await transaction
      .select()
      .from(tables.orderSnapshots)
      .where(eq(tables.orderSnapshots.orderId, order.id))
      .for('update');
    const repeated = await findByIdempotencyKey(transaction, order.id, key);
    if (repeated) return { shipment: repeated, userErrors: [] };

    const fulfilled = await fulfilledQuantities(transaction, order.id);
    const chosen = chooseLines(snapshot!.lines, fulfilled, input.lines);
    if ('userErrors' in chosen) return { shipment: null, ...chosen };

    const [shipment] = await transaction
      .insert(tables.shipments)
      .values({
        id: uuidv7(),
        orderId: order.id,
        customerId: order.customerId,
        status: 'PENDING',
        idempotencyKey: key,
      })
      .returning();
    await transaction.insert(tables.shipmentLines).values(
      chosen.lines.map((line) => ({
        shipmentId: shipment!.id,
        orderLineId: line.orderLineId,
        sku: line.sku,
        variantId: line.variantId,
        quantity: line.quantity,
      })),
    );
    return { shipment: shipment!, userErrors: [] };
  });
  if (!created.shipment) return created;
  return commitStock(db, dependencies, logger, created.shipment);
}

/**
 * Commits the stock of a shipment's lines in the catalog, once: the
 * catalog keys the commit by the shipment id, so a repeat after a lost
 * response commits nothing more. The first success sets
 * `stockCommittedAt` and appends `shipment.created`.
 *
 * When the catalog rejects the commit because the reservation no longer
 * contains the units, nothing was sold, so the shipment is deleted and the
 * rejection returned. A retry with the same idempotency key then starts
 * over. When the catalog cannot be reached, the shipment stays and the
 * error is raised, so a retry or the background pass finishes the commit.
 */
export async function commitStock(
  db: ShipmentsDatabase,
  dependencies: ShipmentsDependencies,
  logger: Logger,
  shipment: ShipmentRow,
): Promise<ShipmentResult> {
  if (shipment.stockCommittedAt !== null || shipment.status === 'CANCELLED') {
    return { shipment, userErrors: [] };
  }
  const lines = await db
    .select({
      sku: tables.shipmentLines.sku,
      quantity: sql<number>`sum(${tables.shipmentLines.quantity})::int`,
    })
    .from(tables.shipmentLines)
    .where(eq(tables.shipmentLines.shipmentId, shipment.id))
    .groupBy(tables.shipmentLines.sku)
    .orderBy(tables.shipmentLines.sku);
  const result = await callCatalog(() =>
    dependencies.catalog.commitLines(shipment.orderId, shipment.id, lines),
  );
  if (!result.ok) {
    logger.warn(
      {
        shipmentId: shipment.id,
        orderId: shipment.orderId,
        codes: result.errors.map((error) => error.code),
      },
      'catalog rejected the stock commit of a shipment; shipment deleted',
    );
    await db
      .delete(tables.shipments)
      .where(
        and(
          eq(tables.shipments.id, shipment.id),
          isNull(tables.shipments.stockCommittedAt),
          eq(tables.shipments.status, 'PENDING'),
        ),
      );
    return {
      shipment: null,
      userErrors: result.errors.map((error) => ({
        field: ['input', 'lines'],
        message: `The catalog rejected the stock commit: ${error.message}`,
        code: error.code,
      })),
    };
  }
  return db.transaction(async (transaction) => {
    const [updated] = await transaction
      .update(tables.shipments)
      .set({ stockCommittedAt: sql`now()`, updatedAt: sql`now()` })
      .where(
        and(
          eq(tables.shipments.id, shipment.id),
          isNull(tables.shipments.stockCommittedAt),
        ),
      )
      .returning();
    if (updated) {
      await appendEvents(transaction, [
        {
          type: 'shipment.created',
          aggregateId: updated.id,
          payload: {
            shipmentId: updated.id,
            orderId: updated.orderId,
            status: updated.status,
            lines,
          },
        },
      ]);
      return { shipment: updated, userErrors: [] };
    }
    const [current] = await transaction
      .select()
      .from(tables.shipments)
      .where(eq(tables.shipments.id, shipment.id));
    return { shipment: current ?? null, userErrors: [] };
  });
}

/**
 * Cancels a shipment that the carrier has not picked up. It voids the
 * label, marks the shipment CANCELLED so its lines count as unfulfilled
 * again, then puts its stock back into the order's reservation. When the
 * carrier rejects the void because it already scanned the parcel, the
 * shipment is kept. Cancelling a CANCELLED shipment returns it, after
 * retrying the stock return if that failed before.
 */
export async function cancelShipment(
  db: ShipmentsDatabase,
  dependencies: ShipmentsDependencies,
  logger: Logger,
  shipmentId: string,
): Promise<ShipmentResult> {
  const shipment = isUuid(shipmentId)
    ? await findShipment(db, shipmentId)
    : null;
  if (!shipment) {
    return failed(
      ['input', 'shipmentId'],
      `Shipment "${shipmentId}" not found.`,
      'NOT_FOUND',
    );
  }
  if (shipment.status === 'CANCELLED') {
    return {
      shipment: await uncommitStock(db, dependencies, logger, shipment),
      userErrors: [],
    };
  }
  if (!CANCELLABLE.has(shipment.status)) {
    return failed(
      ['input', 'shipmentId'],
      `Shipment ${shipment.id} is ${shipment.status}: only PENDING or LABEL_CREATED shipments, not yet picked up by the carrier, can be cancelled.`,
      'NOT_CANCELLABLE',
    );
  }
  if (shipment.carrierShipmentId !== null) {
    let voided: boolean;
    try {
      voided = await voidLabel(dependencies, shipment);
    } catch (error) {
      if (!(error instanceof CarrierError)) throw error;
      logger.warn(
        { shipmentId: shipment.id, err: error },
        'carrier failed to void a label',
      );
      return failed(
        ['input', 'shipmentId'],
        `The carrier could not void the label: ${error.message}. Try again later.`,
        'CARRIER_ERROR',
      );
    }
    if (!voided) {
      return failed(
        ['input', 'shipmentId'],
        `The carrier refused to void the label of shipment ${shipment.id}: the parcel was already scanned.`,
        'LABEL_NOT_VOIDABLE',
      );
    }
  }

  const cancelled = await db.transaction(async (transaction) => {
    const [locked] = await transaction
      .select()
      .from(tables.shipments)
      .where(eq(tables.shipments.id, shipment.id))
      .for('update');
    if (!locked || !CANCELLABLE.has(locked.status)) return locked ?? null;
    const [updated] = await transaction
      .update(tables.shipments)
      .set({
        status: 'CANCELLED',
        cancelledAt: sql`now()`,
        updatedAt: sql`now()`,
      })
      .where(eq(tables.shipments.id, locked.id))
      .returning();
    await appendEvents(
      transaction,
      statusChangeEvents(locked, locked.status, 'CANCELLED'),
    );
    return updated!;
  });
  if (!cancelled || cancelled.status !== 'CANCELLED') {
    return failed(
      ['input', 'shipmentId'],
      `Shipment ${shipment.id} is ${cancelled?.status ?? 'gone'}: the carrier took it while it was being cancelled.`,
      'NOT_CANCELLABLE',
    );
  }
  return {
    shipment: await uncommitStock(db, dependencies, logger, cancelled),
    userErrors: [],
  };
}

/**
 * Puts the stock of a cancelled shipment back into the order's
 * reservation, once, and sets `stockUncommittedAt`. A failure is logged
 * and left for the background pass, because the cancellation itself has
 * happened.
 */
export async function uncommitStock(
  db: ShipmentsDatabase,
  dependencies: ShipmentsDependencies,
  logger: Logger,
  shipment: ShipmentRow,
): Promise<ShipmentRow> {
  if (shipment.stockUncommittedAt !== null) return shipment;
  let result: StockCommitResult;
  try {
    result = await dependencies.catalog.uncommitLines(
      shipment.orderId,
      shipment.id,
    );
  } catch (error) {
    if (!(error instanceof ServiceRequestError)) throw error;
    logger.warn(
      { shipmentId: shipment.id, err: error },
      'stock return of a cancelled shipment failed; the background pass retries it',
    );
    return shipment;
  }
  // An order without a reservation has no stock to put back.
  const errors = result.ok ? [] : result.errors;
  const done = errors.every((error) => error.code === 'RESERVATION_NOT_FOUND');
  if (!done) {
    logger.error(
      {
        shipmentId: shipment.id,
        codes: errors.map((error) => error.code),
      },
      'catalog rejected the stock return of a cancelled shipment',
    );
    return shipment;
  }
  const [updated] = await db
    .update(tables.shipments)
    .set({ stockUncommittedAt: sql`now()` })
    .where(eq(tables.shipments.id, shipment.id))
    .returning();
  return updated ?? shipment;
}

/**
 * Voids the label, passing the time it was bought because the sandbox
 * carrier uses it to determine whether its simulated parcel was picked up.
 * Other carriers ignore the second argument.
 */
function voidLabel(
  dependencies: ShipmentsDependencies,
  shipment: ShipmentRow,
): Promise<boolean> {
  return dependencies.carrier.voidLabel(
    shipment.carrierShipmentId!,
    shipment.labelCreatedAt ?? undefined,
  );
}

type LineChoice =
  | { lines: Array<OrderLineSnapshot & { quantity: number }> }
  | { userErrors: UserError[] };

/**
 * Checks the requested lines against what remains unfulfilled, or takes
 * every remaining unit when `requested` is omitted.
 */
function chooseLines(
  orderLines: readonly OrderLineSnapshot[],
  fulfilled: Map<string, number>,
  requested:
    ReadonlyArray<{ orderLineId: string; quantity: number }> | null | undefined,
): LineChoice {
  const remaining = (line: OrderLineSnapshot) =>
    line.quantity - (fulfilled.get(line.orderLineId) ?? 0);
  if (requested === null || requested === undefined) {
    const lines = orderLines
      .filter((line) => remaining(line) > 0)
      .map((line) => ({ ...line, quantity: remaining(line) }));
    if (lines.length === 0) {
      return {
        userErrors: [
          {
            field: ['input', 'orderId'],
            message: 'Every line of the order is already fulfilled.',
            code: 'NOTHING_TO_FULFILL',
          },
        ],
      };
    }
    return { lines };
  }
  if (requested.length === 0) {
    return {
      userErrors: [
        {
          field: ['input', 'lines'],
          message:
            'Invalid lines: list at least one line, or omit lines to fulfil every remaining unit.',
          code: 'INVALID',
        },
      ],
    };
  }
  const byId = new Map(orderLines.map((line) => [line.orderLineId, line]));
  const seen = new Set<string>();
  const userErrors: UserError[] = [];
  const lines: Array<OrderLineSnapshot & { quantity: number }> = [];
  requested.forEach((request, index) => {
    const field = ['input', 'lines', String(index)];
    const line = byId.get(request.orderLineId);
    if (!line) {
      userErrors.push({
        field: [...field, 'orderLineId'],
        message: `Order line "${request.orderLineId}" is not a line of this order.`,
        code: 'NOT_FOUND',
      });
      return;
    }
    if (seen.has(line.orderLineId)) {
      userErrors.push({
        field: [...field, 'orderLineId'],
        message: `Order line ${line.orderLineId} is listed twice: list each line once with its total quantity.`,
        code: 'DUPLICATE',
      });
      return;
    }
    seen.add(line.orderLineId);
    if (!Number.isInteger(request.quantity) || request.quantity < 1) {
      userErrors.push({
        field: [...field, 'quantity'],
        message: `Invalid quantity ${request.quantity}: use a whole number of at least 1.`,
        code: 'INVALID',
      });
      return;
    }
    if (request.quantity > remaining(line)) {
      userErrors.push({
        field: [...field, 'quantity'],
        message: `Cannot fulfil ${request.quantity} of order line ${line.orderLineId} (SKU "${line.sku}"): ${remaining(line)} of ${line.quantity} remain unfulfilled.`,
        code: 'QUANTITY_EXCEEDS_REMAINING',
      });
      return;
    }
    lines.push({ ...line, quantity: request.quantity });
  });
  return userErrors.length > 0 ? { userErrors } : { lines };
}

/** Units of each order line in shipments that are not cancelled. */
async function fulfilledQuantities(
  transaction: ShipmentsTransaction,
  orderId: string,
): Promise<Map<string, number>> {
  const rows = await transaction
    .select({
      orderLineId: tables.shipmentLines.orderLineId,
      quantity: sql<number>`sum(${tables.shipmentLines.quantity})::int`,
    })
    .from(tables.shipmentLines)
    .innerJoin(
      tables.shipments,
      eq(tables.shipments.id, tables.shipmentLines.shipmentId),
    )
    .where(
      and(
        eq(tables.shipments.orderId, orderId),
        ne(tables.shipments.status, 'CANCELLED'),
      ),
    )
    .groupBy(tables.shipmentLines.orderLineId);
  return new Map(rows.map((row) => [row.orderLineId, row.quantity]));
}

async function findByIdempotencyKey(
  db: Pick<ShipmentsDatabase, 'select'>,
  orderId: string,
  idempotencyKey: string,
): Promise<ShipmentRow | null> {
  const [row] = await db
    .select()
    .from(tables.shipments)
    .where(
      and(
        eq(tables.shipments.orderId, orderId),
        eq(tables.shipments.idempotencyKey, idempotencyKey),
      ),
    );
  return row ?? null;
}

export async function findShipment(
  db: Pick<ShipmentsDatabase, 'select'>,
  shipmentId: string,
): Promise<ShipmentRow | null> {
  const [row] = await db
    .select()
    .from(tables.shipments)
    .where(eq(tables.shipments.id, shipmentId));
  return row ?? null;
}

/**
 * Shipments whose stock call to the catalog has not succeeded yet, for the
 * background pass.
 */
export function shipmentsAwaitingStock(
  db: ShipmentsDatabase,
  limit: number,
): Promise<ShipmentRow[]> {
  return db
    .select()
    .from(tables.shipments)
    .where(
      sql`(${tables.shipments.stockCommittedAt} is null and ${tables.shipments.status} <> 'CANCELLED' and ${tables.shipments.createdAt} < now() - interval '30 seconds')
        or (${tables.shipments.status} = 'CANCELLED' and ${tables.shipments.stockUncommittedAt} is null)`,
    )
    .orderBy(tables.shipments.updatedAt)
    .limit(limit);
}

/** Runs an orders call, turning a failure into an error the client can act on. */
async function callOrders<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof ServiceRequestError)) throw error;
    throw new GraphQLError(
      'The request to the orders service failed, so nothing was created. Try again with the same idempotencyKey.',
      {
        extensions: { code: ErrorCode.ServiceUnavailable },
        originalError: error,
      },
    );
  }
}

/** Runs a catalog call, turning a failure into an error the client can act on. */
async function callCatalog<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof ServiceRequestError)) throw error;
    throw new GraphQLError(
      'The request to the catalog failed, so the stock of the shipment is not committed yet. Try again with the same idempotencyKey, which commits the stock once.',
      {
        extensions: { code: ErrorCode.ServiceUnavailable },
        originalError: error,
      },
    );
  }
}
