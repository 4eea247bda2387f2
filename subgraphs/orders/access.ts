import type { SubgraphCaller } from '../../platform/identity.js';

/**
 * Returns whether `caller` may see the data of the customer `customerId`
 * (null for a guest order). Every resolver that returns a customer or an
 * order goes through this check.
 *
 * A customer sees only their own records; anything else reads as not
 * found, so a customer cannot tell whether another customer's id exists.
 * Anonymous callers see nothing. Staff, partners and services see every
 * record: the gateway's `@policy` and `@requiresScopes` requirements
 * decide which fields they may select, and services sign their own
 * identity with a key the subgraphs trust.
 */
export function canSeeCustomerData(
  caller: SubgraphCaller,
  customerId: string | null,
): boolean {
  switch (caller.kind) {
    case 'customer':
      return customerId !== null && customerId === caller.subject;
    case 'anonymous':
      return false;
    default:
      return true;
  }
}

/** Returns `row` when `caller` may see it, else null, as if it did not exist. */
export function visibleTo<TRow>(
  caller: SubgraphCaller,
  row: TRow | null | undefined,
  customerIdOf: (row: TRow) => string | null,
): TRow | null {
  if (!row) return null;
  return canSeeCustomerData(caller, customerIdOf(row)) ? row : null;
}
