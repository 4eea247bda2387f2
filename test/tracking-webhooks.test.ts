import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EasyPostCarrier,
  easyPostSignature,
} from '../subgraphs/shipments/carriers/easypost.js';
import type {
  Label,
  Rate,
  RateRequest,
} from '../subgraphs/shipments/carriers/carrier.js';
import * as tables from '../subgraphs/shipments/db/tables.js';
import { substituteShipmentsDependencies } from '../subgraphs/shipments/dependencies.js';
import { ADMIN, complete, readyCheckout } from './support/checkout.js';
import {
  createStockedVariant,
  ORDER_STACK_SETTINGS,
} from './support/orders.js';
import { startTestStack, type TestStack } from './support/stack.js';

const WEBHOOK_SECRET = 'whsec_tracking_test';
/** EasyPost's `tracker.updated` event for FedEx tracking code "1", as signed bytes. */
const EVENT_BYTES = readFileSync(
  new URL('./fixtures/easypost_tracker_updated_event.json', import.meta.url),
);

/**
 * The EasyPost carrier with its webhook verification and parsing, but
 * offline rates and labels: the label carries the fixture's tracking code
 * "1" at FedEx, so the fixture's events find its shipment.
 */
class OfflineEasyPostCarrier extends EasyPostCarrier {
  constructor() {
    super({
      apiBaseUrl: 'http://127.0.0.1:9',
      apiKey: 'EZTK_test',
      webhookSecret: WEBHOOK_SECRET,
    });
  }

  override async rates(request: RateRequest): Promise<Rate[]> {
    return [
      {
        rateId: 'rate_fedex_ground',
        carrierShipmentId: 'shp_test',
        carrier: 'FedEx',
        service: 'FEDEX_GROUND',
        amount: 1234,
        currencyCode: request.currencyCode,
        estimatedDays: 3,
      },
    ];
  }

  override async buyLabel(
    request: RateRequest & { rate: Rate },
  ): Promise<Label> {
    return {
      carrier: 'FedEx',
      service: request.rate.service,
      trackingNumber: '1',
      trackingUrl: 'https://track.example.com/1',
      labelUrl: 'https://labels.example.com/shp_test.pdf',
      carrierShipmentId: 'shp_test',
      trackerId: 'trk_1',
      amount: request.rate.amount,
      currencyCode: request.rate.currencyCode,
    };
  }

  override async voidLabel(): Promise<boolean> {
    return true;
  }
}

let stack: TestStack;
let orderId: string;
let shipmentId: string;

beforeAll(async () => {
  const prefix = `t${randomBytes(5).toString('hex')}`;
  substituteShipmentsDependencies(
    { DATABASE_PREFIX: prefix },
    { carrier: new OfflineEasyPostCarrier() },
  );
  stack = await startTestStack({
    ...ORDER_STACK_SETTINGS,
    DATABASE_PREFIX: prefix,
    TRACKING_POLL_INTERVAL_MS: '0',
  });

  const sku = `track-${randomUUID().slice(-8)}`;
  await createStockedVariant(stack, sku, '10.00', 5);
  const checkoutId = await readyCheckout(stack, [{ sku, quantity: 1 }]);
  const completed = await complete(
    stack,
    checkoutId,
    { method: 'CARD', cardToken: 'tok_sandbox_visa' },
    randomUUID(),
  );
  orderId = completed.data!.checkoutComplete.order.id;
  const created = await stack.query(
    `mutation ($input: FulfillmentCreateInput!) {
      fulfillmentCreate(input: $input) { shipment { id } userErrors { code } }
    }`,
    { input: { orderId, idempotencyKey: randomUUID() } },
    ADMIN,
  );
  shipmentId = created.data!.fulfillmentCreate.shipment.id;
  await stack.query(
    `query ($id: ID!) { shipmentRates(shipmentId: $id) { rates { rateId } } }`,
    { id: shipmentId },
    ADMIN,
  );
  const bought = await stack.query(
    `mutation ($input: ShipmentBuyLabelInput!) {
      shipmentBuyLabel(input: $input) { shipment { status trackingNumber } userErrors { code message } }
    }`,
    { input: { shipmentId, rateId: 'rate_fedex_ground' } },
    ADMIN,
  );
  expect(bought.data!.shipmentBuyLabel.shipment).toEqual({
    status: 'LABEL_CREATED',
    trackingNumber: '1',
  });
});

afterAll(async () => {
  await stack?.close();
});

/** POSTs a webhook body to the shipments service, signed unless `signature` is given. */
async function deliver(body: Buffer, signature?: string) {
  const response = await fetch(
    new URL('/webhooks/carriers/easypost', stack.subgraphs.shipments.url),
    {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hmac-signature':
          signature ?? easyPostSignature(body, WEBHOOK_SECRET),
      },
      body,
    },
  );
  return { status: response.status, body: (await response.json()) as any };
}

/** The fixture event with another id, changed by `edit`. */
function variantOfEvent(id: string, edit: (event: any) => void): Buffer {
  const event = JSON.parse(EVENT_BYTES.toString('utf8'));
  event.id = id;
  edit(event);
  return Buffer.from(JSON.stringify(event));
}

async function readShipment() {
  const result = await stack.query(
    `query ($id: ID!) {
      shipment(id: $id) {
        status
        trackingEvents { status carrierStatus message location occurredAt }
      }
    }`,
    { id: shipmentId },
    ADMIN,
  );
  expect(result.errors).toBeUndefined();
  return result.data!.shipment;
}

function outboxTypes() {
  return stack.subgraphs.shipments.database.db
    .select({
      type: tables.outboxEvents.type,
      payload: tables.outboxEvents.payload,
    })
    .from(tables.outboxEvents)
    .where(eq(tables.outboxEvents.aggregateId, shipmentId))
    .orderBy(asc(tables.outboxEvents.sequence));
}

describe('carrier tracking webhooks', () => {
  it('rejects a bad signature and changes nothing', async () => {
    const before = await readShipment();

    const response = await deliver(
      EVENT_BYTES,
      easyPostSignature(EVENT_BYTES, 'another secret'),
    );

    expect(response.status).toBe(400);
    expect(response.body.error).toContain('Webhook rejected');
    expect(await readShipment()).toEqual(before);
    const recorded = await stack.subgraphs.shipments.database.db
      .select()
      .from(tables.carrierWebhookEvents);
    expect(recorded).toEqual([]);
  });

  it('merges redelivered and older events into one history', async () => {
    // Sent later than the fixture but created earlier: two scans only,
    // plus one the fixture lacks, and status pre_transit.
    const older = variantOfEvent('evt_0', (event) => {
      event.created_at = '2024-07-31T20:00:00.000Z';
      event.result.status = 'pre_transit';
      event.result.tracking_details = [
        {
          ...event.result.tracking_details[0],
          message: 'Label printed',
          datetime: '2024-07-31T14:50:00Z',
        },
        ...event.result.tracking_details.slice(0, 2),
      ];
    });

    const first = await deliver(EVENT_BYTES);
    const again = await deliver(EVENT_BYTES);
    const late = await deliver(older);

    expect(first).toEqual({
      status: 200,
      body: { received: true, outcome: 'applied' },
    });
    expect(again.body.outcome).toBe('duplicate');
    expect(late.body.outcome).toBe('applied');
    const shipment = await readShipment();
    expect(shipment.status).toBe('IN_TRANSIT');
    const times = shipment.trackingEvents.map((event: any) => event.occurredAt);
    expect(times).toEqual([...times].sort());
    expect(shipment.trackingEvents).toHaveLength(8);
    expect(shipment.trackingEvents[0]).toEqual({
      status: 'LABEL_CREATED',
      carrierStatus: 'pre_transit',
      message: 'Label printed',
      location: '32837, US',
      occurredAt: '2024-07-31T14:50:00.000Z',
    });
    expect(shipment.trackingEvents.at(-1)).toMatchObject({
      status: 'IN_TRANSIT',
      carrierStatus: 'in_transit',
      message: 'Arrived at FedEx location',
      occurredAt: '2024-08-02T18:50:00.000Z',
    });
    const types = (await outboxTypes()).map((event) => event.type);
    expect(
      types.filter((type) => type === 'shipment.status_changed'),
    ).toHaveLength(2);
  });

  it('marks a delivered parcel DELIVERED with an outbox event', async () => {
    const delivered = variantOfEvent('evt_2', (event) => {
      event.created_at = '2024-08-05T16:00:00.000Z';
      event.result.status = 'delivered';
      event.result.tracking_details.push({
        ...event.result.tracking_details.at(-1),
        message: 'Delivered',
        status: 'delivered',
        status_detail: 'arrived_at_destination',
        datetime: '2024-08-05T15:12:00Z',
      });
    });

    const response = await deliver(delivered);

    expect(response.body.outcome).toBe('applied');
    expect((await readShipment()).status).toBe('DELIVERED');
    const events = await outboxTypes();
    expect(events.at(-1)).toEqual({
      type: 'shipment.delivered',
      payload: expect.objectContaining({
        shipmentId,
        orderId,
        from: 'IN_TRANSIT',
        to: 'DELIVERED',
      }),
    });
    const order = await stack.query(
      `query ($id: ID!) { order(id: $id) { fulfillmentStatus } }`,
      { id: orderId },
      ADMIN,
    );
    expect(order.data!.order.fulfillmentStatus).toBe('DELIVERED');
  });

  it('answers an unknown tracking number without recording it', async () => {
    const unknown = variantOfEvent('evt_3', (event) => {
      event.result.tracking_code = 'NOPE123';
    });

    const response = await deliver(unknown);

    expect(response.body.outcome).toBe('unknown_shipment');
    const recorded = await stack.subgraphs.shipments.database.db
      .select()
      .from(tables.carrierWebhookEvents)
      .where(eq(tables.carrierWebhookEvents.eventId, 'evt_3'));
    expect(recorded).toEqual([]);
  });
});
