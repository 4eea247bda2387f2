import { isUuid } from '../../platform/ids.js';
import { requirePermission } from '../../platform/permissions.js';
import {
  eventNotFound,
  loadSubscriptionEvent,
  payloadEnum,
  payloadString,
  rejectSubgraphSubscription,
  requiredPayloadString,
} from '../../platform/subscription-event.js';
import { canSeeCustomerData } from './access.js';
import type { Context } from './context.js';
import { orderFinancialStatus } from './db/tables.js';
import type {
  Resolvers,
  ResolversTypes,
  SubscriptionResolveFn,
} from './generated/resolvers.js';

const FINANCIAL_STATUSES = orderFinancialStatus.enumValues;

/**
 * Resolves `orderStatusChanged` for the one order event that the gateway
 * names in the `x-commerce-event-position` header.
 *
 * A customer may resolve events of their own orders only. An event of
 * another customer's order, or of a guest order, gets the NOT_FOUND error
 * of a missing position, as the rest of the orders service hides such
 * orders (subgraphs/orders/access.ts).
 */
const resolveOrderStatusChanged: SubscriptionResolveFn<
  ResolversTypes['OrderStatusChange'],
  unknown,
  Context,
  unknown
> = async (_root, _args, { db, loaders, caller, eventPosition }) => {
  // Staff, partners and services need read_orders, as the gateway's
  // customer_or_read_orders policy requires. It is checked here too
  // because a request sent to the subgraph directly has passed no gateway
  // check. Anonymous callers get UNAUTHENTICATED.
  if (caller.kind !== 'customer') requirePermission(caller, 'read_orders');
  const event = await loadSubscriptionEvent(
    db,
    eventPosition,
    'orderStatusChanged',
  );
  const orderId = requiredPayloadString(event, 'orderId');
  const order = isUuid(orderId) ? await loaders.orderById.load(orderId) : null;
  // The order row decides, and the payload's customerId is the fallback
  // when no order row has the id.
  const customerId = order
    ? order.customerId
    : payloadString(event, 'customerId');
  if (!canSeeCustomerData(caller, customerId)) {
    throw eventNotFound(event.position, 'orders');
  }
  return {
    position: event.position,
    eventId: event.id,
    occurredAt: event.occurredAt,
    type: event.type,
    orderId,
    order,
    financialStatus:
      payloadEnum(event, 'to', FINANCIAL_STATUSES) ??
      payloadEnum(event, 'financialStatus', FINANCIAL_STATUSES) ??
      // Every cancellation moves the order to CANCELLED, but the
      // cancellation of an unpaid order at checkout names no `to`.
      (event.type === 'order.cancelled' ? 'CANCELLED' : null),
  };
};

/** Resolvers of `Subscription.orderStatusChanged`. The gateway serves the subscription itself. */
export const orderSubscriptionResolvers: Resolvers = {
  Subscription: {
    orderStatusChanged: {
      subscribe: rejectSubgraphSubscription('orderStatusChanged'),
      resolve: resolveOrderStatusChanged,
    },
  },
};
