import { and, asc, eq, sql } from 'drizzle-orm';
import { GraphQLError } from 'graphql';
import type { Config } from '../../platform/config.js';
import {
  ErrorCode,
  userError,
  UserErrorCode,
  type UserError,
} from '../../platform/errors.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import { appendEvents } from '../../platform/outbox.js';
import { requirePermission } from '../../platform/permissions.js';
import {
  createServiceClient,
  type ServiceClient,
} from '../../platform/service-client.js';
import { checkoutSettings } from './checkout/pricing.js';
import { orderStockLines } from './checkout/order-stock.js';
import type { Context } from './context.js';
import * as tables from './db/tables.js';
import type {
  MailingAddressValue,
  OrderLineRow,
  OrderRow,
} from './db/tables.js';
import {
  ordersDependencies,
  type OrdersDatabase,
  type OrdersDependencies,
} from './dependencies.js';
import { transition } from './financial-status.js';
import type {
  MarketplaceOrderImportInput,
  Resolvers,
} from './generated/resolvers.js';
import {
  postMarketplaceSale,
  type OrdersTransaction,
} from './ledger/posting.js';
import { catalogGraphQLUrl } from './stock/catalog-stock-client.js';
import {
  ReservationStateError,
  type LineProblem,
  type PricedLine,
} from './stock/stock-client.js';

/** Author of the notes written on imported orders. */
export const MARKETPLACE_NOTE_AUTHOR = 'system:marketplace';

const MAX_LINES = 100;
const MAX_LINE_QUANTITY = 1000;
const MAX_TEXT_LENGTH = 255;

export interface ImportedLine {
  externalLineId: string;
  orderLineId: string;
  sku: string;
  quantity: number;
}

export interface MarketplaceOrderImportResult {
  orderId: string | null;
  orderNumber: number | null;
  created: boolean;
  needsAttention: boolean;
  lines: ImportedLine[];
  userErrors: UserError[];
}

const rejected = (
  ...userErrors: UserError[]
): MarketplaceOrderImportResult => ({
  orderId: null,
  orderNumber: null,
  created: false,
  needsAttention: false,
  lines: [],
  userErrors,
});

/**
 * `Mutation.marketplaceOrderImport`, which the marketplace service calls
 * with a signed service identity, and the staff-only order fields that
 * import sets. The mutation is @inaccessible, so the gateway never plans
 * it; a request sent to the subgraph directly with another identity is
 * rejected here.
 */
export const marketplaceOrderResolvers: Resolvers = {
  Mutation: {
    marketplaceOrderImport: (_parent, { input }, context) => {
      if (context.caller.kind !== 'service') {
        throw new GraphQLError(
          'marketplaceOrderImport is for services only: sign the request with a service identity (signServiceIdentity in platform/identity.ts).',
          { extensions: { code: ErrorCode.Forbidden } },
        );
      }
      return importMarketplaceOrder(context, input);
    },
  },
  // The gateway already requires read_orders for these fields; the check
  // is repeated because a request can reach the subgraph directly.
  Order: {
    externalOrderId: (order, _args, { caller }) => {
      requirePermission(caller, 'read_orders');
      return order.externalOrderId;
    },
    needsAttention: (order, _args, { caller }) => {
      requirePermission(caller, 'read_orders');
      return order.needsAttention;
    },
    attentionReason: (order, _args, { caller }) => {
      requirePermission(caller, 'read_orders');
      return order.attentionReason;
    },
  },
};

/** A variant as the catalog returns it for an order line. */
interface CatalogVariant {
  id: string;
  sku: string;
  title: string;
  product: { title: string; options: { name: string }[] };
}

const VARIANTS_BY_SKU = `query MarketplaceOrderVariants($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Variant { id sku title product { title options { name } } }
  }
}`;

const catalogClients = new WeakMap<OrdersDatabase, ServiceClient>();

/**
 * Returns the client that looks variants up by SKU, one per orders service.
 * NOTE: it is not closed when the service stops; its idle connections
 * close after the pool's keep-alive time.
 */
function catalogClient(db: OrdersDatabase, config: Config): ServiceClient {
  let client = catalogClients.get(db);
  if (!client) {
    client = createServiceClient({
      config,
      caller: 'orders',
      service: 'catalog',
      url: catalogGraphQLUrl(config),
    });
    catalogClients.set(db, client);
  }
  return client;
}

/**
 * Records a paid marketplace order once per (channelId, externalOrderId).
 *
 * A transaction-scoped advisory lock on that pair serialises concurrent
 * imports of one marketplace order, so only the first chooses an order id
 * and reserves stock. The others wait, then find its order. Inside the
 * lock the stock is reserved for the new order id and the order, its lines,
 * a CAPTURED MARKETPLACE payment, the ledger entry and the events are
 * written. The reservation is confirmed after the commit, and a repeat of
 * the import retries a confirmation that failed.
 *
 * When the catalog cannot reserve the lines (out of stock, not
 * purchasable), nothing is reserved: the order is still recorded, because
 * the buyer paid the marketplace, and flagged for staff with a note and an
 * `order.needs_attention` event.
 */
export async function importMarketplaceOrder(
  context: Context,
  input: MarketplaceOrderImportInput,
): Promise<MarketplaceOrderImportResult> {
  const invalid = validateInput(context.config, input);
  if (invalid.length > 0) return rejected(...invalid);

  const existing = await findImportedOrder(context.db, input);
  if (existing) return finishExisting(context, input, existing);

  const variants = await lookUpVariants(context, input);
  const unknown = input.lines.flatMap((line, index) =>
    variants.has(line.sku)
      ? []
      : [
          userError(
            ['input', 'lines', String(index), 'sku'],
            `No variant has the SKU "${line.sku}"; create it in the catalog or correct the marketplace listing, then import the order again.`,
            UserErrorCode.UnknownSku,
          ),
        ],
  );
  if (unknown.length > 0) return rejected(...unknown);

  const dependencies = ordersDependencies(context.db, context.config);
  const written = await context.db.transaction(async (transaction) => {
    await transaction.execute(
      sql`select pg_advisory_xact_lock(hashtext(${`marketplace-order:${input.channelId}:${input.externalOrderId}`}))`,
    );
    const [raced] = await transaction
      .select()
      .from(tables.orders)
      .where(importedOrderCondition(input));
    if (raced) return { order: raced, created: false };

    const orderId = uuidv7();
    // Reserved inside the lock so that a concurrent import never reserves
    // for a second order id. If this transaction fails after the
    // reservation, the reservation expires after its time to live.
    const reserved = await dependencies.stock.reserve(
      orderId,
      stockLines(input),
      { ttlSeconds: context.config.STOCK_RESERVATION_TTL_SECONDS },
    );
    const problems = reserved.ok ? [] : reserved.problems;
    const priced = new Map<string, PricedLine>(
      reserved.ok
        ? reserved.reservation.lines.map((line) => [line.sku, line])
        : [],
    );
    const order = await writeOrder(transaction, context, input, {
      orderId,
      variants,
      priced,
      problems,
    });
    return { order, created: true };
  });

  if (written.created && written.order.needsAttention) {
    context.logger.warn(
      {
        orderId: written.order.id,
        channelId: input.channelId,
        externalOrderId: input.externalOrderId,
      },
      'marketplace order recorded without stock; flagged for staff',
    );
  }
  if (!written.created) return finishExisting(context, input, written.order);
  await holdStock(context.db, dependencies, context.logger, written.order.id);
  return resultOf(context.db, input, written.order.id, true);
}

function importedOrderCondition(input: MarketplaceOrderImportInput) {
  return and(
    eq(tables.orders.channelId, input.channelId),
    eq(tables.orders.externalOrderId, input.externalOrderId),
  );
}

async function findImportedOrder(
  db: OrdersDatabase,
  input: MarketplaceOrderImportInput,
): Promise<OrderRow | null> {
  const [order] = await db
    .select()
    .from(tables.orders)
    .where(importedOrderCondition(input));
  return order ?? null;
}

/** Retries a stock confirmation that failed before, then returns the order. */
async function finishExisting(
  context: Context,
  input: MarketplaceOrderImportInput,
  order: OrderRow,
): Promise<MarketplaceOrderImportResult> {
  if (
    !order.reservationConfirmedAt &&
    !order.needsAttention &&
    !order.cancelledAt
  ) {
    await holdStock(
      context.db,
      ordersDependencies(context.db, context.config),
      context.logger,
      order.id,
    );
  }
  return resultOf(context.db, input, order.id, false);
}

async function resultOf(
  db: OrdersDatabase,
  input: MarketplaceOrderImportInput,
  orderId: string,
  created: boolean,
): Promise<MarketplaceOrderImportResult> {
  const [order] = await db
    .select()
    .from(tables.orders)
    .where(eq(tables.orders.id, orderId));
  const lines = await db
    .select()
    .from(tables.orderLines)
    .where(eq(tables.orderLines.orderId, orderId))
    .orderBy(asc(tables.orderLines.position));
  return {
    orderId,
    orderNumber: order!.number,
    created,
    needsAttention: order!.needsAttention,
    lines: pairLines(input, lines),
    userErrors: [],
  };
}

/**
 * Pairs the input's lines with the order lines they became. Lines are
 * written in input order, so position i is input line i. When a repeat's
 * lines differ from the first import's, only lines whose SKU matches are
 * paired.
 */
function pairLines(
  input: MarketplaceOrderImportInput,
  lines: OrderLineRow[],
): ImportedLine[] {
  return lines.flatMap((line) => {
    const source = input.lines[line.position];
    if (!source || source.sku !== line.sku) return [];
    return [
      {
        externalLineId: source.externalLineId,
        orderLineId: line.id,
        sku: line.sku,
        quantity: line.quantity,
      },
    ];
  });
}

function stockLines(input: MarketplaceOrderImportInput) {
  const bySku = new Map<string, number>();
  for (const line of input.lines) {
    bySku.set(line.sku, (bySku.get(line.sku) ?? 0) + line.quantity);
  }
  return [...bySku].map(([sku, quantity]) => ({ sku, quantity }));
}

function validateInput(
  config: Config,
  input: MarketplaceOrderImportInput,
): UserError[] {
  const errors: UserError[] = [];
  const invalid = (field: string[], message: string) =>
    errors.push(userError(['input', ...field], message, UserErrorCode.Invalid));
  for (const name of ['channelId', 'channel', 'externalOrderId'] as const) {
    const value = input[name].trim();
    if (value === '' || value.length > MAX_TEXT_LENGTH) {
      invalid(
        [name],
        `${name} is ${value === '' ? 'empty' : `${value.length} characters long`}; use 1 to ${MAX_TEXT_LENGTH} characters.`,
      );
    }
  }
  if (Number.isNaN(Date.parse(input.placedAt))) {
    invalid(
      ['placedAt'],
      `placedAt "${input.placedAt}" is not an ISO 8601 time such as 2026-12-04T18:40:07Z.`,
    );
  }
  const currencyCode = checkoutSettings(config).currencyCode;
  if (input.currencyCode !== currencyCode) {
    invalid(
      ['currencyCode'],
      `The order is in ${input.currencyCode}, but the shop sells in ${currencyCode} (SHOP_CURRENCY); orders in other currencies are not imported.`,
    );
  }
  if (input.lines.length === 0 || input.lines.length > MAX_LINES) {
    invalid(
      ['lines'],
      `The order has ${input.lines.length} lines; an imported order needs 1 to ${MAX_LINES}.`,
    );
  }
  input.lines.forEach((line, index) => {
    if (line.quantity < 1 || line.quantity > MAX_LINE_QUANTITY) {
      invalid(
        ['lines', String(index), 'quantity'],
        `Quantity ${line.quantity} is out of range; use 1 to ${MAX_LINE_QUANTITY}.`,
      );
    }
    if (line.unitPrice < 0) {
      invalid(
        ['lines', String(index), 'unitPrice'],
        `Unit price ${line.unitPrice} is negative; use minor units of 0 or more.`,
      );
    }
  });
  for (const name of ['subtotal', 'shipping', 'tax', 'total'] as const) {
    if (input[name] < 0) {
      invalid(
        [name],
        `${name} ${input[name]} is negative; use minor units of 0 or more.`,
      );
    }
  }
  if (input.total !== input.subtotal + input.shipping + input.tax) {
    invalid(
      ['total'],
      `total ${input.total} is not subtotal ${input.subtotal} + shipping ${input.shipping} + tax ${input.tax}.`,
    );
  }
  const linesSum = input.lines.reduce(
    (sum, line) => sum + line.unitPrice * line.quantity,
    0,
  );
  if (input.subtotal > linesSum) {
    invalid(
      ['subtotal'],
      `subtotal ${input.subtotal} is more than the lines' sum ${linesSum}; a subtotal may only be lower, which is recorded as a discount.`,
    );
  }
  return errors;
}

/** Looks the input's SKUs up in the catalog; unknown SKUs are left out. */
async function lookUpVariants(
  context: Context,
  input: MarketplaceOrderImportInput,
): Promise<Map<string, CatalogVariant>> {
  const skus = [...new Set(input.lines.map((line) => line.sku))];
  const data = await catalogClient(context.db, context.config).request<{
    _entities: Array<CatalogVariant | null>;
  }>(
    'MarketplaceOrderVariants',
    VARIANTS_BY_SKU,
    { representations: skus.map((sku) => ({ __typename: 'Variant', sku })) },
    { requestId: context.requestId },
  );
  const variants = new Map<string, CatalogVariant>();
  for (const variant of data._entities) {
    if (variant?.id) variants.set(variant.sku, variant);
  }
  return variants;
}

function lineTitle(variant: CatalogVariant): string {
  return variant.product.options.length > 0
    ? `${variant.product.title} - ${variant.title}`
    : variant.product.title;
}

/**
 * Writes the order, lines, payment, ledger entry and events in
 * `transaction`. With `problems`, the order is flagged for staff instead of
 * holding stock.
 */
async function writeOrder(
  transaction: OrdersTransaction,
  context: Context,
  input: MarketplaceOrderImportInput,
  stock: {
    orderId: string;
    variants: Map<string, CatalogVariant>;
    priced: Map<string, PricedLine>;
    problems: LineProblem[];
  },
): Promise<OrderRow> {
  const { orderId, variants, priced, problems } = stock;
  const linesSum = input.lines.reduce(
    (sum, line) => sum + line.unitPrice * line.quantity,
    0,
  );
  const attentionReason =
    problems.length > 0
      ? `Stock could not be reserved for this paid marketplace order: restock the items or cancel and refund it on the marketplace. ${problems
          .map((problem) => problem.message)
          .join(' ')}`
      : null;
  const [order] = await transaction
    .insert(tables.orders)
    .values({
      id: orderId,
      email: input.email?.trim() ?? '',
      financialStatus: transition('PENDING', 'PAID'),
      channel: input.channel.trim(),
      channelId: input.channelId,
      externalOrderId: input.externalOrderId,
      currencyCode: input.currencyCode,
      subtotalAmount: linesSum,
      discountAmount: linesSum - input.subtotal,
      shippingAmount: input.shipping,
      taxAmount: input.tax,
      totalAmount: input.total,
      shippingAddress: (input.shippingAddress ??
        null) as MailingAddressValue | null,
      needsAttention: attentionReason !== null,
      attentionReason,
    })
    .returning();
  await transaction.insert(tables.orderLines).values(
    input.lines.map((line, position) => {
      const variant = variants.get(line.sku)!;
      return {
        id: uuidv7(),
        orderId,
        variantId: variant.id,
        sku: line.sku,
        title: priced.get(line.sku)?.title ?? lineTitle(variant),
        position,
        quantity: line.quantity,
        unitPriceAmount: line.unitPrice,
      };
    }),
  );
  const [payment] = await transaction
    .insert(tables.payments)
    .values({
      id: uuidv7(),
      orderId,
      method: 'MARKETPLACE',
      provider: 'marketplace',
      providerPaymentId: `${input.channelId}:${input.externalOrderId}`,
      status: 'CAPTURED',
      currencyCode: input.currencyCode,
      amount: input.total,
      capturedAmount: input.total,
    })
    .returning();
  await postMarketplaceSale(transaction, {
    order: order!,
    payment: payment!,
    amount: input.total,
    reference: input.externalOrderId,
    occurredAt: new Date(input.placedAt),
  });
  if (attentionReason) {
    await transaction.insert(tables.orderNotes).values({
      id: uuidv7(),
      orderId,
      authorId: MARKETPLACE_NOTE_AUTHOR,
      body: attentionReason,
    });
  }
  await appendEvents(transaction, [
    {
      type: 'order.created',
      aggregateId: orderId,
      payload: {
        orderId,
        number: order!.number,
        checkoutId: null,
        customerId: null,
        financialStatus: order!.financialStatus,
        channel: order!.channel,
        channelId: input.channelId,
        externalOrderId: input.externalOrderId,
        currencyCode: input.currencyCode,
        totalAmount: input.total,
        lines: input.lines.map((line) => ({
          sku: line.sku,
          variantId: variants.get(line.sku)!.id,
          quantity: line.quantity,
          unitPriceAmount: line.unitPrice,
        })),
      },
    },
    {
      type: 'payment.captured',
      aggregateId: orderId,
      payload: {
        orderId,
        paymentId: payment!.id,
        method: payment!.method,
        provider: payment!.provider,
        amount: payment!.amount,
        capturedAmount: payment!.capturedAmount,
        currencyCode: input.currencyCode,
      },
    },
    ...(attentionReason
      ? [needsAttentionEvent(order!, attentionReason, problems)]
      : []),
  ]);
  return order!;
}

function needsAttentionEvent(
  order: OrderRow,
  reason: string,
  problems: LineProblem[],
) {
  return {
    type: 'order.needs_attention',
    aggregateId: order.id,
    payload: {
      orderId: order.id,
      number: order.number,
      channel: order.channel,
      externalOrderId: order.externalOrderId,
      reason,
      problems: problems.map((problem) => ({
        sku: problem.sku,
        code: problem.code,
        available: problem.available ?? null,
      })),
    },
  };
}

/**
 * Confirms an imported order's reservation, or reserves again when it
 * expired or was released, and records it on the order. When the stock is
 * gone by then, the order is flagged for staff. The order row stays locked
 * meanwhile, so concurrent repeats of the import act once. Errors reaching
 * the catalog are raised, so the caller retries the import.
 */
async function holdStock(
  db: OrdersDatabase,
  dependencies: OrdersDependencies,
  logger: Logger,
  orderId: string,
): Promise<void> {
  await db.transaction(async (transaction) => {
    const [order] = await transaction
      .select()
      .from(tables.orders)
      .where(eq(tables.orders.id, orderId))
      .for('update');
    if (
      !order ||
      order.reservationConfirmedAt ||
      order.needsAttention ||
      order.cancelledAt
    ) {
      return;
    }
    const { stock } = dependencies;
    let problems: LineProblem[] = [];
    if (!(await confirmed(dependencies, orderId))) {
      const reserved = await stock.reserve(
        orderId,
        await orderStockLines(transaction, orderId),
      );
      problems = reserved.ok ? [] : reserved.problems;
      if (reserved.ok && !(await confirmed(dependencies, orderId))) {
        problems = [
          {
            sku: '',
            code: 'OUT_OF_STOCK',
            message: 'The catalog did not confirm the reservation.',
          },
        ];
      }
    }
    const now = new Date();
    if (problems.length === 0) {
      await transaction
        .update(tables.orders)
        .set({ reservationConfirmedAt: now, updatedAt: now })
        .where(eq(tables.orders.id, orderId));
      return;
    }
    const reason = `Stock could not be held for this paid marketplace order: restock the items or cancel and refund it on the marketplace. ${problems
      .map((problem) => problem.message)
      .join(' ')}`;
    const [flagged] = await transaction
      .update(tables.orders)
      .set({ needsAttention: true, attentionReason: reason, updatedAt: now })
      .where(eq(tables.orders.id, orderId))
      .returning();
    await transaction.insert(tables.orderNotes).values({
      id: uuidv7(),
      orderId,
      authorId: MARKETPLACE_NOTE_AUTHOR,
      body: reason,
    });
    await appendEvents(transaction, [
      needsAttentionEvent(flagged!, reason, problems),
    ]);
    logger.warn(
      { orderId },
      'stock of a marketplace order could not be held; flagged for staff',
    );
  });
}

/** True when the order's reservation is now held without expiry. */
async function confirmed(
  dependencies: OrdersDependencies,
  orderId: string,
): Promise<boolean> {
  try {
    const reservation = await dependencies.stock.confirm(orderId);
    return (
      reservation !== null &&
      (reservation.status === 'ACTIVE' || reservation.status === 'COMMITTED')
    );
  } catch (error) {
    if (error instanceof ReservationStateError) return false;
    throw error;
  }
}
