/**
 * Guest order lookup (`Query.orderLookup`) and the order access grant
 * (`Order.accessGrant`) that lets the shipments service show the order's
 * shipments to any caller that can read the order here.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { signOrderAccessGrant } from '../../platform/order-access-grants.js';
import {
  beginSignInAttempt,
  recordSignInFailure,
  recordSignInSuccess,
  signInThrottleSettings,
} from '../../platform/sign-in-throttle.js';
import type { Context } from './context.js';
import * as tables from './db/tables.js';
import type { OrderRow } from './db/tables.js';
import type { Resolvers } from './generated/resolvers.js';
import { MAX_EMAIL_LENGTH } from './checkout/validation.js';

/**
 * Returns the throttle key of lookups of order `number`. Lookups share the
 * sign-in attempts table (platform/sign-in-throttle.ts), whose keys are
 * SHA-256 hex digests. The `order-lookup:` prefix keeps them apart from
 * the `sign-in:` keys of email addresses.
 */
export function orderLookupThrottleKey(number: number): string {
  return createHash('sha256').update(`order-lookup:${number}`).digest('hex');
}

function normalizedEmailDigest(email: string): Buffer {
  return createHash('sha256').update(email.trim().toLowerCase()).digest();
}

/**
 * Returns the order with `number` when `email` matches its contact email,
 * trimmed and compared case-insensitively; null otherwise, for an unknown
 * number too. Every lookup of a number counts as a sign-in attempt of that
 * number, and SIGN_IN_MAX_FAILED_ATTEMPTS wrong emails within
 * SIGN_IN_WINDOW_SECONDS make every lookup of it return null for
 * SIGN_IN_LOCKOUT_SECONDS, so an order's email cannot be guessed one
 * address at a time. A match clears the count.
 */
export async function lookUpOrder(
  context: Pick<Context, 'db' | 'config'>,
  number: number,
  email: string,
): Promise<OrderRow | null> {
  const { db, config } = context;
  const trimmed = email.trim();
  if (
    !Number.isSafeInteger(number) ||
    number < 1 ||
    trimmed === '' ||
    trimmed.length > MAX_EMAIL_LENGTH
  ) {
    return null;
  }
  const settings = signInThrottleSettings(config);
  const key = orderLookupThrottleKey(number);
  const attempt = await beginSignInAttempt(
    db,
    tables.customerSignInAttempts,
    key,
    settings,
  );
  if (!attempt.allowed) return null;
  const [order] = await db
    .select()
    .from(tables.orders)
    .where(eq(tables.orders.number, number));
  // Digests of equal length compare in constant time, so the time taken
  // does not reveal how much of the email matched.
  const matches =
    order !== undefined &&
    timingSafeEqual(
      normalizedEmailDigest(order.email),
      normalizedEmailDigest(trimmed),
    );
  if (!matches) {
    await recordSignInFailure(db, tables.customerSignInAttempts, key, settings);
    return null;
  }
  await recordSignInSuccess(db, tables.customerSignInAttempts, key);
  return order;
}

export const orderLookupResolvers: Resolvers = {
  Query: {
    orderLookup: (_parent, { number, email }, context) =>
      lookUpOrder(context, number, email),
  },

  Order: {
    // Every path that returns an order to a caller passed the orders
    // service's visibility check for that caller (access.ts, or the email
    // of orderLookup), so reaching this field is the proof the grant
    // carries. Staff, partners and services see every shipment anyway and
    // get no grant.
    accessGrant: (order, _args, { caller, config }) =>
      caller.kind === 'anonymous' || caller.kind === 'customer'
        ? signOrderAccessGrant(config, order.id)
        : null,
  },
};
