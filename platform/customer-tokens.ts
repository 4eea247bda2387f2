import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { exportJWK, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import { isProduction, type Config } from './config.js';
import type { CallerIdentity } from './identity.js';
import {
  loadOrCreateDevelopmentKeys,
  parsePrivateKey,
  parsePublicKeys,
  publicKeyOf,
  readDevelopmentKeys,
  type IdentityKey,
} from './identity-keys.js';

/** `iss` of customer access tokens, which the orders service signs. */
export const CUSTOMER_TOKEN_ISSUER = 'commerce-orders';
/** `aud` of customer access tokens: the graph's public API. */
export const CUSTOMER_TOKEN_AUDIENCE = 'commerce-graph';
/** JWS `typ` of OAuth 2.0 access tokens in JWT form (RFC 9068). */
const ACCESS_TOKEN_TYPE = 'at+jwt';

/** Name of the development key pair file of customer tokens under DATA_DIR. */
export const CUSTOMER_DEVELOPMENT_KEYS_FILE = 'customer-token-keys.json';

const CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Returns the key that the orders service signs customer access tokens
 * with: CUSTOMER_TOKEN_PRIVATE_KEY, or in development mode the key pair in
 * `DATA_DIR/customer-token-keys.json`, created on first use. Production
 * mode rejects a missing key and the development pair.
 */
export async function resolveCustomerTokenSigningKey(
  config: Config,
): Promise<{ signingKey: IdentityKey; source: 'configured' | 'development' }> {
  const text = config.CUSTOMER_TOKEN_PRIVATE_KEY;
  if (!text) {
    if (isProduction(config)) {
      throw new Error(
        'CUSTOMER_TOKEN_PRIVATE_KEY is required by the orders service in production mode; see docs/identity.md for how to generate the key.',
      );
    }
    const development = await loadOrCreateDevelopmentKeys(
      config.DATA_DIR,
      CUSTOMER_DEVELOPMENT_KEYS_FILE,
    );
    return {
      signingKey: await parsePrivateKey(
        development.privateKey,
        'CUSTOMER_TOKEN_PRIVATE_KEY',
      ),
      source: 'development',
    };
  }
  const signingKey = await parsePrivateKey(text, 'CUSTOMER_TOKEN_PRIVATE_KEY');
  if (isProduction(config)) {
    const file = path.resolve(config.DATA_DIR, CUSTOMER_DEVELOPMENT_KEYS_FILE);
    const development = await readDevelopmentKeys(file).catch(() => undefined);
    if (development) {
      const [developmentKey] = await parsePublicKeys(development.publicKey);
      if (developmentKey!.keyId === signingKey.keyId) {
        throw new Error(
          `CUSTOMER_TOKEN_PRIVATE_KEY is the development key pair from ${file}; production mode needs a key pair of its own.`,
        );
      }
    }
  }
  return { signingKey, source: 'configured' };
}

/** Returns the public half of `signingKey` as a JWK Set, for `/.well-known/jwks.json`. */
export async function customerTokenJwks(
  signingKey: IdentityKey,
): Promise<{ keys: Record<string, unknown>[] }> {
  const publicKey = await publicKeyOf(signingKey);
  const jwk = await exportJWK(publicKey.key);
  return {
    keys: [
      { ...jwk, kid: signingKey.keyId, alg: signingKey.algorithm, use: 'sig' },
    ],
  };
}

/** Signs a customer access token: `sub` is the customer id. */
export async function signCustomerAccessToken(
  signingKey: IdentityKey,
  customerId: string,
  ttlSeconds: number,
): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({
      alg: signingKey.algorithm,
      typ: ACCESS_TOKEN_TYPE,
      kid: signingKey.keyId,
    })
    .setIssuer(CUSTOMER_TOKEN_ISSUER)
    .setAudience(CUSTOMER_TOKEN_AUDIENCE)
    .setSubject(customerId)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(signingKey.key);
}

/**
 * Verifies a customer access token against `keys` (a key lookup such as
 * jose's `createRemoteJWKSet`). Throws jose's errors for an invalid token.
 */
export async function verifyCustomerAccessToken(
  keys: JWTVerifyGetKey,
  token: string,
): Promise<CallerIdentity> {
  const { payload } = await jwtVerify(token, keys, {
    typ: ACCESS_TOKEN_TYPE,
    issuer: CUSTOMER_TOKEN_ISSUER,
    audience: CUSTOMER_TOKEN_AUDIENCE,
    algorithms: ['EdDSA', 'ES256'],
    requiredClaims: ['sub', 'exp'],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
  });
  return { kind: 'customer', subject: payload.sub!, scopes: [], roles: [] };
}
