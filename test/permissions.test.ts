import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, eq } from 'drizzle-orm';
import { GraphQLError } from 'graphql';
import type { SubgraphCaller } from '../platform/identity.js';
import {
  hasPermission,
  requirePermission,
  ROLE_SCOPES,
  SCOPES,
  scopesOfRoles,
} from '../platform/permissions.js';
import * as catalogTables from '../subgraphs/catalog/db/tables.js';
import {
  ROLE_SCOPES as GATEWAY_ROLE_SCOPES,
  scopesOfRoles as gatewayScopesOfRoles,
} from '../gateway/identity/scopes.js';
import {
  startTestStack,
  type GraphQLResponse,
  type TestStack,
} from './support/stack.js';

const SKU = 'permissions-mug';

const ADMIN: SubgraphCaller = {
  kind: 'staff',
  subject: '00000000-0000-7000-8000-0000000000a1',
  roles: ['admin'],
  scopes: scopesOfRoles(['admin']),
};

const SUPPORT: SubgraphCaller = {
  kind: 'staff',
  subject: '00000000-0000-7000-8000-0000000000a2',
  roles: ['support'],
  scopes: scopesOfRoles(['support']),
};

const CUSTOMER: SubgraphCaller = {
  kind: 'customer',
  subject: '00000000-0000-7000-8000-0000000000a3',
  roles: [],
  scopes: [],
};

const ANONYMOUS: SubgraphCaller = {
  kind: 'anonymous',
  subject: null,
  roles: [],
  scopes: [],
};

function partner(scopes: string[]): SubgraphCaller {
  return {
    kind: 'partner',
    subject: '00000000-0000-7000-8000-0000000000a4',
    roles: [],
    scopes,
  };
}

function service(scopes: string[]): SubgraphCaller {
  return { kind: 'service', subject: 'test-service', roles: [], scopes };
}

const STOCK_ADJUST = `mutation ($input: StockAdjustInput!) {
  stockAdjust(input: $input) {
    stockLevel { onHand }
    userErrors { field message code }
  }
}`;

let stack: TestStack;

function catalogAs(
  caller: SubgraphCaller,
  document: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLResponse> {
  return stack.querySubgraph('catalog', document, variables, caller);
}

async function onHand(): Promise<number> {
  const { db } = stack.subgraphs.catalog.database as unknown as {
    db: import('../platform/database.js').Database<typeof catalogTables>;
  };
  const [variant] = await db
    .select({ id: catalogTables.variants.id })
    .from(catalogTables.variants)
    .where(eq(catalogTables.variants.sku, SKU));
  const [level] = await db
    .select({ onHand: catalogTables.stockLevels.onHand })
    .from(catalogTables.stockLevels)
    .where(eq(catalogTables.stockLevels.variantId, variant!.id));
  return level!.onHand;
}

async function adjustmentCount(): Promise<number> {
  const { db } = stack.subgraphs.catalog.database as unknown as {
    db: import('../platform/database.js').Database<typeof catalogTables>;
  };
  const [row] = await db
    .select({ n: count() })
    .from(catalogTables.stockAdjustments);
  return row!.n;
}

beforeAll(async () => {
  stack = await startTestStack();
  const created = await catalogAs(
    ADMIN,
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { userErrors { message } }
    }`,
    {
      input: {
        title: 'Permissions mug',
        status: 'ACTIVE',
        variants: [{ sku: SKU, price: { amount: '9.00' } }],
      },
    },
  );
  expect(created.errors).toBeUndefined();
  const stocked = await catalogAs(
    ADMIN,
    `mutation ($input: StockSetInput!) {
      stockSet(input: $input) { userErrors { message } }
    }`,
    { input: { sku: SKU, quantity: 10, reason: 'RECEIVED' } },
  );
  expect(stocked.errors).toBeUndefined();
  expect(stocked.data!.stockSet.userErrors).toEqual([]);
});

afterAll(async () => {
  await stack?.close();
});

describe('role table', () => {
  it('is the one the gateway uses', () => {
    expect(GATEWAY_ROLE_SCOPES).toBe(ROLE_SCOPES);
    expect(gatewayScopesOfRoles(['support'])).toEqual(
      scopesOfRoles(['support']),
    );
  });

  it('gives support no write permission', () => {
    const writes = SCOPES.filter((scope) => !scope.startsWith('read_'));
    for (const permission of writes) {
      expect(hasPermission(SUPPORT, permission), permission).toBe(false);
    }
  });

  it('gives admin every permission', () => {
    for (const permission of SCOPES) {
      expect(hasPermission(ADMIN, permission), permission).toBe(true);
    }
  });
});

describe('requirePermission', () => {
  it('checks staff by role, not by scopes claim', () => {
    const claimsWrite: SubgraphCaller = {
      ...SUPPORT,
      scopes: ['write_inventory'],
    };
    expect(hasPermission(claimsWrite, 'write_inventory')).toBe(false);
  });

  it('checks partners and services by scope', () => {
    expect(hasPermission(partner(['write_inventory']), 'write_inventory')).toBe(
      true,
    );
    expect(hasPermission(partner(['read_inventory']), 'write_inventory')).toBe(
      false,
    );
    expect(hasPermission(service(['write_products']), 'write_products')).toBe(
      true,
    );
    expect(hasPermission(service([]), 'write_products')).toBe(false);
  });

  it('never passes customers', () => {
    const customerWithScopes = { ...CUSTOMER, scopes: [...SCOPES] };
    for (const permission of SCOPES) {
      expect(hasPermission(customerWithScopes, permission), permission).toBe(
        false,
      );
    }
  });

  it('accepts any one of several permissions', () => {
    expect(() =>
      requirePermission(partner(['manage_listings']), [
        'read_listings',
        'manage_listings',
      ]),
    ).not.toThrow();
  });

  it('throws UNAUTHENTICATED for anonymous callers', () => {
    let thrown: unknown;
    try {
      requirePermission(ANONYMOUS, 'write_inventory');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(GraphQLError);
    expect((thrown as GraphQLError).extensions.code).toBe('UNAUTHENTICATED');
    expect((thrown as GraphQLError).message).toContain('write_inventory');
  });
});

describe('catalog subgraph, called directly', () => {
  it('rejects stockAdjust from support staff', async () => {
    const before = await onHand();
    const adjustmentsBefore = await adjustmentCount();

    const result = await catalogAs(SUPPORT, STOCK_ADJUST, {
      input: { sku: SKU, delta: 5, reason: 'OTHER' },
    });

    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    expect(result.errors![0]!.extensions!.requiredPermissions).toEqual([
      'write_inventory',
    ]);
    expect(result.errors![0]!.message).toBe(
      "This operation requires the permission write_inventory, which the staff role admin grants; the caller's roles (support) do not.",
    );
    expect(await onHand()).toBe(before);
    expect(await adjustmentCount()).toBe(adjustmentsBefore);
  });

  it('runs stockAdjust for an admin', async () => {
    const before = await onHand();

    const result = await catalogAs(ADMIN, STOCK_ADJUST, {
      input: { sku: SKU, delta: 5, reason: 'OTHER' },
    });

    expect(result.errors).toBeUndefined();
    expect(result.data!.stockAdjust.userErrors).toEqual([]);
    expect(result.data!.stockAdjust.stockLevel).toEqual({ onHand: before + 5 });
    expect(await onHand()).toBe(before + 5);
  });

  const mutations: [string, string, Record<string, unknown>][] = [
    [
      'productCreate',
      `mutation ($input: ProductCreateInput!) { productCreate(input: $input) { userErrors { code } } }`,
      { input: { title: 'Refused product' } },
    ],
    [
      'productUpdate',
      `mutation ($input: ProductUpdateInput!) { productUpdate(input: $input) { userErrors { code } } }`,
      {
        input: {
          id: '00000000-0000-7000-8000-0000000000ff',
          title: 'Refused',
        },
      },
    ],
    [
      'variantCreate',
      `mutation ($input: VariantCreateInput!) { variantCreate(input: $input) { userErrors { code } } }`,
      {
        input: {
          productId: '00000000-0000-7000-8000-0000000000ff',
          variant: { sku: 'refused-sku' },
        },
      },
    ],
    [
      'variantUpdate',
      `mutation ($input: VariantUpdateInput!) { variantUpdate(input: $input) { userErrors { code } } }`,
      {
        input: {
          id: '00000000-0000-7000-8000-0000000000ff',
          price: { amount: '1.00' },
        },
      },
    ],
    [
      'stockSet',
      `mutation ($input: StockSetInput!) { stockSet(input: $input) { userErrors { code } } }`,
      { input: { sku: SKU, quantity: 0, reason: 'OTHER' } },
    ],
    [
      'stockAdjust',
      STOCK_ADJUST,
      { input: { sku: SKU, delta: -1, reason: 'OTHER' } },
    ],
  ];

  const refusedCallers: [string, SubgraphCaller, string][] = [
    ['support staff', SUPPORT, 'FORBIDDEN'],
    ['a customer', CUSTOMER, 'FORBIDDEN'],
    [
      'a partner with read scopes only',
      partner(scopesOfRoles(['support'])),
      'FORBIDDEN',
    ],
    ['a service without scopes', service([]), 'FORBIDDEN'],
    ['an anonymous caller', ANONYMOUS, 'UNAUTHENTICATED'],
  ];

  for (const [field, document, variables] of mutations) {
    it.each(refusedCallers)(
      `rejects ${field} from %s`,
      async (_name, caller, code) => {
        const before = await onHand();

        const result = await catalogAs(caller, document, variables);

        expect(result.errors?.[0]?.extensions?.code).toBe(code);
        expect(result.errors?.[0]?.path).toEqual([field]);
        expect(await onHand()).toBe(before);
      },
    );
  }

  it('runs stockSet for a partner with write_inventory', async () => {
    const result = await catalogAs(
      partner(['write_inventory']),
      `mutation ($input: StockSetInput!) { stockSet(input: $input) { stockLevel { onHand } userErrors { code } } }`,
      { input: { sku: SKU, quantity: 20, reason: 'CORRECTION' } },
    );

    expect(result.errors).toBeUndefined();
    expect(result.data!.stockSet.stockLevel).toEqual({ onHand: 20 });
  });

  it('hides stockLevels from a customer', async () => {
    const result = await catalogAs(
      CUSTOMER,
      `query ($sku: String) { variant(sku: $sku) { sku stockLevels { onHand } } }`,
      { sku: SKU },
    );

    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(result.errors?.[0]?.path).toEqual(['variant', 'stockLevels']);
  });
});

describe('marketplace subgraph, called directly', () => {
  const CONNECTIONS = `{ marketplaceConnections { id } }`;

  it('rejects marketplaceConnections from a customer', async () => {
    const result = await stack.querySubgraph(
      'marketplace',
      CONNECTIONS,
      undefined,
      CUSTOMER,
    );

    expect(result.data).toBeNull();
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(result.errors?.[0]?.extensions?.requiredPermissions).toEqual([
      'read_listings',
      'manage_listings',
    ]);
  });

  it('serves marketplaceConnections to support staff', async () => {
    const result = await stack.querySubgraph(
      'marketplace',
      CONNECTIONS,
      undefined,
      SUPPORT,
    );

    expect(result.errors).toBeUndefined();
    expect(result.data!.marketplaceConnections).toEqual([]);
  });
});

describe('gateway', () => {
  it('rejects a mutation from signed-in support staff', async () => {
    const before = await onHand();
    const headers = await stack.staffHeaders('support');

    const result = await stack.query(
      STOCK_ADJUST,
      { input: { sku: SKU, delta: 5, reason: 'OTHER' } },
      headers,
    );

    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(result.errors?.[0]?.path).toEqual(['stockAdjust']);
    expect(await onHand()).toBe(before);
  });

  it('runs a mutation from signed-in admin staff', async () => {
    const before = await onHand();
    const headers = await stack.staffHeaders('admin');

    const result = await stack.query(
      STOCK_ADJUST,
      { input: { sku: SKU, delta: 5, reason: 'OTHER' } },
      headers,
    );

    expect(result.errors).toBeUndefined();
    expect(result.data!.stockAdjust.stockLevel).toEqual({ onHand: before + 5 });
  });
});
