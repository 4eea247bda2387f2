import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../gateway/caller.js';
import { uuidv7 } from '../platform/ids.js';
import { runShipmentsPass } from '../subgraphs/shipments/background.js';
import * as tables from '../subgraphs/shipments/db/tables.js';
import { shipmentsDependencies } from '../subgraphs/shipments/dependencies.js';
import { createLogger } from '../platform/logger.js';
import { ADMIN, complete, readyCheckout } from './support/checkout.js';
import {
  createStockedVariant,
  ORDER_STACK_SETTINGS,
  registerCustomer,
} from './support/orders.js';
import {
  callerHeaders,
  startTestStack,
  type TestStack,
} from './support/stack.js';

let stack: TestStack;
let customer: CallerIdentity;

const SHIPMENT_FIELDS = `id status carrier service trackingNumber trackingUrl labelUrl
  estimatedDeliveryAt lines { orderLineId sku variantId quantity } order { id }`;

const FULFILLMENT_CREATE = `mutation ($input: FulfillmentCreateInput!) {
  fulfillmentCreate(input: $input) {
    shipment { ${SHIPMENT_FIELDS} }
    userErrors { field message code }
  }
}`;
const SHIPMENT_RATES = `query ($shipmentId: ID!) {
  shipmentRates(shipmentId: $shipmentId) {
    rates { rateId carrier service price { amount currencyCode } estimatedDays }
    userErrors { field message code }
  }
}`;
const BUY_LABEL = `mutation ($input: ShipmentBuyLabelInput!) {
  shipmentBuyLabel(input: $input) {
    shipment { ${SHIPMENT_FIELDS} }
    userErrors { field message code }
  }
}`;
const SHIPMENT_CANCEL = `mutation ($input: ShipmentCancelInput!) {
  shipmentCancel(input: $input) {
    shipment { ${SHIPMENT_FIELDS} }
    userErrors { field message code }
  }
}`;
const ORDER_FULFILLMENT = `query ($id: ID!) {
  order(id: $id) {
    id fulfillmentStatus
    shipments { id status lines { orderLineId quantity } }
  }
}`;

interface PlacedOrder {
  id: string;
  lines: Array<{ id: string; sku: string; quantity: number }>;
}

beforeAll(async () => {
  stack = await startTestStack({
    ...ORDER_STACK_SETTINGS,
    TRACKING_POLL_INTERVAL_MS: '0',
  });
  customer = await registerCustomer(stack, `buyer-${uuidv7()}@example.com`);
});

afterAll(async () => {
  await stack?.close();
});

/** Places a paid card order of the customer with one line per SKU. */
async function placeOrder(
  lines: Array<{ sku: string; quantity: number }>,
  buyer: CallerIdentity = customer,
): Promise<PlacedOrder> {
  const headers = callerHeaders(buyer);
  const checkoutId = await readyCheckout(stack, lines, headers);
  const completed = await complete(
    stack,
    checkoutId,
    { method: 'CARD', cardToken: 'tok_sandbox_visa' },
    randomUUID(),
    headers,
  );
  const order = completed.data?.checkoutComplete?.order;
  if (!order)
    throw new Error(`checkoutComplete failed: ${JSON.stringify(completed)}`);
  const read = await stack.query(
    `query ($id: ID!) { order(id: $id) { id lines { id sku quantity } } }`,
    { id: order.id },
    ADMIN,
  );
  return read.data!.order;
}

/** On-hand and reserved units of a SKU over every location. */
async function stockOf(
  sku: string,
): Promise<{ onHand: number; reserved: number }> {
  const result = await stack.query(
    `query ($sku: String!) { variant(sku: $sku) { stockLevels { onHand reserved } } }`,
    { sku },
    ADMIN,
  );
  const levels: Array<{ onHand: number; reserved: number }> =
    result.data!.variant.stockLevels;
  return levels.reduce(
    (sum, level) => ({
      onHand: sum.onHand + level.onHand,
      reserved: sum.reserved + level.reserved,
    }),
    { onHand: 0, reserved: 0 },
  );
}

async function fulfil(
  input: Record<string, unknown>,
  headers: Record<string, string> = ADMIN,
) {
  const result = await stack.query(FULFILLMENT_CREATE, { input }, headers);
  return result;
}

async function fulfillmentOf(orderId: string, headers = ADMIN) {
  const result = await stack.query(ORDER_FULFILLMENT, { id: orderId }, headers);
  expect(result.errors).toBeUndefined();
  return result.data!.order;
}

let skuCount = 0;
async function threeSkus(): Promise<[string, string, string]> {
  const skus = [1, 2, 3].map(() => {
    skuCount += 1;
    return `ful-${skuCount}-${uuidv7().slice(-6)}`;
  }) as [string, string, string];
  for (const sku of skus) await createStockedVariant(stack, sku, '10.00', 10);
  return skus;
}

describe('fulfillmentCreate', () => {
  it('fulfils part, then the rest, committing stock once', async () => {
    const [a, b, c] = await threeSkus();
    const order = await placeOrder([
      { sku: a, quantity: 1 },
      { sku: b, quantity: 2 },
      { sku: c, quantity: 3 },
    ]);
    const lineOf = (sku: string) =>
      order.lines.find((line) => line.sku === sku)!;
    expect(await stockOf(a)).toEqual({ onHand: 10, reserved: 1 });

    const key = randomUUID();
    const input = {
      orderId: order.id,
      lines: [
        { orderLineId: lineOf(a).id, quantity: 1 },
        { orderLineId: lineOf(b).id, quantity: 2 },
      ],
      idempotencyKey: key,
    };
    const first = await fulfil(input);
    const retried = await fulfil(input);

    expect(first.errors).toBeUndefined();
    const shipment = first.data!.fulfillmentCreate.shipment;
    expect(first.data!.fulfillmentCreate.userErrors).toEqual([]);
    expect(shipment.status).toBe('PENDING');
    expect(shipment.order).toEqual({ id: order.id });
    expect(
      shipment.lines.map((line: any) => [line.sku, line.quantity]).sort(),
    ).toEqual([
      [a, 1],
      [b, 2],
    ]);
    expect(retried.data!.fulfillmentCreate.shipment.id).toBe(shipment.id);
    expect(await stockOf(a)).toEqual({ onHand: 9, reserved: 0 });
    expect(await stockOf(b)).toEqual({ onHand: 8, reserved: 0 });
    expect(await stockOf(c)).toEqual({ onHand: 10, reserved: 3 });
    const partial = await fulfillmentOf(order.id);
    expect(partial.fulfillmentStatus).toBe('PARTIALLY_FULFILLED');
    expect(partial.shipments).toHaveLength(1);

    const rest = await fulfil({
      orderId: order.id,
      idempotencyKey: randomUUID(),
    });

    expect(rest.data!.fulfillmentCreate.userErrors).toEqual([]);
    expect(rest.data!.fulfillmentCreate.shipment.lines).toEqual([
      expect.objectContaining({
        orderLineId: lineOf(c).id,
        sku: c,
        quantity: 3,
      }),
    ]);
    expect(await stockOf(c)).toEqual({ onHand: 7, reserved: 0 });
    expect((await fulfillmentOf(order.id)).fulfillmentStatus).toBe('FULFILLED');
    const [shipmentCreated] = await stack.subgraphs.shipments.database.db
      .select()
      .from(tables.outboxEvents);
    expect(shipmentCreated?.type).toBe('shipment.created');
  });

  it('rejects more than remains of a line', async () => {
    const [a] = await threeSkus();
    const order = await placeOrder([{ sku: a, quantity: 2 }]);
    const lineId = order.lines[0]!.id;
    await fulfil({
      orderId: order.id,
      lines: [{ orderLineId: lineId, quantity: 1 }],
      idempotencyKey: randomUUID(),
    });

    const result = await fulfil({
      orderId: order.id,
      lines: [{ orderLineId: lineId, quantity: 2 }],
      idempotencyKey: randomUUID(),
    });

    const payload = result.data!.fulfillmentCreate;
    expect(payload.shipment).toBeNull();
    expect(payload.userErrors).toEqual([
      expect.objectContaining({
        field: ['input', 'lines', '0', 'quantity'],
        code: 'QUANTITY_EXCEEDS_REMAINING',
      }),
    ]);
    expect(await stockOf(a)).toEqual({ onHand: 9, reserved: 1 });
  });

  it('rejects an unknown order and unknown lines', async () => {
    const unknownOrder = await fulfil({
      orderId: uuidv7(),
      idempotencyKey: randomUUID(),
    });
    expect(unknownOrder.data!.fulfillmentCreate.userErrors[0].code).toBe(
      'NOT_FOUND',
    );

    const [a] = await threeSkus();
    const order = await placeOrder([{ sku: a, quantity: 1 }]);
    const unknownLine = await fulfil({
      orderId: order.id,
      lines: [{ orderLineId: uuidv7(), quantity: 1 }],
      idempotencyKey: randomUUID(),
    });
    expect(unknownLine.data!.fulfillmentCreate.userErrors).toEqual([
      expect.objectContaining({
        field: ['input', 'lines', '0', 'orderLineId'],
        code: 'NOT_FOUND',
      }),
    ]);
  });

  it('ships each unit once under concurrent requests', async () => {
    const [a] = await threeSkus();
    const order = await placeOrder([{ sku: a, quantity: 3 }]);
    const lineId = order.lines[0]!.id;

    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        fulfil({
          orderId: order.id,
          lines: [{ orderLineId: lineId, quantity: 1 }],
          idempotencyKey: randomUUID(),
        }),
      ),
    );

    const created = results.filter(
      (result) => result.data?.fulfillmentCreate.shipment,
    );
    expect(created).toHaveLength(3);
    expect(await stockOf(a)).toEqual({ onHand: 7, reserved: 0 });
    expect((await fulfillmentOf(order.id)).fulfillmentStatus).toBe('FULFILLED');
  });

  it('rejects support staff', async () => {
    const [a] = await threeSkus();
    const order = await placeOrder([{ sku: a, quantity: 1 }]);

    const result = await fulfil(
      { orderId: order.id, idempotencyKey: randomUUID() },
      await stack.staffHeaders('support'),
    );

    expect(result.data?.fulfillmentCreate ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await stockOf(a)).toEqual({ onHand: 10, reserved: 1 });
    expect((await fulfillmentOf(order.id)).fulfillmentStatus).toBe(
      'UNFULFILLED',
    );
  });
});

describe('shipment labels and cancellation', () => {
  it('buys a label, then cancels and returns the stock', async () => {
    const [a, b] = await threeSkus();
    const order = await placeOrder([
      { sku: a, quantity: 1 },
      { sku: b, quantity: 1 },
    ]);
    const created = await fulfil({
      orderId: order.id,
      idempotencyKey: randomUUID(),
    });
    const shipmentId = created.data!.fulfillmentCreate.shipment.id;
    expect(await stockOf(a)).toEqual({ onHand: 9, reserved: 0 });

    const rates = await stack.query(SHIPMENT_RATES, { shipmentId }, ADMIN);
    expect(rates.errors).toBeUndefined();
    expect(rates.data!.shipmentRates.userErrors).toEqual([]);
    const [cheapest] = rates.data!.shipmentRates.rates;
    expect(cheapest.price.currencyCode).toBe('USD');
    const input = { shipmentId, rateId: cheapest.rateId };
    const bought = await stack.query(BUY_LABEL, { input }, ADMIN);
    const again = await stack.query(BUY_LABEL, { input }, ADMIN);

    const shipment = bought.data!.shipmentBuyLabel.shipment;
    expect(bought.data!.shipmentBuyLabel.userErrors).toEqual([]);
    expect(shipment.status).toBe('LABEL_CREATED');
    expect(shipment.carrier).toBe(cheapest.carrier);
    expect(shipment.service).toBe(cheapest.service);
    expect(shipment.trackingNumber).toEqual(expect.any(String));
    expect(shipment.labelUrl).toEqual(expect.any(String));
    expect(again.data!.shipmentBuyLabel.shipment).toEqual(shipment);

    const cancelled = await stack.query(
      SHIPMENT_CANCEL,
      { input: { shipmentId } },
      ADMIN,
    );

    expect(cancelled.data!.shipmentCancel.userErrors).toEqual([]);
    expect(cancelled.data!.shipmentCancel.shipment.status).toBe('CANCELLED');
    expect(await stockOf(a)).toEqual({ onHand: 10, reserved: 1 });
    expect(await stockOf(b)).toEqual({ onHand: 10, reserved: 1 });
    expect((await fulfillmentOf(order.id)).fulfillmentStatus).toBe(
      'UNFULFILLED',
    );

    const refulfilled = await fulfil({
      orderId: order.id,
      idempotencyKey: randomUUID(),
    });
    expect(refulfilled.data!.fulfillmentCreate.shipment.lines).toHaveLength(2);
    expect(await stockOf(a)).toEqual({ onHand: 9, reserved: 0 });
  });

  it('refuses to cancel a shipment in transit', async () => {
    const [a] = await threeSkus();
    const order = await placeOrder([{ sku: a, quantity: 1 }]);
    const created = await fulfil({
      orderId: order.id,
      idempotencyKey: randomUUID(),
    });
    const shipmentId = created.data!.fulfillmentCreate.shipment.id;
    await stack.subgraphs.shipments.database.db
      .update(tables.shipments)
      .set({ status: 'IN_TRANSIT' })
      .where(eq(tables.shipments.id, shipmentId));

    const result = await stack.query(
      SHIPMENT_CANCEL,
      { input: { shipmentId } },
      ADMIN,
    );

    expect(result.data!.shipmentCancel.userErrors[0].code).toBe(
      'NOT_CANCELLABLE',
    );
    expect(await stockOf(a)).toEqual({ onHand: 9, reserved: 0 });
  });
});

describe('shipment visibility', () => {
  it('shows a customer only their own shipments', async () => {
    const other = await registerCustomer(
      stack,
      `other-${uuidv7()}@example.com`,
    );
    const [a] = await threeSkus();
    const own = await placeOrder([{ sku: a, quantity: 1 }]);
    const theirs = await placeOrder([{ sku: a, quantity: 1 }], other);
    const ownShipment = (
      await fulfil({ orderId: own.id, idempotencyKey: randomUUID() })
    ).data!.fulfillmentCreate.shipment.id;
    const otherShipment = (
      await fulfil({ orderId: theirs.id, idempotencyKey: randomUUID() })
    ).data!.fulfillmentCreate.shipment.id;
    const headers = callerHeaders(customer);

    const ownOrder = await fulfillmentOf(own.id, headers);
    const mine = await stack.query(
      `query ($id: ID!) { shipment(id: $id) { id status } }`,
      { id: ownShipment },
      headers,
    );
    const notMine = await stack.query(
      `query ($id: ID!) { shipment(id: $id) { id status } }`,
      { id: otherShipment },
      headers,
    );

    expect(ownOrder.fulfillmentStatus).toBe('FULFILLED');
    expect(ownOrder.shipments.map((shipment: any) => shipment.id)).toEqual([
      ownShipment,
    ]);
    expect(mine.data!.shipment).toEqual({ id: ownShipment, status: 'PENDING' });
    expect(notMine.errors).toBeUndefined();
    expect(notMine.data!.shipment).toBeNull();
  });
});

describe('tracking poll', () => {
  it('moves a sandbox shipment to DELIVERED', async () => {
    const [a] = await threeSkus();
    const order = await placeOrder([{ sku: a, quantity: 1 }]);
    const shipmentId = (
      await fulfil({ orderId: order.id, idempotencyKey: randomUUID() })
    ).data!.fulfillmentCreate.shipment.id;
    const rates = await stack.query(SHIPMENT_RATES, { shipmentId }, ADMIN);
    const [rate] = rates.data!.shipmentRates.rates;
    await stack.query(
      BUY_LABEL,
      { input: { shipmentId, rateId: rate.rateId } },
      ADMIN,
    );
    const { db } = stack.subgraphs.shipments.database as unknown as {
      db: Parameters<typeof runShipmentsPass>[0];
    };
    // The sandbox simulates the parcel from the label's purchase time.
    await db
      .update(tables.shipments)
      .set({ labelCreatedAt: new Date(Date.now() - 30 * 86_400_000) })
      .where(eq(tables.shipments.id, shipmentId));

    const report = await runShipmentsPass(
      db,
      shipmentsDependencies(db, stack.config),
      stack.config,
      createLogger('test', 'silent'),
    );
    const again = await runShipmentsPass(
      db,
      shipmentsDependencies(db, stack.config),
      stack.config,
      createLogger('test', 'silent'),
    );

    expect(report.polled).toBeGreaterThanOrEqual(1);
    expect(again.polled).toBe(0);
    const result = await stack.query(
      `query ($id: ID!) { shipment(id: $id) { status trackingEvents { status } } }`,
      { id: shipmentId },
      ADMIN,
    );
    expect(result.data!.shipment.status).toBe('DELIVERED');
    expect(
      result.data!.shipment.trackingEvents.map((event: any) => event.status),
    ).toEqual(['LABEL_CREATED', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED']);
  });
});

describe('orderForFulfillment', () => {
  const ORDER_FOR_FULFILLMENT = `query ($id: ID!) {
    orderForFulfillment(id: $id) { id number customerId lines { id sku quantity } }
  }`;

  it('returns the order to a service', async () => {
    const [a] = await threeSkus();
    const order = await placeOrder([{ sku: a, quantity: 2 }]);

    const result = await stack.querySubgraph(
      'orders',
      ORDER_FOR_FULFILLMENT,
      { id: order.id },
      { kind: 'service', subject: 'shipments', scopes: [], roles: [] },
    );

    expect(result.errors).toBeUndefined();
    expect(result.data!.orderForFulfillment).toMatchObject({
      id: order.id,
      customerId: customer.subject,
      lines: [{ id: order.lines[0]!.id, sku: a, quantity: 2 }],
    });
  });

  it('rejects staff callers', async () => {
    const result = await stack.querySubgraph('orders', ORDER_FOR_FULFILLMENT, {
      id: uuidv7(),
    });

    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('is absent from the public graph', async () => {
    const result = await stack.query(
      ORDER_FOR_FULFILLMENT,
      { id: uuidv7() },
      ADMIN,
    );

    expect(result.errors?.[0]?.extensions?.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
  });
});
