import { and, eq, isNull } from 'drizzle-orm';
import {
  userError,
  UserErrorCode,
  type UserError,
} from '../../../platform/errors.js';
import { isUuid, uuidv7 } from '../../../platform/ids.js';
import type { SubgraphCaller } from '../../../platform/identity.js';
import { canSeeCustomerData } from '../access.js';
import type { Context } from '../context.js';
import * as tables from '../db/tables.js';
import type { CheckoutRow } from '../db/tables.js';
import { priceChosenShipping } from './shipping-check.js';
import {
  validateCheckoutFields,
  type CheckoutFieldsInput,
} from './validation.js';

export interface CheckoutResult {
  checkout: CheckoutRow | null;
  userErrors: UserError[];
}

/**
 * Reports whether `caller` may read and change `checkout`. Anyone with a
 * guest checkout's id may use it. A customer's checkout is open to that
 * customer, to staff and to services.
 */
export function canUseCheckout(
  caller: SubgraphCaller,
  checkout: CheckoutRow,
): boolean {
  return (
    checkout.customerId === null ||
    canSeeCustomerData(caller, checkout.customerId)
  );
}

/** Finds the checkout with `id`, or returns null when it does not exist or `caller` may not use it. */
export async function findCheckout(
  context: Pick<Context, 'db' | 'caller'>,
  id: string,
): Promise<CheckoutRow | null> {
  if (!isUuid(id)) return null;
  const [row] = await context.db
    .select()
    .from(tables.checkouts)
    .where(eq(tables.checkouts.id, id));
  return row && canUseCheckout(context.caller, row) ? row : null;
}

export function checkoutNotFound(id: string, field: string[]): UserError {
  return userError(
    field,
    `No checkout has id "${id}"; create one with checkoutCreate.`,
    UserErrorCode.NotFound,
  );
}

export function checkoutCompletedError(
  checkout: CheckoutRow,
  field: string[],
): UserError {
  return userError(
    field,
    `Checkout ${checkout.id} was completed at ${checkout.completedAt!.toISOString()} and cannot change; start a new checkout with checkoutCreate.`,
    UserErrorCode.CheckoutCompleted,
  );
}

/** Creates a checkout, owned by the caller when a customer is signed in. */
export async function createCheckout(
  context: Context,
  input: CheckoutFieldsInput & { lines: CheckoutFieldsInput['lines'] },
): Promise<CheckoutResult> {
  const { fields, userErrors } = validateCheckoutFields(input);
  if (userErrors.length > 0) return { checkout: null, userErrors };

  const { caller, db } = context;
  const customerId =
    caller.kind === 'customer' && caller.subject ? caller.subject : null;
  let email = fields.email ?? null;
  if (email === null && customerId !== null) {
    const customer = await context.loaders.customerById.load(customerId);
    email = customer?.email ?? null;
  }

  const now = new Date();
  const draft: CheckoutRow = {
    id: uuidv7(),
    customerId,
    email,
    lines: fields.lines ?? [],
    shippingAddress: fields.shippingAddress ?? null,
    shippingMethodCode: fields.shippingMethodCode ?? null,
    shippingMethodPriceAmount: null,
    orderId: null,
    completedAt: null,
    createdAt: now,
    updatedAt: now,
  };
  const shipping = await priceChosenShipping(context, draft, true);
  if (shipping.userErrors.length > 0) {
    return { checkout: null, userErrors: shipping.userErrors };
  }

  const [checkout] = await db
    .insert(tables.checkouts)
    .values({
      id: draft.id,
      customerId,
      email,
      lines: draft.lines,
      shippingAddress: draft.shippingAddress,
      shippingMethodCode: draft.shippingMethodCode,
      shippingMethodPriceAmount: shipping.priceAmount,
    })
    .returning();
  return { checkout: checkout!, userErrors: [] };
}

/** Updates the fields present in `input` on a checkout that is not completed. */
export async function updateCheckout(
  context: Context,
  input: CheckoutFieldsInput & { id: string },
): Promise<CheckoutResult> {
  const existing = await findCheckout(context, input.id);
  if (!existing) {
    return {
      checkout: null,
      userErrors: [checkoutNotFound(input.id, ['input', 'id'])],
    };
  }
  if (existing.completedAt) {
    return {
      checkout: null,
      userErrors: [checkoutCompletedError(existing, ['input', 'id'])],
    };
  }

  const { fields, userErrors } = validateCheckoutFields(input);
  if (userErrors.length > 0) return { checkout: null, userErrors };

  const shippingMethodPriceAmount = await repriceShipping(
    context,
    existing,
    fields,
  );
  if (
    shippingMethodPriceAmount !== null &&
    typeof shippingMethodPriceAmount === 'object'
  ) {
    return { checkout: null, userErrors: shippingMethodPriceAmount.userErrors };
  }

  // The update matches only a checkout that is still open. A completion
  // that commits first wins, and this update returns a completed error.
  const [checkout] = await context.db
    .update(tables.checkouts)
    .set({ ...fields, shippingMethodPriceAmount, updatedAt: new Date() })
    .where(
      and(
        eq(tables.checkouts.id, existing.id),
        isNull(tables.checkouts.completedAt),
      ),
    )
    .returning();

  if (!checkout) {
    const completed = (await findCheckout(context, existing.id))!;
    return {
      checkout: null,
      userErrors: [checkoutCompletedError(completed, ['input', 'id'])],
    };
  }
  return { checkout, userErrors: [] };
}

/**
 * Computes the shipping method price to store after an update. A newly
 * chosen code must be on offer. A kept code is priced again when the lines
 * or the address change, because the update's result shows the new price.
 * Returns user errors instead when the code is not on offer.
 */
async function repriceShipping(
  context: Context,
  existing: CheckoutRow,
  fields: ReturnType<typeof validateCheckoutFields>['fields'],
): Promise<number | null | { userErrors: UserError[] }> {
  const updated: CheckoutRow = {
    ...existing,
    ...(fields.lines !== undefined ? { lines: fields.lines } : {}),
    ...(fields.shippingAddress !== undefined
      ? { shippingAddress: fields.shippingAddress }
      : {}),
    ...(fields.shippingMethodCode !== undefined
      ? { shippingMethodCode: fields.shippingMethodCode }
      : {}),
  };
  const chosen =
    fields.shippingMethodCode !== undefined &&
    fields.shippingMethodCode !== null;
  const shippingChanged =
    fields.lines !== undefined || fields.shippingAddress !== undefined;
  if (!chosen && !shippingChanged) return existing.shippingMethodPriceAmount;
  const shipping = await priceChosenShipping(context, updated, chosen);
  if (shipping.userErrors.length > 0) {
    return { userErrors: shipping.userErrors };
  }
  return shipping.priceAmount;
}
