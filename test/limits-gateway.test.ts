import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { ApolloServer } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { getIntrospectionQuery, parse } from 'graphql';
import { pino } from 'pino';
import { describe, expect, onTestFinished, test } from 'vitest';
import { loadConfig } from '../platform/config.js';
import { createGraphQLHttpHandler, listen } from '../platform/http-server.js';
import { startGateway } from '../gateway/server.js';

// Two small subgraphs behind a real gateway. Catalog links Federation 2.9
// and declares `@cost` and `@listSize` on a few fields; `products(first:)`
// has neither, so it is sized by the `first`/`last` convention. Marketplace
// adds `Product.listingCount`. Each subgraph counts the requests it gets,
// so a test can check that a rejected operation reached none.

const CATALOG_TYPE_DEFS = `
  extend schema @link(
    url: "https://specs.apollo.dev/federation/v2.9"
    import: ["@key", "@cost", "@listSize"]
  )
  type Query {
    products(first: Int = 10, last: Int): ProductConnection!
    product(id: ID!): Product
    featured: [Product!]! @listSize(assumedSize: 3)
    search(term: String! @cost(weight: 20), limit: Int): [Product!]!
      @listSize(slicingArguments: ["limit"])
  }
  type Mutation {
    renameProduct(id: ID!, title: String!): Product
  }
  type ProductConnection {
    nodes: [Product!]!
    pageInfo: PageInfo!
  }
  type PageInfo {
    hasNextPage: Boolean!
  }
  type Product @key(fields: "id") {
    id: ID!
    title: String!
    price: Int @cost(weight: 4)
    variants: [Variant!]!
  }
  type Variant {
    sku: String!
    product: Product!
  }`;

const MARKETPLACE_TYPE_DEFS = `
  extend schema @link(
    url: "https://specs.apollo.dev/federation/v2.5"
    import: ["@key"]
  )
  type Product @key(fields: "id") {
    id: ID!
    listingCount: Int
  }`;

interface ProductRow {
  id: string;
  title: string;
  price: number;
}

const PRODUCTS: ProductRow[] = [
  { id: 'p1', title: 'Mug', price: 900 },
  { id: 'p2', title: 'Poster', price: 1500 },
  { id: 'p3', title: 'Tote bag', price: 1200 },
];

function findProduct(id: string): ProductRow | undefined {
  return PRODUCTS.find((product) => product.id === id);
}

const catalogResolvers = {
  Query: {
    products: (_: unknown, args: { first: number }) => ({
      nodes: PRODUCTS.slice(0, args.first),
      pageInfo: { hasNextPage: args.first < PRODUCTS.length },
    }),
    product: (_: unknown, args: { id: string }) => findProduct(args.id),
    featured: () => PRODUCTS.slice(0, 1),
    search: () => PRODUCTS.slice(0, 1),
  },
  Mutation: {
    renameProduct: (_: unknown, args: { id: string; title: string }) => {
      const product = findProduct(args.id);
      return product && { ...product, title: args.title };
    },
  },
  Product: {
    __resolveReference: (reference: { id: string }) =>
      findProduct(reference.id),
    variants: (product: ProductRow) => [
      { sku: `${product.id}-s`, productId: product.id },
      { sku: `${product.id}-l`, productId: product.id },
    ],
  },
  Variant: {
    product: (variant: { productId: string }) => findProduct(variant.productId),
  },
};

const marketplaceResolvers = {
  Product: {
    __resolveReference: (reference: { id: string }) => ({
      id: reference.id,
      listingCount: 2,
    }),
  },
};

/** Routing URL in the test supergraph; the gateway is given the real ones. */
const UNUSED_ROUTING_URL = 'http://127.0.0.1:9/graphql';

const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

interface TestSubgraph {
  url: string;
  /** GraphQL requests received. */
  requests: number;
  close(): Promise<void>;
}

async function startTestSubgraph(
  typeDefs: string,
  resolvers: object,
): Promise<TestSubgraph> {
  const apollo = new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: parse(typeDefs),
      resolvers: resolvers as never,
    }),
    csrfPrevention: false,
    logger: silentLogger,
  });
  await apollo.start();
  const state: TestSubgraph = {
    url: '',
    requests: 0,
    close: async () => {},
  };
  const handler = createGraphQLHttpHandler({
    apollo,
    bodyLimitBytes: 1_000_000,
    logger: silentLogger,
    createContext: async () => {
      state.requests += 1;
      return {};
    },
  });
  const http = await listen(handler, '127.0.0.1', 0);
  state.url = http.url;
  state.close = async () => {
    await http.close(0);
    await apollo.stop();
  };
  return state;
}

function composeTestSupergraph(): string {
  const result = composeServices([
    {
      name: 'catalog',
      url: UNUSED_ROUTING_URL,
      typeDefs: parse(CATALOG_TYPE_DEFS),
    },
    {
      name: 'marketplace',
      url: UNUSED_ROUTING_URL,
      typeDefs: parse(MARKETPLACE_TYPE_DEFS),
    },
  ]);
  if (result.errors) throw new Error(result.errors.map(String).join('\n'));
  return result.supergraphSdl;
}

interface LimitsFixture {
  url: string;
  catalog: TestSubgraph;
  marketplace: TestSubgraph;
  /** GraphQL requests that reached either subgraph. */
  subgraphRequests(): number;
}

/**
 * Starts both subgraphs and a gateway over them, stopped when the test
 * finishes. `settings` are configuration variables.
 */
async function startFixture(
  settings: Record<string, string> = {},
): Promise<LimitsFixture> {
  const catalog = await startTestSubgraph(CATALOG_TYPE_DEFS, catalogResolvers);
  const marketplace = await startTestSubgraph(
    MARKETPLACE_TYPE_DEFS,
    marketplaceResolvers,
  );
  const folder = mkdtempSync(path.join(os.tmpdir(), 'limits-test-'));
  const supergraphPath = path.join(folder, 'supergraph.graphql');
  await writeFile(supergraphPath, composeTestSupergraph());
  const gateway = await startGateway({
    config: loadConfig({ SUBGRAPH_TIMEOUT_MS: '3000', ...settings }),
    logger: silentLogger,
    supergraphPath,
    subgraphUrls: { catalog: catalog.url, marketplace: marketplace.url },
    host: '127.0.0.1',
    port: 0,
  });
  onTestFinished(async () => {
    await gateway.close();
    await catalog.close();
    await marketplace.close();
    rmSync(folder, { recursive: true, force: true });
  });
  return {
    url: gateway.url,
    catalog,
    marketplace,
    subgraphRequests: () => catalog.requests + marketplace.requests,
  };
}

interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: Array<{
    message: string;
    extensions?: Record<string, unknown>;
  }>;
  extensions?: Record<string, unknown>;
}

async function post(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ status: number; body: GraphQLBody }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    body: (await response.json()) as GraphQLBody,
  };
}

/** `{ a0: __typename a1: __typename … }` with `count` aliases. */
function aliasedTypenames(count: number): string {
  const fields = Array.from(
    { length: count },
    (_, index) => `a${index}: __typename`,
  );
  return `{ ${fields.join(' ')} }`;
}

/**
 * Builds a query `depth` fields deep: `product`, then `variants` and
 * `product` in turn, ending in a leaf field.
 */
function nestedQuery(depth: number): string {
  let selection = depth % 2 === 0 ? 'id' : 'sku';
  for (let level = depth - 1; level >= 1; level -= 1) {
    const field =
      level === 1
        ? 'product(id: "p1")'
        : level % 2 === 0
          ? 'variants'
          : 'product';
    selection = `${field} { ${selection} }`;
  }
  return `{ ${selection} }`;
}

describe('operation limits reject before any subgraph call', () => {
  test('10,000 aliases exceed the token limit', async () => {
    const fixture = await startFixture();

    const result = await post(fixture.url, aliasedTypenames(10_000));

    expect(result.status).toBe(400);
    expect(result.body.data).toBeUndefined();
    expect(result.body.errors).toEqual([
      {
        message:
          'The document has more than 5000 tokens, over the maximum of 5000. Send a shorter document.',
        extensions: {
          code: 'MAX_TOKENS_EXCEEDED',
          value: null,
          maximum: 5000,
        },
      },
    ]);
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('10,000 aliases exceed the alias limit', async () => {
    const fixture = await startFixture({ OPERATION_MAX_TOKENS: '100000' });

    const result = await post(fixture.url, aliasedTypenames(10_000));

    expect(result.status).toBe(400);
    expect(result.body.errors).toEqual([
      {
        message:
          'The operation uses 10000 aliases, over the maximum of 30. Use fewer aliases or split the operation.',
        extensions: {
          code: 'MAX_ALIASES_EXCEEDED',
          value: 10000,
          maximum: 30,
        },
      },
    ]);
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('depth 50 exceeds the depth limit', async () => {
    const fixture = await startFixture();

    const result = await post(fixture.url, nestedQuery(50));

    expect(result.status).toBe(400);
    expect(result.body.errors).toEqual([
      {
        message:
          'The operation is 50 fields deep, over the maximum depth of 15. Select fewer nested fields or split the operation.',
        extensions: { code: 'MAX_DEPTH_EXCEEDED', value: 50, maximum: 15 },
      },
    ]);
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('21 root fields exceed the root field limit', async () => {
    const fixture = await startFixture();
    const fields = Array.from(
      { length: 21 },
      (_, index) => `p${index}: product(id: "p1") { id }`,
    );

    const result = await post(fixture.url, `{ ${fields.join(' ')} }`);

    expect(result.status).toBe(400);
    expect(result.body.errors).toEqual([
      {
        message:
          'The operation selects 21 root fields, over the maximum of 20. Split it into several operations.',
        extensions: {
          code: 'MAX_ROOT_FIELDS_EXCEEDED',
          value: 21,
          maximum: 20,
        },
      },
    ]);
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('51 directives exceed the directive limit', async () => {
    const fixture = await startFixture();
    const fields = Array.from({ length: 51 }, () => 'title @include(if: true)');

    const result = await post(
      fixture.url,
      `{ product(id: "p1") { ${fields.join(' ')} } }`,
    );

    expect(result.status).toBe(400);
    expect(result.body.errors).toEqual([
      {
        message:
          'The operation uses 51 directives, over the maximum of 50. Use fewer directives.',
        extensions: {
          code: 'MAX_DIRECTIVES_EXCEEDED',
          value: 51,
          maximum: 50,
        },
      },
    ]);
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('token limit applies before parsing', async () => {
    const fixture = await startFixture();
    // 6,000 tokens of a valid selection, then a string that never ends:
    // had the whole document been parsed, the response would be a syntax
    // error about the string.
    const ids = Array.from({ length: 6_000 }, () => 'id').join(' ');

    const result = await post(
      fixture.url,
      `{ product(id: "p1") { ${ids} } } "unterminated`,
    );

    expect(result.status).toBe(400);
    expect(result.body.errors).toHaveLength(1);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'MAX_TOKENS_EXCEEDED',
      value: null,
      maximum: 5000,
    });
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('token-heavy valid query is rejected', async () => {
    const fixture = await startFixture();
    const titles = Array.from({ length: 5_000 }, () => 'title').join(' ');

    const result = await post(
      fixture.url,
      `{ product(id: "p1") { ${titles} } }`,
    );

    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions?.code).toBe(
      'MAX_TOKENS_EXCEEDED',
    );
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('5 MB body gets HTTP 413', async () => {
    const fixture = await startFixture();
    const body = JSON.stringify({
      query: '{ product(id: "p1") { id } }',
      variables: { padding: 'x'.repeat(5 * 1024 * 1024) },
    });

    const response = await fetch(fixture.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });

    expect(response.status).toBe(413);
    expect(response.headers.get('content-type')).toBe(
      'application/json; charset=utf-8',
    );
    expect(await response.json()).toEqual({
      errors: [
        {
          message:
            'The request body is larger than the limit of 1048576 bytes. Send a shorter query or fewer variables.',
          extensions: { code: 'PAYLOAD_TOO_LARGE' },
        },
      ],
    });
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('5 MB body without a length gets HTTP 413', async () => {
    const fixture = await startFixture();
    const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
    let sent = 0;
    // A stream has no content-length, so the limit applies while reading.
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) {
          controller.enqueue(new TextEncoder().encode('{"query":"'));
        }
        if (sent >= 5 * 1024 * 1024) {
          controller.enqueue(new TextEncoder().encode('"}'));
          controller.close();
          return;
        }
        controller.enqueue(chunk);
        sent += chunk.length;
      },
    });

    const response = await fetch(fixture.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);

    expect(response.status).toBe(413);
    const result = (await response.json()) as GraphQLBody;
    expect(result.errors?.[0]?.extensions).toEqual({
      code: 'PAYLOAD_TOO_LARGE',
    });
    expect(fixture.subgraphRequests()).toBe(0);
  });
});

describe('operation limits with fragments', () => {
  test('fragments that hide depth', async () => {
    const fixture = await startFixture();
    // F1 to F7 each add `variants { product }`, F8 `variants { sku }`:
    // 1 + 7 × 2 + 2 = 17 fields deep once the fragments are inlined,
    // though no selection in the document is deeper than 2.
    const fragments = Array.from({ length: 7 }, (_, index) => {
      const next = `F${index + 2}`;
      return `fragment F${index + 1} on Product { variants { product { ...${next} } } }`;
    });
    const query = `{ product(id: "p1") { ...F1 } } ${fragments.join(' ')}
      fragment F8 on Product { variants { sku } }`;

    const result = await post(fixture.url, query);

    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'MAX_DEPTH_EXCEEDED',
      value: 17,
      maximum: 15,
    });
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('fragments that hide aliases', async () => {
    const fixture = await startFixture();
    const aliases = Array.from(
      { length: 8 },
      (_, index) => `t${index}: title`,
    ).join(' ');
    // One fragment of 8 aliases, spread under 4 aliased root fields:
    // 4 × 8 + 4 = 36 aliases.
    const query = `
      {
        a: product(id: "p1") { ...Titles }
        b: product(id: "p2") { ...Titles }
        c: product(id: "p3") { ...Titles }
        d: product(id: "p1") { ...Titles }
      }
      fragment Titles on Product { ${aliases} }`;

    const result = await post(fixture.url, query);

    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'MAX_ALIASES_EXCEEDED',
      value: 36,
      maximum: 30,
    });
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('doubling fragments count every expansion', async () => {
    const fixture = await startFixture();
    // F0 spreads F1 twice, F1 spreads F2 twice, …: F40 contains one alias,
    // which the expanded operation repeats 2^40 times.
    const fragments = Array.from({ length: 40 }, (_, index) => {
      const next = `F${index + 1}`;
      return `fragment F${index} on Query { ...${next} ...${next} }`;
    });
    const query = `{ ...F0 } ${fragments.join(' ')}
      fragment F40 on Query { alias: __typename }`;

    const startedAt = performance.now();
    const result = await post(fixture.url, query);
    const elapsedMs = performance.now() - startedAt;

    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'MAX_ALIASES_EXCEEDED',
      value: 2 ** 40,
      maximum: 30,
    });
    expect(elapsedMs).toBeLessThan(2_000);
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('fragment cycle fails validation', async () => {
    const fixture = await startFixture();
    const query = `
      { product(id: "p1") { ...A } }
      fragment A on Product { id variants { product { ...B } } }
      fragment B on Product { title ...A }`;

    const result = await post(fixture.url, query);

    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions?.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
    expect(result.body.errors?.[0]?.message).toBe(
      'Cannot spread fragment "A" within itself via "B".',
    );
    expect(fixture.subgraphRequests()).toBe(0);
  });
});

describe('operation limits are configurable', () => {
  // Each case: the variable, an operation exactly at the maximum of 3 and
  // one over it, and the code of the rejection.
  const cases: Array<[string, string, string, string]> = [
    [
      'OPERATION_MAX_DEPTH',
      '{ product(id: "p1") { variants { sku } } }',
      '{ product(id: "p1") { variants { product { id } } } }',
      'MAX_DEPTH_EXCEEDED',
    ],
    [
      'OPERATION_MAX_ALIASES',
      '{ a: product(id: "p1") { b: id c: title } }',
      '{ a: product(id: "p1") { b: id c: title d: price } }',
      'MAX_ALIASES_EXCEEDED',
    ],
    [
      'OPERATION_MAX_ROOT_FIELDS',
      '{ a: product(id: "p1") { id } b: featured { id } __typename }',
      '{ a: product(id: "p1") { id } b: featured { id } c: featured { id } __typename }',
      'MAX_ROOT_FIELDS_EXCEEDED',
    ],
    [
      'OPERATION_MAX_DIRECTIVES',
      '{ product(id: "p1") { id @skip(if: false) title @include(if: true) price @include(if: true) } }',
      '{ product(id: "p1") { id @skip(if: false) title @include(if: true) price @include(if: true) variants @include(if: true) { sku } } }',
      'MAX_DIRECTIVES_EXCEEDED',
    ],
    [
      'OPERATION_MAX_COST',
      '{ featured { id } }',
      '{ featured { id } product(id: "p1") { id } }',
      'MAX_COST_EXCEEDED',
    ],
  ];

  test.each(cases)('%s', async (variable, atMaximum, overMaximum, code) => {
    const fixture = await startFixture({ [variable]: '3' });

    const accepted = await post(fixture.url, atMaximum);
    const requestsAfterAccepted = fixture.subgraphRequests();
    const rejected = await post(fixture.url, overMaximum);

    expect(accepted.status).toBe(200);
    expect(accepted.body.errors).toBeUndefined();
    expect(requestsAfterAccepted).toBeGreaterThan(0);
    expect(rejected.status).toBe(400);
    expect(rejected.body.errors?.[0]?.extensions).toMatchObject({
      code,
      value: 4,
      maximum: 3,
    });
    expect(fixture.subgraphRequests()).toBe(requestsAfterAccepted);
  });

  test('OPERATION_MAX_TOKENS', async () => {
    const fixture = await startFixture({ OPERATION_MAX_TOKENS: '6' });

    // `{ featured { id } }` is 6 tokens; a comment is not a token.
    const accepted = await post(fixture.url, '{ featured { id } } # comment');
    const requestsAfterAccepted = fixture.subgraphRequests();
    const rejected = await post(fixture.url, '{ featured { id title } }');

    expect(accepted.status).toBe(200);
    expect(accepted.body.errors).toBeUndefined();
    expect(requestsAfterAccepted).toBeGreaterThan(0);
    expect(rejected.status).toBe(400);
    expect(rejected.body.errors?.[0]?.extensions).toEqual({
      code: 'MAX_TOKENS_EXCEEDED',
      value: null,
      maximum: 6,
    });
    expect(fixture.subgraphRequests()).toBe(requestsAfterAccepted);
  });

  test('invalid limit stops the start', () => {
    expect(() => loadConfig({ OPERATION_MAX_DEPTH: '0' })).toThrow(
      'OPERATION_MAX_DEPTH',
    );
    expect(() => loadConfig({ OPERATION_MAX_COST: 'many' })).toThrow(
      'OPERATION_MAX_COST',
    );
    expect(() => loadConfig({ OPERATION_REPORT_COST: 'yes' })).toThrow(
      'OPERATION_REPORT_COST',
    );
  });
});

describe('query cost', () => {
  const reportCost = { OPERATION_REPORT_COST: 'true' };

  test('accepted query reports its cost', async () => {
    const fixture = await startFixture(reportCost);
    // products 1, pageInfo 1, and 2 nodes × (Product 1 + price 4 +
    // 5 variants × 1) = 2 × 10: 22 in all.
    const query = `{
      products(first: 2) {
        nodes { id title price variants { sku } listingCount }
        pageInfo { hasNextPage }
      }
    }`;

    const result = await post(fixture.url, query);

    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      data: {
        products: {
          nodes: [
            {
              id: 'p1',
              title: 'Mug',
              price: 900,
              variants: [{ sku: 'p1-s' }, { sku: 'p1-l' }],
              listingCount: 2,
            },
            {
              id: 'p2',
              title: 'Poster',
              price: 1500,
              variants: [{ sku: 'p2-s' }, { sku: 'p2-l' }],
              listingCount: 2,
            },
          ],
          pageInfo: { hasNextPage: true },
        },
      },
      extensions: {
        cost: {
          requestedQueryCost: 22,
          actualQueryCost: null,
          throttleStatus: null,
        },
      },
    });
    expect(fixture.catalog.requests).toBe(1);
    expect(fixture.marketplace.requests).toBe(1);
  });

  test('cost is not reported by default', async () => {
    const fixture = await startFixture();

    const result = await post(fixture.url, '{ featured { id } }');

    expect(result.status).toBe(200);
    expect(result.body).toEqual({ data: { featured: [{ id: 'p1' }] } });
  });

  test('costly products query is rejected', async () => {
    const fixture = await startFixture(reportCost);
    // products 1 + 250 nodes × (Product 1 + 5 variants × (Variant 1 +
    // product (1 + price 4 + 5 variants × 1))) = 1 + 250 × 56 = 14,001.
    const query = `{
      products(first: 250) {
        nodes { variants { product { price variants { sku } } } }
      }
    }`;

    const result = await post(fixture.url, query);

    expect(result.status).toBe(400);
    expect(result.body).toEqual({
      errors: [
        {
          message:
            "The operation's cost is 14001, over the maximum cost of 10000. Request fewer items with `first` or `last`, or select fewer nested lists.",
          extensions: {
            code: 'MAX_COST_EXCEEDED',
            value: 14001,
            maximum: 10000,
          },
        },
      ],
      extensions: {
        cost: {
          requestedQueryCost: 14001,
          actualQueryCost: null,
          throttleStatus: null,
        },
      },
    });
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('variables size the list', async () => {
    const fixture = await startFixture(reportCost);
    const query = `query Page($count: Int) {
      products(first: $count) { nodes { id } }
    }`;
    const withDefault = `query Page($count: Int = 7) {
      products(first: $count) { nodes { id } }
    }`;

    const three = await post(fixture.url, query, { count: 3 });
    const omitted = await post(fixture.url, query);
    const defaulted = await post(fixture.url, withDefault);
    const tooMany = await post(fixture.url, query, { count: 20_000 });

    // 1 for the connection and 1 per node; an omitted variable leaves the
    // argument's default of 10, a variable's default applies before it.
    expect(three.body.extensions?.cost).toMatchObject({
      requestedQueryCost: 4,
    });
    expect(omitted.body.extensions?.cost).toMatchObject({
      requestedQueryCost: 11,
    });
    expect(defaulted.body.extensions?.cost).toMatchObject({
      requestedQueryCost: 8,
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors?.[0]?.extensions).toEqual({
      code: 'MAX_COST_EXCEEDED',
      value: 20_001,
      maximum: 10_000,
    });
  });

  test('last sizes the list like first', async () => {
    const fixture = await startFixture(reportCost);

    // `first` has a default of 10, which applies only when the operation
    // passes neither slicing argument.
    const last = await post(
      fixture.url,
      '{ products(last: 4) { nodes { id } } }',
    );
    const both = await post(
      fixture.url,
      '{ products(first: 2, last: 4) { nodes { id } } }',
    );

    expect(last.body.extensions?.cost).toMatchObject({
      requestedQueryCost: 5,
    });
    expect(both.body.extensions?.cost).toMatchObject({
      requestedQueryCost: 5,
    });
  });

  test('supergraph cost directives apply', async () => {
    const fixture = await startFixture(reportCost);

    // featured: @listSize(assumedSize: 3) × (Product 1 + price 4) = 15.
    const featured = await post(fixture.url, '{ featured { id price } }');
    // search: term's @cost 20, plus limit 4 × Product 1 = 24.
    const search = await post(
      fixture.url,
      '{ search(term: "mug", limit: 4) { id } }',
    );
    // Without `limit`, search falls back to the default list size of 5.
    const unsized = await post(fixture.url, '{ search(term: "mug") { id } }');

    expect(featured.body.extensions?.cost).toMatchObject({
      requestedQueryCost: 15,
    });
    expect(search.body.extensions?.cost).toMatchObject({
      requestedQueryCost: 24,
    });
    expect(unsized.body.extensions?.cost).toMatchObject({
      requestedQueryCost: 25,
    });
  });

  test('mutation field weighs 10', async () => {
    const fixture = await startFixture(reportCost);

    const result = await post(
      fixture.url,
      'mutation { renameProduct(id: "p1", title: "Cup") { id title } }',
    );

    expect(result.body.data).toEqual({
      renameProduct: { id: 'p1', title: 'Cup' },
    });
    expect(result.body.extensions?.cost).toMatchObject({
      requestedQueryCost: 10,
    });
  });

  test('OPERATION_DEFAULT_LIST_SIZE sizes unsized lists', async () => {
    const fixture = await startFixture({
      ...reportCost,
      OPERATION_DEFAULT_LIST_SIZE: '2',
    });

    const result = await post(
      fixture.url,
      '{ product(id: "p1") { variants { sku } } }',
    );

    // Product 1 + 2 variants × 1.
    expect(result.body.extensions?.cost).toMatchObject({
      requestedQueryCost: 3,
    });
  });
});

describe('introspection within the limits', () => {
  test('standard introspection query is accepted', async () => {
    const fixture = await startFixture();

    const result = await post(fixture.url, getIntrospectionQuery());

    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    const schema = result.body.data?.__schema as { types: unknown[] };
    expect(schema.types.length).toBeGreaterThan(0);
    expect(fixture.subgraphRequests()).toBe(0);
  });

  test('nested introspection lists fail validation', async () => {
    const fixture = await startFixture();
    // Introspection is left out of the depth limit; graphql-js's
    // MaxIntrospectionDepthRule rejects `fields` nested 3 deep instead.
    const query = `{ __schema { types { fields { type {
      fields { type { fields { name } } } } } } } }`;

    const result = await post(fixture.url, query);

    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.message).toBe(
      'Maximum introspection depth exceeded',
    );
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'GRAPHQL_VALIDATION_FAILED',
    });
  });

  test('aliased introspection is limited by cost', async () => {
    const fixture = await startFixture();
    const introspection =
      '__schema { types { fields { type { fields { args { name } } } } } }';
    const aliases = Array.from(
      { length: 20 },
      (_, index) => `s${index}: ${introspection}`,
    );

    const result = await post(fixture.url, `{ ${aliases.join(' ')} }`);

    // Each alias: __Schema 1 + 5 types × (1 + 5 fields × (1 + type
    // (1 + 5 fields × (1 + 5 args × 1)))) = 806, for 20 aliases 16,120.
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'MAX_COST_EXCEEDED',
      value: 16_120,
      maximum: 10_000,
    });
    expect(fixture.subgraphRequests()).toBe(0);
  });
});
