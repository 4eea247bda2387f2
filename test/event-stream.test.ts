import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql as raw } from 'drizzle-orm';
import { IDENTITY_HEADER, type SubgraphCaller } from '../platform/identity.js';
import type { EventPage } from '../platform/event-stream.js';
import { appendEvents } from '../platform/outbox.js';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import { catalogSubgraph } from '../subgraphs/catalog/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import { identityHeaders, TEST_ADMIN } from './support/identity.js';
import { querySubgraph, startTestSubgraph } from './support/subgraph.js';

const config = createTestConfig();
let catalog: RunningSubgraph<Record<string, unknown>>;
let origin: string;

const SERVICE: SubgraphCaller = {
  kind: 'service',
  subject: 'event-stream-test',
  scopes: [],
  roles: [],
};

beforeAll(async () => {
  catalog = (await startTestSubgraph(
    catalogSubgraph,
    config,
  )) as unknown as RunningSubgraph<Record<string, unknown>>;
  origin = new URL(catalog.url).origin;
});

afterAll(async () => {
  await catalog?.close();
  await dropTestDatabases(config);
});

async function getEvents(
  query: string,
  headers?: Record<string, string>,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${origin}/events${query}`, {
    headers: headers ?? (await identityHeaders(config, SERVICE)),
  });
  return { status: response.status, body: await response.json() };
}

async function page(query: string): Promise<EventPage> {
  const { status, body } = await getEvents(query);
  expect(status).toBe(200);
  return body as EventPage;
}

function afterQuery(after: string | null, extra = ''): string {
  return `?${after === null ? '' : `after=${after}&`}limit=1000${extra}`;
}

/**
 * Reads until `count` events arrive. xmin is cluster-wide, so a transaction
 * of another test file on the same server can hold events back for a while.
 */
async function readAtLeast(after: string | null, count: number, extra = '') {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const result = await page(afterQuery(after, extra));
    if (result.events.length >= count || Date.now() > deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const PRODUCT_CREATE = `mutation ($input: ProductCreateInput!) {
  productCreate(input: $input) { product { id } userErrors { field message } }
}`;
const STOCK_SET = `mutation ($input: StockSetInput!) {
  stockSet(input: $input) { stockLevel { onHand } userErrors { field message } }
}`;

/** A promise with its resolve function, to hold a transaction open. */
function gate() {
  let open!: () => void;
  const passed = new Promise<void>((resolve) => (open = resolve));
  return { open, passed };
}

/**
 * Runs a catalog transaction in steps: `takeId` assigns its transaction
 * id, `write` appends one event, `commit` commits.
 */
function steppedTransaction(aggregateId: string) {
  const takeId = gate();
  const idTaken = gate();
  const write = gate();
  const written = gate();
  const commit = gate();
  const done = catalog.database.db.transaction(async (transaction) => {
    await takeId.passed;
    await transaction.execute(raw`select pg_current_xact_id()`);
    idTaken.open();
    await write.passed;
    await appendEvents(transaction, [
      { type: 'test.stepped', aggregateId, payload: { aggregateId } },
    ]);
    written.open();
    await commit.passed;
  });
  return {
    async takeId() {
      takeId.open();
      await idTaken.passed;
    },
    async write() {
      write.open();
      await written.passed;
    },
    async commit() {
      commit.open();
      await done;
    },
  };
}

describe('GET /events', () => {
  let all: EventPage;

  it('returns committed events in order', async () => {
    const created = await querySubgraph(catalog, config, PRODUCT_CREATE, {
      input: {
        title: 'Stream product',
        status: 'ACTIVE',
        variants: [{ sku: 'stream-1', price: { amount: '3.00' } }],
      },
    });
    expect(created.data!.productCreate.userErrors).toEqual([]);
    for (const quantity of [5, 7]) {
      const stocked = await querySubgraph(catalog, config, STOCK_SET, {
        input: { sku: 'stream-1', quantity, reason: 'RECEIVED' },
      });
      expect(stocked.data!.stockSet.userErrors).toEqual([]);
    }

    all = await readAtLeast(null, 3);
    expect(all.events.map((event) => event.type)).toEqual([
      'product.created',
      'stock.changed',
      'stock.changed',
    ]);
    expect(
      all.events
        .slice(1)
        .map((event) => (event.payload as { onHand: number }).onHand),
    ).toEqual([5, 7]);
    expect(all.events[1]).toMatchObject({
      aggregateId: expect.any(String),
      id: expect.any(String),
      occurredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(all.next).toBe(all.events[2]!.position);

    const rest = await page(afterQuery(all.events[0]!.position));
    expect(rest.events).toEqual(all.events.slice(1));
    const one = await page(`?after=${all.events[0]!.position}&limit=1`);
    expect(one.events).toEqual([all.events[1]]);
    expect(one.next).toBe(all.events[1]!.position);
    const none = await page(afterQuery(all.next));
    expect(none).toEqual({ events: [], next: all.next });
  });

  it('filters events by type', async () => {
    const stock = await page(afterQuery(null, '&types=stock.changed'));
    expect(stock.events).toEqual(all.events.slice(1));
    const products = await page(
      `?limit=1&types=${encodeURIComponent('product.created,other.type')}`,
    );
    expect(products.events).toEqual([all.events[0]]);
    const after = await page(
      `${afterQuery(all.events[0]!.position)}&types=product.created`,
    );
    expect(after).toEqual({ events: [], next: all.next });
  });

  it('delivers late commits of older transactions', async () => {
    const start = all.next;
    const older = steppedTransaction('older');
    const newer = steppedTransaction('newer');
    await older.takeId();
    await newer.takeId();
    await older.write();
    await newer.write();
    await newer.commit();

    // `newer` committed, but `older` (a lower transaction id, still open)
    // could still commit events that sort before it.
    expect(await page(afterQuery(start))).toEqual({ events: [], next: start });

    // A waiting request returns once `older` commits.
    const startedAt = Date.now();
    const waiting = page(`${afterQuery(start)}&wait=20000`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await older.commit();
    const woken = await waiting;
    expect(Date.now() - startedAt).toBeLessThan(10_000);

    const both = await readAtLeast(start, 2);
    expect(both.events.map((event) => event.aggregateId)).toEqual([
      'older',
      'newer',
    ]);
    expect(woken.events).toEqual(both.events.slice(0, woken.events.length));
    const rest = await page(afterQuery(both.events[0]!.position));
    expect(rest.events.map((event) => event.aggregateId)).toEqual(['newer']);
  });

  it('returns an empty page after wait', async () => {
    const last = (await readAtLeast(null, 5)).next;
    const startedAt = Date.now();
    expect(await page(`${afterQuery(last)}&wait=300`)).toEqual({
      events: [],
      next: last,
    });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
  });

  it('rejects non-service callers', async () => {
    const missing = await getEvents('', {});
    expect(missing.status).toBe(401);
    expect(missing.body.error).toContain(`Missing ${IDENTITY_HEADER} header`);

    const invalid = await getEvents('', { [IDENTITY_HEADER]: 'not-a-token' });
    expect(invalid.status).toBe(401);
    expect(invalid.body.code).toBe('UNAUTHENTICATED');

    const staff = await getEvents(
      '',
      await identityHeaders(config, TEST_ADMIN),
    );
    expect(staff.status).toBe(403);
    expect(staff.body).toEqual({
      error:
        'The event stream serves other services only; this request was signed for a staff caller. Sign a service identity (signServiceIdentity).',
      code: 'FORBIDDEN',
    });
  });

  it('rejects malformed parameters with 400', async () => {
    const position = await getEvents('?after=12-4');
    expect(position.status).toBe(400);
    expect(position.body.error).toBe(
      `Invalid event position "12-4": use a position returned with an event or as next, such as "7431.12", "end" for the stream's last position, or leave after out to read from the start.`,
    );
    const limit = await getEvents('?limit=-1');
    expect(limit.status).toBe(400);
    expect(limit.body.error).toBe(
      'Invalid limit "-1": use a whole number from 1 to 1000.',
    );
    const wait = await getEvents('?wait=soon');
    expect(wait.status).toBe(400);
  });
});
