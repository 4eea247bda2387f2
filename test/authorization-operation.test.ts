import { buildSchema, getOperationAST, parse, print } from 'graphql';
import { describe, expect, test } from 'vitest';
import { ANONYMOUS_CALLER, type CallerIdentity } from '../gateway/caller.js';
import {
  authorizeOperation,
  MAX_AUTHORIZATION_ERRORS,
} from '../gateway/authorization/operation.js';
import { POLICIES } from '../gateway/authorization/policies.js';
import type { SupergraphRequirements } from '../gateway/authorization/requirements.js';

const SCHEMA = buildSchema(`
  type Query { greeting: String secret: String product: Product }
  type Product { id: ID! cost: Int title: String }
`);

const REQUIREMENTS: SupergraphRequirements = {
  fields: {
    'Query.secret': { authenticated: true },
    'Product.cost': { scopes: [['read_costs']] },
  },
  types: {},
};

function authorize(
  source: string,
  caller: CallerIdentity = ANONYMOUS_CALLER,
  variables: Record<string, unknown> = {},
  operationName?: string,
) {
  const document = parse(source);
  return authorizeOperation({
    schema: SCHEMA,
    requirements: REQUIREMENTS,
    policies: POLICIES,
    caller,
    document,
    operation: getOperationAST(document, operationName)!,
    variables,
  });
}

describe('authorizeOperation', () => {
  test('allowed operation is left alone', () => {
    const result = authorize('{ greeting product { id title } }');

    expect(result).toEqual({ kind: 'allowed' });
  });

  test('filtered document keeps used fragments', () => {
    const result = authorize(
      `
      query Page { product { ...Card } }
      query Other { greeting }
      fragment Card on Product { id cost ...Title }
      fragment Title on Product { title }
      fragment Unused on Product { id }
    `,
      ANONYMOUS_CALLER,
      {},
      'Page',
    );

    expect(result.kind).toBe('filtered');
    if (result.kind !== 'filtered') return;
    expect(print(result.document)).toBe(
      print(
        parse(`
          query Page { product { ...Card } }
          fragment Card on Product { id ...Title }
          fragment Title on Product { title }
        `),
      ),
    );
    expect(result.operation.name?.value).toBe('Page');
  });

  test('errors stop at the maximum', () => {
    const aliases = Array.from(
      { length: MAX_AUTHORIZATION_ERRORS + 50 },
      (_, index) => `s${index}: secret`,
    );

    const result = authorize(`{ greeting ${aliases.join(' ')} }`);

    expect(result.kind).toBe('filtered');
    if (result.kind !== 'filtered') return;
    expect(result.errors).toHaveLength(MAX_AUTHORIZATION_ERRORS);
    expect(print(result.document)).toBe('{\n  greeting\n}');
  });

  test('skipped field is removed silently', () => {
    const result = authorize(
      'query ($show: Boolean!) { greeting secret @include(if: $show) }',
      ANONYMOUS_CALLER,
      { show: false },
    );

    expect(result.kind).toBe('filtered');
    if (result.kind !== 'filtered') return;
    expect(result.errors).toEqual([]);
    expect(print(result.document)).not.toContain('secret');
  });
});
