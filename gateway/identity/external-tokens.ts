import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Config } from '../../platform/config.js';
import type { CallerIdentity } from '../caller.js';
import { isStaffRole, scopesOfRoles } from './scopes.js';

/** Time limit of one JWKS request, in milliseconds. */
const JWKS_TIMEOUT_MS = 5_000;
/** Time that fetched keys are used before the JWKS is fetched again. */
const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
/**
 * Minimum time between two fetches caused by tokens with an unknown `kid`,
 * so forged tokens cannot make the gateway hammer the identity provider.
 */
const JWKS_COOLDOWN_MS = 30_000;

const CLOCK_TOLERANCE_SECONDS = 5;

export interface ExternalTokenVerifier {
  issuer: string;
  verify(token: string): Promise<CallerIdentity>;
}

/**
 * Creates the verifier of staff access tokens from an external identity
 * provider, or returns undefined when STAFF_IDP_JWKS_URL is not set.
 * Tokens must be RS256-signed by a key in the provider's JWKS and carry
 * the configured issuer and audience. The staff roles come from the
 * STAFF_IDP_ROLES_CLAIM claim (an array, or a space-separated string);
 * roles other than admin and support are ignored.
 */
export function createExternalTokenVerifier(
  config: Config,
): ExternalTokenVerifier | undefined {
  const jwksUrl = config.STAFF_IDP_JWKS_URL;
  const issuer = config.STAFF_IDP_ISSUER;
  const audience = config.STAFF_IDP_AUDIENCE;
  if (!jwksUrl || !issuer || !audience) return undefined;

  const jwks = createRemoteJWKSet(new URL(jwksUrl), {
    timeoutDuration: JWKS_TIMEOUT_MS,
    cooldownDuration: JWKS_COOLDOWN_MS,
    cacheMaxAge: JWKS_CACHE_MAX_AGE_MS,
  });
  const rolesClaim = config.STAFF_IDP_ROLES_CLAIM;

  return {
    issuer,
    async verify(token) {
      const { payload } = await jwtVerify(token, jwks, {
        issuer,
        audience,
        algorithms: ['RS256'],
        requiredClaims: ['sub', 'exp'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      });
      const claim = payload[rolesClaim];
      const named =
        typeof claim === 'string'
          ? claim.split(' ')
          : Array.isArray(claim)
            ? claim
            : [];
      const roles = named.filter(isStaffRole);
      return {
        kind: 'staff',
        subject: payload.sub!,
        roles,
        scopes: scopesOfRoles(roles),
      };
    },
  };
}
