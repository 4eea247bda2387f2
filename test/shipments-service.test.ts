import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../platform/config.js';
import { uuidv7 } from '../platform/ids.js';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/shipments/db/tables.js';
import type { ShipmentRow } from '../subgraphs/shipments/db/tables.js';
import { fulfillmentStatusOf } from '../subgraphs/shipments/fulfillment-status.js';
import { shipmentsSubgraph } from '../subgraphs/shipments/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { querySubgraph, startTestSubgraph } from './support/subgraph.js';

let config: Config;
let running: RunningSubgraph<typeof tables>;

const unshippedOrderId = uuidv7();
const inTransitOrderId = uuidv7();
const deliveredOrderId = uuidv7();
const cancelledOrderId = uuidv7();
const inTransitShipmentId = uuidv7();

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
