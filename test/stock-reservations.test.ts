import { readFileSync } from 'node:fs';
import { composeServices } from '@apollo/composition';
import { and, asc, eq, inArray } from 'drizzle-orm';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../platform/ids.js';
import type { SubgraphCaller } from '../platform/identity.js';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/catalog/db/tables.js';
import { catalogSubgraph } from '../subgraphs/catalog/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { identityHeaders, TEST_ADMIN } from './support/identity.js';
import { postGraphQL, type GraphQLResponse } from './support/stack.js';
import { startTestSubgraph } from './support/subgraph.js';

const config = createTestConfig({ STOCK_RESERVATION_SWEEP_INTERVAL_MS: '100' });
let catalog: RunningSubgraph<typeof tables>;

const ORDERS_SERVICE: SubgraphCaller = {
  kind: 'service',
  subject: 'orders',
  scopes: [],
  roles: [],
};

beforeAll(async () => {
  catalog = await startTestSubgraph(catalogSubgraph, config);
});

afterAll(async () => {
  await catalog?.close();
  await dropTestDatabases(config);
});

function request<T = any>(
  document: string,
  variables: Record<string, unknown> = {},
  caller: SubgraphCaller = ORDERS_SERVICE,
): Promise<GraphQLResponse<T>> {
  return identityHeaders(config, caller).then((headers) =>
    postGraphQL<T>(catalog.url, document, variables, headers),
  );
}

const PRICED_LINE = `sku variantId quantity unitPrice { amount currencyCode } title requiresShipping quantityAvailable`;
const RESERVATION = `orderId status expiresAt lines { ${PRICED_LINE} }`;

const CHECKOUT_LINES = `query ($lines: [StockLineInput!]!) {
  checkoutLines(lines: $lines) {
    lines { ${PRICED_LINE} }
    problems { sku code message available }
  }
}`;
const RESERVE = `mutation ($orderId: ID!, $lines: [StockLineInput!]!, $ttlSeconds: Int) {
  stockReserve(orderId: $orderId, lines: $lines, ttlSeconds: $ttlSeconds) {
    reservation { ${RESERVATION} }
    problems { sku code message available }
  }
}`;
const changeMutation = (field: string) => `mutation ($orderId: ID!) {
  ${field}(orderId: $orderId) {
    reservation { ${RESERVATION} }
    userErrors { field message code }
  }
}`;
const CONFIRM = changeMutation('stockReservationConfirm');
const COMMIT = changeMutation('stockReservationCommit');
const RELEASE = changeMutation('stockReservationRelease');

interface ProductSpec {
  sku: string;
  title?: string;
  price?: string | null;
  status?: 'ACTIVE' | 'DRAFT' | 'ARCHIVED';
  inventoryPolicy?: 'DENY' | 'CONTINUE';
  tracksInventory?: boolean;
  onHand?: number;
}

let productCount = 0;

/** Creates a one-variant product through the admin API, with stock at the default location. */
async function createProduct(spec: ProductSpec): Promise<string> {
  productCount += 1;
  const variant: Record<string, unknown> = {
    sku: spec.sku,
    inventoryPolicy: spec.inventoryPolicy ?? 'DENY',
    tracksInventory: spec.tracksInventory ?? true,
  };
  if (spec.price !== null) variant.price = { amount: spec.price ?? '12.50' };
  const created = await request(
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { product { variants { id } } userErrors { message } }
    }`,
    {
      input: {
        title: spec.title ?? `Product ${productCount}`,
        status: spec.status ?? 'ACTIVE',
        variants: [variant],
      },
    },
    TEST_ADMIN,
  );
  expect(created.data!.productCreate.userErrors).toEqual([]);
  if (spec.onHand !== undefined) await setStock(spec.sku, spec.onHand);
  return created.data!.productCreate.product.variants[0].id;
}

async function setStock(sku: string, quantity: number, locationCode?: string) {
  const result = await request(
    `mutation ($input: StockSetInput!) { stockSet(input: $input) { userErrors { message } } }`,
    { input: { sku, quantity, locationCode, reason: 'RECEIVED' } },
    TEST_ADMIN,
  );
  expect(result.data!.stockSet.userErrors).toEqual([]);
}

async function levelsOf(variantId: string) {
  return catalog.database.db
    .select({
      code: tables.locations.code,
      onHand: tables.stockLevels.onHand,
      reserved: tables.stockLevels.reserved,
    })
    .from(tables.stockLevels)
    .innerJoin(
      tables.locations,
      eq(tables.locations.id, tables.stockLevels.locationId),
    )
    .where(eq(tables.stockLevels.variantId, variantId))
    .orderBy(asc(tables.locations.code));
}

async function defaultLevel(variantId: string) {
  const levels = await levelsOf(variantId);
  return levels.find((level) => level.code === 'default');
}

async function reservationRow(orderId: string) {
  const [row] = await catalog.database.db
    .select()
    .from(tables.stockReservations)
    .where(eq(tables.stockReservations.orderId, orderId));
  return row;
}

async function stockEvents(variantId: string) {
  const rows = await catalog.database.db
    .select({ payload: tables.outboxEvents.payload })
    .from(tables.outboxEvents)
    .where(
      and(
        eq(tables.outboxEvents.type, 'stock.changed'),
        eq(tables.outboxEvents.aggregateId, variantId),
      ),
    )
    .orderBy(asc(tables.outboxEvents.sequence));
  return rows.map((row) => row.payload as Record<string, unknown>);
}

function reserve(
  orderId: string,
  lines: Array<{ sku: string; quantity: number }>,
  ttlSeconds?: number,
) {
  return request(RESERVE, { orderId, lines, ttlSeconds });
}

describe('stockReserve under concurrency', () => {
  it('sells exactly the units on hand to 50 concurrent checkouts', async () => {
    const variantId = await createProduct({ sku: 'race-mug', onHand: 10 });
    let sampling = true;
    const samples: Array<{ onHand: number; reserved: number }> = [];
    const sampler = (async () => {
      while (sampling) {
        const level = await defaultLevel(variantId);
        if (level) samples.push(level);
      }
    })();

    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        reserve(uuidv7(), [{ sku: 'race-mug', quantity: 1 }]),
      ),
    );
    sampling = false;
    await sampler;

    for (const result of results) expect(result.errors).toBeUndefined();
    const payloads = results.map((result) => result.data!.stockReserve);
    const reserved = payloads.filter((payload) => payload.reservation);
    const rejected = payloads.filter((payload) => !payload.reservation);
    expect(reserved).toHaveLength(10);
    expect(rejected).toHaveLength(40);
    for (const payload of rejected) {
      expect(payload.problems).toEqual([
        expect.objectContaining({
          sku: 'race-mug',
          code: 'OUT_OF_STOCK',
          available: 0,
        }),
      ]);
    }
    expect(await defaultLevel(variantId)).toEqual({
      code: 'default',
      onHand: 10,
      reserved: 10,
    });
    expect(samples.length).toBeGreaterThan(0);
    for (const sample of samples) {
      expect(sample.reserved).toBeLessThanOrEqual(sample.onHand);
    }
  });

  it('reserves SKUs in opposite line orders without deadlock', async () => {
    await createProduct({ sku: 'pair-left', onHand: 100 });
    await createProduct({ sku: 'pair-right', onHand: 100 });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        reserve(
          uuidv7(),
          index % 2 === 0
            ? [
                { sku: 'pair-left', quantity: 1 },
                { sku: 'pair-right', quantity: 1 },
              ]
            : [
                { sku: 'pair-right', quantity: 1 },
                { sku: 'pair-left', quantity: 1 },
              ],
        ),
      ),
    );
    for (const result of results) {
      expect(result.errors).toBeUndefined();
      expect(result.data!.stockReserve.reservation.status).toBe('ACTIVE');
    }
  });
});

describe('stockReserve all or nothing', () => {
  it('rejects two lines of one SKU that together exceed stock', async () => {
    const variantId = await createProduct({ sku: 'twin-lines', onHand: 5 });
    const orderId = uuidv7();
    const result = await reserve(orderId, [
      { sku: 'twin-lines', quantity: 3 },
      { sku: 'twin-lines', quantity: 3 },
    ]);
    expect(result.data!.stockReserve).toEqual({
      reservation: null,
      problems: [
        {
          sku: 'twin-lines',
          code: 'OUT_OF_STOCK',
          message:
            'Only 5 of SKU "twin-lines" available, 6 requested; lower the quantity or remove the line.',
          available: 5,
        },
      ],
    });
    expect((await defaultLevel(variantId))!.reserved).toBe(0);
    expect(await reservationRow(orderId)).toBeUndefined();
  });

  it('reserves nothing when one SKU of several is short', async () => {
    const plenty = await createProduct({ sku: 'multi-plenty', onHand: 50 });
    const short = await createProduct({ sku: 'multi-short', onHand: 1 });
    const eventsBefore = (await stockEvents(plenty)).length;
    const result = await reserve(uuidv7(), [
      { sku: 'multi-plenty', quantity: 5 },
      { sku: 'multi-short', quantity: 2 },
    ]);
    expect(result.data!.stockReserve.reservation).toBeNull();
    expect(result.data!.stockReserve.problems).toEqual([
      expect.objectContaining({
        sku: 'multi-short',
        code: 'OUT_OF_STOCK',
        available: 1,
      }),
    ]);
    expect((await defaultLevel(plenty))!.reserved).toBe(0);
    expect((await defaultLevel(short))!.reserved).toBe(0);
    expect(await stockEvents(plenty)).toHaveLength(eventsBefore);
  });

  it('returns every problem of every line at once', async () => {
    await createProduct({ sku: 'problem-draft', status: 'DRAFT', onHand: 5 });
    await createProduct({ sku: 'problem-no-price', price: null, onHand: 0 });
    await createProduct({ sku: 'problem-fine', onHand: 5 });
    const result = await reserve(uuidv7(), [
      { sku: 'problem-unknown', quantity: 1 },
      { sku: 'problem-draft', quantity: 1 },
      { sku: 'problem-no-price', quantity: 1 },
      { sku: 'problem-fine', quantity: 1 },
    ]);
    const problems = result.data!.stockReserve.problems;
    expect(problems.map((problem: any) => [problem.sku, problem.code])).toEqual(
      [
        ['problem-unknown', 'UNKNOWN_SKU'],
        ['problem-draft', 'NOT_PURCHASABLE'],
        ['problem-no-price', 'NO_PRICE'],
        ['problem-no-price', 'OUT_OF_STOCK'],
      ],
    );
    expect(problems[1].message).toBe(
      'SKU "problem-draft" cannot be bought here: its product is draft, not active.',
    );
  });

  it('rejects a quantity below 1 as invalid input', async () => {
    const result = await reserve(uuidv7(), [{ sku: 'race-mug', quantity: 0 }]);
    expect(result.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });
});

describe('reservation lifecycle', () => {
  it('repeats reserve, confirm and commit with the effect of one call', async () => {
    const variantId = await createProduct({
      sku: 'cycle-lamp',
      title: 'Desk Lamp',
      price: '40.00',
      onHand: 8,
    });
    const orderId = uuidv7();
    const first = await reserve(orderId, [{ sku: 'cycle-lamp', quantity: 3 }]);
    const reservation = first.data!.stockReserve.reservation;
    expect(reservation).toMatchObject({
      orderId,
      status: 'ACTIVE',
      lines: [
        {
          sku: 'cycle-lamp',
          variantId,
          quantity: 3,
          unitPrice: { amount: '40.00', currencyCode: 'USD' },
          title: 'Desk Lamp',
          requiresShipping: true,
          quantityAvailable: 5,
        },
      ],
    });
    expect(Date.parse(reservation.expiresAt)).toBeGreaterThan(
      Date.now() + 800_000,
    );
    const again = await reserve(orderId, [{ sku: 'cycle-lamp', quantity: 7 }]);
    expect(again.data!.stockReserve.reservation).toEqual(reservation);
    expect((await defaultLevel(variantId))!.reserved).toBe(3);

    for (let attempt = 0; attempt < 2; attempt += 1) {
      const confirmed = await request(CONFIRM, { orderId });
      expect(confirmed.data!.stockReservationConfirm.userErrors).toEqual([]);
      expect(confirmed.data!.stockReservationConfirm.reservation).toMatchObject(
        { status: 'ACTIVE', expiresAt: null },
      );
    }
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const committed = await request(COMMIT, { orderId });
      expect(committed.data!.stockReservationCommit.userErrors).toEqual([]);
      expect(committed.data!.stockReservationCommit.reservation.status).toBe(
        'COMMITTED',
      );
    }
    expect(await defaultLevel(variantId)).toEqual({
      code: 'default',
      onHand: 5,
      reserved: 0,
    });
    const adjustments = await catalog.database.db
      .select()
      .from(tables.stockAdjustments)
      .where(
        and(
          eq(tables.stockAdjustments.variantId, variantId),
          eq(tables.stockAdjustments.reason, 'SOLD'),
        ),
      );
    expect(adjustments).toHaveLength(1);
    expect(adjustments[0]).toMatchObject({
      delta: -3,
      quantityAfter: 5,
      note: `Order ${orderId}`,
    });

    const released = await request(RELEASE, { orderId });
    expect(released.data!.stockReservationRelease.userErrors).toEqual([
      expect.objectContaining({ code: 'RESERVATION_COMMITTED' }),
    ]);
    expect(await stockEvents(variantId)).toEqual([
      expect.objectContaining({ reason: 'RECEIVED', onHand: 8 }),
      expect.objectContaining({
        reason: 'RESERVED',
        orderId,
        onHand: 8,
        reserved: 3,
        available: 5,
        delta: 0,
        reservedDelta: 3,
      }),
      expect.objectContaining({
        reason: 'SOLD',
        orderId,
        onHand: 5,
        reserved: 0,
        delta: -3,
        reservedDelta: -3,
      }),
    ]);
  });

  it('repeats release with the effect of one call and reserves anew after it', async () => {
    const variantId = await createProduct({ sku: 'cycle-vase', onHand: 4 });
    const orderId = uuidv7();
    await reserve(orderId, [{ sku: 'cycle-vase', quantity: 4 }]);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const released = await request(RELEASE, { orderId });
      expect(released.data!.stockReservationRelease.userErrors).toEqual([]);
      expect(released.data!.stockReservationRelease.reservation.status).toBe(
        'RELEASED',
      );
    }
    expect((await defaultLevel(variantId))!.reserved).toBe(0);
    const reasons = (await stockEvents(variantId)).map((event) => event.reason);
    expect(reasons).toEqual(['RECEIVED', 'RESERVED', 'RELEASED']);

    const committed = await request(COMMIT, { orderId });
    expect(committed.data!.stockReservationCommit.userErrors).toEqual([
      {
        field: ['orderId'],
        code: 'RESERVATION_RELEASED',
        message: `Cannot commit the reservation of order ${orderId}: it was released and its units were returned to stock. Reserve the lines again.`,
      },
    ]);
    expect((await defaultLevel(variantId))!.onHand).toBe(4);

    const anew = await reserve(orderId, [{ sku: 'cycle-vase', quantity: 2 }]);
    expect(anew.data!.stockReserve.reservation.status).toBe('ACTIVE');
    expect((await defaultLevel(variantId))!.reserved).toBe(2);
  });

  it('returns a null reservation for an order without one', async () => {
    for (const [document, field] of [
      [CONFIRM, 'stockReservationConfirm'],
      [COMMIT, 'stockReservationCommit'],
      [RELEASE, 'stockReservationRelease'],
    ] as const) {
      const result = await request(document, { orderId: uuidv7() });
      expect(result.data![field]).toEqual({
        reservation: null,
        userErrors: [],
      });
    }
  });

  it('expires an unconfirmed reservation through the sweep', async () => {
    const variantId = await createProduct({
      sku: 'expiring-kettle',
      onHand: 3,
    });
    const orderId = uuidv7();
    const reserved = await reserve(
      orderId,
      [{ sku: 'expiring-kettle', quantity: 3 }],
      1,
    );
    expect(reserved.data!.stockReserve.reservation.status).toBe('ACTIVE');
    const blocked = await reserve(uuidv7(), [
      { sku: 'expiring-kettle', quantity: 1 },
    ]);
    expect(blocked.data!.stockReserve.problems[0].code).toBe('OUT_OF_STOCK');

    await expect
      .poll(async () => (await reservationRow(orderId))!.status, {
        timeout: 5_000,
        interval: 100,
      })
      .toBe('EXPIRED');
    expect((await defaultLevel(variantId))!.reserved).toBe(0);
    const events = await stockEvents(variantId);
    expect(events.at(-1)).toMatchObject({
      reason: 'EXPIRED',
      orderId,
      reservedDelta: -3,
      available: 3,
    });

    const again = await reserve(uuidv7(), [
      { sku: 'expiring-kettle', quantity: 3 },
    ]);
    expect(again.data!.stockReserve.reservation.status).toBe('ACTIVE');
    for (const [document, field] of [
      [CONFIRM, 'stockReservationConfirm'],
      [COMMIT, 'stockReservationCommit'],
    ] as const) {
      const result = await request(document, { orderId });
      expect(result.data![field].userErrors).toEqual([
        expect.objectContaining({ code: 'RESERVATION_EXPIRED' }),
      ]);
    }
  });
});

describe('backorders, untracked stock and locations', () => {
  it('reserves a backorder variant beyond its stock at the default location', async () => {
    const variantId = await createProduct({
      sku: 'backorder-chair',
      inventoryPolicy: 'CONTINUE',
      onHand: 2,
    });
    const orderId = uuidv7();
    const result = await reserve(orderId, [
      { sku: 'backorder-chair', quantity: 5 },
    ]);
    expect(result.data!.stockReserve.reservation.lines[0]).toMatchObject({
      quantity: 5,
      quantityAvailable: 0,
    });
    expect(await defaultLevel(variantId)).toEqual({
      code: 'default',
      onHand: 2,
      reserved: 5,
    });
    await request(COMMIT, { orderId });
    expect(await defaultLevel(variantId)).toEqual({
      code: 'default',
      onHand: -3,
      reserved: 0,
    });
  });

  it('reserves nothing for an untracked variant but lists its line', async () => {
    const variantId = await createProduct({
      sku: 'ebook-guide',
      tracksInventory: false,
    });
    const orderId = uuidv7();
    const result = await reserve(orderId, [
      { sku: 'ebook-guide', quantity: 3 },
    ]);
    expect(result.data!.stockReserve.reservation.lines).toEqual([
      expect.objectContaining({
        sku: 'ebook-guide',
        quantity: 3,
        quantityAvailable: null,
      }),
    ]);
    expect(await levelsOf(variantId)).toEqual([]);
    const committed = await request(COMMIT, { orderId });
    expect(committed.data!.stockReservationCommit.reservation.status).toBe(
      'COMMITTED',
    );
  });

  it('takes the default location first, then the others by code', async () => {
    const variantId = await createProduct({ sku: 'spread-rug', onHand: 1 });
    await catalog.database.db.insert(tables.locations).values([
      { id: uuidv7(), code: 'b-store', name: 'B store' },
      { id: uuidv7(), code: 'a-store', name: 'A store' },
    ]);
    await setStock('spread-rug', 2, 'b-store');
    await setStock('spread-rug', 2, 'a-store');
    const orderId = uuidv7();
    await reserve(orderId, [{ sku: 'spread-rug', quantity: 4 }]);
    expect(await levelsOf(variantId)).toEqual([
      { code: 'a-store', onHand: 2, reserved: 2 },
      { code: 'b-store', onHand: 2, reserved: 1 },
      { code: 'default', onHand: 1, reserved: 1 },
    ]);
    await request(RELEASE, { orderId });
    const levels = await levelsOf(variantId);
    expect(levels.map((level) => level.reserved)).toEqual([0, 0, 0]);
  });
});

describe('checkoutLines', () => {
  it('prices summed lines without reserving', async () => {
    const variantId = await createProduct({
      sku: 'priced-cup',
      price: '3.20',
      onHand: 9,
    });
    const result = await request(CHECKOUT_LINES, {
      lines: [
        { sku: 'priced-cup', quantity: 2 },
        { sku: 'priced-cup', quantity: 1 },
      ],
    });
    expect(result.data!.checkoutLines).toEqual({
      problems: [],
      lines: [
        expect.objectContaining({
          sku: 'priced-cup',
          variantId,
          quantity: 3,
          unitPrice: { amount: '3.20', currencyCode: 'USD' },
          quantityAvailable: 9,
        }),
      ],
    });
    expect((await defaultLevel(variantId))!.reserved).toBe(0);
  });
});

describe('service-only fields', () => {
  const callers: Array<[string, SubgraphCaller]> = [
    ['anonymous', { kind: 'anonymous', subject: null, scopes: [], roles: [] }],
    [
      'customer',
      {
        kind: 'customer',
        subject: '00000000-0000-7000-8000-0000000000c1',
        scopes: [],
        roles: [],
      },
    ],
    ['staff admin', TEST_ADMIN],
  ];
  const calls: Array<[string, string, Record<string, unknown>]> = [
    ['checkoutLines', CHECKOUT_LINES, { lines: [{ sku: 'x', quantity: 1 }] }],
    [
      'stockReserve',
      RESERVE,
      { orderId: uuidv7(), lines: [{ sku: 'x', quantity: 1 }] },
    ],
    ['stockReservationConfirm', CONFIRM, { orderId: uuidv7() }],
    ['stockReservationCommit', COMMIT, { orderId: uuidv7() }],
    ['stockReservationRelease', RELEASE, { orderId: uuidv7() }],
  ];

  for (const [name, caller] of callers) {
    it(`rejects a ${name} caller with FORBIDDEN`, async () => {
      for (const [field, document, variables] of calls) {
        const result = await request(document, variables, caller);
        expect(result.data, field).toBeNull();
        expect(result.errors![0]!.extensions!.code, field).toBe('FORBIDDEN');
      }
      expect(
        await catalog.database.db
          .select()
          .from(tables.stockReservations)
          .where(
            inArray(
              tables.stockReservations.orderId,
              calls
                .slice(1)
                .map(([, , variables]) => variables.orderId as string),
            ),
          ),
      ).toEqual([]);
    });
  }

  it('are absent from the public API schema', () => {
    const composed = composeServices([
      {
        name: 'catalog',
        url: 'http://127.0.0.1:4001/graphql',
        typeDefs: parse(
          readFileSync(
            new URL('../schema/catalog.graphql', import.meta.url),
            'utf8',
          ),
        ),
      },
    ]);
    expect(composed.errors).toBeUndefined();
    const api = composed.schema!.toAPISchema().toGraphQLJSSchema();
    expect(api.getQueryType()!.getFields().checkoutLines).toBeUndefined();
    const mutations = Object.keys(api.getMutationType()!.getFields());
    expect(mutations.filter((field) => field.startsWith('stockRes'))).toEqual(
      [],
    );
    expect(api.getType('StockLineInput')).toBeUndefined();
    expect(api.getType('StockReservation')).toBeUndefined();
  });
});
