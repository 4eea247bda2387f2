import { sql as raw } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../platform/config.js';
import { ErrorCode } from '../platform/errors.js';
import type { SubgraphCaller } from '../platform/identity.js';
import { uuidv7 } from '../platform/ids.js';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import {
  BAD_REQUEST,
  rejectSubgraphSubscription,
} from '../platform/subscription-event.js';
import { EVENT_POSITION_HEADER } from '../platform/subscription-fields.js';
import { catalogSubgraph } from '../subgraphs/catalog/service.js';
import * as orderTables from '../subgraphs/orders/db/tables.js';
import { ordersSubgraph } from '../subgraphs/orders/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { identityHeaders, TEST_ADMIN } from './support/identity.js';
import { postGraphQL, type GraphQLResponse } from './support/stack.js';
import { querySubgraph, startTestSubgraph } from './support/subgraph.js';

type AnySubgraph = RunningSubgraph<Record<string, unknown>>;

let config: Config;
let ordersConfig: Config;
let catalog: AnySubgraph;
let orders: AnySubgraph;

const SKU = 'SUB-HOODIE-M';
const ADA_ID = uuidv7();
const GRACE_ID = uuidv7();
const ADA_ORDER_ID = uuidv7();

const ADA: SubgraphCaller = {
  kind: 'customer',
  subject: ADA_ID,
  scopes: [],
  roles: [],
};
const GRACE: SubgraphCaller = {
  kind: 'customer',
  subject: GRACE_ID,
  scopes: [],
  roles: [],
};

const STOCK_CHANGED = `subscription {
  stockChanged { position sku available variant { sku } }
}`;
const STOCK_CHANGED_ALL = `subscription {
  stockChanged {
    position eventId occurredAt sku locationId onHand reserved available
    delta reason variant { id sku }
  }
}`;
const ORDER_STATUS_CHANGED = `subscription {
  orderStatusChanged {
    position eventId type orderId financialStatus order { id financialStatus }
  }
}`;

/** Positions of one type's events in a subgraph's outbox, oldest first. */
async function positionsOf(
  subgraph: AnySubgraph,
  type: string,
): Promise<Array<{ position: string; id: string; payload: any }>> {
  const rows = await subgraph.database.db.execute(raw`
    select transaction_id::text || '.' || sequence as position, id, payload
      from outbox_events
     where type = ${type}
     order by sequence`);
  return rows as unknown as Array<{
    position: string;
    id: string;
    payload: any;
  }>;
}

/** Sends `document` to a subgraph as `caller`, with an optional event position. */
async function resolveForEvent(
  subgraph: AnySubgraph,
  subgraphConfig: Config,
  document: string,
  position: string | null,
  caller: SubgraphCaller = TEST_ADMIN,
): Promise<GraphQLResponse> {
  const headers = await identityHeaders(subgraphConfig, caller);
  if (position !== null) headers[EVENT_POSITION_HEADER] = position;
  return postGraphQL(subgraph.url, document, undefined, headers);
}

function errorCodes(response: GraphQLResponse): unknown[] {
  return (response.errors ?? []).map((error) => error.extensions?.code);
}

beforeAll(async () => {
  config = createTestConfig();
  catalog = (await startTestSubgraph(
    catalogSubgraph,
    config,
  )) as unknown as AnySubgraph;
  // orderCancel releases the order's stock in this catalog.
  ordersConfig = { ...config, CATALOG_URL: catalog.url };
  orders = (await startTestSubgraph(
    ordersSubgraph,
    ordersConfig,
  )) as unknown as AnySubgraph;

  const created = await querySubgraph(
    catalog,
    config,
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { product { id } userErrors { message } }
    }`,
    {
      input: {
        title: 'Subscription hoodie',
        status: 'ACTIVE',
        variants: [{ sku: SKU, price: { amount: '42.00' } }],
      },
    },
  );
  expect(created.data?.productCreate.userErrors).toEqual([]);
  const set = await querySubgraph(
    catalog,
    config,
    `mutation ($input: StockSetInput!) {
      stockSet(input: $input) { userErrors { message } }
    }`,
    { input: { sku: SKU, quantity: 7, reason: 'RECEIVED' } },
  );
  expect(set.data?.stockSet.userErrors).toEqual([]);
  const adjusted = await querySubgraph(
    catalog,
    config,
    `mutation ($input: StockAdjustInput!) {
      stockAdjust(input: $input) { userErrors { message } }
    }`,
    { input: { sku: SKU, delta: -2, reason: 'DAMAGED' } },
  );
  expect(adjusted.data?.stockAdjust.userErrors).toEqual([]);

  const db = orders.database.db as any;
  await db.insert(orderTables.customers).values([
    { id: ADA_ID, email: 'ada@example.com', name: 'Ada Lovelace' },
    { id: GRACE_ID, email: 'grace@example.com', name: 'Grace Hopper' },
  ]);
  await db.insert(orderTables.orders).values({
    id: ADA_ORDER_ID,
    customerId: ADA_ID,
    email: 'ada@example.com',
    currencyCode: 'USD',
    subtotalAmount: 4200,
    totalAmount: 4200,
  });
  const cancelled = await querySubgraph(
    orders,
    ordersConfig,
    `mutation ($input: OrderCancelInput!) {
      orderCancel(input: $input) { userErrors { message } }
    }`,
    { input: { orderId: ADA_ORDER_ID, reason: 'Customer request' } },
  );
  expect(cancelled.data?.orderCancel.userErrors).toEqual([]);
});

afterAll(async () => {
  await orders?.close();
  await catalog?.close();
  if (config) await dropTestDatabases(config);
});

describe('stockChanged', () => {
  it('resolves a stock adjustment', async () => {
    const events = await positionsOf(catalog, 'stock.changed');
    expect(events).toHaveLength(2);
    const adjustment = events[1]!;

    const response = await resolveForEvent(
      catalog,
      config,
      STOCK_CHANGED,
      adjustment.position,
    );

    expect(response.status).toBe(200);
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({
      stockChanged: {
        position: adjustment.position,
        sku: SKU,
        available: 5,
        variant: { sku: SKU },
      },
    });
  });

  it('resolves every field from the payload', async () => {
    const [received] = await positionsOf(catalog, 'stock.changed');
    const { payload } = received!;

    const response = await resolveForEvent(
      catalog,
      config,
      STOCK_CHANGED_ALL,
      received!.position,
    );

    expect(response.errors).toBeUndefined();
    const change = response.data!.stockChanged;
    expect(change.position).toBe(received!.position);
    expect(change.eventId).toBe(received!.id);
    expect(change.occurredAt).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
    );
    expect(change.sku).toBe(SKU);
    expect(change.locationId).toBe(payload.locationId);
    expect(change.onHand).toBe(7);
    expect(change.reserved).toBe(0);
    expect(change.available).toBe(7);
    expect(change.delta).toBe(7);
    expect(change.reason).toBe('RECEIVED');
    expect(change.variant).toEqual({ id: payload.variantId, sku: SKU });
  });

  it('rejects a request without the position header', async () => {
    const response = await resolveForEvent(
      catalog,
      config,
      STOCK_CHANGED,
      null,
    );

    expect(response.data).toBeNull();
    expect(errorCodes(response)).toEqual([BAD_REQUEST]);
    expect(response.errors![0]!.message).toContain(
      `Missing header ${EVENT_POSITION_HEADER}`,
    );
  });

  it('rejects a malformed position', async () => {
    const response = await resolveForEvent(
      catalog,
      config,
      STOCK_CHANGED,
      'latest',
    );

    expect(response.data).toBeNull();
    expect(errorCodes(response)).toEqual([BAD_REQUEST]);
    expect(response.errors![0]!.message).toContain(
      `Invalid header ${EVENT_POSITION_HEADER} "latest"`,
    );
  });

  it('rejects an event of another type', async () => {
    const [productCreated] = await positionsOf(catalog, 'product.created');

    const response = await resolveForEvent(
      catalog,
      config,
      STOCK_CHANGED,
      productCreated!.position,
    );

    expect(response.data).toBeNull();
    expect(errorCodes(response)).toEqual([BAD_REQUEST]);
    expect(response.errors![0]!.message).toBe(
      `The event at position "${productCreated!.position}" is a product.created event, but stockChanged reports only stock.changed events. Send the position of an event of one of those types.`,
    );
  });

  it('reports an unknown position as not found', async () => {
    const [received] = await positionsOf(catalog, 'stock.changed');
    const [transactionId] = received!.position.split('.');

    const response = await resolveForEvent(
      catalog,
      config,
      STOCK_CHANGED,
      `${transactionId}.999999`,
    );

    expect(response.data).toBeNull();
    expect(errorCodes(response)).toEqual([ErrorCode.NotFound]);
  });

  it('rejects a sequence under another transaction id', async () => {
    const [received] = await positionsOf(catalog, 'stock.changed');
    const [transactionId, sequence] = received!.position.split('.');

    const response = await resolveForEvent(
      catalog,
      config,
      STOCK_CHANGED,
      `${BigInt(transactionId!) + 1000n}.${sequence}`,
    );

    expect(response.data).toBeNull();
    expect(errorCodes(response)).toEqual([ErrorCode.NotFound]);
  });

  it('rejects a transaction id beyond 64 bits', async () => {
    const response = await resolveForEvent(
      catalog,
      config,
      STOCK_CHANGED,
      '99999999999999999999.1',
    );

    expect(response.data).toBeNull();
    expect(errorCodes(response)).toEqual([ErrorCode.NotFound]);
  });

  it('requires read_inventory', async () => {
    const [received] = await positionsOf(catalog, 'stock.changed');

    const response = await resolveForEvent(
      catalog,
      config,
      STOCK_CHANGED,
      received!.position,
      ADA,
    );

    expect(response.data).toBeNull();
    expect(errorCodes(response)).toEqual([ErrorCode.Forbidden]);
  });
});

describe('orderStatusChanged', () => {
  it('carries the customer in the cancellation payload', async () => {
    const [cancelled] = await positionsOf(orders, 'order.cancelled');

    expect(cancelled!.payload.customerId).toBe(ADA_ID);
    expect(cancelled!.payload.orderId).toBe(ADA_ORDER_ID);
  });

  it("resolves the customer's own order event", async () => {
    const [cancelled] = await positionsOf(orders, 'order.cancelled');

    const response = await resolveForEvent(
      orders,
      ordersConfig,
      ORDER_STATUS_CHANGED,
      cancelled!.position,
      ADA,
    );

    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({
      orderStatusChanged: {
        position: cancelled!.position,
        eventId: cancelled!.id,
        type: 'order.cancelled',
        orderId: ADA_ORDER_ID,
        financialStatus: 'CANCELLED',
        order: { id: ADA_ORDER_ID, financialStatus: 'CANCELLED' },
      },
    });
  });

  it("hides another customer's order event", async () => {
    const [cancelled] = await positionsOf(orders, 'order.cancelled');

    const response = await resolveForEvent(
      orders,
      ordersConfig,
      ORDER_STATUS_CHANGED,
      cancelled!.position,
      GRACE,
    );

    expect(response.data).toBeNull();
    expect(errorCodes(response)).toEqual([ErrorCode.NotFound]);
    expect(response.errors![0]!.message).toBe(
      `No event of the orders subgraph has position "${cancelled!.position}": send a position that GET /events of the orders subgraph returned.`,
    );
  });

  it('requires a signed-in caller', async () => {
    const [cancelled] = await positionsOf(orders, 'order.cancelled');

    const response = await resolveForEvent(
      orders,
      ordersConfig,
      ORDER_STATUS_CHANGED,
      cancelled!.position,
      { kind: 'anonymous', subject: null, scopes: [], roles: [] },
    );

    expect(response.data).toBeNull();
    expect(errorCodes(response)).toEqual([ErrorCode.Unauthenticated]);
  });
});

describe('subscribe on a subgraph', () => {
  it('points to the gateway', () => {
    const subscribe = rejectSubgraphSubscription('stockChanged');

    expect(subscribe).toThrowError(
      expect.objectContaining({
        message:
          'Subscriptions are served by the gateway over graphql-ws or SSE, not by the catalog subgraph: subscribe to stockChanged at the gateway.',
        extensions: { code: BAD_REQUEST },
      }),
    );
  });
});
