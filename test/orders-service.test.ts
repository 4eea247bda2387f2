import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../platform/config.js';
import { uuidv7 } from '../platform/ids.js';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/orders/db/tables.js';
import { createLoaders } from '../subgraphs/orders/loaders.js';
import { ordersSubgraph } from '../subgraphs/orders/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { querySubgraph, startTestSubgraph } from './support/subgraph.js';

let config: Config;
let running: RunningSubgraph<typeof tables>;

const customerId = uuidv7();
const orderId = uuidv7();
const guestOrderId = uuidv7();
// The second line has the older ID, so the response order shows that lines
// are sorted by position, not by ID.
const secondLineId = uuidv7(Date.now() - 60_000);
const firstLineId = uuidv7();
const variantId = uuidv7();

function queryGraphQL(query: string, variables: Record<string, unknown> = {}) {
  return querySubgraph(running, config, query, variables);
}

beforeAll(async () => {
  config = createTestConfig();
  running = await startTestSubgraph(ordersSubgraph, config);

  const { db } = running.database;
  await db.insert(tables.customers).values({
    id: customerId,
    email: 'ada@example.com',
    name: 'Ada Lovelace',
  });
  await db.insert(tables.orders).values([
    {
      id: orderId,
      customerId,
      email: 'ada@example.com',
      financialStatus: 'PAID',
      currencyCode: 'USD',
      subtotalAmount: 5497,
      totalAmount: 5497,
    },
    {
      id: guestOrderId,
      email: 'guest@example.com',
      currencyCode: 'JPY',
      subtotalAmount: 1500,
      totalAmount: 1500,
    },
  ]);
  await db.insert(tables.orderLines).values([
    {
      id: firstLineId,
      orderId,
      variantId,
      sku: 'HOODIE-M',
      position: 0,
      quantity: 2,
      unitPriceAmount: 1999,
    },
    {
      id: secondLineId,
      orderId,
      variantId: uuidv7(),
      sku: 'CAP',
      position: 1,
      quantity: 1,
      unitPriceAmount: 1499,
    },
  ]);
});

afterAll(async () => {
  await running?.close();
  if (config) await dropTestDatabases(config);
});

describe('orders service', () => {
  it('answers /health', async () => {
    const response = await fetch(new URL('/health', running.url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', service: 'orders' });
  });

  it('answers /ready once migrated', async () => {
    const response = await fetch(new URL('/ready', running.url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'ready',
      service: 'orders',
    });
  });

  it('resolves Order and Customer entities', async () => {
    const result = await queryGraphQL(
      `query ($representations: [_Any!]!) {
        _entities(representations: $representations) {
          ... on Order {
            id
            number
            email
            financialStatus
            totalPrice { amount currencyCode }
            customer { id email name }
            lines {
              id
              sku
              quantity
              unitPrice { amount currencyCode }
              variant { id }
            }
            createdAt
          }
          ... on Customer { id email }
        }
      }`,
      {
        representations: [
          { __typename: 'Order', id: orderId },
          { __typename: 'Order', id: uuidv7() },
          { __typename: 'Customer', id: customerId },
        ],
      },
    );
    expect(result.errors).toBeUndefined();
    const [order, missing, customer] = result.data!._entities;

    expect(order.id).toBe(orderId);
    expect(order.number).toBeGreaterThanOrEqual(1001);
    expect(order.email).toBe('ada@example.com');
    expect(order.financialStatus).toBe('PAID');
    expect(order.totalPrice).toEqual({ amount: '54.97', currencyCode: 'USD' });
    expect(order.customer).toEqual({
      id: customerId,
      email: 'ada@example.com',
      name: 'Ada Lovelace',
    });
    expect(order.lines.map((line: { id: string }) => line.id)).toEqual([
      firstLineId,
      secondLineId,
    ]);
    expect(order.lines[0]).toMatchObject({
      sku: 'HOODIE-M',
      quantity: 2,
      unitPrice: { amount: '19.99', currencyCode: 'USD' },
      variant: { id: variantId },
    });
    expect(new Date(order.createdAt).toISOString()).toBe(order.createdAt);
    expect(missing).toBeNull();
    expect(customer).toEqual({ id: customerId, email: 'ada@example.com' });
  });

  it('resolves a guest order without a customer', async () => {
    const result = await queryGraphQL(
      `query ($id: ID!) {
        order(id: $id) { customer { id } totalPrice { amount } lines { id } }
      }`,
      { id: guestOrderId },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.order).toEqual({
      customer: null,
      totalPrice: { amount: '1500' },
      lines: [],
    });
  });

  it('returns null for unknown and malformed order IDs', async () => {
    const result = await queryGraphQL(
      `query ($unknown: ID!, $malformed: ID!) {
        unknown: order(id: $unknown) { id }
        malformed: order(id: $malformed) { id }
      }`,
      { unknown: uuidv7(), malformed: 'not-a-uuid' },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ unknown: null, malformed: null });
  });
});

describe('orders loaders', () => {
  it('orderById returns rows in key order', async () => {
    const loaders = createLoaders(running.database.db, config);
    const missingId = uuidv7();
    running.database.queries.reset();

    const rows = await loaders.orderById.loadMany([
      guestOrderId,
      missingId,
      orderId,
    ]);

    const ids = rows.map((row) => (row as { id: string } | null)?.id ?? null);
    expect(ids).toEqual([guestOrderId, null, orderId]);
    expect(running.database.queries.count).toBe(1);
  });

  it('linesByOrderId returns [] without lines', async () => {
    const loaders = createLoaders(running.database.db, config);

    const groups = await loaders.linesByOrderId.loadMany([
      guestOrderId,
      orderId,
    ]);

    expect(groups[0]).toEqual([]);
    expect((groups[1] as { id: string }[]).map((line) => line.id)).toEqual([
      firstLineId,
      secondLineId,
    ]);
  });
});
