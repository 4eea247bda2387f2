import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubgraphCaller } from '../platform/identity.js';
import { uuidv7 } from '../platform/ids.js';
import { createLogger } from '../platform/logger.js';
import {
  failNextSandboxCalls,
  placeSandboxOrder,
  readSandboxOrder,
  type SandboxOrderInput,
} from '../subgraphs/marketplace/adapters/sandbox.js';
import * as marketplaceTables from '../subgraphs/marketplace/db/tables.js';
import { recordShipmentLabels } from '../subgraphs/marketplace/orders/fulfillment.js';
import { createMarketplaceAdapter } from '../subgraphs/marketplace/adapters/index.js';
import {
  DatabaseSandboxStorage,
  sandboxAccount,
  substituteMarketplaceAdapters,
} from '../subgraphs/marketplace/sync/adapters.js';
import type { MarketplaceDatabase } from '../subgraphs/marketplace/orders/import.js';
import * as ordersTables from '../subgraphs/orders/db/tables.js';
import type { OrdersDatabase } from '../subgraphs/orders/dependencies.js';
import { ADMIN } from './support/checkout.js';
import { FakeEbay } from './support/fake-ebay.js';
import {
  createStockedVariant,
  ORDER_STACK_SETTINGS,
} from './support/orders.js';
import { startTestStack, type TestStack } from './support/stack.js';

let stack: TestStack;
let storage: DatabaseSandboxStorage;
let ebay: FakeEbay;
const connectionId = uuidv7();
const CONNECTION_NAME = 'Sandbox test shop';
const ebayConnectionId = uuidv7();
const EBAY_CONNECTION_NAME = 'eBay test shop';
const MARKETPLACE_SERVICE: SubgraphCaller = {
  kind: 'service',
  subject: 'marketplace',
  scopes: [],
  roles: [],
};

const ORDER_FIELDS = `id number channel financialStatus externalOrderId
  needsAttention attentionReason totalPrice { amount currencyCode }
  payments { method status capturedAmount { amount } }
  lines { id sku quantity unitPrice { amount } }
  notes { body }`;

const IMPORT = `mutation ($input: MarketplaceOrderImportInput!) {
  marketplaceOrderImport(input: $input) {
    orderId orderNumber created needsAttention
    lines { externalLineId orderLineId sku quantity }
    userErrors { field message code }
  }
}`;

const ADDRESS = {
  name: 'Grace Hopper',
  line1: '1 Harbour Road',
  line2: null,
  city: 'Arlington',
  region: 'VA',
  postalCode: '22201',
  countryCode: 'US',
  phone: null,
};

function marketplaceDb() {
  return stack.subgraphs.marketplace.database
    .db as unknown as MarketplaceDatabase;
}

function ordersDb() {
  return stack.subgraphs.orders.database.db as unknown as OrdersDatabase;
}

async function waitFor<T>(
  read: () => Promise<T | null | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the marketplace service has imported the marketplace order. */
async function importedOrderId(externalOrderId: string): Promise<string> {
  return waitFor(async () => {
    const [row] = await marketplaceDb()
      .select()
      .from(marketplaceTables.marketplaceOrders)
      .where(
        eq(
          marketplaceTables.marketplaceOrders.externalOrderId,
          externalOrderId,
        ),
      );
    return row?.status === 'IMPORTED' ? row.orderId : null;
  }, `the import of ${externalOrderId}`);
}

async function readOrder(id: string) {
  const result = await stack.query(
    `query ($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`,
    { id },
    ADMIN,
  );
  expect(result.errors).toBeUndefined();
  return result.data!.order;
}

/** On-hand, reserved and available units of a SKU over every location. */
async function stockOf(sku: string) {
  const result = await stack.query(
    `query ($sku: String!) { variant(sku: $sku) { stockLevels { onHand reserved available } } }`,
    { sku },
    ADMIN,
  );
  expect(result.errors).toBeUndefined();
  const levels: Array<{ onHand: number; reserved: number; available: number }> =
    result.data!.variant.stockLevels;
  return levels.reduce(
    (sum, level) => ({
      onHand: sum.onHand + level.onHand,
      reserved: sum.reserved + level.reserved,
      available: sum.available + level.available,
    }),
    { onHand: 0, reserved: 0, available: 0 },
  );
}

/** The sandbox account of the test connection. */
const account = () => ({ account: sandboxAccount(connectionId) });

function placeOrder(input: Omit<SandboxOrderInput, 'currencyCode'>) {
  return placeSandboxOrder(
    storage,
    {
      currencyCode: 'USD',
      shippingAddress: ADDRESS,
      email: 'buyer@marketplace.example',
      ...input,
    },
    account(),
  );
}

beforeAll(async () => {
  stack = await startTestStack({
    ...ORDER_STACK_SETTINGS,
    MARKETPLACE_ORDER_POLL_INTERVAL_MS: '200',
    TRACKING_POLL_INTERVAL_MS: '0',
  });
  storage = new DatabaseSandboxStorage(marketplaceDb());
  ebay = new FakeEbay();
  await ebay.start();
  // The eBay connection talks to the fake with its credentials; the
  // sandbox connection keeps its own adapter.
  substituteMarketplaceAdapters(stack.config, (connection, credentials) =>
    connection.kind === 'EBAY'
      ? createMarketplaceAdapter(
          { kind: 'EBAY', settings: { categoryId: '11450' } },
          {
            clientId: ebay.clientId,
            clientSecret: ebay.clientSecret,
            refreshToken: ebay.refreshToken,
            marketplaceId: 'EBAY_US',
            merchantLocationKey: 'warehouse-1',
            fulfillmentPolicyId: '6196932000',
            paymentPolicyId: '6196934000',
            returnPolicyId: '6196936000',
          },
          {
            config: {
              EBAY_API_BASE_URL: ebay.url,
              EBAY_AUTH_BASE_URL: ebay.url,
            },
            sandboxStorage: storage,
            ebay: { timeoutMs: 5_000 },
          },
        )
      : createMarketplaceAdapter(connection, credentials, {
          config: stack.config,
          sandboxStorage: storage,
        }),
  );
  await marketplaceDb()
    .insert(marketplaceTables.marketplaceConnections)
    .values([
      { id: connectionId, name: CONNECTION_NAME, kind: 'SANDBOX' },
      { id: ebayConnectionId, name: EBAY_CONNECTION_NAME, kind: 'EBAY' },
    ]);
});

afterAll(async () => {
  if (stack) substituteMarketplaceAdapters(stack.config, null);
  await stack?.close();
  await ebay?.close();
});

/** Creates a shipment of the whole order and returns a function that buys its label at the first quoted rate of the whole order, as staff. */
async function shipWithLabel(orderId: string) {
  const created = await stack.query(
    `mutation ($input: FulfillmentCreateInput!) {
      fulfillmentCreate(input: $input) { shipment { id } userErrors { field message code } }
    }`,
    { input: { orderId, idempotencyKey: randomUUID() } },
    ADMIN,
  );
  expect(created.data!.fulfillmentCreate.userErrors).toEqual([]);
  const shipmentId: string = created.data!.fulfillmentCreate.shipment.id;
  const rates = await stack.query(
    `query ($shipmentId: ID!) { shipmentRates(shipmentId: $shipmentId) { rates { rateId } userErrors { code } } }`,
    { shipmentId },
    ADMIN,
  );
  expect(rates.data!.shipmentRates.userErrors).toEqual([]);
  return {
    shipmentId,
    buy: async () => {
      const bought = await stack.query(
        `mutation ($input: ShipmentBuyLabelInput!) {
          shipmentBuyLabel(input: $input) { shipment { trackingNumber carrier } userErrors { code } }
        }`,
        {
          input: {
            shipmentId,
            rateId: rates.data!.shipmentRates.rates[0].rateId,
          },
        },
        ADMIN,
      );
      expect(bought.data!.shipmentBuyLabel.userErrors).toEqual([]);
      return bought.data!.shipmentBuyLabel.shipment as {
        trackingNumber: string;
        carrier: string;
      };
    },
  };
}

describe('marketplace order import', () => {
  let firstOrder: { id: string; externalOrderId: string; sku: string };

  it('imports paid sandbox order with stock held', async () => {
    const sku = `mkt-a-${randomUUID().slice(0, 8)}`;
    await createStockedVariant(stack, sku, '10.00', 10);

    const placed = await placeOrder({
      lines: [{ sku, quantity: 2, unitPriceAmount: 1000 }],
      shippingAmount: 500,
      taxAmount: 160,
    });
    const orderId = await importedOrderId(placed.externalOrderId);
    firstOrder = { id: orderId, externalOrderId: placed.externalOrderId, sku };

    const order = await readOrder(orderId);
    expect(order.channel).toBe(CONNECTION_NAME);
    expect(order.financialStatus).toBe('PAID');
    expect(order.externalOrderId).toBe(placed.externalOrderId);
    expect(order.needsAttention).toBe(false);
    expect(order.totalPrice).toEqual({ amount: '26.60', currencyCode: 'USD' });
    expect(order.payments).toEqual([
      {
        method: 'MARKETPLACE',
        status: 'CAPTURED',
        capturedAmount: { amount: '26.60' },
      },
    ]);
    expect(order.lines).toEqual([
      {
        id: expect.any(String),
        sku,
        quantity: 2,
        unitPrice: { amount: '10.00' },
      },
    ]);
    expect(await stockOf(sku)).toEqual({
      onHand: 10,
      reserved: 2,
      available: 8,
    });
    const [row] = await ordersDb()
      .select({ confirmedAt: ordersTables.orders.reservationConfirmedAt })
      .from(ordersTables.orders)
      .where(eq(ordersTables.orders.id, orderId));
    expect(row!.confirmedAt).toBeInstanceOf(Date);
  });

  it('posts a balanced marketplace sale to 1100', async () => {
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const result = await stack.query(
      `query ($from: String!, $to: String!) {
        ledgerEntries(from: $from, to: $to, first: 100) {
          nodes { kind order { id } lines { account { code } debit { amount } credit { amount } } }
        }
      }`,
      { from, to },
      ADMIN,
    );
    expect(result.errors).toBeUndefined();
    const entries = result.data!.ledgerEntries.nodes.filter(
      (entry: { order: { id: string } | null }) =>
        entry.order?.id === firstOrder.id,
    );
    expect(entries).toHaveLength(1);
    const [entry] = entries;
    expect(entry.kind).toBe('MARKETPLACE_SALE');
    const cents = (amount: string) => Math.round(Number(amount) * 100);
    const byAccount = Object.fromEntries(
      entry.lines.map(
        (line: {
          account: { code: string };
          debit: { amount: string };
          credit: { amount: string };
        }) => [
          line.account.code,
          cents(line.debit.amount) - cents(line.credit.amount),
        ],
      ),
    );
    expect(byAccount).toEqual({
      '1100': 2660,
      '4000': -2000,
      '4010': -500,
      '2100': -160,
    });
    const sum = Object.values(byAccount as Record<string, number>).reduce(
      (total, value) => total + value,
      0,
    );
    expect(sum).toBe(0);
  });

  it('imports one marketplace order once under repeats', async () => {
    const sku = `mkt-b-${randomUUID().slice(0, 8)}`;
    await createStockedVariant(stack, sku, '7.50', 10);
    const externalOrderId = `EXT-${randomUUID()}`;
    const input = {
      channelId: connectionId,
      channel: CONNECTION_NAME,
      externalOrderId,
      placedAt: new Date().toISOString(),
      email: null,
      shippingAddress: ADDRESS,
      lines: [{ externalLineId: 'L1', sku, quantity: 3, unitPrice: 750 }],
      subtotal: 2250,
      shipping: 0,
      tax: 0,
      total: 2250,
      currencyCode: 'USD',
    };
    const send = () =>
      stack.querySubgraph('orders', IMPORT, { input }, MARKETPLACE_SERVICE);

    const concurrent = await Promise.all([send(), send()]);
    const repeated = await send();

    const payloads = [...concurrent, repeated].map((result) => {
      expect(result.errors).toBeUndefined();
      return result.data!.marketplaceOrderImport;
    });
    for (const payload of payloads) expect(payload.userErrors).toEqual([]);
    const orderIds = new Set(payloads.map((payload) => payload.orderId));
    expect(orderIds.size).toBe(1);
    expect(payloads.filter((payload) => payload.created)).toHaveLength(1);
    expect(payloads[2].lines).toEqual([
      {
        externalLineId: 'L1',
        orderLineId: expect.any(String),
        sku,
        quantity: 3,
      },
    ]);
    const rows = await ordersDb()
      .select({ id: ordersTables.orders.id })
      .from(ordersTables.orders)
      .where(eq(ordersTables.orders.externalOrderId, externalOrderId));
    expect(rows).toHaveLength(1);
    const payments = await ordersDb()
      .select({ id: ordersTables.payments.id })
      .from(ordersTables.payments)
      .where(eq(ordersTables.payments.orderId, rows[0]!.id));
    expect(payments).toHaveLength(1);
    expect(await stockOf(sku)).toEqual({
      onHand: 10,
      reserved: 3,
      available: 7,
    });
  });

  it('records a sold-out order flagged for staff', async () => {
    const sku = `mkt-c-${randomUUID().slice(0, 8)}`;
    await createStockedVariant(stack, sku, '5.00', 1);

    const placed = await placeOrder({
      lines: [{ sku, quantity: 3, unitPriceAmount: 500 }],
    });
    const orderId = await importedOrderId(placed.externalOrderId);

    const order = await readOrder(orderId);
    expect(order.financialStatus).toBe('PAID');
    expect(order.needsAttention).toBe(true);
    expect(order.attentionReason).toMatch(/Stock could not be reserved/);
    expect(order.notes).toHaveLength(1);
    expect(order.notes[0].body).toBe(order.attentionReason);
    expect(await stockOf(sku)).toEqual({
      onHand: 1,
      reserved: 0,
      available: 1,
    });
    const events = await ordersDb().execute<{ type: string }>(
      sql`select type from outbox_events where aggregate_id = ${orderId} order by sequence`,
    );
    expect(events.map((event) => event.type)).toContain(
      'order.needs_attention',
    );
    const [imported] = await marketplaceDb()
      .select()
      .from(marketplaceTables.marketplaceOrders)
      .where(eq(marketplaceTables.marketplaceOrders.orderId, orderId));
    expect(imported!.needsAttention).toBe(true);
  });

  it('rejects callers other than services', async () => {
    const result = await stack.querySubgraph('orders', IMPORT, {
      input: {
        channelId: connectionId,
        channel: CONNECTION_NAME,
        externalOrderId: 'EXT-staff',
        placedAt: new Date().toISOString(),
        lines: [{ externalLineId: 'L1', sku: 'x', quantity: 1, unitPrice: 1 }],
        subtotal: 1,
        shipping: 0,
        tax: 0,
        total: 1,
        currencyCode: 'USD',
      },
    });
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('rejects total unequal to its parts', async () => {
    const result = await stack.querySubgraph(
      'orders',
      IMPORT,
      {
        input: {
          channelId: connectionId,
          channel: CONNECTION_NAME,
          externalOrderId: `EXT-${randomUUID()}`,
          placedAt: new Date().toISOString(),
          lines: [
            {
              externalLineId: 'L1',
              sku: firstOrder.sku,
              quantity: 1,
              unitPrice: 1000,
            },
          ],
          subtotal: 1000,
          shipping: 0,
          tax: 0,
          total: 999,
          currencyCode: 'USD',
        },
      },
      MARKETPLACE_SERVICE,
    );
    expect(result.errors).toBeUndefined();
    const payload = result.data!.marketplaceOrderImport;
    expect(payload.orderId).toBeNull();
    expect(payload.userErrors).toEqual([
      {
        field: ['input', 'total'],
        message: expect.any(String),
        code: 'INVALID',
      },
    ]);
  });
});

describe('marketplace fulfilment report', () => {
  it('reports label tracking number once', async () => {
    const sku = `mkt-d-${randomUUID().slice(0, 8)}`;
    await createStockedVariant(stack, sku, '12.00', 5);
    const placed = await placeOrder({
      lines: [
        { sku, quantity: 2, unitPriceAmount: 1200, externalLineId: 'LINE-1' },
      ],
    });
    const orderId = await importedOrderId(placed.externalOrderId);

    const shipment = await shipWithLabel(orderId);
    // The next two sandbox calls fail, so the report is retried.
    await failNextSandboxCalls(storage, 2, account());
    const { trackingNumber, carrier } = await shipment.buy();
    const { shipmentId } = shipment;

    const record = await waitFor(async () => {
      const current = await readSandboxOrder(
        storage,
        placed.externalOrderId,
        account(),
      );
      return current && current.fulfillments.length > 0 ? current : null;
    }, 'the fulfilment report');
    expect(record.fulfillments).toEqual([
      {
        lines: [{ externalLineId: 'LINE-1', quantity: 2 }],
        carrier,
        trackingNumber,
        shippedAt: expect.any(String),
      },
    ]);

    // Further passes and the label event delivered again report nothing new.
    const [line] = (await readOrder(orderId)).lines;
    await marketplaceDb().transaction((transaction) =>
      recordShipmentLabels(
        [
          {
            position: '1.1',
            id: randomUUID(),
            type: 'shipment.status_changed',
            aggregateId: shipmentId,
            occurredAt: new Date().toISOString(),
            payload: {
              shipmentId,
              orderId,
              from: 'PENDING',
              to: 'LABEL_CREATED',
              carrier,
              trackingNumber,
              lines: [{ orderLineId: line.id, sku, quantity: 2 }],
            },
          },
        ],
        transaction,
        createLogger('marketplace-orders-test', 'silent'),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const later = await readSandboxOrder(
      storage,
      placed.externalOrderId,
      account(),
    );
    expect(later!.fulfillments).toHaveLength(1);
    const [report] = await marketplaceDb()
      .select()
      .from(marketplaceTables.marketplaceFulfillments)
      .where(
        eq(marketplaceTables.marketplaceFulfillments.shipmentId, shipmentId),
      );
    expect(report!.status).toBe('PUSHED');
  });
});

describe('ebay orders', () => {
  it('imports an eBay order and reports its label', async () => {
    const sku = `mkt-e-${randomUUID().slice(0, 8)}`;
    await createStockedVariant(stack, sku, '19.99', 4);
    const placed = ebay.addOrder({
      lines: [
        { sku, quantity: 2, unitPrice: '19.99', lineItemId: 'EBAY-LI-1' },
      ],
      shipTo: {
        fullName: 'Grace Hopper',
        addressLine1: '1 Harbour Road',
        city: 'Arlington',
        stateOrProvince: 'VA',
        postalCode: '22201',
        countryCode: 'US',
      },
    });

    const orderId = await importedOrderId(placed.orderId);
    const order = await readOrder(orderId);
    expect(order.channel).toBe(EBAY_CONNECTION_NAME);
    expect(order.financialStatus).toBe('PAID');
    expect(order.payments[0].method).toBe('MARKETPLACE');
    expect(await stockOf(sku)).toEqual({
      onHand: 4,
      reserved: 2,
      available: 2,
    });

    const shipment = await shipWithLabel(orderId);
    const { trackingNumber } = await shipment.buy();
    const fulfillments = await waitFor(async () => {
      const reported = ebay.fulfillmentsOf(placed.orderId);
      return reported.length > 0 ? reported : null;
    }, 'the eBay fulfilment');
    expect(fulfillments).toHaveLength(1);
    expect(fulfillments[0]!.shipmentTrackingNumber).toBe(trackingNumber);
    expect(fulfillments[0]!.lineItems).toEqual([
      { lineItemId: 'EBAY-LI-1', quantity: 2 },
    ]);
  });
});
