/**
 * Every scope a caller can hold. Field authorization (`@requiresScopes`)
 * names these. A partner key has a chosen subset, and a staff member has
 * the scopes of their role.
 */
export const SCOPES = [
  'read_products',
  'write_products',
  'read_inventory',
  'write_inventory',
  'read_orders',
  'write_orders',
  'read_customers',
  'read_shipments',
  'write_shipments',
  'read_listings',
  'manage_listings',
  'manage_partner_keys',
] as const;
export type Scope = (typeof SCOPES)[number];

export const STAFF_ROLES = ['admin', 'support'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];

/** Scopes a partner key may hold: every scope but managing keys. */
export const PARTNER_SCOPES: readonly Scope[] = SCOPES.filter(
  (scope) => scope !== 'manage_partner_keys',
);

/** Scopes of each staff role. `support` reads everything and writes nothing. */
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
