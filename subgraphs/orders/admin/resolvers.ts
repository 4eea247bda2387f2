import { requirePermission } from '../../../platform/permissions.js';
import { uuidv7 } from '../../../platform/ids.js';
import * as tables from '../db/tables.js';
import type { Context } from '../context.js';
import type { OrdersDatabase } from '../dependencies.js';
import type { Resolvers } from '../generated/resolvers.js';
import { cancelOrder } from './cancel.js';
import {
  failure,
  findOrder,
  orderNotFound,
  success,
  type OrderActionResult,
} from './common.js';
import { orderFieldResolvers } from './order-fields.js';
import { listOrders } from './order-list.js';
import { captureOrder, markOrderPaid } from './payment-actions.js';
import { refundOrder } from './refund.js';

/** Maximum length of an order note, in characters. */
export const MAX_NOTE_LENGTH = 5000;

/** Adds a staff note to an order; `authorId` is the staff account's id. */
async function addOrderNote(
  db: OrdersDatabase,
  authorId: string,
  input: { orderId: string; body: string },
): Promise<OrderActionResult> {
  const body = input.body.trim();
  if (body.length < 1 || body.length > MAX_NOTE_LENGTH) {
    return failure(
      ['input', 'body'],
      `Invalid body: it has ${body.length} characters without surrounding spaces. Write 1 to ${MAX_NOTE_LENGTH}.`,
      'INVALID',
    );
  }
  const order = await findOrder(db, input.orderId);
  if (!order) return orderNotFound(input.orderId);
  await db
    .insert(tables.orderNotes)
    .values({ id: uuidv7(), orderId: order.id, authorId, body });
  return success(order.id);
}

/**
 * Turns a mutation result into its payload. The order is read again, past
 * the request's loader cache, because the mutation has just changed it;
 * it is null when there are userErrors.
 */
async function toPayload(result: OrderActionResult, { loaders }: Context) {
  if (result.userErrors.length > 0 || result.orderId === null) {
    return { order: null, refund: null, userErrors: result.userErrors };
  }
  loaders.orderById.clear(result.orderId);
  loaders.paymentsByOrderId.clear(result.orderId);
  loaders.refundsByOrderId.clear(result.orderId);
  loaders.notesByOrderId.clear(result.orderId);
  const order = await loaders.orderById.load(result.orderId);
  const refunds = result.refundId
    ? await loaders.refundsByOrderId.load(result.orderId)
    : [];
  return {
    order,
    refund: refunds.find((refund) => refund.id === result.refundId) ?? null,
    userErrors: [],
  };
}

/**
 * Staff order administration: the order list, capture, cancel, refund,
 * mark paid and notes, and the fields of orders and their payments.
 * Every mutation checks write_orders itself, because a request can reach
 * the subgraph without passing the gateway's @requiresScopes check.
 */
export const orderAdminResolvers: Resolvers = {
  ...orderFieldResolvers,

  Query: {
    orders: (_parent, args, { db, caller }) => {
      requirePermission(caller, 'read_orders');
      return listOrders(db, args);
    },
  },

  Mutation: {
    orderCapture: async (_parent, { input }, context) => {
      requirePermission(context.caller, 'write_orders');
      const { db, config, logger } = context;
      return toPayload(await captureOrder(db, config, logger, input), context);
    },
    orderCancel: async (_parent, { input }, context) => {
      requirePermission(context.caller, 'write_orders');
      const { db, config, logger } = context;
      return toPayload(await cancelOrder(db, config, logger, input), context);
    },
    orderRefund: async (_parent, { input }, context) => {
      requirePermission(context.caller, 'write_orders');
      const { db, config, logger } = context;
      return toPayload(await refundOrder(db, config, logger, input), context);
    },
    orderMarkPaid: async (_parent, { input }, context) => {
      requirePermission(context.caller, 'write_orders');
      return toPayload(await markOrderPaid(context.db, input), context);
    },
    orderNoteAdd: async (_parent, { input }, context) => {
      requirePermission(context.caller, 'write_orders');
      const { db, caller } = context;
      // write_orders is held by staff and by partners and services with
      // that scope; each has a subject that names the author.
      return toPayload(
        await addOrderNote(db, caller.subject ?? caller.kind, input),
        context,
      );
    },
  },
};
