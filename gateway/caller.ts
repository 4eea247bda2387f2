/** Kinds of callers the gateway serves. */
export type CallerKind = 'anonymous' | 'customer' | 'staff' | 'partner';

/**
 * The verified identity of one request, set by the gateway before anything
 * is planned. Authorization, rate limits and safelists read it; subgraphs
 * receive it signed.
 */
export interface CallerIdentity {
  kind: CallerKind;
  /** Customer id, staff account id or partner key id; null when anonymous. */
  subject: string | null;
  /** Scopes such as `read_orders`; a staff member's come from their role. */
  scopes: string[];
  /** Staff roles such as `admin` or `support`; empty for other callers. */
  roles: string[];
}

export const ANONYMOUS_CALLER: CallerIdentity = Object.freeze({
  kind: 'anonymous',
  subject: null,
  scopes: [],
  roles: [],
}) as CallerIdentity;
