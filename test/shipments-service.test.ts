import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../platform/config.js';
import type { SubgraphCaller } from '../platform/identity.js';
import { uuidv7 } from '../platform/ids.js';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/shipments/db/tables.js';
import type { ShipmentRow } from '../subgraphs/shipments/db/tables.js';
import { fulfillmentStatusOf } from '../subgraphs/shipments/fulfillment-status.js';
import { shipmentsSubgraph } from '../subgraphs/shipments/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { identityHeaders } from './support/identity.js';
import { postGraphQL } from './support/stack.js';
import { querySubgraph, startTestSubgraph } from './support/subgraph.js';

let config: Config;
let running: RunningSubgraph<typeof tables>;

const unshippedOrderId = uuidv7();
const inTransitOrderId = uuidv7();
const deliveredOrderId = uuidv7();
const cancelledOrderId = uuidv7();
const inTransitShipmentId = uuidv7();

const customerId = uuidv7();
const otherCustomerId = uuidv7();
const ownOrderId = uuidv7();
const otherOrderId = uuidv7();
const guestOrderId = uuidv7();
const ownShipmentId = uuidv7();
const otherShipmentId = uuidv7();
const guestShipmentId = uuidv7();

function customer(id: string): SubgraphCaller {
  return { kind: 'customer', subject: id, scopes: [], roles: [] };
}

function partner(scopes: string[]): SubgraphCaller {
  return { kind: 'partner', subject: uuidv7(), scopes, roles: [] };
}

async function queryAs(
  caller: SubgraphCaller,
  query: string,
  variables: Record<string, unknown> = {},
) {
  const response = await postGraphQL<Record<string, any>>(
    running.url,
    query,
    variables,
    await identityHeaders(config, caller),
  );
  expect(response.status).toBe(200);
  return response;
}

function queryGraphQL(query: string, variables: Record<string, unknown> = {}) {
  return querySubgraph(running, config, query, variables);
}

beforeAll(async () => {
  config = createTestConfig();
  running = await startTestSubgraph(shipmentsSubgraph, config);

  const { db } = running.database;
  await db.insert(tables.shipments).values([
    {
      id: inTransitShipmentId,
      orderId: inTransitOrderId,
      status: 'IN_TRANSIT',
      carrier: 'UPS',
      service: 'Ground',
      trackingNumber: '1Z999AA10123456784',
      trackingUrl: 'https://example.com/track/1Z999AA10123456784',
      createdAt: new Date('2025-03-01T12:00:00Z'),
    },
    {
      id: uuidv7(),
      orderId: inTransitOrderId,
      status: 'DELIVERED',
      createdAt: new Date('2025-03-03T09:00:00Z'),
    },
    { id: uuidv7(), orderId: deliveredOrderId, status: 'DELIVERED' },
    { id: uuidv7(), orderId: deliveredOrderId, status: 'CANCELLED' },
    { id: uuidv7(), orderId: cancelledOrderId, status: 'CANCELLED' },
  ]);
  await db.insert(tables.shipments).values([
    {
      id: ownShipmentId,
      orderId: ownOrderId,
      customerId,
      status: 'IN_TRANSIT',
    },
    {
      id: otherShipmentId,
      orderId: otherOrderId,
      customerId: otherCustomerId,
      status: 'DELIVERED',
    },
    { id: guestShipmentId, orderId: guestOrderId, status: 'PENDING' },
  ]);
  // Inserted newest first, so the response order shows the sort.
  await db.insert(tables.trackingEvents).values([
    {
      id: uuidv7(),
      shipmentId: inTransitShipmentId,
      status: 'IN_TRANSIT',
      message: 'Arrived at facility',
      location: 'Louisville, KY',
      occurredAt: new Date('2025-03-02T08:00:00Z'),
    },
    {
      id: uuidv7(),
      shipmentId: inTransitShipmentId,
      status: 'LABEL_CREATED',
      occurredAt: new Date('2025-03-01T12:30:00Z'),
    },
  ]);
});

afterAll(async () => {
  await running?.close();
  if (config) await dropTestDatabases(config);
});

describe('shipments service', () => {
  it('answers /health', async () => {
    const response = await fetch(new URL('/health', running.url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'ok',
      service: 'shipments',
    });
  });

  it('answers /ready once migrated', async () => {
    const response = await fetch(new URL('/ready', running.url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'ready',
      service: 'shipments',
    });
  });

  it('reports unshipped order as UNFULFILLED', async () => {
    const result = await queryGraphQL(
      `query ($representations: [_Any!]!) {
        _entities(representations: $representations) {
          ... on Order { id fulfillmentStatus shipments { id } }
        }
      }`,
      { representations: [{ __typename: 'Order', id: unshippedOrderId }] },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      { id: unshippedOrderId, fulfillmentStatus: 'UNFULFILLED', shipments: [] },
    ]);
  });

  it('batches fulfillmentStatus in one statement', async () => {
    running.database.queries.reset();
    const result = await queryGraphQL(
      `query ($representations: [_Any!]!) {
        _entities(representations: $representations) {
          ... on Order { id fulfillmentStatus shipments { status } }
        }
      }`,
      {
        representations: [
          inTransitOrderId,
          deliveredOrderId,
          cancelledOrderId,
          unshippedOrderId,
          'not-a-uuid',
        ].map((id) => ({ __typename: 'Order', id })),
      },
    );
    expect(result.errors).toBeUndefined();
    const statuses = result.data!._entities.map(
      (order: { fulfillmentStatus: string }) => order.fulfillmentStatus,
    );
    expect(statuses).toEqual([
      'FULFILLED',
      'DELIVERED',
      'UNFULFILLED',
      'UNFULFILLED',
      'UNFULFILLED',
    ]);
    expect(result.data!._entities[0].shipments).toEqual([
      { status: 'IN_TRANSIT' },
      { status: 'DELIVERED' },
    ]);
    expect(running.database.queries.count).toBe(1);
  });

  it('resolves Shipment with tracking events', async () => {
    const result = await queryGraphQL(
      `query ($representations: [_Any!]!) {
        _entities(representations: $representations) {
          ... on Shipment {
            id
            order { id }
            status
            carrier
            service
            trackingNumber
            trackingUrl
            trackingEvents { status message location occurredAt }
          }
        }
      }`,
      {
        representations: [
          { __typename: 'Shipment', id: inTransitShipmentId },
          { __typename: 'Shipment', id: uuidv7() },
        ],
      },
    );
    expect(result.errors).toBeUndefined();
    const [shipment, missing] = result.data!._entities;
    expect(shipment).toMatchObject({
      id: inTransitShipmentId,
      order: { id: inTransitOrderId },
      status: 'IN_TRANSIT',
      carrier: 'UPS',
      service: 'Ground',
      trackingNumber: '1Z999AA10123456784',
    });
    expect(shipment.trackingEvents).toEqual([
      {
        status: 'LABEL_CREATED',
        message: null,
        location: null,
        occurredAt: '2025-03-01T12:30:00.000Z',
      },
      {
        status: 'IN_TRANSIT',
        message: 'Arrived at facility',
        location: 'Louisville, KY',
        occurredAt: '2025-03-02T08:00:00.000Z',
      },
    ]);
    expect(missing).toBeNull();
  });

  it('returns null for an unknown shipment ID', async () => {
    const result = await queryGraphQL(
      `query ($id: ID!) { shipment(id: $id) { id } }`,
      { id: uuidv7() },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.shipment).toBeNull();
  });
});

describe('shipment access', () => {
  const SHIPMENT = `query ($id: ID!) { shipment(id: $id) { id status } }`;
  const ORDER_SHIPMENTS = `query ($representations: [_Any!]!) {
    _entities(representations: $representations) {
      ... on Order { id fulfillmentStatus shipments { id } }
    }
  }`;

  it('shows a customer their own shipment', async () => {
    const result = await queryAs(customer(customerId), SHIPMENT, {
      id: ownShipmentId,
    });

    expect(result.errors).toBeUndefined();
    expect(result.data!.shipment).toEqual({
      id: ownShipmentId,
      status: 'IN_TRANSIT',
    });
  });

  it("hides another customer's shipment as not found", async () => {
    const result = await queryAs(customer(customerId), SHIPMENT, {
      id: otherShipmentId,
    });

    expect(result.errors).toBeUndefined();
    expect(result.data!.shipment).toBeNull();
  });

  it('hides a guest order shipment from customers', async () => {
    const result = await queryAs(customer(customerId), SHIPMENT, {
      id: guestShipmentId,
    });

    expect(result.errors).toBeUndefined();
    expect(result.data!.shipment).toBeNull();
  });

  it('hides every shipment from anonymous callers', async () => {
    const anonymous: SubgraphCaller = {
      kind: 'anonymous',
      subject: null,
      scopes: [],
      roles: [],
    };

    const result = await queryAs(anonymous, SHIPMENT, { id: ownShipmentId });

    expect(result.errors).toBeUndefined();
    expect(result.data!.shipment).toBeNull();
  });

  it("filters another customer's order shipments", async () => {
    const result = await queryAs(customer(customerId), ORDER_SHIPMENTS, {
      representations: [ownOrderId, otherOrderId, guestOrderId].map((id) => ({
        __typename: 'Order',
        id,
      })),
    });

    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([
      {
        id: ownOrderId,
        fulfillmentStatus: 'FULFILLED',
        shipments: [{ id: ownShipmentId }],
      },
      { id: otherOrderId, fulfillmentStatus: 'UNFULFILLED', shipments: [] },
      { id: guestOrderId, fulfillmentStatus: 'UNFULFILLED', shipments: [] },
    ]);
  });

  it('resolves a Shipment reference only for its customer', async () => {
    const result = await queryAs(
      customer(customerId),
      `query ($representations: [_Any!]!) {
        _entities(representations: $representations) { ... on Shipment { id } }
      }`,
      {
        representations: [ownShipmentId, otherShipmentId].map((id) => ({
          __typename: 'Shipment',
          id,
        })),
      },
    );

    expect(result.errors).toBeUndefined();
    expect(result.data!._entities).toEqual([{ id: ownShipmentId }, null]);
  });

  it('shows a partner with read_shipments any shipment', async () => {
    const result = await queryAs(partner(['read_shipments']), SHIPMENT, {
      id: otherShipmentId,
    });

    expect(result.errors).toBeUndefined();
    expect(result.data!.shipment).toEqual({
      id: otherShipmentId,
      status: 'DELIVERED',
    });
  });

  it('rejects a partner without read_shipments', async () => {
    const result = await queryAs(partner(['read_orders']), SHIPMENT, {
      id: otherShipmentId,
    });

    expect(result.data!.shipment).toBeNull();
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(result.errors?.[0]?.message).toContain('read_shipments');
  });
});

describe('fulfillmentStatusOf', () => {
  const cases: [ShipmentRow['status'][], string][] = [
    [[], 'UNFULFILLED'],
    [['CANCELLED'], 'UNFULFILLED'],
    [['PENDING'], 'FULFILLED'],
    [['DELIVERED', 'IN_TRANSIT'], 'FULFILLED'],
    [['DELIVERED', 'CANCELLED'], 'DELIVERED'],
    [['DELIVERED', 'DELIVERED'], 'DELIVERED'],
  ];
  it.each(cases)('maps shipment statuses %j to %s', (statuses, expected) => {
    expect(fulfillmentStatusOf(statuses.map((status) => ({ status })))).toBe(
      expected,
    );
  });
});
