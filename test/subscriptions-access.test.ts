import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../gateway/caller.js';
import {
  createStockedVariant,
  ORDER_STACK_SETTINGS,
  placeOrder,
  registerCustomer,
} from './support/orders.js';
import {
  callerHeaders,
  STAFF_ADMIN,
  startTestStack,
  type TestStack,
} from './support/stack.js';
import {
  subscribeSse,
  subscribeWs,
  type ReceivedEvent,
  type TestSubscription,
} from './support/subscriptions.js';

const prefix = `t${randomBytes(5).toString('hex')}`;
const SKU = `${prefix}-ACCESS`;
let stack: TestStack;

const ORDER_STATUS = `subscription ($orderId: ID, $after: String) {
  orderStatusChanged(orderId: $orderId, after: $after) {
    position type orderId financialStatus
  }
}`;
const STOCK = `subscription ($skus: [String!], $after: String) {
  stockChanged(skus: $skus, after: $after) { position sku available }
}`;
const CAPTURE = `mutation ($input: OrderCaptureInput!) {
  orderCapture(input: $input) { order { financialStatus } userErrors { message } }
}`;

function partner(scopes: string[]): CallerIdentity {
  return { kind: 'partner', subject: randomUUID(), scopes, roles: [] };
}

/**
 * Waits 500 ms for graphql-ws subscriptions to go live, because the protocol
 * does not acknowledge a subscribe.
 */
function untilLive(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 500));
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for graphql-ws to reject a subscription and returns its GraphQL errors. */
async function rejectionErrors(
  subscription: TestSubscription,
): Promise<Array<{ message: string; extensions?: Record<string, any> }>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `timed out after 10 s waiting for the subscription to be rejected; it received ${subscription.received.length} results`,
          ),
        ),
      10_000,
    );
  });
  await Promise.race([subscription.ended, timeout]).finally(() =>
    clearTimeout(timer),
  );
  expect(subscription.errors).toHaveLength(1);
  return subscription.errors[0] as Array<{
    message: string;
    extensions?: Record<string, any>;
  }>;
}

function summaries(events: ReceivedEvent[]) {
  return events.map((event) => ({
    type: event.data!.orderStatusChanged.type,
    orderId: event.data!.orderStatusChanged.orderId,
    financialStatus: event.data!.orderStatusChanged.financialStatus,
  }));
}

async function capture(orderId: string): Promise<void> {
  const result = await stack.query(
    CAPTURE,
    { input: { orderId, idempotencyKey: randomUUID() } },
    callerHeaders(STAFF_ADMIN),
  );
  expect(result.errors).toBeUndefined();
  expect(result.data!.orderCapture.userErrors).toEqual([]);
  expect(result.data!.orderCapture.order.financialStatus).toBe('PAID');
}

beforeAll(async () => {
  stack = await startTestStack({
    DATABASE_PREFIX: prefix,
    ...ORDER_STACK_SETTINGS,
  });
  await createStockedVariant(stack, SKU, '10.00', 1_000);
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('orderStatusChanged access', () => {
  it('partner without read_orders gets FORBIDDEN', async () => {
    const caller = partner(['read_inventory']);
    const expected = {
      message:
        'Subscription.orderStatusChanged requires the policy customer_or_read_orders.',
      extensions: { code: 'FORBIDDEN' },
    };

    const ws = subscribeWs(
      stack.gatewayUrl,
      ORDER_STATUS,
      {},
      callerHeaders(caller),
    );
    const [wsError, ...otherWsErrors] = await rejectionErrors(ws);
    expect(otherWsErrors).toEqual([]);
    expect(wsError).toEqual(expected);
    expect(ws.received).toEqual([]);
    await ws.close();

    const sse = await subscribeSse(
      stack.gatewayUrl,
      ORDER_STATUS,
      {},
      callerHeaders(caller),
    );
    expect(sse.status).toBe(403);
    expect(sse.body.errors).toHaveLength(1);
    // SSE sends the error as the authorization layer formats it; graphql-ws
    // above carries only its message and extensions.
    expect(sse.body.errors[0]).toEqual({
      ...expected,
      locations: [{ line: 2, column: 3 }],
      path: ['orderStatusChanged'],
    });
  });

  it('partner with read_orders receives every order', async () => {
    const customer = await registerCustomer(
      stack,
      `partner-view-${prefix}@example.com`,
    );
    const ws = subscribeWs(
      stack.gatewayUrl,
      ORDER_STATUS,
      {},
      callerHeaders(partner(['read_orders'])),
    );
    const sse = await subscribeSse(
      stack.gatewayUrl,
      ORDER_STATUS,
      {},
      callerHeaders(partner(['read_orders'])),
    );
    expect(sse.status).toBe(200);
    await untilLive();

    const guestOrder = await placeOrder(stack, { sku: SKU });
    const customerOrder = await placeOrder(stack, { sku: SKU, customer });

    const expected = [
      {
        type: 'order.created',
        orderId: guestOrder.id,
        financialStatus: 'AUTHORIZED',
      },
      {
        type: 'order.created',
        orderId: customerOrder.id,
        financialStatus: 'AUTHORIZED',
      },
    ];
    expect(summaries(await ws.waitFor(2))).toEqual(expected);
    expect(summaries(await sse.waitFor(2))).toEqual(expected);
    await ws.close();
    await sse.close();
  });

  it('customer receives only their own orders', async () => {
    const ada = await registerCustomer(stack, `ada-${prefix}@example.com`);
    const grace = await registerCustomer(stack, `grace-${prefix}@example.com`);
    const adaWs = subscribeWs(
      stack.gatewayUrl,
      ORDER_STATUS,
      {},
      callerHeaders(ada),
    );
    const graceSse = await subscribeSse(
      stack.gatewayUrl,
      ORDER_STATUS,
      {},
      callerHeaders(grace),
    );
    expect(graceSse.status).toBe(200);
    const staff = subscribeWs(
      stack.gatewayUrl,
      ORDER_STATUS,
      {},
      callerHeaders(STAFF_ADMIN),
    );
    await untilLive();

    const adaOrder = await placeOrder(stack, { sku: SKU, customer: ada });
    const graceOrder = await placeOrder(stack, { sku: SKU, customer: grace });
    await capture(adaOrder.id);
    await capture(graceOrder.id);

    const created = (orderId: string) => ({
      type: 'order.created',
      orderId,
      financialStatus: 'AUTHORIZED',
    });
    const paid = (orderId: string) => ({
      type: 'order.paid',
      orderId,
      financialStatus: 'PAID',
    });
    expect(summaries(await staff.waitFor(4))).toEqual([
      created(adaOrder.id),
      created(graceOrder.id),
      paid(adaOrder.id),
      paid(graceOrder.id),
    ]);
    // Every event was sent by now; an event of the other customer's order
    // would have arrived within this wait.
    await pause(1_000);

    expect(summaries(adaWs.received)).toEqual([
      created(adaOrder.id),
      paid(adaOrder.id),
    ]);
    expect(summaries(graceSse.received)).toEqual([
      created(graceOrder.id),
      paid(graceOrder.id),
    ]);
    expect(staff.received).toHaveLength(4);
    await Promise.all([adaWs.close(), graceSse.close(), staff.close()]);
  });
});

describe('subscription credentials', () => {
  it('anonymous stockChanged gets UNAUTHENTICATED', async () => {
    const expected = {
      message:
        'Subscription.stockChanged requires authentication. Send the request with credentials.',
      extensions: { code: 'UNAUTHENTICATED' },
    };

    const ws = subscribeWs(stack.gatewayUrl, STOCK, { skus: [SKU] });
    const [wsError, ...otherWsErrors] = await rejectionErrors(ws);
    expect(otherWsErrors).toEqual([]);
    expect(wsError).toEqual(expected);
    await ws.close();

    const sse = await subscribeSse(stack.gatewayUrl, STOCK, { skus: [SKU] });
    expect(sse.status).toBe(401);
    expect(sse.body.errors).toHaveLength(1);
    expect(sse.body.errors[0]).toEqual({
      ...expected,
      locations: [{ line: 2, column: 3 }],
      path: ['stockChanged'],
    });
  });

  it('invalid credentials close graphql-ws with 4401', async () => {
    const ws = subscribeWs(
      stack.gatewayUrl,
      STOCK,
      { skus: [SKU] },
      { authorization: 'Bearer x' },
    );
    const closed = await ws.closeEvent;
    expect(closed.code).toBe(4401);
    expect(closed.reason).not.toBe('');
    expect(ws.received).toEqual([]);
    await ws.close();
  });
});

describe('subscription input', () => {
  const STAFF = callerHeaders(STAFF_ADMIN);

  it('query operation over SSE gets 400', async () => {
    const sse = await subscribeSse(
      stack.gatewayUrl,
      `query { locations { id } }`,
      {},
      STAFF,
    );
    expect(sse.status).toBe(400);
    expect(sse.body.errors).toEqual([
      {
        message:
          'This endpoint runs subscriptions, and "query" operations go to POST /graphql.',
        extensions: { code: 'BAD_REQUEST' },
      },
    ]);
  });

  it('invalid after gets BAD_USER_INPUT', async () => {
    const message =
      'Invalid after "7431": use the position of an event received earlier, such as "7431.12", or leave it out to receive only new events.';
    const expected = [{ message, extensions: { code: 'BAD_USER_INPUT' } }];

    const ws = subscribeWs(
      stack.gatewayUrl,
      STOCK,
      { skus: [SKU], after: '7431' },
      STAFF,
    );
    expect(await rejectionErrors(ws)).toEqual(expected);
    await ws.close();

    const sse = await subscribeSse(
      stack.gatewayUrl,
      STOCK,
      { skus: [SKU], after: '7431' },
      STAFF,
    );
    expect(sse.status).toBe(400);
    expect(sse.body.errors).toEqual(expected);

    const lastEventId = await subscribeSse(
      stack.gatewayUrl,
      STOCK,
      { skus: [SKU] },
      { ...STAFF, 'last-event-id': '7431' },
    );
    expect(lastEventId.status).toBe(400);
    expect(lastEventId.body.errors).toEqual(expected);
  });
});
