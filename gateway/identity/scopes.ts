import { SCOPES, type Scope } from '../../platform/permissions.js';

// The scope list and the role table live in platform/permissions.ts, so
// the gateway's scopes and the subgraphs' permission checks share them.
export {
  isStaffRole,
  ROLE_SCOPES,
  SCOPES,
  scopesOfRoles,
  STAFF_ROLES,
  type Scope,
  type StaffRole,
} from '../../platform/permissions.js';

/** Scopes a partner key may hold: every scope but managing keys. */
export const PARTNER_SCOPES: readonly Scope[] = SCOPES.filter(
  (scope) => scope !== 'manage_partner_keys',
);
