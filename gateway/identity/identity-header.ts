import {
  IDENTITY_HEADER,
  IDENTITY_TOKEN_TTL_SECONDS,
  signIdentity,
} from '../../platform/identity.js';
import type { IdentityKey } from '../../platform/identity-keys.js';
import type { CallerIdentity } from '../caller.js';

/** Maximum number of callers whose signed identity is kept for reuse. */
const CACHE_SIZE = 10_000;

/**
 * A signed token is reused for callers with the same identity during the
 * first half of its lifetime, so a token a request carries is valid for at
 * least 30 s more, and most requests cost no signature.
 */
const REUSE_MS = (IDENTITY_TOKEN_TTL_SECONDS * 1000) / 2;

/**
 * Creates the function that returns the headers carrying a caller to the
 * subgraphs: `x-commerce-identity` with a token signed by the gateway.
 *
 * NOTE: the headers are made once per client request, so a request whose
 * subgraph fetches run for more than about 30 s can meet an expired token.
 */
export function createIdentityHeaderSigner(signingKey: IdentityKey) {
  const cache = new Map<
    string,
    { headers: Record<string, string>; signedAtMs: number }
  >();

  return async function subgraphHeaders(
    caller: CallerIdentity,
  ): Promise<Record<string, string>> {
    const now = Date.now();
    const cacheKey = [
      caller.kind,
      caller.subject ?? '',
      caller.scopes.join(' '),
      caller.roles.join(' '),
    ].join('\n');
    const cached = cache.get(cacheKey);
    if (cached && now - cached.signedAtMs < REUSE_MS) return cached.headers;

    const headers = {
      [IDENTITY_HEADER]: await signIdentity(signingKey, caller),
    };
    if (cache.size >= CACHE_SIZE) cache.clear();
    cache.set(cacheKey, { headers, signedAtMs: now });
    return headers;
  };
}
