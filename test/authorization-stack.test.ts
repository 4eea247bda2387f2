import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CallerIdentity } from '../gateway/caller.js';
import { scopesOfRoles } from '../gateway/identity/scopes.js';
import {
  callerHeaders,
  committedSupergraphPath,
  STAFF_ADMIN,
  startTestStack,
  type GraphQLResponse,
  type TestStack,
} from './support/stack.js';

// The real subgraphs and the committed supergraph, with the requirements
// that the subgraph schemas declare.

const SUPPORT: CallerIdentity = {
  kind: 'staff',
  subject: '00000000-0000-7000-8000-00000000000b',
  roles: ['support'],
  scopes: scopesOfRoles(['support']),
};

function partner(scopes: string[]): CallerIdentity {
  return {
    kind: 'partner',
    subject: '00000000-0000-7000-8000-00000000000c',
    scopes,
    roles: [],
  };
}

const SKU = 'authz-mug-blue';

let stack: TestStack;

/** Sends `document` as `caller`, or with no identity when it is undefined. */
function queryAs(
  caller: CallerIdentity | undefined,
  document: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLResponse> {
  return stack.query(
    document,
    variables,
    caller ? callerHeaders(caller) : undefined,
  );
}

function errorsOf(result: GraphQLResponse) {
  return (result.errors ?? []).map((error) => ({
    path: error.path,
    code: error.extensions?.code,
    message: error.message,
  }));
}

beforeAll(async () => {
  stack = await startTestStack();
  const created = await queryAs(
    STAFF_ADMIN,
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { userErrors { message } }
    }`,
    {
      input: {
        title: 'Blue mug',
        status: 'ACTIVE',
        variants: [{ sku: SKU, price: { amount: '12.00' } }],
      },
    },
  );
  expect(created.errors).toBeUndefined();
  const stocked = await queryAs(
    STAFF_ADMIN,
    `mutation ($input: StockSetInput!) {
      stockSet(input: $input) { userErrors { message } }
    }`,
    { input: { sku: SKU, quantity: 7, reason: 'RECEIVED' } },
  );
  expect(stocked.data?.stockSet.userErrors).toEqual([]);
});

afterAll(async () => {
  await stack?.close();
});

const STOCK_QUERY = `query Stock($sku: String) {
  variant(sku: $sku) { sku stockLevels { onHand } }
}`;

describe('committed supergraph', () => {
  test('gateway serves it with its links', async () => {
    const committed = readFileSync(committedSupergraphPath, 'utf8');

    const result = await queryAs(undefined, '{ locations { code } }');

    expect(committed).toContain(
      '@link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)',
    );
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
    expect(Array.isArray(result.data?.locations)).toBe(true);
  });
});

describe('catalog requirements', () => {
  test('anonymous loses stock levels', async () => {
    const result = await queryAs(undefined, STOCK_QUERY, { sku: SKU });

    expect(result.data).toEqual({ variant: { sku: SKU } });
    expect(errorsOf(result)).toEqual([
      {
        path: ['variant', 'stockLevels'],
        code: 'UNAUTHENTICATED',
        message:
          'Variant.stockLevels requires authentication. Send the request with credentials.',
      },
    ]);
  });

  test('support staff reads stock levels', async () => {
    const result = await queryAs(SUPPORT, STOCK_QUERY, { sku: SKU });

    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      variant: { sku: SKU, stockLevels: [{ onHand: 7 }] },
    });
  });

  test('anonymous stock change writes nothing', async () => {
    const result = await queryAs(
      undefined,
      `mutation { stockAdjust(input: { sku: "${SKU}", delta: 5, reason: OTHER }) {
        userErrors { message }
      } }`,
    );
    const after = await queryAs(STAFF_ADMIN, STOCK_QUERY, { sku: SKU });

    expect(result.data).toBeNull();
    expect(errorsOf(result).map((error) => [error.path, error.code])).toEqual([
      [['stockAdjust'], 'UNAUTHENTICATED'],
    ]);
    expect(after.data?.variant.stockLevels).toEqual([{ onHand: 7 }]);
  });

  test('support staff cannot adjust stock', async () => {
    const result = await queryAs(
      SUPPORT,
      `mutation { stockAdjust(input: { sku: "${SKU}", delta: 5, reason: OTHER }) {
        userErrors { message }
      } }`,
    );

    expect(result.data).toBeNull();
    expect(errorsOf(result)).toEqual([
      {
        path: ['stockAdjust'],
        code: 'FORBIDDEN',
        message: 'Mutation.stockAdjust requires the scope write_inventory.',
      },
    ]);
  });
});

describe('orders and marketplace requirements', () => {
  test('partner without read_orders is forbidden', async () => {
    const result = await queryAs(
      partner(['read_products', 'read_inventory']),
      'query ($id: ID!) { order(id: $id) { id } locations { code } }',
      { id: randomUUID() },
    );

    expect(Array.isArray(result.data?.locations)).toBe(true);
    expect(result.data).not.toHaveProperty('order');
    expect(errorsOf(result)).toEqual([
      {
        path: ['order'],
        code: 'FORBIDDEN',
        message: 'Query.order requires the policy customer_or_read_orders.',
      },
    ]);
  });

  test('anonymous order lookup is unauthenticated', async () => {
    const result = await queryAs(
      undefined,
      'query ($id: ID!) { order(id: $id) { id } }',
      { id: randomUUID() },
    );

    expect(result.data).toBeNull();
    expect(errorsOf(result).map((error) => [error.path, error.code])).toEqual([
      [['order'], 'UNAUTHENTICATED'],
    ]);
  });

  test('partner with read_orders reaches orders', async () => {
    const result = await queryAs(
      partner(['read_orders']),
      'query ($id: ID!) { order(id: $id) { id } }',
      { id: randomUUID() },
    );

    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ order: null });
  });

  test('connections need a listing scope', async () => {
    const query = '{ marketplaceConnections { name safetyStock } }';

    const withoutScope = await queryAs(partner(['read_products']), query);
    const withScope = await queryAs(partner(['read_listings']), query);

    expect(withoutScope.data).toBeNull();
    expect(errorsOf(withoutScope)).toEqual([
      {
        path: ['marketplaceConnections'],
        code: 'FORBIDDEN',
        message:
          'Query.marketplaceConnections requires the scope read_listings, or the scope manage_listings.',
      },
    ]);
    expect(withScope.errors).toBeUndefined();
    expect(Array.isArray(withScope.data?.marketplaceConnections)).toBe(true);
  });
});

describe('query plan cache', () => {
  test('staff and anonymous alternate', async () => {
    const callers = [STAFF_ADMIN, undefined, STAFF_ADMIN, undefined];
    callers.push(undefined, STAFF_ADMIN, STAFF_ADMIN, undefined);

    const results = [];
    for (const caller of callers) {
      results.push(await queryAs(caller, STOCK_QUERY, { sku: SKU }));
    }

    results.forEach((result, index) => {
      if (callers[index]) {
        expect(result.errors, `request ${index}`).toBeUndefined();
        expect(result.data, `request ${index}`).toEqual({
          variant: { sku: SKU, stockLevels: [{ onHand: 7 }] },
        });
      } else {
        expect(result.data, `request ${index}`).toEqual({
          variant: { sku: SKU },
        });
        expect(errorsOf(result)[0]?.code, `request ${index}`).toBe(
          'UNAUTHENTICATED',
        );
      }
    });
  });
});
