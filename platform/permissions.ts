import { GraphQLError } from 'graphql';
import { ErrorCode } from './errors.js';
import type { SubgraphCaller } from './identity.js';

/**
 * Every permission a caller can hold. The gateway calls them scopes: field
 * authorization (`@requiresScopes`) names them, a partner key has a chosen
 * subset, and a staff member has the permissions of their roles. Subgraph
 * resolvers check the same names with `requirePermission`.
 */
export const SCOPES = [
  'read_products',
  'write_products',
  'read_inventory',
  'write_inventory',
  'read_orders',
  'write_orders',
  'read_customers',
  'read_accounting',
  'read_shipments',
  'write_shipments',
  'read_listings',
  'manage_listings',
  'manage_partner_keys',
] as const;
export type Scope = (typeof SCOPES)[number];
/** A scope checked inside a subgraph; the two names are one set of values. */
export type Permission = Scope;

export const STAFF_ROLES = ['admin', 'support'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];

/**
 * Permissions of each staff role. The gateway puts them into a staff
 * member's scopes, and subgraphs check a staff caller's roles against
 * them, so both enforce this one table. `support` reads everything and
 * writes nothing.
 */
export const ROLE_SCOPES: Record<StaffRole, readonly Scope[]> = {
  admin: SCOPES,
  support: SCOPES.filter((scope) => scope.startsWith('read_')),
};

export function isStaffRole(value: unknown): value is StaffRole {
  return (STAFF_ROLES as readonly unknown[]).includes(value);
}

/** Returns the scopes of `roles`, each once, in SCOPES order; unknown roles add none. */
export function scopesOfRoles(roles: readonly string[]): Scope[] {
  const granted = new Set<Scope>();
  for (const role of roles) {
    if (isStaffRole(role)) {
      for (const scope of ROLE_SCOPES[role]) granted.add(scope);
    }
  }
  return SCOPES.filter((scope) => granted.has(scope));
}

/**
 * Returns whether `caller` holds `permission`. Staff hold the permissions
 * of their roles (the signed `scopes` claim is not consulted for them),
 * partners and services the scopes in their identity. Customers and
 * anonymous callers hold none.
 */
export function hasPermission(
  caller: SubgraphCaller,
  permission: Permission,
): boolean {
  switch (caller.kind) {
    case 'staff':
      return caller.roles.some(
        (role) => isStaffRole(role) && ROLE_SCOPES[role].includes(permission),
      );
    case 'partner':
    case 'service':
      return caller.scopes.includes(permission);
    case 'customer':
    case 'anonymous':
      return false;
  }
}

/**
 * Throws unless `caller` holds `permission`, or one of `permission` when
 * it is a list of alternatives. Every staff mutation and every staff-only
 * field of a subgraph calls it first, because a request that reaches a
 * subgraph directly has passed no gateway check.
 *
 * The error has `extensions.code` UNAUTHENTICATED for an anonymous caller
 * and FORBIDDEN otherwise, and `extensions.requiredPermissions` lists the
 * permissions of which one would do.
 */
export function requirePermission(
  caller: SubgraphCaller,
  permission: Permission | readonly Permission[],
): void {
  const alternatives: readonly Permission[] =
    typeof permission === 'string' ? [permission] : permission;
  if (alternatives.some((candidate) => hasPermission(caller, candidate))) {
    return;
  }
  const needed = alternatives.join(' or ');
  if (caller.kind === 'anonymous') {
    throw new GraphQLError(
      `This operation requires the permission ${needed}. Send the request with staff or partner credentials.`,
      {
        extensions: {
          code: ErrorCode.Unauthenticated,
          requiredPermissions: alternatives,
        },
      },
    );
  }
  throw new GraphQLError(
    `This operation requires the permission ${needed}, which ${describeHolders(caller, alternatives)}.`,
    {
      extensions: {
        code: ErrorCode.Forbidden,
        requiredPermissions: alternatives,
      },
    },
  );
}

/** Names who would hold one of `permissions`, against what `caller` has. */
function describeHolders(
  caller: SubgraphCaller,
  permissions: readonly Permission[],
): string {
  const grantingRoles = STAFF_ROLES.filter((role) =>
    permissions.some((permission) => ROLE_SCOPES[role].includes(permission)),
  );
  const roles =
    grantingRoles.length === 0
      ? 'no staff role grants'
      : `the staff role ${grantingRoles.join(' or ')} grants`;
  switch (caller.kind) {
    case 'staff':
      return `${roles}; the caller's roles (${caller.roles.join(', ') || 'none'}) do not`;
    case 'partner':
      return `the partner key does not have; ask for a key with that scope`;
    case 'service':
      return `the service identity of ${caller.subject} does not have`;
    default:
      return `${roles}; customers have no staff permissions`;
  }
}
