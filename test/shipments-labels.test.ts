import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubgraphCaller } from '../platform/identity.js';
import { scopesOfRoles } from '../gateway/identity/scopes.js';
import { identityHeaders } from './support/identity.js';
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

const SUPPORT: SubgraphCaller = {
  kind: 'staff',
  subject: '00000000-0000-7000-8000-00000000000b',
  roles: ['support'],
  scopes: scopesOfRoles(['support']),
};
const SERVICE: SubgraphCaller = {
  kind: 'service',
  subject: 'orders',
  scopes: [],
  roles: [],
};
const CUSTOMER: SubgraphCaller = {
  kind: 'customer',
  subject: '00000000-0000-7000-8000-00000000000c',
  scopes: [],
  roles: [],
};
const PARTNER: SubgraphCaller = {
  kind: 'partner',
  subject: '00000000-0000-7000-8000-00000000000d',
  scopes: ['read_shipments'],
  roles: [],
};

/** The shipment with a sandbox label bought through the gateway. */
let labelled: { id: string; trackingNumber: string; labelUrl: string };

beforeAll(async () => {
  stack = await startTestStack({
    ...ORDER_STACK_SETTINGS,
    TRACKING_POLL_INTERVAL_MS: '0',
  });
  await createStockedVariant(stack, 'labelled', '15.00', 10);
  const order = await placeOrder(stack, { sku: 'labelled' });
  const created = await stack.query(
    `mutation ($input: FulfillmentCreateInput!) {
      fulfillmentCreate(input: $input) { shipment { id } userErrors { code message } }
    }`,
    { input: { orderId: order.id, idempotencyKey: randomUUID() } },
    admin,
  );
  const shipmentId = created.data!.fulfillmentCreate.shipment.id;
  const rates = await stack.query(
    `query ($shipmentId: ID!) { shipmentRates(shipmentId: $shipmentId) { rates { rateId } } }`,
    { shipmentId },
    admin,
  );
  const bought = await stack.query(
    `mutation ($input: ShipmentBuyLabelInput!) {
      shipmentBuyLabel(input: $input) {
        shipment { id trackingNumber labelUrl }
        userErrors { code message }
      }
    }`,
    {
      input: {
        shipmentId,
        rateId: rates.data!.shipmentRates.rates[0].rateId,
      },
    },
    admin,
  );
  labelled = bought.data!.shipmentBuyLabel.shipment;
});

afterAll(async () => {
  await stack?.close();
});

async function fetchLabel(
  url: string,
  caller: SubgraphCaller | null,
  method = 'GET',
) {
  const headers = caller ? await identityHeaders(stack.config, caller) : {};
  return fetch(url, { method, headers });
}

describe('sandbox label route', () => {
  it('serves the label at the URL the carrier issued', async () => {
    const origin = new URL(stack.subgraphs.shipments.url).origin;
    expect(labelled.labelUrl).toMatch(
      new RegExp(`^${origin}/labels/sbx_[0-9a-f]{24}\\.pdf$`),
    );

    const response = await fetchLabel(labelled.labelUrl, STAFF_ADMIN);
    const pdf = Buffer.from(await response.arrayBuffer()).toString('latin1');

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    expect(response.headers.get('cache-control')).toBe('private, no-store');
    expect(pdf.startsWith('%PDF-1.4')).toBe(true);
    expect(pdf).toContain(`Tracking ${labelled.trackingNumber}`);
    expect(pdf).toContain(`Reference ${labelled.id}`);
    // The destination of test/support/orders.ts placeOrder.
    expect(pdf).toContain('(Ada Lovelace) Tj');
  });

  it('serves support staff, services and HEAD', async () => {
    expect((await fetchLabel(labelled.labelUrl, SUPPORT)).status).toBe(200);
    expect((await fetchLabel(labelled.labelUrl, SERVICE)).status).toBe(200);

    const head = await fetchLabel(labelled.labelUrl, STAFF_ADMIN, 'HEAD');

    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
  });

  it('rejects a request without an identity', async () => {
    const response = await fetchLabel(labelled.labelUrl, null);
    const body = (await response.json()) as { code: string };

    expect(response.status).toBe(401);
    expect(body.code).toBe('UNAUTHENTICATED');
  });

  it('rejects customers and partners', async () => {
    for (const caller of [CUSTOMER, PARTNER]) {
      const response = await fetchLabel(labelled.labelUrl, caller);
      const body = (await response.json()) as { code: string };

      expect(response.status, caller.kind).toBe(403);
      expect(body.code, caller.kind).toBe('FORBIDDEN');
    }
  });

  it('answers 404 for unknown labels', async () => {
    const origin = new URL(stack.subgraphs.shipments.url).origin;
    for (const path of [
      `/labels/sbx_${'0'.repeat(24)}.pdf`,
      '/labels/not-a-label.pdf',
      `/labels/sbx_${'0'.repeat(24)}.png`,
    ]) {
      const response = await fetchLabel(`${origin}${path}`, STAFF_ADMIN);
      const body = (await response.json()) as { code: string };

      expect(response.status, path).toBe(404);
      expect(body.code, path).toBe('NOT_FOUND');
    }
  });
});
