import { GraphQLError } from 'graphql';
import { ErrorCode } from '../../platform/errors.js';

/** The limits an operation can exceed, each with its error code and wording. */
const LIMITS = {
  depth: {
    code: ErrorCode.MaxDepthExceeded,
    describe: (value: string, max: number) =>
      `The operation is ${value} fields deep, over the maximum depth of ${max}. Select fewer nested fields or split the operation.`,
  },
  aliases: {
    code: ErrorCode.MaxAliasesExceeded,
    describe: (value: string, max: number) =>
      `The operation uses ${value} aliases, over the maximum of ${max}. Use fewer aliases or split the operation.`,
  },
  rootFields: {
    code: ErrorCode.MaxRootFieldsExceeded,
    describe: (value: string, max: number) =>
      `The operation selects ${value} root fields, over the maximum of ${max}. Split it into several operations.`,
  },
  directives: {
    code: ErrorCode.MaxDirectivesExceeded,
    describe: (value: string, max: number) =>
      `The operation uses ${value} directives, over the maximum of ${max}. Use fewer directives.`,
  },
  tokens: {
    code: ErrorCode.MaxTokensExceeded,
    describe: (value: string, max: number) =>
      `The document has ${value} tokens, over the maximum of ${max}. Send a shorter document.`,
  },
  cost: {
    code: ErrorCode.MaxCostExceeded,
    describe: (value: string, max: number) =>
      `The operation's cost is ${value}, over the maximum cost of ${max}. Request fewer items with \`first\` or \`last\`, or select fewer nested lists.`,
  },
} as const;

export type LimitName = keyof typeof LIMITS;

/**
 * Creates the error that rejects an operation over one limit: HTTP 400,
 * `extensions.code` naming the limit, and the measured value and the
 * maximum in `extensions`. `value` is null when only a lower bound is
 * known, as for a document whose tokens were counted up to the maximum.
 */
export function limitExceededError(
  limit: LimitName,
  value: number | null,
  max: number,
): GraphQLError {
  const { code, describe } = LIMITS[limit];
  const shownValue = value === null ? `more than ${max}` : String(value);
  return new GraphQLError(describe(shownValue, max), {
    extensions: {
      code,
      value,
      maximum: max,
      http: { status: 400 },
    },
  });
}
