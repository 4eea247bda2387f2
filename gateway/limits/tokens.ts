import { GraphQLError, Lexer, Source, TokenKind } from 'graphql';

/**
 * Counts the lexer tokens of a document, comments and the end-of-file token
 * excluded, which is how graphql-js's `parse` counts them for its
 * `maxTokens` option. Counting stops once `max` is exceeded, so a huge
 * document costs at most `max + 1` tokens of work.
 *
 * Returns the count, which is `max + 1` for any longer document. A document
 * that fails to lex is counted up to the failure, and `parse` reports the
 * syntax error afterwards.
 */
export function countTokens(document: string, max: number): number {
  const lexer = new Lexer(new Source(document));
  let count = 0;
  try {
    while (count <= max && lexer.advance().kind !== TokenKind.EOF) {
      count += 1;
    }
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
  }
  return count;
}
