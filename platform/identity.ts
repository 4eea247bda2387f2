import type { IncomingMessage } from 'node:http';
import { GraphQLError } from 'graphql';
import {
  errors as joseErrors,
  jwtVerify,
  SignJWT,
  type JWTPayload,
} from 'jose';
import type { Config } from './config.js';
import { ErrorCode } from './errors.js';
import { resolveIdentityKeys, type IdentityKey } from './identity-keys.js';

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

/**
 * A service calling another service's subgraph directly, such as the
 * marketplace seeding reading the catalog. The gateway never assigns this
 * kind to a client.
 */
export interface ServiceCaller {
  kind: 'service';
  /** Name of the calling service, such as `marketplace`. */
  subject: string;
  scopes: string[];
  roles: string[];
}

/** The caller of a subgraph request, verified from the identity header. */
export type SubgraphCaller = CallerIdentity | ServiceCaller;

/** Header that carries the signed caller from the gateway to subgraphs. */
export const IDENTITY_HEADER = 'x-commerce-identity';

/** JWS `typ` of identity tokens, so no other JWT passes as one. */
export const IDENTITY_TOKEN_TYPE = 'commerce-identity+jwt';
export const IDENTITY_ISSUER = 'commerce-graph';
export const IDENTITY_AUDIENCE = 'commerce-subgraphs';

/** Lifetime of an identity token in seconds. */
export const IDENTITY_TOKEN_TTL_SECONDS = 60;

/** Clock difference between hosts that verification tolerates, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 5;

/** Maximum number of verified tokens a subgraph keeps in memory. */
const VERIFIED_CACHE_SIZE = 10_000;

const CALLER_KINDS = new Set<string>([
  'anonymous',
  'customer',
  'staff',
  'partner',
  'service',
]);

/**
 * Signs an identity token: a JWT with `kind`, `sub` (absent for anonymous
 * callers), `scope` (space-separated) and `roles`, valid for `ttlSeconds`.
 * Verifiers reject tokens valid for longer than IDENTITY_TOKEN_TTL_SECONDS.
 */
export async function signIdentity(
  signingKey: IdentityKey,
  caller: SubgraphCaller,
  ttlSeconds = IDENTITY_TOKEN_TTL_SECONDS,
): Promise<string> {
  const token = new SignJWT({
    kind: caller.kind,
    scope: caller.scopes.join(' '),
    roles: caller.roles,
  })
    .setProtectedHeader({
      alg: signingKey.algorithm,
      typ: IDENTITY_TOKEN_TYPE,
      kid: signingKey.keyId,
    })
    .setIssuer(IDENTITY_ISSUER)
    .setAudience(IDENTITY_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`);
  if (caller.subject !== null) token.setSubject(caller.subject);
  return token.sign(signingKey.key);
}

/** Raised when an identity token is missing, invalid or expired. */
export class IdentityTokenError extends Error {}

/**
 * Verifies identity tokens against `keys`. Each verified token is kept in
 * memory until it expires, so a token the gateway reuses for many requests
 * is checked cryptographically once.
 */
export function createIdentityVerifier(keys: IdentityKey[]) {
  const verified = new Map<
    string,
    { caller: SubgraphCaller; expiresAtMs: number }
  >();

  async function verifySignature(token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          const key = keys.find(
            (candidate) =>
              candidate.keyId === header.kid &&
              candidate.algorithm === header.alg,
          );
          if (!key) throw new IdentityTokenError('unknown signing key');
          return key.key;
        },
        {
          typ: IDENTITY_TOKEN_TYPE,
          issuer: IDENTITY_ISSUER,
          audience: IDENTITY_AUDIENCE,
          algorithms: ['EdDSA', 'ES256'],
          requiredClaims: ['exp', 'iat'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          maxTokenAge: IDENTITY_TOKEN_TTL_SECONDS + CLOCK_TOLERANCE_SECONDS,
        },
      );
      // Only keyholders can sign, but a token valid for hours would be
      // worth stealing from a log; this bounds what one is worth.
      if (payload.exp! - payload.iat! > IDENTITY_TOKEN_TTL_SECONDS) {
        throw new IdentityTokenError(
          `lifetime longer than ${IDENTITY_TOKEN_TTL_SECONDS} s`,
        );
      }
      return payload;
    } catch (error) {
      if (error instanceof IdentityTokenError) throw error;
      if (error instanceof joseErrors.JWTExpired) {
        throw new IdentityTokenError('expired');
      }
      if (error instanceof joseErrors.JOSEError) {
        throw new IdentityTokenError(error.code);
      }
      throw error;
    }
  }

  return async function verify(token: string): Promise<SubgraphCaller> {
    const now = Date.now();
    const cached = verified.get(token);
    if (cached && cached.expiresAtMs > now) return cached.caller;

    const payload = await verifySignature(token);
    const caller = callerFromClaims(payload);
    if (verified.size >= VERIFIED_CACHE_SIZE) {
      for (const [key, entry] of verified) {
        if (entry.expiresAtMs <= now) verified.delete(key);
      }
      if (verified.size >= VERIFIED_CACHE_SIZE) verified.clear();
    }
    verified.set(token, {
      caller,
      expiresAtMs: (payload.exp! + CLOCK_TOLERANCE_SECONDS) * 1000,
    });
    return caller;
  };
}

function callerFromClaims(payload: JWTPayload): SubgraphCaller {
  const { kind, scope, roles, sub } = payload as JWTPayload & {
    kind?: unknown;
    scope?: unknown;
    roles?: unknown;
  };
  if (typeof kind !== 'string' || !CALLER_KINDS.has(kind)) {
    throw new IdentityTokenError('invalid kind claim');
  }
  if (typeof scope !== 'string') {
    throw new IdentityTokenError('invalid scope claim');
  }
  if (!Array.isArray(roles) || roles.some((role) => typeof role !== 'string')) {
    throw new IdentityTokenError('invalid roles claim');
  }
  const subject = sub ?? null;
  if ((kind === 'anonymous') !== (subject === null)) {
    throw new IdentityTokenError('sub claim does not match the kind');
  }
  return {
    kind,
    subject,
    scopes: scope === '' ? [] : scope.split(' '),
    roles,
  } as SubgraphCaller;
}

/** Creates the GraphQL error of a request without a valid identity. */
export function unauthenticatedError(message: string): GraphQLError {
  return new GraphQLError(message, {
    extensions: {
      code: ErrorCode.Unauthenticated,
      http: { status: 401, headers: new Map([['www-authenticate', 'Bearer']]) },
    },
  });
}

/**
 * Returns the verifier of a subgraph: it reads the identity header of a
 * request and returns the signed caller, or throws an UNAUTHENTICATED error
 * (HTTP 401) when the header is missing, expired or not signed by a
 * configured key.
 */
export async function createSubgraphAuthenticator(config: Config) {
  const keys = await resolveIdentityKeys(config, 'verify');
  const verify = createIdentityVerifier(keys.verificationKeys);
  return {
    source: keys.source,
    async authenticate(request: IncomingMessage): Promise<SubgraphCaller> {
      const token = request.headers[IDENTITY_HEADER];
      if (typeof token !== 'string' || token === '') {
        throw unauthenticatedError(
          `Missing ${IDENTITY_HEADER} header: send requests through the gateway, or sign a service identity.`,
        );
      }
      try {
        return await verify(token);
      } catch (error) {
        if (!(error instanceof IdentityTokenError)) throw error;
        throw unauthenticatedError(
          `The ${IDENTITY_HEADER} header is invalid or expired (${error.message}).`,
        );
      }
    },
  };
}

const serviceSigners = new Map<string, Promise<IdentityKey>>();

/**
 * Returns request headers that carry a signed service identity, for calls
 * from one service (or a script such as `npm start`'s seeding) to another
 * service's subgraph. Sign shortly before each request: the token is valid
 * for IDENTITY_TOKEN_TTL_SECONDS.
 */
export async function signServiceIdentity(
  config: Config,
  service: string,
  scopes: string[] = [],
): Promise<Record<string, string>> {
  const cacheKey = `${config.IDENTITY_PRIVATE_KEY ?? ''}\n${config.DATA_DIR}`;
  let signingKey = serviceSigners.get(cacheKey);
  if (!signingKey) {
    signingKey = resolveIdentityKeys(config, 'sign').then(
      (keys) => keys.signingKey!,
    );
    serviceSigners.set(cacheKey, signingKey);
    signingKey.catch(() => serviceSigners.delete(cacheKey));
  }
  const token = await signIdentity(await signingKey, {
    kind: 'service',
    subject: service,
    scopes,
    roles: [],
  });
  return { [IDENTITY_HEADER]: token };
}
