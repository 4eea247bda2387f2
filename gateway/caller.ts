import type { CallerIdentity } from '../platform/identity.js';

// The caller types live in platform/identity.ts because subgraphs verify the
// same identity that the gateway signs.
export type { CallerIdentity, CallerKind } from '../platform/identity.js';

export const ANONYMOUS_CALLER: CallerIdentity = Object.freeze({
  kind: 'anonymous',
  subject: null,
  scopes: [],
  roles: [],
}) as CallerIdentity;
