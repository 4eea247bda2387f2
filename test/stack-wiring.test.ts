import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_NAMES, serviceUrlOverride } from '../platform/config.js';
import { appendEvents } from '../platform/outbox.js';
import {
  createStockedVariant,
  ORDER_STACK_SETTINGS,
  placeOrder,
} from './support/orders.js';
import {
  callerHeaders,
  STAFF_ADMIN,
  startTestStack,
  type TestStack,
} from './support/stack.js';

let stack: TestStack;
const admin = callerHeaders(STAFF_ADMIN);

beforeAll(async () => {
  stack = await startTestStack(ORDER_STACK_SETTINGS);
  await createStockedVariant(stack, 'wired', '10.00', 100);
});

afterAll(async () => {
  await stack?.close();
});

async function financialStatus(orderId: string): Promise<string> {
  const result = await stack.query(
    `query ($id: ID!) { order(id: $id) { financialStatus } }`,
    { id: orderId },
    admin,
  );
  expect(result.errors).toBeUndefined();
  return result.data!.order.financialStatus;
}

describe('test stack wiring', () => {
  it('gives every subgraph the URLs of the stack', () => {
    for (const name of SERVICE_NAMES) {
      expect(serviceUrlOverride(stack.config, name), name).toBe(
        stack.subgraphs[name].url,
      );
    }
  });

  it('feeds orders from its own shipments stream', async () => {
    const order = await placeOrder(stack, {
      sku: 'wired',
      method: 'CASH_ON_DELIVERY',
    });
    expect(order.financialStatus).toBe('PENDING');
    const shipmentId = randomUUID();

    await stack.subgraphs.shipments.database.db.transaction((transaction) =>
      appendEvents(transaction, [
        {
          type: 'shipment.delivered',
          aggregateId: shipmentId,
          payload: {
            shipmentId,
            orderId: order.id,
            from: 'OUT_FOR_DELIVERY',
            to: 'DELIVERED',
            source: 'carrier',
            occurredAt: new Date().toISOString(),
          },
        },
      ]),
    );

    const deadline = Date.now() + 15_000;
    let status = await financialStatus(order.id);
    while (status !== 'PAID' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = await financialStatus(order.id);
    }
    expect(status).toBe('PAID');
  });
});
