import { GraphQLError } from 'graphql';
import { errors as joseErrors } from 'jose';
import { ErrorCode } from '../../platform/errors.js';
import { unauthenticatedError } from '../../platform/identity.js';

/**
 * Credentials that were sent but are not valid. The message is for the
 * client: it states what is wrong with the credential, never whether an
 * account or key with other details exists.
 */
export class CredentialError extends Error {}

/** Credentials could not be checked because a dependency failed. */
export class CredentialCheckUnavailableError extends Error {}

/**
 * Returns the client message for a failed JWT verification, or undefined
 * when `error` is not a verification failure (such as a JWKS timeout).
 */
export function describeTokenFailure(error: unknown): string | undefined {
  if (error instanceof CredentialError) return error.message;
  if (error instanceof joseErrors.JWTExpired) {
    return 'The access token has expired; sign in again.';
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return `The access token's ${error.claim} claim is invalid.`;
  }
  if (
    error instanceof joseErrors.JWKSNoMatchingKey ||
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JOSEAlgNotAllowed ||
    error instanceof joseErrors.JWSInvalid ||
    error instanceof joseErrors.JWTInvalid ||
    error instanceof joseErrors.JOSENotSupported
  ) {
    return 'The access token is invalid.';
  }
  return undefined;
}

/** Converts a credential failure into the GraphQL error a client receives. */
export function toGraphQLError(error: unknown): GraphQLError {
  if (error instanceof CredentialError) {
    return unauthenticatedError(error.message);
  }
  return new GraphQLError(
    'The credentials could not be checked right now; try again shortly.',
    {
      extensions: {
        code: ErrorCode.ServiceUnavailable,
        http: { status: 503 },
      },
    },
  );
}
