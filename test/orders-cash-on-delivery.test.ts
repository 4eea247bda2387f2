import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import { appendEvents, readCommittedEvents } from '../platform/outbox.js';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/orders/db/tables.js';
import { collectCashOnDelivery } from '../subgraphs/orders/events/cash-on-delivery.js';
import { shipmentsEventsUrl } from '../subgraphs/orders/events/index.js';
import { ordersSubgraph } from '../subgraphs/orders/service.js';
import { shipmentsSubgraph } from '../subgraphs/shipments/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { createOrderWithPayment } from './support/ledger-flows.js';
import { querySubgraph, startTestSubgraph } from './support/subgraph.js';

const config = createTestConfig();
let shipments: RunningSubgraph<Record<string, unknown>>;
let orders: RunningSubgraph<typeof tables>;
let db: Database<typeof tables>;

beforeAll(async () => {
  shipments = (await startTestSubgraph(
    shipmentsSubgraph,
    config,
  )) as unknown as RunningSubgraph<Record<string, unknown>>;
  // The orders service finds the shipments stream through SHIPMENTS_URL.
  orders = await startTestSubgraph(ordersSubgraph, {
    ...config,
    SHIPMENTS_URL: shipments.url,
  });
  db = orders.database.db;
});

afterAll(async () => {
  await orders?.close();
  await shipments?.close();
  await dropTestDatabases(config);
});

const MARK_PAID = `mutation ($input: OrderMarkPaidInput!) {
  orderMarkPaid(input: $input) {
    order { id financialStatus }
    userErrors { field message code }
  }
}`;

/** Appends the events shipments sends when a shipment of `orderId` is delivered. */
async function deliver(orderId: string, shipmentId = randomUUID()) {
  const payload = {
    shipmentId,
    orderId,
    from: 'OUT_FOR_DELIVERY',
    to: 'DELIVERED',
    source: 'carrier',
    occurredAt: new Date().toISOString(),
  };
  await shipments.database.db.transaction((transaction) =>
    appendEvents(transaction, [
      { type: 'shipment.status_changed', aggregateId: shipmentId, payload },
      { type: 'shipment.delivered', aggregateId: shipmentId, payload },
    ]),
  );
}

async function financialStatus(orderId: string): Promise<string> {
  const [order] = await db
    .select()
    .from(tables.orders)
    .where(eq(tables.orders.id, orderId));
  return order!.financialStatus;
}

async function until(check: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function journalOf(orderId: string) {
  return db
    .select({
      kind: tables.journalEntries.kind,
      sourceKey: tables.journalEntries.sourceKey,
    })
    .from(tables.journalEntries)
    .where(eq(tables.journalEntries.orderId, orderId));
}

async function paidEvents(orderId: string): Promise<number> {
  const rows = (await db.execute(sql`
    select count(*)::int as count from outbox_events
     where type = 'order.paid' and aggregate_id = ${orderId}`)) as unknown as [
    { count: number },
  ];
  return rows[0].count;
}

async function markPaid(orderId: string) {
  const result = await querySubgraph(orders, config, MARK_PAID, {
    input: { orderId, idempotencyKey: randomUUID() },
  });
  return result.data!.orderMarkPaid as {
    order: { financialStatus: string } | null;
    userErrors: Array<{ code: string }>;
  };
}

describe('cash on delivery', () => {
  it('locates the shipments stream', () => {
    expect(
      shipmentsEventsUrl({
        ...config,
        SHIPMENTS_URL: 'http://shipments.internal:8080/graphql',
      }),
    ).toBe('http://shipments.internal:8080/events');
    expect(
      shipmentsEventsUrl({
        ...config,
        SHIPMENTS_URL: undefined,
        HOST: '0.0.0.0',
        SHIPMENTS_PORT: 4603,
      }),
    ).toBe('http://127.0.0.1:4603/events');
  });

  it('collects once despite repeats and mark-paid', async () => {
    const { order, payment } = await createOrderWithPayment(
      db,
      { subtotal: 2_000, shipping: 500 },
      'CASH_ON_DELIVERY',
    );
    const shipmentId = randomUUID();
    await deliver(order.id, shipmentId);
    await deliver(order.id, shipmentId);
    await until(async () => (await financialStatus(order.id)) === 'PAID');

    const staff = await markPaid(order.id);
    expect(staff.userErrors.map((error) => error.code)).toEqual([
      'INVALID_TRANSITION',
    ]);

    // A later delivery of another order shows both events were consumed.
    const later = await createOrderWithPayment(
      db,
      { subtotal: 100 },
      'CASH_ON_DELIVERY',
    );
    await deliver(later.order.id);
    await until(async () => (await financialStatus(later.order.id)) === 'PAID');

    const [captured] = await db
      .select()
      .from(tables.payments)
      .where(eq(tables.payments.id, payment.id));
    expect(captured).toMatchObject({
      status: 'CAPTURED',
      capturedAmount: 2_500,
    });
    expect(await journalOf(order.id)).toEqual([
      { kind: 'CASH_COLLECTION', sourceKey: `receipt:${payment.id}:received` },
    ]);
    expect(await paidEvents(order.id)).toBe(1);
  });

  it('skips orders already paid or not COD', async () => {
    const { order, payment } = await createOrderWithPayment(
      db,
      { subtotal: 1_500 },
      'CASH_ON_DELIVERY',
    );
    const staff = await markPaid(order.id);
    expect(staff).toMatchObject({
      order: { financialStatus: 'PAID' },
      userErrors: [],
    });
    const card = await createOrderWithPayment(db, { subtotal: 900 }, 'CARD');
    const transfer = await createOrderWithPayment(
      db,
      { subtotal: 800 },
      'BANK_TRANSFER',
    );
    await deliver(order.id);
    await deliver(card.order.id);
    await deliver(transfer.order.id);
    const marker = await createOrderWithPayment(
      db,
      { subtotal: 100 },
      'CASH_ON_DELIVERY',
    );
    await deliver(marker.order.id);
    await until(
      async () => (await financialStatus(marker.order.id)) === 'PAID',
    );

    expect(await journalOf(order.id)).toEqual([
      { kind: 'CASH_COLLECTION', sourceKey: `receipt:${payment.id}:received` },
    ]);
    expect(await paidEvents(order.id)).toBe(1);
    // Only cash on delivery is collected by a delivery.
    expect(await financialStatus(card.order.id)).toBe('AUTHORIZED');
    expect(await financialStatus(transfer.order.id)).toBe('PENDING');
    expect(await journalOf(card.order.id)).toEqual([]);
    expect(await journalOf(transfer.order.id)).toEqual([]);
  });

  it('ignores a batch applied before', async () => {
    const { order } = await createOrderWithPayment(
      db,
      { subtotal: 700 },
      'CASH_ON_DELIVERY',
    );
    await deliver(order.id);
    await until(async () => (await financialStatus(order.id)) === 'PAID');
    const stream = await readCommittedEvents(
      shipments.database.db,
      null,
      1_000,
    );
    const batch = stream
      .filter(
        (event) =>
          event.type === 'shipment.delivered' &&
          (event.payload as { orderId: string }).orderId === order.id,
      )
      .map((event) => ({ ...event, occurredAt: event.createdAt }));
    expect(batch).toHaveLength(1);
    await db.transaction((transaction) =>
      collectCashOnDelivery(batch, transaction, createLogger('test', 'silent')),
    );
    expect(await journalOf(order.id)).toHaveLength(1);
    expect(await paidEvents(order.id)).toBe(1);
  });
});
