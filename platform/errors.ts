import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
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
  /** The gateway's operation limits, checked before any subgraph is called. */
  MaxDepthExceeded = 'MAX_DEPTH_EXCEEDED',
  MaxAliasesExceeded = 'MAX_ALIASES_EXCEEDED',
  MaxRootFieldsExceeded = 'MAX_ROOT_FIELDS_EXCEEDED',
  MaxDirectivesExceeded = 'MAX_DIRECTIVES_EXCEEDED',
  MaxTokensExceeded = 'MAX_TOKENS_EXCEEDED',
  MaxCostExceeded = 'MAX_COST_EXCEEDED',
  /** A request body over REQUEST_BODY_LIMIT_BYTES, rejected with HTTP 413. */
  PayloadTooLarge = 'PAYLOAD_TOO_LARGE',
  /** A caller over its rate limit, rejected with HTTP 429. */
  RateLimited = 'RATE_LIMITED',
  /** Sign-in refused while an email address is locked out, with HTTP 429. */
  TooManyAttempts = 'TOO_MANY_ATTEMPTS',
  /**
   * An operation that a partner key in safelist mode has not registered,
   * rejected with HTTP 403 before any subgraph is called.
   */
  OperationNotInSafelist = 'OPERATION_NOT_IN_SAFELIST',
}

/** Codes of `userErrors { field message code }` in mutation payloads. */
export enum UserErrorCode {
  Invalid = 'INVALID',
  Required = 'REQUIRED',
  NotFound = 'NOT_FOUND',
  Taken = 'TAKEN',
  InsufficientStock = 'INSUFFICIENT_STOCK',
  NotTracked = 'NOT_TRACKED',
  /** Sign-in refused while an email address is locked out. */
  TooManyAttempts = 'TOO_MANY_ATTEMPTS',
  /** Checkout: less is available than a line asks for. */
  OutOfStock = 'OUT_OF_STOCK',
  /** Checkout: no variant has the SKU. */
  UnknownSku = 'UNKNOWN_SKU',
  /** Checkout: the variant cannot be bought (inactive or external product). */
  NotPurchasable = 'NOT_PURCHASABLE',
  /** Checkout: the variant has no price. */
  NoPrice = 'NO_PRICE',
  /** Checkout: a completed checkout cannot change. */
  CheckoutCompleted = 'CHECKOUT_COMPLETED',
  /**
   * Checkout: the chosen shipping method is no longer offered, or its
   * price changed since it was chosen; the customer chooses again.
   */
  ShippingMethodChanged = 'SHIPPING_METHOD_CHANGED',
  /** The payment provider declined the payment. */
  PaymentDeclined = 'PAYMENT_DECLINED',
  /** The payment provider could not be reached or failed; nothing was charged. */
  PaymentFailed = 'PAYMENT_FAILED',
  /** An idempotency key sent again with different parameters. */
  IdempotencyKeyReused = 'IDEMPOTENCY_KEY_REUSED',
  /** The first request with an idempotency key is still running. */
  IdempotencyKeyInUse = 'IDEMPOTENCY_KEY_IN_USE',
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

/** Maximum length of an error message in a log record, in characters. */
const MAX_LOGGED_MESSAGE = 2000;

/**
 * Parts of PostgreSQL messages that repeat the values of a row or a
 * parameter, such as `Key (email)=(ada@example.com) already exists.` or
 * `invalid input syntax for type uuid: "ada@example.com"`, with what
 * replaces each.
 */
const DATABASE_VALUE_ECHOES: [RegExp, string][] = [
  [/\bKey \(([^)\n]*)\)=\([^\n]*/g, 'Key ($1)=([omitted])'],
  [/\bFailing row contains \([^\n]*/g, 'Failing row contains ([omitted])'],
  [/: "[^\n]*"$/gm, ': [omitted]'],
];

/** Removes query parameters and the values a database message repeats. */
function redactErrorMessage(message: string): string {
  let redacted = message.replace(/\nparams: [\s\S]*$/, '\nparams: [omitted]');
  for (const [pattern, replacement] of DATABASE_VALUE_ECHOES) {
    redacted = redacted.replace(pattern, replacement);
  }
  return redacted.slice(0, MAX_LOGGED_MESSAGE);
}

/**
 * Reduces an error to what a log needs. A failed drizzle query's message
 * contains its SQL and every parameter, which can be megabytes of user
 * input and personal data, so parameters are dropped and messages cut.
 * PostgreSQL's `detail`, `where` and `hint` fields are left out because
 * they repeat row and parameter values, and the values that a message
 * itself repeats are replaced (see DATABASE_VALUE_ECHOES). The constraint,
 * table and column names stay, which is enough to find the cause.
 */
export function summarizeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) {
    return { message: redactErrorMessage(String(error)) };
  }
  const shorten = redactErrorMessage;
  const cause = error.cause as
    | { message?: unknown; code?: unknown; constraint_name?: unknown }
    | undefined;
  return {
    type: error.name,
    message: shorten(error.message),
    code: (error as { code?: unknown }).code,
    ...databaseNames(error),
    cause:
      cause && typeof cause.message === 'string'
        ? {
            message: shorten(cause.message),
            code: cause.code,
            ...databaseNames(cause),
          }
        : undefined,
    // The stack repeats the message first, so only its frames are kept.
    stack: error.stack
      ?.split('\n')
      .filter((line) => line.trimStart().startsWith('at '))
      .slice(0, 8)
      .join('\n'),
  };
}

/**
 * Returns the names of the schema objects a postgres.js error names, which
 * identify the failing constraint without repeating any value.
 */
function databaseNames(error: object): Record<string, unknown> {
  const { constraint_name, table_name, column_name } = error as Record<
    string,
    unknown
  >;
  return {
    constraint:
      typeof constraint_name === 'string' ? constraint_name : undefined,
    table: typeof table_name === 'string' ? table_name : undefined,
    column: typeof column_name === 'string' ? column_name : undefined,
  };
}

/**
 * Formats errors for clients of a service. Errors that carry a known code
 * pass through. Anything else (a driver error with SQL in it, a bug) is
 * logged and replaced by a generic message, so no query text, parameters
 * or stack traces reach a client.
 */
export function createErrorFormatter(logger: Logger) {
  const knownCodes = new Set<string>(Object.values(ErrorCode));
  knownCodes.add('GRAPHQL_PARSE_FAILED');
  knownCodes.add('GRAPHQL_VALIDATION_FAILED');
  knownCodes.add('PERSISTED_QUERY_NOT_FOUND');
  knownCodes.add('PERSISTED_QUERY_NOT_SUPPORTED');
  knownCodes.add('OPERATION_RESOLUTION_FAILURE');
  knownCodes.add('BAD_REQUEST');
  // @apollo/gateway's code for an operation its planner rejects.
  knownCodes.add('INVALID_GRAPHQL');

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
      { error: summarizeError(original), path: formatted.path },
      'unexpected error while resolving',
    );
    return {
      message: INTERNAL_ERROR_MESSAGE,
      path: formatted.path,
      locations: formatted.locations,
      extensions: { code: ErrorCode.InternalServerError },
    };
  };
}

/** Client message of a masked unexpected error, before the request id is added. */
export const INTERNAL_ERROR_MESSAGE = 'Internal server error';

/** A masked message that already names a request id, e.g. from a subgraph. */
export const MASKED_MESSAGE_WITH_REQUEST_ID =
  /^Internal server error \(request id [A-Za-z0-9._:-]{1,128}\)$/;

/**
 * Adds the request id to masked errors: the message becomes "Internal
 * server error (request id <id>)" and `extensions.requestId` is set, so a
 * client can quote the id and an operator can find the logged error.
 * `formatError` has no access to the context, which is why a plugin does
 * this once the response is formatted. Errors that Apollo Server returns
 * before a request starts, such as a failed context creation, keep the
 * plain message.
 */
export function maskedErrorRequestIdPlugin<
  TContext extends BaseContext & { requestId: string },
>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          if (!result.errors) return;
          const { requestId } = contextValue;
          result.errors = result.errors.map((error) =>
            error.message === INTERNAL_ERROR_MESSAGE
              ? {
                  ...error,
                  message: `${INTERNAL_ERROR_MESSAGE} (request id ${requestId})`,
                  extensions: { ...error.extensions, requestId },
                }
              : error,
          );
        },
      };
    },
  };
}
