/**
 * Order access grants: short-lived tokens with which the orders service
 * tells the shipments service that the caller of one request may read
 * one order. Orders issues one as the @inaccessible field
 * `Order.accessGrant` only for an order that passed its own visibility
 * check for that caller (an own order, or a guest lookup whose email
 * matched). The gateway passes it to shipments through
 * `@requires(fields: "accessGrant")`, and clients never see it.
 *
 * A grant is a JWT signed with the service identity key, with its own
 * `typ`, issuer and audience, so an identity token never passes as a grant
 * and a grant never passes as an identity.
 */

import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Config } from './config.js';
import { resolveIdentityKeys, type IdentityKey } from './identity-keys.js';

export const ORDER_GRANT_TOKEN_TYPE = 'commerce-order-grant+jwt';
export const ORDER_GRANT_ISSUER = 'commerce-graph/orders';
export const ORDER_GRANT_AUDIENCE = 'commerce-graph/shipments';

/**
 * Lifetime of a grant in seconds. The gateway uses a grant within the
 * request that fetched it, so one minute covers the slowest request
 * SUBGRAPH_TIMEOUT_MS allows by default.
 */
export const ORDER_GRANT_TTL_SECONDS = 60;

/** Clock difference between hosts that verification tolerates, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 5;

/** Raised when a grant is malformed, forged, expired or for another order. */
export class OrderGrantError extends Error {
  override readonly name = 'OrderGrantError';
}

const signingKeys = new WeakMap<Config, Promise<IdentityKey>>();
const verificationKeys = new WeakMap<Config, Promise<IdentityKey[]>>();

function signingKeyOf(config: Config): Promise<IdentityKey> {
  let key = signingKeys.get(config);
  if (!key) {
    key = resolveIdentityKeys(config, 'sign').then((keys) => keys.signingKey!);
    signingKeys.set(config, key);
    key.catch(() => signingKeys.delete(config));
  }
  return key;
}

function verificationKeysOf(config: Config): Promise<IdentityKey[]> {
  let keys = verificationKeys.get(config);
  if (!keys) {
    keys = resolveIdentityKeys(config, 'verify').then(
      (resolved) => resolved.verificationKeys,
    );
    verificationKeys.set(config, keys);
    keys.catch(() => verificationKeys.delete(config));
  }
  return keys;
}

/** Signs a grant to read order `orderId`, valid ORDER_GRANT_TTL_SECONDS. */
export async function signOrderAccessGrant(
  config: Config,
  orderId: string,
): Promise<string> {
  const signingKey = await signingKeyOf(config);
  return new SignJWT({})
    .setProtectedHeader({
      alg: signingKey.algorithm,
      typ: ORDER_GRANT_TOKEN_TYPE,
      kid: signingKey.keyId,
    })
    .setIssuer(ORDER_GRANT_ISSUER)
    .setAudience(ORDER_GRANT_AUDIENCE)
    .setSubject(orderId)
    .setIssuedAt()
    .setExpirationTime(`${ORDER_GRANT_TTL_SECONDS}s`)
    .sign(signingKey.key);
}

/**
 * Verifies that `grant` is a valid grant for order `orderId`, signed by a
 * key of the configuration and not expired. Throws OrderGrantError with
 * the reason otherwise; the reason never contains the token.
 */
export async function verifyOrderAccessGrant(
  config: Config,
  grant: string,
  orderId: string,
): Promise<void> {
  const keys = await verificationKeysOf(config);
  let subject: string | undefined;
  let lifetime: number;
  try {
    const { payload } = await jwtVerify(
      grant,
      async (header) => {
        const key = keys.find(
          (candidate) =>
            candidate.keyId === header.kid &&
            candidate.algorithm === header.alg,
        );
        if (!key) throw new OrderGrantError('unknown signing key');
        return key.key;
      },
      {
        typ: ORDER_GRANT_TOKEN_TYPE,
        issuer: ORDER_GRANT_ISSUER,
        audience: ORDER_GRANT_AUDIENCE,
        algorithms: ['EdDSA', 'ES256'],
        requiredClaims: ['exp', 'iat', 'sub'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        maxTokenAge: ORDER_GRANT_TTL_SECONDS + CLOCK_TOLERANCE_SECONDS,
      },
    );
    subject = payload.sub;
    lifetime = payload.exp! - payload.iat!;
  } catch (error) {
    if (error instanceof OrderGrantError) throw error;
    if (error instanceof joseErrors.JWTExpired) {
      throw new OrderGrantError('expired');
    }
    if (error instanceof joseErrors.JOSEError) {
      throw new OrderGrantError(error.code);
    }
    throw error;
  }
  // Only keyholders can sign, but this bounds what a leaked grant is worth.
  if (lifetime > ORDER_GRANT_TTL_SECONDS) {
    throw new OrderGrantError(
      `lifetime longer than ${ORDER_GRANT_TTL_SECONDS} s`,
    );
  }
  if (subject !== orderId) {
    throw new OrderGrantError('granted for another order');
  }
}
