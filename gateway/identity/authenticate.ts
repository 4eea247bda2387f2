import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { decodeJwt } from 'jose';
import type { IdentityKey } from '../../platform/identity-keys.js';
import type { Logger } from '../../platform/logger.js';
import { ANONYMOUS_CALLER, type CallerIdentity } from '../caller.js';
import { STAFF_TOKEN_ISSUER, verifyStaffAccessToken } from './access-tokens.js';
import {
  CredentialCheckUnavailableError,
  CredentialError,
  describeTokenFailure,
} from './errors.js';
import type { CustomerTokenVerifier } from './customer-tokens.js';
import type { ExternalTokenVerifier } from './external-tokens.js';
import {
  looksLikePartnerKey,
  type createPartnerKeyVerifier,
} from './partner-keys.js';

/** Header that partners may send their API key in, instead of Authorization. */
export const API_KEY_HEADER = 'x-api-key';

/** Minimum time between two warnings about failed credential checks. */
const WARNING_INTERVAL_MS = 10_000;

type Credential = { type: 'api-key' | 'jwt'; value: string };

export interface AuthenticatorOptions {
  /** Keys that the gateway's own staff tokens are verified against. */
  staffKeys: IdentityKey[];
  external?: ExternalTokenVerifier;
  /** Customer access tokens, signed by the orders service. */
  customer?: CustomerTokenVerifier;
  /** Absent when the gateway has no database. */
  partnerKeys?: ReturnType<typeof createPartnerKeyVerifier>;
  logger: Logger;
}

/**
 * Reads the credential of a request: a partner key in `x-api-key` or in
 * `Authorization: Bearer`, or a JWT in `Authorization: Bearer`. Returns
 * undefined when there is none. Throws CredentialError for a malformed
 * header or for two credentials at once.
 */
export function readCredential(
  headers: IncomingHttpHeaders,
): Credential | undefined {
  const apiKey = headers[API_KEY_HEADER];
  const authorization = headers.authorization;
  if (apiKey !== undefined && authorization !== undefined) {
    throw new CredentialError(
      'Send one credential: an Authorization header or an x-api-key header, not both.',
    );
  }
  if (apiKey !== undefined) {
    return { type: 'api-key', value: String(apiKey).trim() };
  }
  if (authorization === undefined) return undefined;
  const match = /^Bearer +(\S+)$/i.exec(authorization.trim());
  if (!match) {
    throw new CredentialError(
      'The Authorization header must have the form "Bearer <token or API key>".',
    );
  }
  const value = match[1]!;
  return { type: looksLikePartnerKey(value) ? 'api-key' : 'jwt', value };
}

/**
 * Creates the function that identifies the caller of a request. It returns
 * the anonymous caller when no credential is sent, and throws
 * CredentialError when one is sent but is invalid, so a bad credential is
 * never treated as none. CredentialCheckUnavailableError means the check
 * itself failed (database or identity provider unreachable).
 */
export function createAuthenticator(options: AuthenticatorOptions) {
  const { logger } = options;
  let lastWarningAt = 0;

  function warnRateLimited(error: unknown, message: string): void {
    const now = Date.now();
    if (now - lastWarningAt < WARNING_INTERVAL_MS) {
      logger.debug({ err: error }, message);
      return;
    }
    lastWarningAt = now;
    logger.warn({ err: error }, message);
  }

  async function verifyPartnerKey(key: string): Promise<CallerIdentity> {
    if (!options.partnerKeys) {
      warnRateLimited(
        undefined,
        'partner key rejected: the gateway has no database (set DATABASE_URL or GATEWAY_DATABASE_URL)',
      );
      throw new CredentialCheckUnavailableError('no gateway database');
    }
    try {
      return await options.partnerKeys.verify(key);
    } catch (error) {
      if (error instanceof CredentialError) throw error;
      warnRateLimited(error, 'partner key check failed');
      throw new CredentialCheckUnavailableError('partner key check failed', {
        cause: error,
      });
    }
  }

  async function verifyJwt(token: string): Promise<CallerIdentity> {
    let issuer: string | undefined;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      throw new CredentialError(
        'The bearer token is neither a JWT nor a partner API key.',
      );
    }
    try {
      if (issuer === STAFF_TOKEN_ISSUER) {
        return await verifyStaffAccessToken(options.staffKeys, token);
      }
      if (options.external && issuer === options.external.issuer) {
        return await options.external.verify(token);
      }
      if (options.customer && issuer === options.customer.issuer) {
        return await options.customer.verify(token);
      }
    } catch (error) {
      const failure = describeTokenFailure(error);
      if (failure !== undefined) throw new CredentialError(failure);
      warnRateLimited(error, 'access token check failed');
      throw new CredentialCheckUnavailableError('access token check failed', {
        cause: error,
      });
    }
    throw new CredentialError("The access token's issuer is not trusted.");
  }

  return async function authenticate(
    request: IncomingMessage,
  ): Promise<CallerIdentity> {
    const credential = readCredential(request.headers);
    if (!credential) return ANONYMOUS_CALLER;
    try {
      return credential.type === 'api-key'
        ? await verifyPartnerKey(credential.value)
        : await verifyJwt(credential.value);
    } catch (error) {
      if (error instanceof CredentialError) {
        logger.debug(
          { credential: credential.type, reason: error.message },
          'credentials rejected',
        );
      }
      throw error;
    }
  };
}
