import { composeServices } from '@apollo/composition';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer, HeaderMap, type GraphQLRequest } from '@apollo/server';
import { buildSubgraphSchema, printSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { GraphQLError, parse, type ExecutionResult } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  buildDemoSubgraphSchema,
  composeDemoSupergraph,
  DEEP_QUERY,
  DEMO_SUBGRAPH_NAMES,
} from '../bench/gateways/demo-subgraphs.js';
import { executeWithPlanExecutor } from '../gateway/execution/gateway.js';
import { createLogger } from '../platform/logger.js';
import {
  serveSubgraphs,
  type ServedSubgraph,
  type SubgraphRequest,
} from './support/demo-subgraphs.js';

// Each operation runs on plain @apollo/gateway and on the gateway's plan
// executor over the same supergraph and the same subgraph servers, and the
// two client responses must be equal. The subgraphs count the entity
// representations they receive, so the tests also measure what the plan
// executor saves by sending each distinct representation once per fetch.

process.env.APOLLO_TELEMETRY_DISABLED = 'true';

const logger = createLogger('plan-executor-test', 'silent');

/** A GraphQL response body as the client receives it. */
interface ClientResult {
  data?: any;
  errors?: {
    message: string;
    path?: (string | number)[];
    extensions?: Record<string, unknown>;
  }[];
  extensions?: Record<string, any>;
}

/** One operation run on one gateway, and what the subgraphs received for it. */
interface GatewayRun {
  status: number | undefined;
  result: ClientResult;
  /** GraphQL requests per subgraph. */
  requests: Record<string, number>;
  /** Entity representations per subgraph, summed over its requests. */
  representations: Record<string, number>;
}

interface GatewayPair {
  subgraphs: Record<string, ServedSubgraph>;
  /** Apollo Server on plain @apollo/gateway. */
  plain: ApolloServer;
  /** Apollo Server on the gateway's plan executor. */
  ours: ApolloServer;
}

async function startGatewayPair(
  supergraphSdl: string,
  subgraphs: Record<string, ServedSubgraph>,
): Promise<GatewayPair> {
  const plain = new ApolloServer({
    gateway: new ApolloGateway({ supergraphSdl, logger }),
    includeStacktraceInErrorResponses: false,
  });
  const ours = new ApolloServer({
    gateway: executeWithPlanExecutor(
      new ApolloGateway({ supergraphSdl, logger }),
      { logger },
    ),
    includeStacktraceInErrorResponses: false,
  });
  await plain.start();
  await ours.start();
  return { subgraphs, plain, ours };
}

async function stopGatewayPair(pair: GatewayPair | undefined): Promise<void> {
  if (!pair) return;
  await pair.plain.stop();
  await pair.ours.stop();
  for (const subgraph of Object.values(pair.subgraphs)) await subgraph.close();
}

async function runOperation(
  server: ApolloServer,
  subgraphs: Record<string, ServedSubgraph>,
  request: GraphQLRequest,
): Promise<GatewayRun> {
  for (const subgraph of Object.values(subgraphs)) subgraph.resetCounters();
  const response = await server.executeOperation(request);
  if (response.body.kind !== 'single') {
    throw new Error(`Expected a single result, got ${response.body.kind}`);
  }
  const requests: Record<string, number> = {};
  const representations: Record<string, number> = {};
  for (const [name, subgraph] of Object.entries(subgraphs)) {
    requests[name] = subgraph.requests;
    representations[name] = subgraph.representationsPerRequest.reduce(
      (sum, count) => sum + count,
      0,
    );
  }
  return {
    status: response.http.status,
    // As serialized for the client, so that errors compare as plain data.
    result: JSON.parse(JSON.stringify(response.body.singleResult)),
    requests,
    representations,
  };
}

/** Runs `request` on plain @apollo/gateway, then on the plan executor. */
async function runOnBoth(
  pair: GatewayPair,
  request: GraphQLRequest,
): Promise<{ plain: GatewayRun; ours: GatewayRun }> {
  const plain = await runOperation(pair.plain, pair.subgraphs, request);
  const ours = await runOperation(pair.ours, pair.subgraphs, request);
  return { plain, ours };
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

/**
 * Groups the errors of `result` by response path with list indexes
 * replaced by `@`, each group in response order. Fetches that run in
 * parallel add their errors in the order they complete, which depends on
 * timing for @apollo/gateway too, so only the order within one fetch is
 * fixed. In these tests each group comes from one fetch.
 */
function errorsByPathPattern(
  result: ClientResult,
): Record<string, NonNullable<ClientResult['errors']>> {
  const groups: Record<string, NonNullable<ClientResult['errors']>> = {};
  for (const error of result.errors ?? []) {
    const pattern = (error.path ?? [])
      .map((step) => (typeof step === 'number' ? '@' : step))
      .join('.');
    (groups[pattern] ??= []).push(error);
  }
  return groups;
}

/** Response paths of the errors of `result` whose message is `message`. */
function errorPaths(result: ClientResult, message: string): string[] {
  return (result.errors ?? [])
    .filter((error) => error.message === message)
    .map((error) => (error.path ?? []).join('.'));
}

describe('plan executor on the demo supergraph', () => {
  let pair: GatewayPair;

  beforeAll(async () => {
    const schemas = Object.fromEntries(
      DEMO_SUBGRAPH_NAMES.map((name) => [name, buildDemoSubgraphSchema(name)]),
    );
    const subgraphs = await serveSubgraphs(schemas);
    const supergraphSdl = composeDemoSupergraph((name) => subgraphs[name]!.url);
    pair = await startGatewayPair(supergraphSdl, subgraphs);
  });

  afterAll(async () => {
    await stopGatewayPair(pair);
  });

  it('returns the deep query', async () => {
    const { plain, ours } = await runOnBoth(pair, { query: DEEP_QUERY });

    expect(ours.result).toEqual(plain.result);
    expect(ours.status).toBe(plain.status);
    expect(plain.result.errors).toBeUndefined();
    expect(plain.result.data.users).toHaveLength(5);
    expect(plain.result.data.users[2].reviews[0].product).toMatchObject({
      upc: '3',
      name: 'Product 3',
      price: 400,
      inStock: true,
      shippingEstimate: 12,
    });
    expect(plain.result.data.topProducts[0]).toMatchObject({
      upc: '1',
      name: 'Product 1',
      inStock: false,
      shippingEstimate: 5,
    });
  });

  it('sends each distinct representation once', async () => {
    const { plain, ours } = await runOnBoth(pair, { query: DEEP_QUERY });

    // Plain @apollo/gateway sends one representation per object. The users
    // branch reaches 5 users, their 30 reviews' products, those products'
    // 90 review authors and the authors' 540 review products. The
    // topProducts branch reaches 5 products, 15 review authors, their 90
    // review products and those products' 270 review authors.
    expect(plain.representations).toEqual({
      accounts: 90 + 15 + 270,
      products: 30 + 540 + 90,
      inventory: 30 + 30 + 540 + 540 + 5 + 90 + 90,
      reviews: 5 + 5,
    });
    // The demo has 5 users and 10 products, so no entity fetch needs more
    // than 10 distinct representations.
    expect(ours.representations).toEqual({
      accounts: 5 + 5 + 5,
      products: 10 + 10 + 10,
      inventory: 10 + 10 + 10 + 10 + 5 + 10 + 10,
      reviews: 5 + 5,
    });
    expect(total(ours.representations)).toBe(120);
    expect(total(plain.representations)).toBe(2370);
    // Ours sends the entity fetches of one subgraph that are ready at the
    // same time as one request. The users branch takes 6 requests and the
    // topProducts branch 7 on their own. Whether the two branches meet in
    // one request depends on when their responses arrive, hence the range.
    expect(plain.requests).toEqual({
      accounts: 4,
      products: 4,
      inventory: 7,
      reviews: 2,
    });
    expect(total(ours.requests)).toBeGreaterThanOrEqual(8);
    expect(total(ours.requests)).toBeLessThanOrEqual(13);
  });

  it('keeps aliases named after Object.prototype members off Object.prototype', async () => {
    // Each alias below names an inherited member of plain objects: the
    // root fetch, the entity merges and result shaping all write them.
    const query = `{
      topProducts(first: 1) {
        constructor: name toString: upc
        __proto__: reviews { pollutedByShaping: body }
      }
      users {
        constructor: reviews { prototype: product { pollutedByMerge: name } }
      }
    }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(ours.result).toEqual(plain.result);
    expect(plain.result.errors).toBeUndefined();
    expect(ours.result.data.topProducts[0].constructor).toBe('Product 1');
    expect(ours.result.data.topProducts[0].toString).toBe('1');
    expect(ours.result.data.topProducts[0].__proto__).toEqual([
      { pollutedByShaping: 'Review 1' },
      { pollutedByShaping: 'Review 11' },
      { pollutedByShaping: 'Review 21' },
    ]);
    expect(
      ours.result.data.users[0].constructor[0].prototype.pollutedByMerge,
    ).toBe('Product 1');
    const plainObject: Record<string, unknown> = {};
    expect(plainObject.pollutedByShaping).toBeUndefined();
    expect(plainObject.pollutedByMerge).toBeUndefined();
    expect(Object.getPrototypeOf(plainObject)).toBe(Object.prototype);
    // The process still serves other queries.
    const after = await runOnBoth(pair, { query: DEEP_QUERY });
    expect(after.ours.result).toEqual(after.plain.result);
  });

  it('applies variables, @skip and @include', async () => {
    const query = `query Conditional(
      $first: Int = 3
      $withReviews: Boolean!
      $withoutStock: Boolean = false
    ) {
      topProducts(first: $first) {
        upc
        inStock @skip(if: $withoutStock)
        shippingEstimate @include(if: $withReviews)
        reviews @include(if: $withReviews) {
          id
          author { name reviews @skip(if: $withoutStock) { id product { name } } }
        }
      }
    }`;
    const variableSets = [
      { withReviews: true },
      { withReviews: false },
      { first: 2, withReviews: true, withoutStock: true },
      { first: 0, withReviews: true },
    ];
    for (const variables of variableSets) {
      const { plain, ours } = await runOnBoth(pair, { query, variables });

      expect(ours.result, JSON.stringify(variables)).toEqual(plain.result);
      expect(plain.result.errors).toBeUndefined();
    }

    const { ours } = await runOnBoth(pair, {
      query,
      variables: { withReviews: true },
    });
    expect(ours.result.data.topProducts).toHaveLength(3);
    expect(ours.result.data.topProducts[1].reviews[0].author.name).toBe(
      'User 2',
    );
    const { ours: skipped } = await runOnBoth(pair, {
      query,
      variables: { first: 2, withReviews: false, withoutStock: true },
    });
    expect(skipped.result.data).toEqual({
      topProducts: [{ upc: '1' }, { upc: '2' }],
    });
    expect(total(skipped.requests)).toBe(1);
  });

  it('rejects invalid variables', async () => {
    const query = `query Top($first: Int!) { topProducts(first: $first) { upc } }`;
    for (const variables of [{ first: 'two' }, {}, { first: null }]) {
      const { plain, ours } = await runOnBoth(pair, { query, variables });

      expect(ours.result, JSON.stringify(variables)).toEqual(plain.result);
      expect(ours.status).toBe(plain.status);
      expect(plain.result.errors).toHaveLength(1);
      expect(total(ours.requests)).toBe(0);
    }
  });

  it('returns aliases and __typename', async () => {
    const query = `{
      __typename
      cheap: topProducts(first: 2) {
        __typename code: upc title: name stock: inStock
      }
      all: topProducts(first: 10) {
        code: upc
        delivery: shippingEstimate
        typename: __typename
      }
      people: users {
        __typename
        handle: username
        written: reviews {
          __typename
          about: product { upc label: name inStock }
          product { name }
        }
      }
    }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(ours.result).toEqual(plain.result);
    expect(plain.result.errors).toBeUndefined();
    expect(plain.result.data.__typename).toBe('Query');
    expect(plain.result.data.cheap[1]).toEqual({
      __typename: 'Product',
      code: '2',
      title: 'Product 2',
      stock: true,
    });
    expect(plain.result.data.all).toHaveLength(10);
    expect(plain.result.data.all[9]).toEqual({
      code: '10',
      delivery: 0,
      typename: 'Product',
    });
    expect(plain.result.data.people[4].written[0]).toEqual({
      __typename: 'Review',
      about: { upc: '5', label: 'Product 5', inStock: true },
      product: { name: 'Product 5' },
    });
  });

  it('expands named and inline fragments', async () => {
    const query = `query WithFragments($withBody: Boolean = true) {
      users { ...UserCard }
      topProducts(first: 4) {
        ... on Product { upc ...Stock }
        ... @include(if: $withBody) { reviews { body } }
        ...ProductReviews
      }
    }
    fragment UserCard on User {
      id
      ... on User { name }
      reviews { ...ReviewLine }
    }
    fragment ReviewLine on Review {
      id
      product { ...Stock name }
    }
    fragment Stock on Product { inStock shippingEstimate }
    fragment ProductReviews on Product {
      reviews { id author { ...UserName } }
    }
    fragment UserName on User { username }`;
    for (const variables of [{}, { withBody: false }]) {
      const { plain, ours } = await runOnBoth(pair, { query, variables });

      expect(ours.result, JSON.stringify(variables)).toEqual(plain.result);
      expect(plain.result.errors).toBeUndefined();
    }

    const { ours } = await runOnBoth(pair, { query });
    expect(ours.result.data.users[0]).toMatchObject({
      id: '1',
      name: 'User 1',
    });
    expect(ours.result.data.users[0].reviews[1]).toEqual({
      id: '6',
      product: {
        inStock: true,
        shippingEstimate: 23,
        name: 'Product 6',
      },
    });
    expect(ours.result.data.topProducts[3].reviews[0]).toEqual({
      body: 'Review 4',
      id: '4',
      author: { username: 'user4' },
    });
  });

  it('selects the named operation', async () => {
    const query = `
      query Users { users { id reviews { product { name } } } }
      query Products { topProducts(first: 1) { name reviews { author { name } } } }
    `;
    for (const operationName of ['Users', 'Products']) {
      const { plain, ours } = await runOnBoth(pair, { query, operationName });

      expect(ours.result, operationName).toEqual(plain.result);
      expect(plain.result.errors).toBeUndefined();
    }

    const { ours } = await runOnBoth(pair, {
      query,
      operationName: 'Products',
    });
    expect(ours.result.data).toEqual({
      topProducts: [
        {
          name: 'Product 1',
          reviews: [
            { author: { name: 'User 1' } },
            { author: { name: 'User 1' } },
            { author: { name: 'User 1' } },
          ],
        },
      ],
    });
  });

  it('resolves introspection next to data', async () => {
    const query = `{
      __type(name: "Product") { name fields { name type { kind } } }
      topProducts(first: 1) { name __typename }
      __schema { queryType { name } }
    }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(ours.result).toEqual(plain.result);
    expect(plain.result.errors).toBeUndefined();
    expect(plain.result.data.__type.name).toBe('Product');
    expect(plain.result.data.__schema.queryType.name).toBe('Query');
    expect(plain.result.data.topProducts).toEqual([
      { name: 'Product 1', __typename: 'Product' },
    ]);
  });

  it('returns the query plan on request', async () => {
    // @apollo/gateway adds the plan to the response when NODE_ENV is not
    // production and the request has this header.
    const headers = new HeaderMap([['apollo-query-plan-experimental', '1']]);
    const query = `{ topProducts(first: 1) { name inStock } }`;
    const request = {
      query,
      http: { method: 'POST', headers, search: '', body: { query } },
    };
    const { plain, ours } = await runOnBoth(pair, request);

    expect(plain.result.extensions?.__queryPlanExperimental).toContain(
      'Fetch(service: "inventory")',
    );
    expect(ours.result).toEqual(plain.result);
  });

  it('handles an empty root list', async () => {
    const query = `{
      topProducts(first: 0) {
        upc inStock shippingEstimate reviews { author { name } }
      }
    }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(ours.result).toEqual(plain.result);
    expect(plain.result).toEqual({ data: { topProducts: [] } });
    expect(ours.requests).toEqual({
      accounts: 0,
      products: 1,
      inventory: 0,
      reviews: 0,
    });
  });
});

const FEDERATION_LINK =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])';

/**
 * Builds the type definitions of the demo inventory subgraph's Product with
 * one more field, stockCode. The supergraph is composed with
 * `stockCode: String!` and the subgraph serves `stockCode: String`, so that
 * a null stockCode passes the subgraph and fails value completion in the
 * gateway.
 */
function inventoryTypeDefs(stockCodeType: 'String' | 'String!') {
  return parse(`${FEDERATION_LINK}
type Product @key(fields: "upc") {
  upc: String!
  price: Int @external
  weight: Int @external
  inStock: Boolean
  shippingEstimate: Int @requires(fields: "price weight")
  stockCode: ${stockCodeType}
}`);
}

/** Root fields that return no product, a list with nulls and an empty list. */
const FEATURED_TYPE_DEFS = parse(`${FEDERATION_LINK}
type Query {
  featuredProduct: Product
  featuredProducts: [Product]
  noFeaturedProducts: [Product!]!
}
type Product @key(fields: "upc", resolvable: false) { upc: String! }`);

/** Products (by upc) for which the faulty subgraphs fail, cleared before each test. */
const faults = {
  /** inventory: inStock throws an error with extensions.code STOCK_UNAVAILABLE. */
  inStockError: new Set<string>(),
  /** inventory: shippingEstimate throws an Error, which has no code. */
  shippingError: new Set<string>(),
  /** inventory: shippingEstimate throws an Error after this many milliseconds. */
  delayedShippingError: new Map<string, number>(),
  /** inventory: stockCode resolves to null. */
  nullStockCode: new Set<string>(),
  /** products: the entity comes back null with an error at its `_entities` path. */
  productEntityError: new Set<string>(),
};

interface InventoryProduct {
  upc: string;
  price: number;
  weight: number;
}

const inventoryResolvers: GraphQLResolverMap<unknown> = {
  Product: {
    __resolveReference: (reference: InventoryProduct) => reference,
    inStock: (product: InventoryProduct) => {
      if (faults.inStockError.has(product.upc)) {
        throw new GraphQLError(`Stock of product ${product.upc} is unknown`, {
          extensions: { code: 'STOCK_UNAVAILABLE' },
        });
      }
      return Number(product.upc) % 2 === 0;
    },
    shippingEstimate: (product: InventoryProduct) => {
      const delayMs = faults.delayedShippingError.get(product.upc);
      if (delayMs !== undefined) {
        return sleep(delayMs).then(() => {
          throw new Error(`No shipping estimate for product ${product.upc}`);
        });
      }
      if (faults.shippingError.has(product.upc)) {
        throw new Error(`No shipping estimate for product ${product.upc}`);
      }
      return Math.round(product.weight / 2);
    },
    stockCode: (product: InventoryProduct) =>
      faults.nullStockCode.has(product.upc) ? null : `STOCK-${product.upc}`,
  },
};

const featuredResolvers: GraphQLResolverMap<unknown> = {
  Query: {
    featuredProduct: () => null,
    featuredProducts: () => [
      { upc: '3' },
      null,
      { upc: '1' },
      { upc: '3' },
      null,
      { upc: '2' },
    ],
    noFeaturedProducts: () => [],
  },
};

/**
 * Rewrites an entity response of the products subgraph as if the subgraph
 * failed for the products in `faults.productEntityError`. Each of them gets
 * a null entity and an error at its `_entities` path.
 */
function failProductEntities(
  result: ExecutionResult,
  request: SubgraphRequest,
): ExecutionResult {
  const representations = request.variables?.representations as
    { upc: string }[] | undefined;
  const entities = (result.data as { _entities?: unknown[] } | null)?._entities;
  if (!representations || !entities) return result;
  const errors = [...(result.errors ?? [])];
  representations.forEach((representation, index) => {
    if (!faults.productEntityError.has(representation.upc)) return;
    entities[index] = null;
    errors.push(
      new GraphQLError(`Product ${representation.upc} is unavailable`, {
        path: ['_entities', index],
      }),
    );
  });
  return errors.length > 0 ? { ...result, errors } : result;
}

describe('plan executor with failing subgraphs', () => {
  let pair: GatewayPair;

  beforeAll(async () => {
    const subgraphs = await serveSubgraphs({
      accounts: buildDemoSubgraphSchema('accounts'),
      products: buildDemoSubgraphSchema('products'),
      inventory: buildSubgraphSchema({
        typeDefs: inventoryTypeDefs('String'),
        resolvers: inventoryResolvers,
      }),
      reviews: buildDemoSubgraphSchema('reviews'),
      featured: buildSubgraphSchema({
        typeDefs: FEATURED_TYPE_DEFS,
        resolvers: featuredResolvers,
      }),
    });
    const demoTypeDefs = (name: 'accounts' | 'products' | 'reviews') =>
      parse(printSubgraphSchema(buildDemoSubgraphSchema(name)));
    const composition = composeServices([
      {
        name: 'accounts',
        typeDefs: demoTypeDefs('accounts'),
        url: subgraphs.accounts.url,
      },
      {
        name: 'products',
        typeDefs: demoTypeDefs('products'),
        url: subgraphs.products.url,
      },
      {
        name: 'inventory',
        typeDefs: inventoryTypeDefs('String!'),
        url: subgraphs.inventory.url,
      },
      {
        name: 'reviews',
        typeDefs: demoTypeDefs('reviews'),
        url: subgraphs.reviews.url,
      },
      {
        name: 'featured',
        typeDefs: FEATURED_TYPE_DEFS,
        url: subgraphs.featured.url,
      },
    ]);
    if (composition.errors) {
      throw new Error(
        `Composition failed: ${composition.errors.map((error) => error.message).join('; ')}`,
      );
    }
    pair = await startGatewayPair(composition.supergraphSdl, subgraphs);
  });

  beforeEach(() => {
    for (const set of Object.values(faults)) set.clear();
    for (const subgraph of Object.values(pair.subgraphs)) {
      subgraph.rewriteResponse = undefined;
      subgraph.failWithStatus = undefined;
    }
    pair.subgraphs.products!.rewriteResponse = failProductEntities;
  });

  afterAll(async () => {
    await stopGatewayPair(pair);
  });

  it('reports a shared entity error at every path', async () => {
    faults.inStockError.add('3');
    const { plain, ours } = await runOnBoth(pair, { query: DEEP_QUERY });

    expect(ours.result.data).toEqual(plain.result.data);
    expect(ours.result.extensions).toEqual(plain.result.extensions);
    expect(errorsByPathPattern(ours.result)).toEqual(
      errorsByPathPattern(plain.result),
    );
    // Product 3 appears with inStock 3 times under users → reviews, 54
    // times under users → … → author → reviews, once in topProducts and 9
    // times under topProducts → … → author → reviews.
    const paths = errorPaths(ours.result, 'Stock of product 3 is unknown');
    expect(paths).toHaveLength(3 + 54 + 1 + 9);
    expect(new Set(paths).size).toBe(paths.length);
    expect(ours.result.errors).toHaveLength(paths.length);
    expect(paths).toContain('users.2.reviews.0.product.inStock');
    expect(paths).toContain('users.2.reviews.2.product.inStock');
    expect(paths).toContain('users.2.reviews.4.product.inStock');
    expect(paths).toContain('topProducts.2.inStock');
    expect(ours.result.errors![0]!.extensions).toEqual({
      code: 'STOCK_UNAVAILABLE',
      serviceName: 'inventory',
    });
    expect(ours.result.data.users[2].reviews[0].product).toMatchObject({
      upc: '3',
      name: 'Product 3',
      inStock: null,
    });
    expect(ours.result.data.users[2].reviews[1].product.inStock).toBe(true);
    expect(ours.representations.inventory).toBeLessThan(
      plain.representations.inventory!,
    );
  });

  it('reports an error without code', async () => {
    faults.shippingError.add('3');
    const query = `{ users { reviews { id product { upc shippingEstimate } } } }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(ours.result).toEqual(plain.result);
    const paths = errorPaths(ours.result, 'No shipping estimate for product 3');
    expect(paths).toEqual([
      'users.2.reviews.0.product.shippingEstimate',
      'users.2.reviews.2.product.shippingEstimate',
      'users.2.reviews.4.product.shippingEstimate',
    ]);
    expect(ours.result.errors![0]!.extensions).toEqual({
      code: 'DOWNSTREAM_SERVICE_ERROR',
      serviceName: 'inventory',
    });
    expect(ours.representations.inventory).toBe(10);
    expect(plain.representations.inventory).toBe(30);
  });

  it('orders errors of several fields', async () => {
    faults.inStockError.add('3').add('8');
    faults.shippingError.add('3').add('8');
    const query = `{ topProducts(first: 10) { upc inStock shippingEstimate } }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(ours.result).toEqual(plain.result);
    expect(ours.result.errors!.map((error) => error.path!.join('.'))).toEqual([
      'topProducts.2.inStock',
      'topProducts.2.shippingEstimate',
      'topProducts.7.inStock',
      'topProducts.7.shippingEstimate',
    ]);
  });

  it('reports value completion errors', async () => {
    faults.nullStockCode.add('3');
    const nested = `{ users { id reviews { id product { upc stockCode } } } }`;
    const { plain, ours } = await runOnBoth(pair, { query: nested });

    expect(ours.result).toEqual(plain.result);
    expect(ours.result.errors).toBeUndefined();
    expect(ours.result.extensions?.valueCompletion).toHaveLength(3);
    expect(ours.result.data.users[2].reviews[0]).toEqual({
      id: '3',
      product: null,
    });
    expect(ours.result.data.users[2].reviews[1].product).toEqual({
      upc: '8',
      stockCode: 'STOCK-8',
    });

    // topProducts is [Product!]! on Query, so the null reaches the root.
    const root = `{ topProducts(first: 5) { upc stockCode } }`;
    const rootRuns = await runOnBoth(pair, { query: root });
    expect(rootRuns.ours.result).toEqual(rootRuns.plain.result);
    expect(rootRuns.ours.result.data).toBeNull();
    expect(rootRuns.ours.result.extensions?.valueCompletion).toHaveLength(1);
  });

  it('drops value completion after fetch errors', async () => {
    faults.nullStockCode.add('3');
    faults.inStockError.add('8');
    const query = `{ users { reviews { product { upc stockCode inStock } } } }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(ours.result).toEqual(plain.result);
    expect(ours.result.extensions).toBeUndefined();
    expect(errorPaths(ours.result, 'Stock of product 8 is unknown')).toEqual([
      'users.2.reviews.1.product.inStock',
      'users.2.reviews.3.product.inStock',
      'users.2.reviews.5.product.inStock',
    ]);
    expect(ours.result.data.users[2].reviews[0].product).toBeNull();
  });

  it('handles null roots and list elements', async () => {
    faults.inStockError.add('3');
    const query = `{
      featuredProduct { upc name inStock }
      featuredProducts { upc name inStock }
      noFeaturedProducts { upc name inStock }
    }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(ours.result).toEqual(plain.result);
    expect(ours.result.data.featuredProduct).toBeNull();
    expect(ours.result.data.noFeaturedProducts).toEqual([]);
    expect(ours.result.data.featuredProducts).toEqual([
      { upc: '3', name: 'Product 3', inStock: null },
      null,
      { upc: '1', name: 'Product 1', inStock: false },
      { upc: '3', name: 'Product 3', inStock: null },
      null,
      { upc: '2', name: 'Product 2', inStock: true },
    ]);
    expect(errorPaths(ours.result, 'Stock of product 3 is unknown')).toEqual([
      'featuredProducts.0.inStock',
      'featuredProducts.3.inStock',
    ]);
    expect(plain.representations).toMatchObject({ products: 4, inventory: 4 });
    expect(ours.representations).toMatchObject({ products: 3, inventory: 3 });
  });

  it('reports a failed subgraph request', async () => {
    pair.subgraphs.inventory!.failWithStatus = 500;
    const query = `{ users { reviews { product { upc name inStock } } } }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(ours.result).toEqual(plain.result);
    expect(ours.result.errors).toHaveLength(1);
    expect(ours.result.errors![0]!.message).toBe('500: Internal Server Error');
    expect(ours.result.errors![0]!.extensions).toMatchObject({
      code: 'INTERNAL_SERVER_ERROR',
      response: { status: 500, body: 'subgraph unavailable' },
    });
    expect(ours.result.data.users[0].reviews[0].product).toEqual({
      upc: '1',
      name: 'Product 1',
      inStock: null,
    });
  });

  it('places errors after unrepresented entities at their own paths', async () => {
    // Reviews of product 3 get no price and weight, so the shippingEstimate
    // fetch has no representation for them. User 3 reviewed products 3, 8,
    // 3, 8, 3 and 8, in that order.
    faults.productEntityError.add('3');
    faults.shippingError.add('8');
    const query = `{ users { reviews { product { upc name shippingEstimate } } } }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(errorPaths(ours.result, 'Product 3 is unavailable')).toEqual([
      'users.2.reviews.0.product',
      'users.2.reviews.2.product',
      'users.2.reviews.4.product',
    ]);
    expect(
      errorPaths(ours.result, 'No shipping estimate for product 8'),
    ).toEqual([
      'users.2.reviews.1.product.shippingEstimate',
      'users.2.reviews.3.product.shippingEstimate',
      'users.2.reviews.5.product.shippingEstimate',
    ]);
    // @apollo/gateway 2.14 reads the index of a representation as the
    // index of an object among all objects at the fetch's path, including
    // those it sent no representation for, so its paths are shifted.
    expect(
      errorPaths(plain.result, 'No shipping estimate for product 8'),
    ).toEqual([
      'users.2.reviews.0.product.shippingEstimate',
      'users.2.reviews.1.product.shippingEstimate',
      'users.2.reviews.2.product.shippingEstimate',
    ]);
    expect(ours.result.data).toEqual(plain.result.data);
  });

  it('orders the errors of one entity fetch by object', async () => {
    // The subgraph reports product 8 before product 3, whose error comes
    // 50 ms later. Plain @apollo/gateway keeps the subgraph's order. Ours
    // sends one representation per product and reports each error at every
    // object of that product, in the objects' order.
    faults.delayedShippingError.set('3', 50);
    faults.shippingError.add('8');
    const query = `{ users { reviews { product { upc shippingEstimate } } } }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(
      errorPaths(ours.result, 'No shipping estimate for product 3'),
    ).toEqual(errorPaths(plain.result, 'No shipping estimate for product 3'));
    expect(
      (ours.result.errors ?? []).map((error) => (error.path ?? []).join('.')),
    ).toEqual([
      'users.2.reviews.0.product.shippingEstimate',
      'users.2.reviews.1.product.shippingEstimate',
      'users.2.reviews.2.product.shippingEstimate',
      'users.2.reviews.3.product.shippingEstimate',
      'users.2.reviews.4.product.shippingEstimate',
      'users.2.reviews.5.product.shippingEstimate',
    ]);
    expect((plain.result.errors ?? []).map((error) => error.message)).toEqual([
      ...Array(3).fill('No shipping estimate for product 8'),
      ...Array(3).fill('No shipping estimate for product 3'),
    ]);
    expect(ours.result.data).toEqual(plain.result.data);
  });

  it('keeps an error without a path in place', async () => {
    faults.inStockError.add('3');
    pair.subgraphs.inventory!.rewriteResponse = (result) => ({
      ...result,
      errors: [
        ...(result.errors ?? []),
        new GraphQLError('Inventory data may be stale'),
      ],
    });
    const query = `{ users { reviews { product { upc inStock } } } }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(ours.result.errors).toHaveLength(4);
    expect(ours.result).toEqual(plain.result);
  });

  it('keeps the data of fetches that shared a request with a failed one', async () => {
    // The reviews subgraph fails the request for user 1 alone as a whole,
    // as a subgraph does when `_entities` (non-null) cannot resolve. Ours
    // batches the `me` and `users` review fetches, so the failure first
    // arrives for both; they must end as with separate requests.
    pair.subgraphs.reviews!.rewriteResponse = (result, request) => {
      for (const [name, value] of Object.entries(request.variables ?? {})) {
        const representations = value as { id?: string }[];
        if (
          name.startsWith('representations') &&
          representations.length === 1 &&
          representations[0]!.id === '1'
        ) {
          return {
            data: null,
            errors: [
              new GraphQLError('Reviews of user 1 are unavailable', {
                path: [`_entities${name.slice('representations'.length)}`, 0],
              }),
            ],
          };
        }
      }
      return result;
    };
    const query = `{ me { id reviews { id } } users { id reviews { id } } }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(ours.result).toEqual(plain.result);
    expect(plain.result.data.me).toBeNull();
    expect(plain.result.data.users[0].reviews[0]).toEqual({ id: '1' });
    expect(
      errorPaths(ours.result, 'Reviews of user 1 are unavailable'),
    ).toEqual(['me']);
  });

  it('keeps an error with an unknown entity index', async () => {
    // The inventory subgraph reports an error at an `_entities` index past
    // the representations it received. @apollo/gateway 2.14 reports it at
    // the rest of its path, here `inStock`.
    pair.subgraphs.inventory!.rewriteResponse = (result, request) =>
      request.variables?.representations
        ? {
            ...result,
            errors: [
              ...(result.errors ?? []),
              new GraphQLError('Stock service out of sync', {
                path: ['_entities', 999, 'inStock'],
              }),
            ],
          }
        : result;
    const query = `{ users { reviews { product { upc inStock } } } }`;
    const { plain, ours } = await runOnBoth(pair, { query });

    expect(plain.result.errors).toHaveLength(1);
    expect(ours.result).toEqual(plain.result);
  });
});

describe('plan executor across a supergraph reload', () => {
  it('plans recently used operations for the new supergraph before they are sent', async () => {
    const schemas = Object.fromEntries(
      DEMO_SUBGRAPH_NAMES.map((name) => [name, buildDemoSubgraphSchema(name)]),
    );
    const subgraphs = await serveSubgraphs(schemas);
    const supergraphSdl = composeDemoSupergraph((name) => subgraphs[name]!.url);
    let update: ((sdl: string) => void) | undefined;
    const lookups: boolean[] = [];
    const server = new ApolloServer({
      gateway: executeWithPlanExecutor(
        new ApolloGateway({
          supergraphSdl: async (options) => {
            update = options.update;
            return { supergraphSdl };
          },
          logger,
        }),
        { logger, countPlanLookup: (hit) => lookups.push(hit) },
      ),
    });
    await server.start();
    try {
      const query = '{ topProducts(first: 2) { name inStock } }';
      await runOperation(server, subgraphs, { query });
      await runOperation(server, subgraphs, { query });
      expect(lookups).toEqual([false, true]);

      // A changed text is a new supergraph, with a plan cache of its own.
      update!(`${supergraphSdl}\n# reloaded\n`);
      await sleep(200);
      const run = await runOperation(server, subgraphs, { query });
      expect(lookups).toEqual([false, true, true]);
      expect(run.result).toEqual({
        data: {
          topProducts: [
            { name: 'Product 1', inStock: false },
            { name: 'Product 2', inStock: true },
          ],
        },
      });

      const other = '{ topProducts(first: 1) { upc } }';
      await runOperation(server, subgraphs, { query: other });
      expect(lookups).toEqual([false, true, true, false]);
    } finally {
      await server.stop();
      for (const subgraph of Object.values(subgraphs)) await subgraph.close();
    }
  });
});
