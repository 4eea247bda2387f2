import { GraphQLError, type GraphQLFormattedError } from 'graphql';

/**
 * Wraps an error formatter so that Apollo Server's own request errors that
 * carry HTTP 400 but no code, such as "provided sha does not match query"
 * for an automatic persisted query, reach the client as BAD_REQUEST instead
 * of being masked as unexpected errors.
 */
export function withRequestErrorCodes(
  format: (
    formatted: GraphQLFormattedError,
    error: unknown,
  ) => GraphQLFormattedError,
) {
  return (
    formatted: GraphQLFormattedError,
    error: unknown,
  ): GraphQLFormattedError => {
    const http = (error as GraphQLError | undefined)?.extensions?.http as
      { status?: unknown } | undefined;
    const isRequestError =
      error instanceof GraphQLError &&
      error.extensions.code === undefined &&
      http?.status === 400;
    if (!isRequestError) return format(formatted, error);
    return format(
      {
        ...formatted,
        extensions: { ...formatted.extensions, code: 'BAD_REQUEST' },
      },
      error,
    );
  };
}
