import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { IdentityKey } from '../../platform/identity-keys.js';
import type { CallerIdentity } from '../caller.js';
import { CredentialError } from './errors.js';
import { scopesOfRoles, type StaffRole } from './scopes.js';

/** `iss` of the staff access tokens that the gateway issues. */
export const STAFF_TOKEN_ISSUER = 'commerce-gateway';
/** `aud` of those tokens: the graph's public API, not the subgraphs. */
export const STAFF_TOKEN_AUDIENCE = 'commerce-graph';
/** JWS `typ` of OAuth 2.0 access tokens in JWT form (RFC 9068). */
const ACCESS_TOKEN_TYPE = 'at+jwt';

const CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Signs a staff access token with the gateway's key. It carries the role,
 * not the scopes: scopes are derived from the role when the token is
 * verified, so a change of a role's scopes applies to tokens already out.
 */
export async function issueStaffAccessToken(
  signingKey: IdentityKey,
  account: { id: string; role: StaffRole },
  ttlSeconds: number,
): Promise<{ accessToken: string; expiresIn: number }> {
  const accessToken = await new SignJWT({ roles: [account.role] })
    .setProtectedHeader({
      alg: signingKey.algorithm,
      typ: ACCESS_TOKEN_TYPE,
      kid: signingKey.keyId,
    })
    .setIssuer(STAFF_TOKEN_ISSUER)
    .setAudience(STAFF_TOKEN_AUDIENCE)
    .setSubject(account.id)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(signingKey.key);
  return { accessToken, expiresIn: ttlSeconds };
}

/**
 * Verifies a staff access token issued by this gateway, or one of its
 * replicas, against `keys`. Throws jose's errors for an invalid token.
 */
export async function verifyStaffAccessToken(
  keys: IdentityKey[],
  token: string,
): Promise<CallerIdentity> {
  const { payload } = await jwtVerify(
    token,
    async (header) => {
      const key = keys.find(
        (candidate) =>
          candidate.keyId === header.kid && candidate.algorithm === header.alg,
      );
      if (!key) {
        throw new CredentialError(
          'The access token is signed by an unknown key.',
        );
      }
      return key.key;
    },
    {
      typ: ACCESS_TOKEN_TYPE,
      issuer: STAFF_TOKEN_ISSUER,
      audience: STAFF_TOKEN_AUDIENCE,
      algorithms: ['EdDSA', 'ES256'],
      requiredClaims: ['sub', 'exp'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    },
  );
  const roles = Array.isArray(payload.roles)
    ? payload.roles.filter((role): role is string => typeof role === 'string')
    : [];
  return {
    kind: 'staff',
    subject: payload.sub!,
    roles,
    scopes: scopesOfRoles(roles),
  };
}
