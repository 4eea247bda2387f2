import { ErrorCode } from '../../platform/errors.js';
import type { CallerIdentity } from '../caller.js';
import type { Policy } from './policies.js';

/**
 * The authorization directives on one field or type of the supergraph. In
 * `scopes` and `policies` the outer list contains alternatives and each
 * inner list must be met in full, so `[["a", "b"], ["c"]]` means (a AND b)
 * OR c.
 */
export interface Requirement {
  /** `@authenticated`. */
  authenticated?: true;
  /** `@requiresScopes(scopes:)`. */
  scopes?: string[][];
  /** `@policy(policies:)`. */
  policies?: string[][];
}

/** Requirements of a supergraph, keyed by schema coordinate. */
export interface SupergraphRequirements {
  /** Keyed by `Type.field`. */
  fields: Record<string, Requirement>;
  /** Keyed by type name; they apply to every field that returns the type. */
  types: Record<string, Requirement>;
}

export const NO_REQUIREMENTS: SupergraphRequirements = Object.freeze({
  fields: {},
  types: {},
});

export function hasRequirements(requirements: SupergraphRequirements) {
  return (
    Object.keys(requirements.fields).length > 0 ||
    Object.keys(requirements.types).length > 0
  );
}

/** Reason that a caller may not read a field or type, as a GraphQL error carries it. */
export interface AccessDenial {
  code: ErrorCode.Unauthenticated | ErrorCode.Forbidden;
  message: string;
}

/**
 * Checks `requirement`, declared on `coordinate`, against `caller`, and
 * returns undefined when the caller may read it. Any requirement denies an
 * anonymous caller with UNAUTHENTICATED, because scopes and policies are
 * only granted to an identity. Other callers are denied with FORBIDDEN.
 */
export function checkRequirement(
  coordinate: string,
  requirement: Requirement,
  caller: CallerIdentity,
  policies: ReadonlyMap<string, Policy>,
): AccessDenial | undefined {
  if (caller.kind === 'anonymous') {
    return {
      code: ErrorCode.Unauthenticated,
      message: `${coordinate} requires authentication. Send the request with credentials.`,
    };
  }

  const { scopes, policies: policyNames } = requirement;
  if (scopes && !scopes.some((all) => all.every((s) => hasScope(caller, s)))) {
    return {
      code: ErrorCode.Forbidden,
      message: `${coordinate} requires ${describeAlternatives('scope', scopes)}.`,
    };
  }
  const meetsPolicy = (name: string) => policies.get(name)?.(caller) === true;
  if (policyNames && !policyNames.some((all) => all.every(meetsPolicy))) {
    return {
      code: ErrorCode.Forbidden,
      message: `${coordinate} requires ${describeAlternatives('policy', policyNames)}.`,
    };
  }
  return undefined;
}

function hasScope(caller: CallerIdentity, scope: string): boolean {
  return caller.scopes.includes(scope);
}

/**
 * Describes alternatives such as `[["a", "b"], ["c"]]` as
 * "the scopes a and b, or the scope c".
 */
function describeAlternatives(
  noun: 'scope' | 'policy',
  alternatives: string[][],
): string {
  const plural = noun === 'scope' ? 'scopes' : 'policies';
  return alternatives
    .map(
      (all) => `the ${all.length === 1 ? noun : plural} ${all.join(' and ')}`,
    )
    .join(', or ');
}
