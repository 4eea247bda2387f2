import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../gateway/caller.js';
import { uuidv7 } from '../platform/ids.js';
import { createLogger } from '../platform/logger.js';
import { runShipmentsPass } from '../subgraphs/shipments/background.js';
import * as shipmentTables from '../subgraphs/shipments/db/tables.js';
import { shipmentsDependencies } from '../subgraphs/shipments/dependencies.js';
import { IDENTITY_AUDIENCE, IDENTITY_ISSUER } from '../platform/identity.js';
import { signOrderAccessGrant } from '../platform/order-access-grants.js';
import { generateIdentityKeyPair } from '../platform/identity-keys.js';
import { SignJWT, importPKCS8 } from 'jose';
import {
  ADDRESS,
  ADMIN,
  CHECKOUT_CREATE,
  complete,
  readyCheckout,
} from './support/checkout.js';
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

const LOOKUP = `query ($number: Int!, $email: String!) {
  orderLookup(number: $number, email: $email) {
    id number email financialStatus
    lines { sku title quantity unitPrice { amount } }
    payments { status amount { amount } }
    fulfillmentStatus
    shipments {
      status carrier trackingNumber trackingUrl
      trackingEvents { status message occurredAt }
    }
  }
}`;
const SHIPMENT_FIELDS = 'id status trackingNumber';
const FULFILLMENT_CREATE = `mutation ($input: FulfillmentCreateInput!) {
  fulfillmentCreate(input: $input) {
    shipment { ${SHIPMENT_FIELDS} }
    userErrors { field message code }
  }
}`;
const SHIPMENT_RATES = `query ($shipmentId: ID!) {
  shipmentRates(shipmentId: $shipmentId) { rates { rateId } userErrors { message } }
}`;
const BUY_LABEL = `mutation ($input: ShipmentBuyLabelInput!) {
  shipmentBuyLabel(input: $input) {
    shipment { ${SHIPMENT_FIELDS} }
    userErrors { field message code }
  }
}`;
const ENTITY_SHIPMENTS = `query ($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Order { shipments { trackingNumber } }
  }
}`;

let stack: TestStack;
let guestOrder: { id: string; number: number };
let trackingNumber: string;

/** Fulfils every line of `orderId` and buys the cheapest label, as staff. */
async function ship(orderId: string): Promise<string> {
  const created = await stack.query(
    FULFILLMENT_CREATE,
    { input: { orderId, idempotencyKey: randomUUID() } },
    ADMIN,
  );
  const shipmentId = created.data!.fulfillmentCreate.shipment.id;
  const rates = await stack.query(SHIPMENT_RATES, { shipmentId }, ADMIN);
  const [rate] = rates.data!.shipmentRates.rates;
  const bought = await stack.query(
    BUY_LABEL,
    { input: { shipmentId, rateId: rate.rateId } },
    ADMIN,
  );
  expect(bought.data!.shipmentBuyLabel.userErrors).toEqual([]);
  return bought.data!.shipmentBuyLabel.shipment.trackingNumber;
}

beforeAll(async () => {
  stack = await startTestStack({
    ...ORDER_STACK_SETTINGS,
    TRACKING_URL_BASE: 'https://shop.example.com/track',
    TRACKING_POLL_INTERVAL_MS: '0',
    SIGN_IN_MAX_FAILED_ATTEMPTS: '50',
  });
  await createStockedVariant(stack, 'guest-mug', '12.50', 20);
  // A guest checkout: no sign-in headers.
  const created = await stack.query(CHECKOUT_CREATE, {
    input: {
      lines: [{ sku: 'guest-mug', quantity: 2 }],
      email: 'Grace.Hopper@Example.com',
      shippingAddress: ADDRESS,
      shippingMethodCode: 'flat',
    },
  });
  const completed = await complete(
    stack,
    created.data!.checkoutCreate.checkout.id,
    { method: 'CARD', cardToken: 'tok_sandbox_visa' },
    randomUUID(),
  );
  guestOrder = completed.data!.checkoutComplete.order;
  trackingNumber = await ship(guestOrder.id);
  await deliver(trackingNumber);
});

/**
 * Moves the sandbox parcel with `tracking` to DELIVERED: the sandbox
 * simulates each step from the label's purchase time, so the label is
 * dated a month back before the tracking poll runs.
 */
async function deliver(tracking: string): Promise<void> {
  const { db } = stack.subgraphs.shipments.database as unknown as {
    db: Parameters<typeof runShipmentsPass>[0];
  };
  await db
    .update(shipmentTables.shipments)
    .set({ labelCreatedAt: new Date(Date.now() - 30 * 86_400_000) })
    .where(eq(shipmentTables.shipments.trackingNumber, tracking));
  await runShipmentsPass(
    db,
    shipmentsDependencies(db, stack.config),
    stack.config,
    createLogger('test', 'silent'),
  );
}

afterAll(async () => {
  await stack?.close();
});

describe('orderLookup', () => {
  it('shows a guest order for its email in any case', async () => {
    const result = await stack.query(LOOKUP, {
      number: guestOrder.number,
      email: '  GRACE.hopper@example.COM ',
    });
    expect(result.errors).toBeUndefined();
    const order = result.data!.orderLookup;
    expect(order).toMatchObject({
      id: guestOrder.id,
      number: guestOrder.number,
      email: 'grace.hopper@example.com',
      financialStatus: 'AUTHORIZED',
      lines: [
        {
          sku: 'guest-mug',
          title: 'Product guest-mug',
          quantity: 2,
          unitPrice: { amount: '12.50' },
        },
      ],
      payments: [{ status: 'AUTHORIZED', amount: { amount: '30.00' } }],
      fulfillmentStatus: 'DELIVERED',
    });
    expect(order.shipments).toHaveLength(1);
    const [shipment] = order.shipments;
    expect(shipment.status).toBe('DELIVERED');
    expect(shipment.carrier).toBe('Sandbox Post');
    expect(shipment.trackingNumber).toBe(trackingNumber);
    expect(shipment.trackingUrl).toBe(
      `https://shop.example.com/track/${trackingNumber}`,
    );
    expect(
      shipment.trackingEvents.map((event: { status: string }) => event.status),
    ).toEqual(['LABEL_CREATED', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED']);
  });

  it('returns null for a wrong email or an unknown number', async () => {
    for (const variables of [
      { number: guestOrder.number, email: 'ada@example.com' },
      { number: guestOrder.number + 1000, email: 'grace.hopper@example.com' },
    ]) {
      const result = await stack.query(LOOKUP, variables);
      expect(result.errors).toBeUndefined();
      expect(result.data).toEqual({ orderLookup: null });
      expect(JSON.stringify(result)).not.toContain(trackingNumber);
    }
  });

  it('locks a number after too many wrong emails', async () => {
    const locked = await startTestStack({
      ...ORDER_STACK_SETTINGS,
      SIGN_IN_MAX_FAILED_ATTEMPTS: '2',
    });
    try {
      await createStockedVariant(locked, 'lock-mug', '5.00', 5);
      const checkoutId = await readyCheckout(locked, [
        { sku: 'lock-mug', quantity: 1 },
      ]);
      const placed = await complete(
        locked,
        checkoutId,
        { method: 'BANK_TRANSFER' },
        randomUUID(),
      );
      const number = placed.data!.checkoutComplete.order.number;
      for (const email of ['a@example.com', 'b@example.com', 'c@example.com']) {
        await locked.query(LOOKUP, { number, email });
      }
      const result = await locked.query(LOOKUP, {
        number,
        email: 'ada@example.com',
      });
      expect(result.data).toEqual({ orderLookup: null });
    } finally {
      await locked.close();
    }
  });
});

describe('order shipments access', () => {
  it('still shows a customer their own shipments', async () => {
    const customer: CallerIdentity = await registerCustomer(
      stack,
      `buyer-${uuidv7()}@example.com`,
    );
    const headers = callerHeaders(customer);
    const checkoutId = await readyCheckout(
      stack,
      [{ sku: 'guest-mug', quantity: 1 }],
      headers,
    );
    const placed = await complete(
      stack,
      checkoutId,
      { method: 'CARD', cardToken: 'tok_sandbox_visa' },
      randomUUID(),
      headers,
    );
    const orderId = placed.data!.checkoutComplete.order.id;
    const ownTracking = await ship(orderId);
    const result = await stack.query(
      `query ($id: ID!) { order(id: $id) { shipments { trackingNumber } } }`,
      { id: orderId },
      headers,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.order.shipments).toEqual([
      { trackingNumber: ownTracking },
    ]);
  });

  it('refuses forged and expired grants at the shipments subgraph', async () => {
    const anonymous: CallerIdentity = {
      kind: 'anonymous',
      subject: null,
      scopes: [],
      roles: [],
    };
    const otherKeys = generateIdentityKeyPair();
    const forged = await signOrderAccessGrant(
      { ...stack.config, IDENTITY_PRIVATE_KEY: otherKeys.privateKey },
      guestOrder.id,
    );
    const ownKey = await importPKCS8(
      stack.config.IDENTITY_PRIVATE_KEY!,
      'EdDSA',
    );
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', typ: 'commerce-order-grant+jwt' })
      .setIssuer('commerce-graph/orders')
      .setAudience('commerce-graph/shipments')
      .setSubject(guestOrder.id)
      .setIssuedAt(Math.floor(Date.now() / 1000) - 600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 540)
      .sign(ownKey);
    // An identity token is not a grant.
    const identity = await new SignJWT({
      kind: 'service',
      scope: '',
      roles: [],
    })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'commerce-identity+jwt' })
      .setIssuer(IDENTITY_ISSUER)
      .setAudience(IDENTITY_AUDIENCE)
      .setSubject(guestOrder.id)
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(ownKey);
    const forOtherOrder = await signOrderAccessGrant(stack.config, uuidv7());
    for (const accessGrant of [
      forged,
      expired,
      identity,
      forOtherOrder,
      'not-a-token',
    ]) {
      const result = await stack.querySubgraph(
        'shipments',
        ENTITY_SHIPMENTS,
        {
          representations: [
            { __typename: 'Order', id: guestOrder.id, accessGrant },
          ],
        },
        anonymous,
      );
      expect(result.errors).toBeUndefined();
      expect(result.data).toEqual({ _entities: [{ shipments: [] }] });
    }

    const valid = await stack.querySubgraph(
      'shipments',
      ENTITY_SHIPMENTS,
      {
        representations: [
          {
            __typename: 'Order',
            id: guestOrder.id,
            accessGrant: await signOrderAccessGrant(
              stack.config,
              guestOrder.id,
            ),
          },
        ],
      },
      anonymous,
    );
    expect(valid.data).toEqual({
      _entities: [{ shipments: [{ trackingNumber }] }],
    });
  });
});
