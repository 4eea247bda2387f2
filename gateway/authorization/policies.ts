import type { CallerIdentity } from '../caller.js';

/** A named predicate over the caller that `@policy` refers to. */
export type Policy = (caller: CallerIdentity) => boolean;

/**
 * Allows customers and callers that hold `scope`. The gateway does not know
 * whose record a customer requests, so the owning subgraph must still limit
 * a customer to their own orders, profile and shipments.
 */
function customerOrScope(scope: string): Policy {
  return (caller) =>
    caller.kind === 'customer' || caller.scopes.includes(scope);
}

/**
 * Every policy that subgraph schemas may name in `@policy`. A supergraph
 * that names a policy missing here is rejected when it is loaded.
 */
export const POLICIES: ReadonlyMap<string, Policy> = new Map<string, Policy>([
  ['staff', (caller) => caller.kind === 'staff'],
  [
    'staff_admin',
    (caller) => caller.kind === 'staff' && caller.roles.includes('admin'),
  ],
  ['customer_or_read_orders', customerOrScope('read_orders')],
  ['customer_or_read_customers', customerOrScope('read_customers')],
  ['customer_or_read_shipments', customerOrScope('read_shipments')],
]);
