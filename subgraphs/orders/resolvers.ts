import { and, desc, eq, lt } from 'drizzle-orm';
import { toMoney } from '../../platform/money.js';
import { isUuid } from '../../platform/ids.js';
import { parsePageArguments, toConnection } from '../../platform/pagination.js';
import {
  refreshCustomerToken,
  registerCustomer,
  signInCustomer,
  signOutCustomer,
} from './accounts.js';
import { canSeeCustomerData, visibleTo } from './access.js';
import * as tables from './db/tables.js';
import type { CustomerRow, OrderRow } from './db/tables.js';
import type { Resolvers } from './generated/resolvers.js';

const customerIdOfOrder = (order: OrderRow) => order.customerId;
const idOfCustomer = (customer: CustomerRow) => customer.id;

export const resolvers: Resolvers = {
  Query: {
    order: async (_parent, { id }, { loaders, caller }) =>
      visibleTo(caller, await loaders.orderById.load(id), customerIdOfOrder),
    customer: async (_parent, { id }, { loaders, caller }) =>
      visibleTo(caller, await loaders.customerById.load(id), idOfCustomer),
    me: async (_parent, _args, { loaders, caller }) => {
      if (caller.kind !== 'customer') return null;
      const customer = await loaders.customerById.load(caller.subject!);
      return visibleTo(caller, customer, idOfCustomer);
    },
  },

  Mutation: {
    customerRegister: (_parent, { input }, { db, config }) =>
      registerCustomer(db, config, input),
    customerSignIn: (_parent, { input }, { db, config }) =>
      signInCustomer(db, config, input),
    customerRefreshToken: (_parent, { input }, { db, config, logger }) =>
      refreshCustomerToken(db, config, logger, input),
    customerSignOut: (_parent, { input }, { db }) => signOutCustomer(db, input),
  },

  Order: {
    __resolveReference: async (reference, { loaders, caller }) =>
      visibleTo(
        caller,
        await loaders.orderById.load(reference.id),
        customerIdOfOrder,
      ),
    customer: async (order, _args, { loaders, caller }) =>
      order.customerId
        ? visibleTo(
            caller,
            await loaders.customerById.load(order.customerId),
            idOfCustomer,
          )
        : null,
    totalPrice: (order) => toMoney(order.totalAmount, order.currencyCode),
    lines: (order, _args, { loaders }) => loaders.linesByOrderId.load(order.id),
    createdAt: (order) => order.createdAt.toISOString(),
    updatedAt: (order) => order.updatedAt.toISOString(),
  },

  OrderLine: {
    // A line's price is always in its order's currency, so the order is
    // loaded for the code; the loader batches it with the other lines.
    unitPrice: async (line, _args, { loaders }) => {
      const order = await loaders.orderById.load(line.orderId);
      return toMoney(line.unitPriceAmount, order!.currencyCode);
    },
    variant: (line) => ({ id: line.variantId }),
  },

  Customer: {
    __resolveReference: async (reference, { loaders, caller }) =>
      visibleTo(
        caller,
        await loaders.customerById.load(reference.id),
        idOfCustomer,
      ),
    createdAt: (customer) => customer.createdAt.toISOString(),
    updatedAt: (customer) => customer.updatedAt.toISOString(),
    // Orders have UUIDv7 ids, which sort by creation time, so the id is
    // both the order and the cursor.
    // NOTE: one query per customer, not a DataLoader, because each page has
    // its own cursor. That suits `me`; a list of many customers with their
    // orders would cost one query each.
    orders: async (customer, args, { db, caller }) => {
      const { first, after } = parsePageArguments(args);
      if (!canSeeCustomerData(caller, customer.id)) {
        return toConnection<OrderRow>([], first, false, (order) => order.id);
      }
      if (after !== null && !isUuid(after)) {
        return toConnection<OrderRow>([], first, true, (order) => order.id);
      }
      const rows = await db
        .select()
        .from(tables.orders)
        .where(
          and(
            eq(tables.orders.customerId, customer.id),
            after !== null ? lt(tables.orders.id, after) : undefined,
          ),
        )
        .orderBy(desc(tables.orders.id))
        .limit(first + 1);
      return toConnection(rows, first, after !== null, (order) => order.id);
    },
  },
};
