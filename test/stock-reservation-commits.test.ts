import { and, asc, eq } from 'drizzle-orm';
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

const config = createTestConfig();
let catalog: RunningSubgraph<typeof tables>;

const SHIPMENTS_SERVICE: SubgraphCaller = {
  kind: 'service',
  subject: 'shipments',
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
  caller: SubgraphCaller = SHIPMENTS_SERVICE,
): Promise<GraphQLResponse<T>> {
  return identityHeaders(config, caller).then((headers) =>
    postGraphQL<T>(catalog.url, document, variables, headers),
  );
}

const COMMIT_FIELDS = `commit { commitKey orderId status lines { sku variantId quantity } committedAt uncommittedAt }
  userErrors { field message code }`;
const COMMIT_LINES = `mutation ($orderId: ID!, $commitKey: String!, $lines: [StockLineInput!]!) {
  stockReservationCommitLines(orderId: $orderId, commitKey: $commitKey, lines: $lines) { ${COMMIT_FIELDS} }
}`;
const UNCOMMIT_LINES = `mutation ($orderId: ID!, $commitKey: String!) {
  stockReservationUncommitLines(orderId: $orderId, commitKey: $commitKey) { ${COMMIT_FIELDS} }
}`;
const RESERVE = `mutation ($orderId: ID!, $lines: [StockLineInput!]!) {
  stockReserve(orderId: $orderId, lines: $lines) {
    reservation { status }
    problems { sku code }
  }
}`;
const RELEASE = `mutation ($orderId: ID!) {
  stockReservationRelease(orderId: $orderId) { reservation { status } userErrors { code } }
}`;

let skuCount = 0;

/** Creates a tracked one-variant product with `onHand` units; returns its SKU and variant id. */
async function stockedSku(
  onHand: number,
): Promise<{ sku: string; id: string }> {
  skuCount += 1;
  const sku = `commit-${skuCount}-${uuidv7().slice(-6)}`;
  const created = await request(
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { product { variants { id } } userErrors { message } }
    }`,
    {
      input: {
        title: `Product ${sku}`,
        status: 'ACTIVE',
        variants: [{ sku, price: { amount: '10.00' } }],
      },
    },
    TEST_ADMIN,
  );
  expect(created.data!.productCreate.userErrors).toEqual([]);
  const stocked = await request(
    `mutation ($input: StockSetInput!) { stockSet(input: $input) { userErrors { message } } }`,
    { input: { sku, quantity: onHand, reason: 'RECEIVED' } },
    TEST_ADMIN,
  );
  expect(stocked.data!.stockSet.userErrors).toEqual([]);
  return { sku, id: created.data!.productCreate.product.variants[0].id };
}

async function level(variantId: string) {
  const [row] = await catalog.database.db
    .select({
      onHand: tables.stockLevels.onHand,
      reserved: tables.stockLevels.reserved,
    })
    .from(tables.stockLevels)
    .where(eq(tables.stockLevels.variantId, variantId));
  return row;
}

async function reserved(
  orderId: string,
  lines: Array<{ sku: string; quantity: number }>,
) {
  const result = await request(RESERVE, { orderId, lines });
  expect(result.errors).toBeUndefined();
  expect(result.data!.stockReserve.problems).toEqual([]);
}

function commitLines(
  orderId: string,
  commitKey: string,
  lines: Array<{ sku: string; quantity: number }>,
) {
  return request(COMMIT_LINES, { orderId, commitKey, lines });
}

describe('stockReservationCommitLines', () => {
  it('commits two of three lines only', async () => {
    const [a, b, c] = await Promise.all([
      stockedSku(10),
      stockedSku(10),
      stockedSku(10),
    ]);
    const orderId = uuidv7();
    await reserved(orderId, [
      { sku: a.sku, quantity: 2 },
      { sku: b.sku, quantity: 3 },
      { sku: c.sku, quantity: 4 },
    ]);

    const result = await commitLines(orderId, uuidv7(), [
      { sku: a.sku, quantity: 2 },
      { sku: b.sku, quantity: 1 },
    ]);

    expect(result.errors).toBeUndefined();
    const payload = result.data!.stockReservationCommitLines;
    expect(payload.userErrors).toEqual([]);
    expect(payload.commit.status).toBe('COMMITTED');
    expect(payload.commit.lines).toEqual(
      [
        { sku: a.sku, variantId: a.id, quantity: 2 },
        { sku: b.sku, variantId: b.id, quantity: 1 },
      ].sort((x, y) => x.sku.localeCompare(y.sku)),
    );
    expect(await level(a.id)).toEqual({ onHand: 8, reserved: 0 });
    expect(await level(b.id)).toEqual({ onHand: 9, reserved: 2 });
    expect(await level(c.id)).toEqual({ onHand: 10, reserved: 4 });
  });

  it('records SOLD adjustments and stock.changed events', async () => {
    const a = await stockedSku(5);
    const orderId = uuidv7();
    const commitKey = uuidv7();
    await reserved(orderId, [{ sku: a.sku, quantity: 3 }]);

    await commitLines(orderId, commitKey, [{ sku: a.sku, quantity: 2 }]);

    const adjustments = await catalog.database.db
      .select()
      .from(tables.stockAdjustments)
      .where(
        and(
          eq(tables.stockAdjustments.variantId, a.id),
          eq(tables.stockAdjustments.reason, 'SOLD'),
        ),
      );
    expect(adjustments).toHaveLength(1);
    expect(adjustments[0]!.delta).toBe(-2);
    expect(adjustments[0]!.quantityAfter).toBe(3);
    const events = await catalog.database.db
      .select({ payload: tables.outboxEvents.payload })
      .from(tables.outboxEvents)
      .where(eq(tables.outboxEvents.aggregateId, a.id))
      .orderBy(asc(tables.outboxEvents.sequence));
    expect(events.at(-1)!.payload).toMatchObject({
      sku: a.sku,
      onHand: 3,
      reserved: 1,
      delta: -2,
      reservedDelta: -2,
      reason: 'SOLD',
      orderId,
      commitKey,
    });
  });

  it('applies one commit key once', async () => {
    const a = await stockedSku(10);
    const orderId = uuidv7();
    const commitKey = uuidv7();
    await reserved(orderId, [{ sku: a.sku, quantity: 5 }]);

    const first = await commitLines(orderId, commitKey, [
      { sku: a.sku, quantity: 2 },
    ]);
    const second = await commitLines(orderId, commitKey, [
      { sku: a.sku, quantity: 2 },
    ]);

    expect(first.data!.stockReservationCommitLines.userErrors).toEqual([]);
    expect(second.data!.stockReservationCommitLines).toEqual(
      first.data!.stockReservationCommitLines,
    );
    expect(await level(a.id)).toEqual({ onHand: 8, reserved: 3 });
  });

  it('rejects more than the reservation contains', async () => {
    const a = await stockedSku(10);
    const orderId = uuidv7();
    await reserved(orderId, [{ sku: a.sku, quantity: 3 }]);
    await commitLines(orderId, uuidv7(), [{ sku: a.sku, quantity: 2 }]);

    const result = await commitLines(orderId, uuidv7(), [
      { sku: a.sku, quantity: 2 },
    ]);

    const payload = result.data!.stockReservationCommitLines;
    expect(payload.commit).toBeNull();
    expect(payload.userErrors).toEqual([
      expect.objectContaining({
        field: ['lines', '0', 'quantity'],
        code: 'QUANTITY_EXCEEDS_RESERVED',
      }),
    ]);
    expect(payload.userErrors[0].message).toBe(
      `Cannot commit 2 units of SKU "${a.sku}": the reservation of order ${orderId} has only 1 uncommitted units left.`,
    );
    expect(await level(a.id)).toEqual({ onHand: 8, reserved: 1 });
  });

  it('rejects a SKU outside the reservation', async () => {
    const [a, b] = await Promise.all([stockedSku(10), stockedSku(10)]);
    const orderId = uuidv7();
    await reserved(orderId, [{ sku: a.sku, quantity: 1 }]);

    const result = await commitLines(orderId, uuidv7(), [
      { sku: a.sku, quantity: 1 },
      { sku: b.sku, quantity: 1 },
    ]);

    const payload = result.data!.stockReservationCommitLines;
    expect(payload.userErrors.map((error: any) => error.code)).toEqual([
      'SKU_NOT_RESERVED',
    ]);
    expect(await level(a.id)).toEqual({ onHand: 10, reserved: 1 });
  });

  it('rejects an order without a reservation', async () => {
    const a = await stockedSku(1);
    const result = await commitLines(uuidv7(), uuidv7(), [
      { sku: a.sku, quantity: 1 },
    ]);
    expect(result.data!.stockReservationCommitLines.userErrors[0].code).toBe(
      'RESERVATION_NOT_FOUND',
    );
  });

  it('leaves only the rest for a release', async () => {
    const a = await stockedSku(10);
    const orderId = uuidv7();
    await reserved(orderId, [{ sku: a.sku, quantity: 4 }]);
    await commitLines(orderId, uuidv7(), [{ sku: a.sku, quantity: 3 }]);

    const released = await request(RELEASE, { orderId });

    expect(released.data!.stockReservationRelease.userErrors).toEqual([]);
    expect(await level(a.id)).toEqual({ onHand: 7, reserved: 0 });
  });

  it('rejects callers that are not services', async () => {
    const a = await stockedSku(1);
    const orderId = uuidv7();
    await reserved(orderId, [{ sku: a.sku, quantity: 1 }]);

    const result = await request(
      COMMIT_LINES,
      { orderId, commitKey: uuidv7(), lines: [{ sku: a.sku, quantity: 1 }] },
      TEST_ADMIN,
    );

    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await level(a.id)).toEqual({ onHand: 1, reserved: 1 });
  });
});

describe('stockReservationUncommitLines', () => {
  it('puts committed units back into the reservation once', async () => {
    const a = await stockedSku(10);
    const orderId = uuidv7();
    const commitKey = uuidv7();
    await reserved(orderId, [{ sku: a.sku, quantity: 3 }]);
    await commitLines(orderId, commitKey, [{ sku: a.sku, quantity: 2 }]);

    const first = await request(UNCOMMIT_LINES, { orderId, commitKey });
    const second = await request(UNCOMMIT_LINES, { orderId, commitKey });

    const payload = first.data!.stockReservationUncommitLines;
    expect(payload.userErrors).toEqual([]);
    expect(payload.commit.status).toBe('UNCOMMITTED');
    expect(second.data!.stockReservationUncommitLines.commit.status).toBe(
      'UNCOMMITTED',
    );
    expect(await level(a.id)).toEqual({ onHand: 10, reserved: 3 });
    const returned = await catalog.database.db
      .select()
      .from(tables.stockAdjustments)
      .where(
        and(
          eq(tables.stockAdjustments.variantId, a.id),
          eq(tables.stockAdjustments.reason, 'RETURNED'),
        ),
      );
    expect(returned.map((row) => row.delta)).toEqual([2]);
  });

  it('lets the units be committed again under a new key', async () => {
    const a = await stockedSku(10);
    const orderId = uuidv7();
    const commitKey = uuidv7();
    await reserved(orderId, [{ sku: a.sku, quantity: 3 }]);
    await commitLines(orderId, commitKey, [{ sku: a.sku, quantity: 3 }]);
    await request(UNCOMMIT_LINES, { orderId, commitKey });

    const again = await commitLines(orderId, uuidv7(), [
      { sku: a.sku, quantity: 3 },
    ]);

    expect(again.data!.stockReservationCommitLines.userErrors).toEqual([]);
    expect(await level(a.id)).toEqual({ onHand: 7, reserved: 0 });
  });

  it('blocks a later commit of an uncommitted key', async () => {
    const a = await stockedSku(10);
    const orderId = uuidv7();
    const commitKey = uuidv7();
    await reserved(orderId, [{ sku: a.sku, quantity: 3 }]);

    await request(UNCOMMIT_LINES, { orderId, commitKey });
    const late = await commitLines(orderId, commitKey, [
      { sku: a.sku, quantity: 3 },
    ]);

    const payload = late.data!.stockReservationCommitLines;
    expect(payload.commit.status).toBe('UNCOMMITTED');
    expect(payload.commit.lines).toEqual([]);
    expect(await level(a.id)).toEqual({ onHand: 10, reserved: 3 });
  });
});

describe('stockReservationCommitLines under concurrency', () => {
  it('commits each unit once across 12 concurrent keys', async () => {
    const a = await stockedSku(20);
    const orderId = uuidv7();
    await reserved(orderId, [{ sku: a.sku, quantity: 5 }]);

    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        commitLines(orderId, uuidv7(), [{ sku: a.sku, quantity: 1 }]),
      ),
    );

    for (const result of results) expect(result.errors).toBeUndefined();
    const payloads = results.map(
      (result) => result.data!.stockReservationCommitLines,
    );
    expect(payloads.filter((payload) => payload.commit)).toHaveLength(5);
    expect(
      payloads.filter(
        (payload) =>
          payload.userErrors[0]?.code === 'QUANTITY_EXCEEDS_RESERVED',
      ),
    ).toHaveLength(7);
    expect(await level(a.id)).toEqual({ onHand: 15, reserved: 0 });
  });

  it('commits one key once across 10 concurrent calls', async () => {
    const a = await stockedSku(20);
    const orderId = uuidv7();
    const commitKey = uuidv7();
    await reserved(orderId, [{ sku: a.sku, quantity: 5 }]);

    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        commitLines(orderId, commitKey, [{ sku: a.sku, quantity: 2 }]),
      ),
    );

    for (const result of results) {
      expect(result.errors).toBeUndefined();
      expect(result.data!.stockReservationCommitLines.userErrors).toEqual([]);
    }
    expect(await level(a.id)).toEqual({ onHand: 18, reserved: 3 });
  });
});
