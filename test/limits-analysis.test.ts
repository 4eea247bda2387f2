import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  getIntrospectionQuery,
  getOperationAST,
  parse,
  type DocumentNode,
  type OperationDefinitionNode,
} from 'graphql';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../platform/config.js';
import {
  buildCostModel,
  type CostModel,
} from '../gateway/limits/cost-model.js';
import { measureOperation } from '../gateway/limits/operation-shape.js';
import { computeQueryCost } from '../gateway/limits/query-cost.js';
import { readOperationLimits } from '../gateway/limits/settings.js';
import { countTokens } from '../gateway/limits/tokens.js';

const supergraphPath = fileURLToPath(
  new URL('../schema/supergraph.graphql', import.meta.url),
);

// The analysis functions called directly: on documents that validation
// would reject, and on the real supergraph with the storefront's queries.

function parseOperation(query: string): {
  document: DocumentNode;
  operation: OperationDefinitionNode;
} {
  const document = parse(query);
  const operation = getOperationAST(document);
  if (!operation) throw new Error('The document has no single operation.');
  return { document, operation };
}

describe('operation walk before validation', () => {
  test('fragment cycle ends the walk', () => {
    const { document, operation } = parseOperation(`
      { product(id: "p1") { ...A } }
      fragment A on Product { a1: id variants { product { ...B } } }
      fragment B on Product { b1: title ...A ...B }`);

    const shape = measureOperation(document, operation);

    // A recurs inside B and B inside itself: each recurrence counts as
    // empty, so the walk measures product { a1 variants { product { b1 } } }.
    expect(shape).toEqual({
      depth: 4,
      aliases: 2,
      rootFields: 1,
      directives: 0,
    });
  });

  test('fragment cycle ends the cost walk', () => {
    const model = buildCostModel(`
      type Query { product(id: ID!): Product }
      type Product { id: ID! variants: [Variant!]! }
      type Variant { product: Product! }`);
    const { document, operation } = parseOperation(`
      { product(id: "p1") { ...A } }
      fragment A on Product { variants { product { ...A } } }`);

    const cost = computeQueryCost(model, document, operation, {
      defaultListSize: 5,
      variables: undefined,
    });

    // product 1 + 5 variants × (1 + product 1), the inner ...A as 0.
    expect(cost).toBe(11);
  });

  test('unknown fragment counts as empty', () => {
    const { document, operation } = parseOperation(
      '{ product(id: "p1") { id ...Missing } }',
    );

    expect(measureOperation(document, operation)).toEqual({
      depth: 2,
      aliases: 0,
      rootFields: 1,
      directives: 0,
    });
  });

  test('directives of every kind are counted', () => {
    const { document, operation } = parseOperation(`
      query Q($id: ID! @deprecated) @live {
        product(id: $id) @include(if: true) {
          ...Fields @skip(if: false)
          ... on Product @include(if: true) { title }
        }
      }
      fragment Fields on Product @defer { id @include(if: true) }`);

    // Operation 1, variable 1, field 1, spread 1, fragment definition 1,
    // field in the fragment 1, inline fragment 1.
    expect(measureOperation(document, operation).directives).toBe(7);
  });
});

describe('token counting', () => {
  test('matches the parser maxTokens count', () => {
    const query = '{ featured { id } } # a comment is not a token';

    expect(countTokens(query, 100)).toBe(6);
    expect(() => parse(query, { maxTokens: 6 })).not.toThrow();
    expect(() => parse(query, { maxTokens: 5 })).toThrow(
      'Document contains more that 5 tokens',
    );
  });

  test('stops after the maximum', () => {
    const ids = Array.from({ length: 1_000_000 }, () => 'id').join(' ');

    expect(countTokens(`{ ${ids} }`, 5_000)).toBe(5_001);
  });

  test('lexer error ends the count', () => {
    expect(countTokens('{ id "unterminated', 100)).toBe(2);
  });
});

describe('cost directives in the supergraph', () => {
  test('renamed imports are read', () => {
    const model = buildCostModel(`
      schema
        @link(url: "https://specs.apollo.dev/link/v1.0")
        @link(
          url: "https://specs.apollo.dev/cost/v0.1"
          as: "price"
          import: [{ name: "@listSize", as: "@size" }]
        ) {
        query: RootQuery
      }
      type RootQuery {
        items(take: Int): [Item!]! @size(slicingArguments: ["take"])
        heavy: Int @price(weight: 7)
      }
      type Item @price(weight: 3) { id: ID! }`);

    expect(model.rootTypes.query).toBe('RootQuery');
    expect(model.directives.fieldWeights.get('RootQuery.heavy')).toBe(7);
    expect(model.directives.typeWeights.get('Item')).toBe(3);
    expect(model.directives.listSizes.get('RootQuery.items')).toEqual({
      assumedSize: undefined,
      slicingArguments: ['take'],
      sizedFields: undefined,
    });

    const { document, operation } = parseOperation(
      '{ items(take: 4) { id } heavy }',
    );
    // 4 items × Item's weight 3, plus heavy's 7.
    expect(
      computeQueryCost(model, document, operation, {
        defaultListSize: 5,
        variables: undefined,
      }),
    ).toBe(19);
  });

  test('sized fields take the slicing size', () => {
    const model = buildCostModel(`
      schema @link(url: "https://specs.apollo.dev/cost/v0.1", import: ["@listSize"]) {
        query: Query
      }
      type Query {
        orders(limit: Int = 3): OrderPage!
          @listSize(slicingArguments: ["limit"], sizedFields: ["items"])
      }
      type OrderPage { items: [Order!]! tags: [Tag!]! }
      type Order { id: ID! }
      type Tag { name: String! }`);
    const { document, operation } = parseOperation(
      '{ orders(limit: 8) { items { id } tags { name } } }',
    );

    // OrderPage 1 + 8 items × 1 + tags at the default list size 5 × 1.
    expect(
      computeQueryCost(model, document, operation, {
        defaultListSize: 5,
        variables: undefined,
      }),
    ).toBe(14);
  });
});

describe('storefront queries within the default limits', () => {
  const limits = readOperationLimits(loadConfig({}));
  const model: CostModel = buildCostModel(readFileSync(supergraphPath, 'utf8'));

  function analyze(query: string, variables?: Record<string, unknown>) {
    const { document, operation } = parseOperation(query);
    return {
      shape: measureOperation(document, operation),
      cost: computeQueryCost(model, document, operation, {
        defaultListSize: limits.defaultListSize,
        variables,
      }),
      tokens: countTokens(query, limits.maxTokens),
    };
  }

  function expectWithinLimits(result: ReturnType<typeof analyze>) {
    expect(result.tokens).toBeLessThanOrEqual(limits.maxTokens);
    expect(result.shape.depth).toBeLessThanOrEqual(limits.maxDepth);
    expect(result.shape.aliases).toBeLessThanOrEqual(limits.maxAliases);
    expect(result.shape.rootFields).toBeLessThanOrEqual(limits.maxRootFields);
    expect(result.shape.directives).toBeLessThanOrEqual(limits.maxDirectives);
    expect(result.cost).toBeLessThanOrEqual(limits.maxCost);
  }

  test('defaults are the documented ones', () => {
    expect(limits).toEqual({
      maxDepth: 15,
      maxAliases: 30,
      maxRootFields: 20,
      maxDirectives: 50,
      maxTokens: 5000,
      maxCost: 10_000,
      defaultListSize: 5,
      reportCost: false,
    });
  });

  test('listing page of the benchmark', () => {
    // The query of bench/run.ts.
    const result = analyze(`query StorefrontListing {
      products(first: 20) { nodes {
        id handle title
        priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
        images { url }
        variants {
          id sku title availableForSale quantityAvailable
          price { amount currencyCode }
          compareAtPrice { amount currencyCode }
          selectedOptions { name value }
        }
        listings { id status price { amount currencyCode } quantity }
      } }
    }`);

    // products 1 + 20 nodes × (Product 1 + priceRange 3 + 5 images +
    // 5 variants × (1 + price 1 + compareAtPrice 1 + 5 selectedOptions) +
    // 5 listings × (1 + price 1)) = 1 + 20 × 59.
    expect(result.cost).toBe(1_181);
    expectWithinLimits(result);
  });

  test('page of 50 products with stock and listings', () => {
    // The query of test/query-cost.test.ts.
    const query = `query ($first: Int!) {
      products(first: $first) {
        nodes {
          id title images { url } availableForSale
          priceRange { minVariantPrice { amount } }
          listings { status quantity }
          variants {
            sku availableForSale quantityAvailable price { amount }
            stockLevels { onHand available location { code } }
            listings { status price { amount } marketplace { name } }
          }
        }
      }
    }`;

    const fifty = analyze(query, { first: 50 });
    const five = analyze(query, { first: 5 });

    // Per product: 1 + 5 images + priceRange 2 + 5 listings + 5 variants ×
    // (1 + price 1 + 5 stockLevels × 2 + 5 listings × 3) = 148.
    expect(fifty.cost).toBe(1 + 50 * 148);
    expect(five.cost).toBe(1 + 5 * 148);
    expectWithinLimits(fifty);
  });

  test('first above the catalog maximum reaches the catalog', () => {
    // The catalog rejects first: 1000 itself, with a message that names
    // its own maximum of 250; the gateway lets the request through.
    const result = analyze('{ products(first: 1000) { nodes { id } } }');

    expect(result.cost).toBe(1_001);
    expectWithinLimits(result);
  });

  test('example of docs/gateway.md', () => {
    const result = analyze(`{
      products(first: 20) {
        nodes { title variants { sku price { amount } } }
      }
    }`);

    // products 1 + 20 nodes × (Product 1 + 5 variants × (1 + price 1)).
    expect(result.cost).toBe(221);
  });

  test('250 products with stock and listings', () => {
    const result = analyze(`{
      products(first: 250) {
        nodes {
          variants {
            sku
            stockLevels { available location { code } }
            listings { status }
          }
        }
      }
    }`);

    // 1 + 250 × (Product 1 + 5 variants × (1 + 5 × 2 + 5 × 1)).
    expect(result.cost).toBe(20_251);
    expect(result.cost).toBeGreaterThan(limits.maxCost);
  });

  test('standard introspection query', () => {
    const result = analyze(getIntrospectionQuery());

    // `__schema` counts 1 for depth; its selections are left out.
    expect(result.shape.depth).toBe(1);
    expect(result.cost).toBe(2_739);
    expectWithinLimits(result);
  });
});
