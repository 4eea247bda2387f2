import { mkdtempSync, rmSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { composeServices } from '@apollo/composition';
import { ApolloServer } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { pino } from 'pino';
import {
  afterAll,
  beforeAll,
  describe,
  expect,
  onTestFinished,
  test,
} from 'vitest';
import type { CallerIdentity } from '../gateway/caller.js';
import { TEST_CALLER_HEADER } from '../gateway/authorization/index.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import type { Config } from '../platform/config.js';
import { createGraphQLHttpHandler, listen } from '../platform/http-server.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';

// Two small subgraphs with authorization directives. Shop owns the root
// fields, products and suppliers. Ratings adds two fields to Product, so a
// query for both crosses the services.

const LINK =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key", "@authenticated", "@requiresScopes", "@policy"])';

/** Shop SDL, with the given directives on `secretNote` and `greeting`. */
function shopTypeDefs(
  directives: { secretNote?: string; greeting?: string } = {},
) {
  const secretNote = directives.secretNote ?? '@authenticated';
  const greeting = directives.greeting ?? '';
  return `${LINK}
    type Query {
      greeting: String! ${greeting}
      secretNote: String ${secretNote}
      products: [Product!]!
      salesReport: String
        @requiresScopes(scopes: [["read_sales", "export_sales"], ["admin_sales"]])
      auditLog: [String!] @policy(policies: [["staff_admin"]])
      search: [SearchResult!]!
      totalCost: Cents
      margin: Margin
    }
    type Mutation {
      ping: String!
      productRename(id: ID!, title: String!): Product
        @requiresScopes(scopes: [["write_products"]])
    }
    type Product @key(fields: "id") {
      id: ID!
      title: String!
      cost: Int @requiresScopes(scopes: [["read_costs"]])
      supplier: Supplier
    }
    type Supplier @requiresScopes(scopes: [["read_suppliers"]]) {
      name: String!
    }
    union SearchResult = Product | Supplier
    scalar Cents @authenticated
    enum Margin @policy(policies: [["staff"]]) {
      LOW
      HIGH
    }`;
}

const RATINGS_TYPE_DEFS = `${LINK}
  type Product @key(fields: "id") {
    id: ID!
    ratingCount: Int!
    averageRating: Float @requiresScopes(scopes: [["read_ratings"]])
  }`;

const SUPPLIER = { name: 'Clayworks' };
const PRODUCTS = [
  { id: 'p1', title: 'Mug', cost: 120, supplier: SUPPLIER },
  { id: 'p2', title: 'Poster', cost: 45, supplier: SUPPLIER },
];
const RATINGS: Record<string, { ratingCount: number; averageRating: number }> =
  {
    p1: { ratingCount: 3, averageRating: 4.5 },
    p2: { ratingCount: 0, averageRating: 0 },
  };

const ANONYMOUS: CallerIdentity = {
  kind: 'anonymous',
  subject: null,
  scopes: [],
  roles: [],
};
const CUSTOMER: CallerIdentity = {
  kind: 'customer',
  subject: 'customer-1',
  scopes: [],
  roles: [],
};
const ADMIN: CallerIdentity = {
  kind: 'staff',
  subject: 'staff-1',
  scopes: [
    'read_costs',
    'read_suppliers',
    'read_ratings',
    'admin_sales',
    'write_products',
  ],
  roles: ['admin'],
};
const SUPPORT: CallerIdentity = {
  kind: 'staff',
  subject: 'staff-2',
  scopes: ['read_costs', 'read_suppliers', 'read_ratings'],
  roles: ['support'],
};

function partner(scopes: string[]): CallerIdentity {
  return { kind: 'partner', subject: 'key-1', scopes, roles: [] };
}

const silentLogger = pino({ level: 'silent' });

interface TestSubgraph {
  url: string;
  /** Query text of every request the subgraph received. */
  queries: string[];
  close(): Promise<void>;
}

async function startTestSubgraph(
  typeDefs: string,
  resolvers: object,
): Promise<TestSubgraph> {
  const queries: string[] = [];
  const apollo = new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: parse(typeDefs),
      resolvers: resolvers as never,
    }),
    csrfPrevention: false,
    logger: silentLogger,
    plugins: [
      {
        async requestDidStart({ request }) {
          queries.push(request.query ?? '');
        },
      },
    ],
  });
  await apollo.start();
  const http = await listen(
    createGraphQLHttpHandler({
      apollo,
      bodyLimitBytes: 1_000_000,
      logger: silentLogger,
      createContext: async () => ({}),
    }),
    '127.0.0.1',
    0,
  );
  return {
    url: http.url,
    queries,
    async close() {
      await http.close(0);
      await apollo.stop();
    },
  };
}

/** Number of times `productRename` ran. */
let renameCalls = 0;

function startShop(): Promise<TestSubgraph> {
  return startTestSubgraph(shopTypeDefs(), {
    Query: {
      greeting: () => 'hello',
      secretNote: () => 'the vault code is 1234',
      products: () => PRODUCTS,
      salesReport: () => 'sales are up',
      auditLog: () => ['staff-1 renamed p1'],
      search: () => [PRODUCTS[0], SUPPLIER],
      totalCost: () => '165',
      margin: () => 'HIGH',
    },
    Mutation: {
      ping: () => 'pong',
      productRename: (_: unknown, args: { id: string; title: string }) => {
        renameCalls += 1;
        return { ...PRODUCTS.find((p) => p.id === args.id), title: args.title };
      },
    },
    Product: {
      __resolveReference: (reference: { id: string }) =>
        PRODUCTS.find((product) => product.id === reference.id),
    },
    SearchResult: {
      __resolveType: (value: object) =>
        'id' in value ? 'Product' : 'Supplier',
    },
  });
}

function startRatings(): Promise<TestSubgraph> {
  return startTestSubgraph(RATINGS_TYPE_DEFS, {
    Product: {
      __resolveReference: (reference: { id: string }) => ({
        id: reference.id,
        ...RATINGS[reference.id],
      }),
    },
  });
}

/** Composes shop (`shopSdl`) and ratings at their running URLs. */
function composeTestSupergraph(
  urls: { shop: string; ratings: string },
  shopSdl = shopTypeDefs(),
): string {
  const result = composeServices([
    { name: 'shop', url: urls.shop, typeDefs: parse(shopSdl) },
    { name: 'ratings', url: urls.ratings, typeDefs: parse(RATINGS_TYPE_DEFS) },
  ]);
  if (result.errors) throw new Error(result.errors.map(String).join('\n'));
  return result.supergraphSdl;
}

interface LogRecord {
  msg: string;
  [key: string]: unknown;
}

interface Fixture {
  gateway: RunningGateway;
  shop: TestSubgraph;
  /** Replaces the supergraph file, composed with `shopSdl`, by a rename. */
  replaceSupergraph(shopSdl: string): Promise<void>;
  logs: LogRecord[];
  close(): Promise<void>;
}

const config: Config = createTestConfig();

afterAll(async () => {
  await dropTestDatabases(config);
});

/**
 * Starts the shop and ratings subgraphs and a gateway over them that serves
 * a temporary supergraph file.
 */
async function startFixture(
  options: { acceptTestCallerHeader?: boolean } = {},
): Promise<Fixture> {
  const shop = await startShop();
  const ratings = await startRatings();
  const urls = { shop: shop.url, ratings: ratings.url };
  const folder = mkdtempSync(path.join(os.tmpdir(), 'authorization-test-'));
  const supergraphPath = path.join(folder, 'supergraph.graphql');
  await writeFile(supergraphPath, composeTestSupergraph(urls));
  const logs: LogRecord[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => logs.push(JSON.parse(line) as LogRecord) },
  );
  const gateway = await startGateway({
    config,
    logger,
    supergraphPath,
    host: '127.0.0.1',
    port: 0,
    acceptTestCallerHeader: options.acceptTestCallerHeader ?? true,
  });
  return {
    gateway,
    shop,
    logs,
    async replaceSupergraph(shopSdl) {
      const text = composeTestSupergraph(urls, shopSdl);
      await writeFile(`${supergraphPath}.tmp`, text);
      await rename(`${supergraphPath}.tmp`, supergraphPath);
    },
    async close() {
      await gateway.close();
      await shop.close();
      await ratings.close();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

interface GraphQLBody {
  data?: Record<string, any> | null;
  errors?: Array<{
    message: string;
    path?: (string | number)[];
    locations?: unknown;
    extensions?: Record<string, unknown>;
  }>;
}

/** Posts `query` to the gateway as `caller`, sent in the test caller header. */
async function send(
  gateway: RunningGateway,
  caller: CallerIdentity | undefined,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ status: number; body: GraphQLBody }> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
  };
  if (caller) headers[TEST_CALLER_HEADER] = JSON.stringify(caller);
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    body: (await response.json()) as GraphQLBody,
  };
}

/** Returns each error as its path, code and message, without locations. */
function errorsOf(body: GraphQLBody) {
  return (body.errors ?? []).map((error) => ({
    path: error.path,
    code: error.extensions?.code,
    message: error.message,
  }));
}

async function waitFor<T>(
  description: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${description}.`,
      );
    }
    await sleep(25);
  }
}

let fixture: Fixture;

beforeAll(async () => {
  fixture = await startFixture();
});

afterAll(async () => {
  await fixture?.close();
});

const UNAUTHENTICATED_COST = {
  path: ['products', '@', 'cost'],
  code: 'UNAUTHENTICATED',
  message:
    'Product.cost requires authentication. Send the request with credentials.',
};

describe('field requirements', () => {
  test('anonymous loses a scoped field', async () => {
    const { status, body } = await send(
      fixture.gateway,
      ANONYMOUS,
      '{ greeting products { id title cost } }',
    );

    expect(status).toBe(200);
    expect(body.data).toEqual({
      greeting: 'hello',
      products: [
        { id: 'p1', title: 'Mug' },
        { id: 'p2', title: 'Poster' },
      ],
    });
    expect(errorsOf(body)).toEqual([UNAUTHENTICATED_COST]);
  });

  test('no header means anonymous', async () => {
    const { body } = await send(
      fixture.gateway,
      undefined,
      '{ products { id cost } }',
    );

    expect(errorsOf(body)).toEqual([UNAUTHENTICATED_COST]);
  });

  test('authenticated field at the root', async () => {
    const { body } = await send(
      fixture.gateway,
      ANONYMOUS,
      '{ secretNote greeting }',
    );

    expect(body.data).toEqual({ greeting: 'hello' });
    expect(errorsOf(body)).toEqual([
      {
        path: ['secretNote'],
        code: 'UNAUTHENTICATED',
        message:
          'Query.secretNote requires authentication. Send the request with credentials.',
      },
    ]);
    expect(body.errors?.[0]?.locations).toEqual([{ line: 1, column: 3 }]);
  });

  test('customer reads an authenticated field', async () => {
    const { body } = await send(fixture.gateway, CUSTOMER, '{ secretNote }');

    expect(body).toEqual({ data: { secretNote: 'the vault code is 1234' } });
  });

  test('partner without the scope is forbidden', async () => {
    const { body } = await send(
      fixture.gateway,
      partner(['read_sales']),
      '{ products { id cost } }',
    );

    expect(body.data).toEqual({ products: [{ id: 'p1' }, { id: 'p2' }] });
    expect(errorsOf(body)).toEqual([
      {
        path: ['products', '@', 'cost'],
        code: 'FORBIDDEN',
        message: 'Product.cost requires the scope read_costs.',
      },
    ]);
  });

  test('partner with the scope reads it', async () => {
    const { body } = await send(
      fixture.gateway,
      partner(['read_costs']),
      '{ products { id cost } }',
    );

    expect(body).toEqual({
      data: {
        products: [
          { id: 'p1', cost: 120 },
          { id: 'p2', cost: 45 },
        ],
      },
    });
  });

  test.each([
    { scopes: ['read_sales'], allowed: false },
    { scopes: ['export_sales'], allowed: false },
    { scopes: ['read_sales', 'export_sales'], allowed: true },
    { scopes: ['admin_sales'], allowed: true },
    { scopes: ['export_sales', 'admin_sales'], allowed: true },
    { scopes: [], allowed: false },
  ])('scope sets $scopes', async ({ scopes, allowed }) => {
    const { body } = await send(
      fixture.gateway,
      partner(scopes),
      '{ greeting salesReport }',
    );

    if (allowed) {
      expect(body).toEqual({
        data: { greeting: 'hello', salesReport: 'sales are up' },
      });
    } else {
      expect(body.data).toEqual({ greeting: 'hello' });
      expect(errorsOf(body)).toEqual([
        {
          path: ['salesReport'],
          code: 'FORBIDDEN',
          message:
            'Query.salesReport requires the scopes read_sales and export_sales, or the scope admin_sales.',
        },
      ]);
    }
  });

  test('policy allows a staff admin', async () => {
    const { body } = await send(fixture.gateway, ADMIN, '{ auditLog }');

    expect(body).toEqual({ data: { auditLog: ['staff-1 renamed p1'] } });
  });

  test.each([
    { name: 'support staff', caller: SUPPORT, code: 'FORBIDDEN' },
    { name: 'customer', caller: CUSTOMER, code: 'FORBIDDEN' },
    { name: 'partner', caller: partner(['admin_sales']), code: 'FORBIDDEN' },
    { name: 'anonymous', caller: ANONYMOUS, code: 'UNAUTHENTICATED' },
  ])('policy denies $name', async ({ caller, code }) => {
    const { body } = await send(
      fixture.gateway,
      caller,
      '{ greeting auditLog }',
    );

    expect(body.data).toEqual({ greeting: 'hello' });
    expect(errorsOf(body).map((error) => [error.path, error.code])).toEqual([
      [['auditLog'], code],
    ]);
    if (code === 'FORBIDDEN') {
      expect(body.errors?.[0]?.message).toBe(
        'Query.auditLog requires the policy staff_admin.',
      );
    }
  });

  test('field of another subgraph', async () => {
    const query = '{ products { id ratingCount averageRating } }';

    const anonymous = await send(fixture.gateway, ANONYMOUS, query);
    const support = await send(fixture.gateway, SUPPORT, query);

    expect(anonymous.body.data).toEqual({
      products: [
        { id: 'p1', ratingCount: 3 },
        { id: 'p2', ratingCount: 0 },
      ],
    });
    expect(errorsOf(anonymous.body).map((error) => error.path)).toEqual([
      ['products', '@', 'averageRating'],
    ]);
    expect(support.body).toEqual({
      data: {
        products: [
          { id: 'p1', ratingCount: 3, averageRating: 4.5 },
          { id: 'p2', ratingCount: 0, averageRating: 0 },
        ],
      },
    });
  });
});

describe('operation shapes', () => {
  test('named fragment', async () => {
    const { body } = await send(
      fixture.gateway,
      ANONYMOUS,
      `query Products { products { ...Costs } }
       fragment Costs on Product { id cost }`,
    );

    expect(body.data).toEqual({ products: [{ id: 'p1' }, { id: 'p2' }] });
    expect(errorsOf(body)).toEqual([UNAUTHENTICATED_COST]);
  });

  test('fragment spread at two paths', async () => {
    const { body } = await send(
      fixture.gateway,
      partner([]),
      `{ first: products { ...Costs } second: products { id ...Costs } }
       fragment Costs on Product { title cost }`,
    );

    expect(body.data).toEqual({
      first: [{ title: 'Mug' }, { title: 'Poster' }],
      second: [
        { id: 'p1', title: 'Mug' },
        { id: 'p2', title: 'Poster' },
      ],
    });
    expect(errorsOf(body).map((error) => error.path)).toEqual([
      ['first', '@', 'cost'],
      ['second', '@', 'cost'],
    ]);
  });

  test('nested fragments and inline fragments', async () => {
    const { body } = await send(
      fixture.gateway,
      ANONYMOUS,
      `{ products { ...Outer } }
       fragment Outer on Product { id ... on Product { ...Inner } ... { title } }
       fragment Inner on Product { cost }`,
    );

    expect(body.data).toEqual({
      products: [
        { id: 'p1', title: 'Mug' },
        { id: 'p2', title: 'Poster' },
      ],
    });
    expect(errorsOf(body)).toEqual([UNAUTHENTICATED_COST]);
  });

  test('aliases name the error path', async () => {
    const { body } = await send(
      fixture.gateway,
      ANONYMOUS,
      '{ note: secretNote items: products { key: id price: cost } }',
    );

    expect(body.data).toEqual({ items: [{ key: 'p1' }, { key: 'p2' }] });
    expect(errorsOf(body).map((error) => error.path)).toEqual([
      ['note'],
      ['items', '@', 'price'],
    ]);
  });

  test('emptied selection removes the parent', async () => {
    const { body } = await send(
      fixture.gateway,
      ANONYMOUS,
      '{ greeting products { cost } }',
    );

    expect(body.data).toEqual({ greeting: 'hello' });
    expect(errorsOf(body)).toEqual([UNAUTHENTICATED_COST]);
  });

  test('fully removed operation returns null data', async () => {
    const { status, body } = await send(
      fixture.gateway,
      ANONYMOUS,
      '{ products { cost } secretNote }',
    );

    expect(status).toBe(200);
    expect(body.data).toBeNull();
    expect(errorsOf(body).map((error) => error.path)).toEqual([
      ['products', '@', 'cost'],
      ['secretNote'],
    ]);
  });

  test('skipped fields report no error', async () => {
    const query = `query ($hide: Boolean!) {
      products { id cost @skip(if: $hide) }
      secretNote @include(if: false)
    }`;

    const hidden = await send(fixture.gateway, ANONYMOUS, query, {
      hide: true,
    });
    const shown = await send(fixture.gateway, ANONYMOUS, query, {
      hide: false,
    });

    expect(hidden.body).toEqual({
      data: { products: [{ id: 'p1' }, { id: 'p2' }] },
    });
    expect(errorsOf(shown.body)).toEqual([UNAUTHENTICATED_COST]);
  });

  test('only skipped fields select nothing', async () => {
    const { body } = await send(
      fixture.gateway,
      ANONYMOUS,
      '{ secretNote @include(if: false) }',
    );

    expect(body).toEqual({ data: {} });
  });

  test('invalid variables are rejected', async () => {
    const { status, body } = await send(
      fixture.gateway,
      ANONYMOUS,
      'query ($hide: Boolean!) { products { id cost @skip(if: $hide) } }',
    );

    expect(status).toBe(400);
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  test('mutation runs only allowed fields', async () => {
    const callsBefore = renameCalls;

    const { body } = await send(
      fixture.gateway,
      ANONYMOUS,
      'mutation { ping productRename(id: "p1", title: "Cup") { title } }',
    );

    expect(body.data).toEqual({ ping: 'pong' });
    expect(errorsOf(body).map((error) => [error.path, error.code])).toEqual([
      [['productRename'], 'UNAUTHENTICATED'],
    ]);
    expect(renameCalls).toBe(callsBefore);
  });

  test('mutation runs with the scope', async () => {
    const { body } = await send(
      fixture.gateway,
      ADMIN,
      'mutation { productRename(id: "p1", title: "Cup") { title } }',
    );

    expect(body).toEqual({ data: { productRename: { title: 'Cup' } } });
  });

  test('introspection needs no identity', async () => {
    const { body } = await send(
      fixture.gateway,
      ANONYMOUS,
      '{ __typename __type(name: "Product") { fields { name } } }',
    );

    expect(body.errors).toBeUndefined();
    expect(body.data?.__typename).toBe('Query');
  });
});

describe('type requirements', () => {
  test('object type denies its fields', async () => {
    const { body } = await send(
      fixture.gateway,
      partner(['read_costs']),
      '{ products { id supplier { name } } }',
    );

    expect(body.data).toEqual({ products: [{ id: 'p1' }, { id: 'p2' }] });
    expect(errorsOf(body)).toEqual([
      {
        path: ['products', '@', 'supplier'],
        code: 'FORBIDDEN',
        message: 'Supplier requires the scope read_suppliers.',
      },
    ]);
  });

  test('object type allows with the scope', async () => {
    const { body } = await send(
      fixture.gateway,
      partner(['read_suppliers']),
      '{ products { supplier { name } } }',
    );

    expect(body.errors).toBeUndefined();
    expect(body.data?.products[0]).toEqual({ supplier: { name: 'Clayworks' } });
  });

  test('fragment on a denied type', async () => {
    const { body } = await send(
      fixture.gateway,
      partner([]),
      '{ search { __typename ... on Product { id } ... on Supplier { name } } }',
    );

    expect(body.data).toEqual({
      search: [{ __typename: 'Product', id: 'p1' }, { __typename: 'Supplier' }],
    });
    expect(errorsOf(body)).toEqual([
      {
        path: ['search', '@'],
        code: 'FORBIDDEN',
        message: 'Supplier requires the scope read_suppliers.',
      },
    ]);
  });

  test('scalar type requires authentication', async () => {
    const anonymous = await send(
      fixture.gateway,
      ANONYMOUS,
      '{ greeting totalCost }',
    );
    const customer = await send(fixture.gateway, CUSTOMER, '{ totalCost }');

    expect(anonymous.body.data).toEqual({ greeting: 'hello' });
    expect(errorsOf(anonymous.body)).toEqual([
      {
        path: ['totalCost'],
        code: 'UNAUTHENTICATED',
        message:
          'Cents requires authentication. Send the request with credentials.',
      },
    ]);
    expect(customer.body).toEqual({ data: { totalCost: '165' } });
  });

  test('enum type with a policy', async () => {
    const customer = await send(fixture.gateway, CUSTOMER, '{ margin }');
    const support = await send(fixture.gateway, SUPPORT, '{ margin }');

    expect(customer.body.data).toBeNull();
    expect(errorsOf(customer.body)).toEqual([
      {
        path: ['margin'],
        code: 'FORBIDDEN',
        message: 'Margin requires the policy staff.',
      },
    ]);
    expect(support.body).toEqual({ data: { margin: 'HIGH' } });
  });
});

describe('query plan cache', () => {
  test('callers never share a plan', async () => {
    const query = 'query Costs { products { id cost } }';
    const staffResult = {
      data: {
        products: [
          { id: 'p1', cost: 120 },
          { id: 'p2', cost: 45 },
        ],
      },
    };
    const anonymousResult = {
      data: { products: [{ id: 'p1' }, { id: 'p2' }] },
      errors: [UNAUTHENTICATED_COST],
    };
    const callers = [SUPPORT, ANONYMOUS, SUPPORT, ANONYMOUS, ANONYMOUS];
    callers.push(SUPPORT, SUPPORT, ANONYMOUS);
    const queriesBefore = fixture.shop.queries.length;

    for (const caller of callers) {
      const { body } = await send(fixture.gateway, caller, query);
      const expected = caller === SUPPORT ? staffResult : anonymousResult;
      expect({
        data: body.data,
        ...(body.errors ? { errors: errorsOf(body) } : {}),
      }).toEqual(expected);
    }

    const shopQueries = fixture.shop.queries.slice(queriesBefore);
    expect(shopQueries).toHaveLength(callers.length);
    shopQueries.forEach((text, index) => {
      expect(text.includes('cost'), `request ${index} to shop`).toBe(
        callers[index] === SUPPORT,
      );
    });
  });
});

describe('test caller header', () => {
  test('ignored unless enabled', async () => {
    const plain = await startFixture({ acceptTestCallerHeader: false });
    onTestFinished(() => plain.close());

    const { body } = await send(
      plain.gateway,
      ADMIN,
      '{ greeting secretNote }',
    );

    expect(body.data).toEqual({ greeting: 'hello' });
    expect(errorsOf(body).map((error) => error.code)).toEqual([
      'UNAUTHENTICATED',
    ]);
  });

  test('invalid header is rejected', async () => {
    const response = await fetch(fixture.gateway.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [TEST_CALLER_HEADER]: '{"kind":"root"}',
      },
      body: JSON.stringify({ query: '{ greeting }' }),
    });
    const body = (await response.json()) as GraphQLBody;

    expect(response.status).toBe(401);
    expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('supergraph reload', () => {
  test('applies changed requirements', async () => {
    const reloading = await startFixture();
    onTestFinished(() => reloading.close());
    const query = '{ greeting secretNote }';
    const before = await send(reloading.gateway, ANONYMOUS, query);

    // Only the requirements differ, so the schema the gateway serves is the
    // same before and after.
    await reloading.replaceSupergraph(
      shopTypeDefs({ secretNote: '', greeting: '@authenticated' }),
    );
    const after = await waitFor('the new requirements', async () => {
      const result = await send(reloading.gateway, ANONYMOUS, query);
      return result.body.data?.secretNote ? result : undefined;
    });

    expect(errorsOf(before.body).map((error) => error.path)).toEqual([
      ['secretNote'],
    ]);
    expect(after.body.data).toEqual({ secretNote: 'the vault code is 1234' });
    expect(errorsOf(after.body).map((error) => error.path)).toEqual([
      ['greeting'],
    ]);
  });

  test('unknown policy keeps the old supergraph', async () => {
    const reloading = await startFixture();
    onTestFinished(() => reloading.close());

    await reloading.replaceSupergraph(
      shopTypeDefs({ secretNote: '@policy(policies: [["no_such_policy"]])' }),
    );
    const failure = await waitFor('the reload failure', async () =>
      reloading.logs.find((log) =>
        log.msg.startsWith('supergraph reload failed'),
      ),
    );
    const during = await send(reloading.gateway, CUSTOMER, '{ secretNote }');

    expect(String((failure.err as { message?: string })?.message)).toContain(
      '@policy on Query.secretNote names the policy "no_such_policy", which the gateway does not define.',
    );
    expect(during.body).toEqual({
      data: { secretNote: 'the vault code is 1234' },
    });
  });
});
