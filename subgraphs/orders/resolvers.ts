import { and, desc, eq, lt } from 'drizzle-orm';
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
import { orderAdminResolvers } from './admin/resolvers.js';
import { checkoutResolvers } from './checkout/resolvers.js';
import { fulfillmentResolvers } from './fulfillment-resolvers.js';
import { ledgerResolvers } from './ledger/resolvers.js';
import { orderLookupResolvers } from './order-lookup.js';
import { marketplaceOrderResolvers } from './marketplace-orders.js';
import { orderSubscriptionResolvers } from './subscription-resolvers.js';

const customerIdOfOrder = (order: OrderRow) => order.customerId;
const idOfCustomer = (customer: CustomerRow) => customer.id;

const accountResolvers: Resolvers = {
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

/**
 * The resolvers of every part of the orders service, merged type by type;
 * each part owns different fields.
 */
export const resolvers: Resolvers = mergeResolvers([
  accountResolvers,
  checkoutResolvers,
  orderAdminResolvers,
  ledgerResolvers,
  fulfillmentResolvers,
  marketplaceOrderResolvers,
  orderLookupResolvers,
  orderSubscriptionResolvers,
]);

function mergeResolvers(parts: Resolvers[]): Resolvers {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const part of parts) {
    for (const [typeName, fields] of Object.entries(part)) {
      const target = (merged[typeName] ??= {});
      for (const [fieldName, resolver] of Object.entries(fields as object)) {
        if (fieldName in target) {
          throw new Error(`${typeName}.${fieldName} is resolved twice`);
        }
        target[fieldName] = resolver;
      }
    }
  }
  return merged as Resolvers;
}
