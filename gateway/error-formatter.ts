import type { GraphQLFormattedError } from 'graphql';
import {
  createErrorFormatter,
  ErrorCode,
  INTERNAL_ERROR_MESSAGE,
  MASKED_MESSAGE_WITH_REQUEST_ID,
} from '../platform/errors.js';
import type { Logger } from '../platform/logger.js';

/**
 * Codes under which a subgraph reports a failure it did not expect. The
 * gateway masks their messages as it masks its own unexpected errors.
 * DOWNSTREAM_SERVICE_ERROR is what @apollo/gateway 2.x assigns to a subgraph
 * error that came without a code.
 */
const UNEXPECTED_SUBGRAPH_CODES = new Set<unknown>([
  ErrorCode.InternalServerError,
  'DOWNSTREAM_SERVICE_ERROR',
  undefined,
]);

/** Extensions that may carry internal URLs, response bodies or stack traces. */
const INTERNAL_EXTENSIONS = ['stacktrace', 'exception', 'response'];

/** `scheme://user:password@` in a URL, e.g. in a leaked connection string. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+@/gi;

/** Replaces the passwords of URLs in a message so it can be logged. */
export function redactUrlCredentials(message: string): string {
  return message.replace(URL_CREDENTIALS, '$1***@');
}

/**
 * Formats the gateway's errors for clients.
 *
 * Errors that a subgraph returned (they carry `extensions.serviceName`) keep
 * the subgraph's code, message and path, because each subgraph already masks
 * its own unexpected errors. Those with an unexpected-failure code still get
 * the generic message here, in case a subgraph leaks details. Every other
 * error goes through the platform formatter, which passes known codes and
 * masks the rest.
 */
export function createGatewayErrorFormatter(logger: Logger) {
  const formatGatewayError = createErrorFormatter(logger);

  return (
    formatted: GraphQLFormattedError,
    error: unknown,
  ): GraphQLFormattedError => {
    const extensions = { ...formatted.extensions };
    const serviceName = extensions.serviceName;
    if (typeof serviceName !== 'string') {
      return formatGatewayError(formatted, error);
    }

    for (const key of INTERNAL_EXTENSIONS) delete extensions[key];
    if (!UNEXPECTED_SUBGRAPH_CODES.has(extensions.code)) {
      return { ...formatted, extensions };
    }
    logger.error(
      {
        subgraph: serviceName,
        code: extensions.code,
        message: redactUrlCredentials(formatted.message),
        path: formatted.path,
      },
      'unexpected error from subgraph',
    );
    // A subgraph's own masked message names the request id, which is the
    // gateway's, so it is passed on as it is.
    const message = MASKED_MESSAGE_WITH_REQUEST_ID.test(formatted.message)
      ? formatted.message
      : INTERNAL_ERROR_MESSAGE;
    return {
      message,
      path: formatted.path,
      locations: formatted.locations,
      extensions: {
        ...extensions,
        code: extensions.code ?? ErrorCode.InternalServerError,
      },
    };
  };
}
