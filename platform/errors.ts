import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from './logger.js';

/**
 * Every `extensions.code` the graph returns. Unexpected failures are GraphQL
 * errors with one of these codes; expected business failures are returned as
 * `userErrors` with a `UserErrorCode` instead.
 */
export enum ErrorCode {
  BadUserInput = 'BAD_USER_INPUT',
  NotFound = 'NOT_FOUND',
  Unauthenticated = 'UNAUTHENTICATED',
  Forbidden = 'FORBIDDEN',
  SubgraphUnavailable = 'SUBGRAPH_UNAVAILABLE',
  ServiceUnavailable = 'SERVICE_UNAVAILABLE',
  InternalServerError = 'INTERNAL_SERVER_ERROR',
}

/** Codes of `userErrors { field message code }` in mutation payloads. */
export enum UserErrorCode {
  Invalid = 'INVALID',
  Required = 'REQUIRED',
  NotFound = 'NOT_FOUND',
  Taken = 'TAKEN',
  InsufficientStock = 'INSUFFICIENT_STOCK',
  NotTracked = 'NOT_TRACKED',
}

export interface UserError {
  field: string[];
  message: string;
  code: UserErrorCode;
}

export function userError(
  field: string[],
  message: string,
  code: UserErrorCode,
): UserError {
  return { field, message, code };
}

export function badUserInput(message: string, argumentName?: string) {
  return new GraphQLError(message, {
    extensions: { code: ErrorCode.BadUserInput, argumentName },
  });
}

/**
 * Formats errors for clients of a service. Errors that carry a known code
 * pass through; anything else (a driver error with SQL in it, a bug) is
 * logged in full and replaced by a generic message, so no query text,
 * parameters or stack traces reach a client.
 */
export function createErrorFormatter(logger: Logger) {
  const knownCodes = new Set<string>(Object.values(ErrorCode));
  knownCodes.add('GRAPHQL_PARSE_FAILED');
  knownCodes.add('GRAPHQL_VALIDATION_FAILED');
  knownCodes.add('PERSISTED_QUERY_NOT_FOUND');
  knownCodes.add('PERSISTED_QUERY_NOT_SUPPORTED');
  knownCodes.add('OPERATION_RESOLUTION_FAILURE');
  knownCodes.add('BAD_REQUEST');

  return (
    formatted: GraphQLFormattedError,
    error: unknown,
  ): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    const original =
      error instanceof GraphQLError ? (error.originalError ?? error) : error;
    const isExpected =
      typeof code === 'string' &&
      knownCodes.has(code) &&
      code !== ErrorCode.InternalServerError;
    if (isExpected) {
      const { stacktrace: _stacktrace, ...extensions } =
        formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    logger.error(
      { err: original, path: formatted.path },
      'unexpected error while resolving',
    );
    return {
      message: 'Internal server error',
      path: formatted.path,
      locations: formatted.locations,
      extensions: { code: ErrorCode.InternalServerError },
    };
  };
}
