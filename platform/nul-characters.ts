import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { GraphQLError, Kind, visit, type DocumentNode } from 'graphql';
import { ErrorCode } from './errors.js';

function valueContainsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (Array.isArray(value)) return value.some(valueContainsNul);
  if (value !== null && typeof value === 'object') {
    return Object.values(value).some(valueContainsNul);
  }
  return false;
}

function documentContainsNul(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    [Kind.STRING](node) {
      if (node.value.includes('\0')) found = true;
    },
  });
  return found;
}

/**
 * Rejects an operation whose variables or string literals contain U+0000.
 * PostgreSQL text cannot store it, and one such key in a batched lookup
 * would fail the whole batch, so it is refused before any resolver runs.
 */
export function rejectNulCharactersPlugin<
  TContext extends BaseContext,
>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document }) {
          if (
            valueContainsNul(request.variables) ||
            documentContainsNul(document)
          ) {
            throw new GraphQLError(
              'The request contains a NUL character (U+0000), which no text field can store; remove it and retry.',
              {
                extensions: {
                  code: ErrorCode.BadUserInput,
                  http: { status: 400 },
                },
              },
            );
          }
        },
      };
    },
  };
}
