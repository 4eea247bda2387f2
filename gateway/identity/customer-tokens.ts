import { createLocalJWKSet, createRemoteJWKSet, exportJWK } from 'jose';
import type { Config } from '../../platform/config.js';
import {
  CUSTOMER_TOKEN_ISSUER,
  verifyCustomerAccessToken,
} from '../../platform/customer-tokens.js';
import { parsePublicKeys } from '../../platform/identity-keys.js';
import type { CallerIdentity } from '../caller.js';

/** Time limit of one JWKS request, in milliseconds. */
const JWKS_TIMEOUT_MS = 5_000;
/** Time that fetched keys are used before the JWKS is fetched again. */
const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
/**
 * Minimum time between two fetches caused by tokens with an unknown `kid`,
 * so forged tokens cannot make the gateway flood the orders service.
 */
const JWKS_COOLDOWN_MS = 30_000;

export interface CustomerTokenVerifier {
  issuer: string;
  /** `configured` for CUSTOMER_TOKEN_PUBLIC_KEY, else the JWKS URL. */
  keySource: string;
  verify(token: string): Promise<CallerIdentity>;
}

/**
 * Creates the verifier of customer access tokens, which the orders service
 * signs. The keys are CUSTOMER_TOKEN_PUBLIC_KEY when it is set, or else the
 * JWK Set at CUSTOMER_TOKEN_JWKS_URL, or else `/.well-known/jwks.json` on
 * the orders service's origin (`ordersUrl`). The JWK Set is fetched on
 * first use, so the gateway starts while orders is down.
 */
export async function createCustomerTokenVerifier(
  config: Config,
  ordersUrl: string,
): Promise<CustomerTokenVerifier> {
  if (config.CUSTOMER_TOKEN_PUBLIC_KEY) {
    const keys = await parsePublicKeys(
      config.CUSTOMER_TOKEN_PUBLIC_KEY,
      'CUSTOMER_TOKEN_PUBLIC_KEY',
    );
    const jwks = createLocalJWKSet({
      keys: await Promise.all(
        keys.map(async (key) => ({
          ...(await exportJWK(key.key)),
          kid: key.keyId,
          alg: key.algorithm,
        })),
      ),
    });
    return {
      issuer: CUSTOMER_TOKEN_ISSUER,
      keySource: 'configured',
      verify: (token) => verifyCustomerAccessToken(jwks, token),
    };
  }
  const jwksUrl =
    config.CUSTOMER_TOKEN_JWKS_URL ??
    new URL('/.well-known/jwks.json', ordersUrl).toString();
  const jwks = createRemoteJWKSet(new URL(jwksUrl), {
    timeoutDuration: JWKS_TIMEOUT_MS,
    cooldownDuration: JWKS_COOLDOWN_MS,
    cacheMaxAge: JWKS_CACHE_MAX_AGE_MS,
  });
  return {
    issuer: CUSTOMER_TOKEN_ISSUER,
    keySource: jwksUrl,
    verify: (token) => verifyCustomerAccessToken(jwks, token),
  };
}
