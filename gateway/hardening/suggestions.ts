import type { GraphQLFormattedError } from 'graphql';

/**
 * graphql-js 16 appends suggestions such as ` Did you mean "title"?` to
 * validation and variable coercion messages. They let a client list the
 * schema's names without introspection.
 */
const SUGGESTION = / ?Did you mean .+\?$/;

/**
 * Wraps an error formatter so that messages lose graphql-js's "Did you
 * mean ..." suggestions. Apollo Server's `hideSchemaDetailsFromClientErrors`
 * removes them from validation errors only; this also covers errors of
 * variable values.
 */
export function withoutSuggestions(
  format: (
    formatted: GraphQLFormattedError,
    error: unknown,
  ) => GraphQLFormattedError,
) {
  return (
    formatted: GraphQLFormattedError,
    error: unknown,
  ): GraphQLFormattedError => {
    const result = format(formatted, error);
    if (!SUGGESTION.test(result.message)) return result;
    return { ...result, message: result.message.replace(SUGGESTION, '') };
  };
}
