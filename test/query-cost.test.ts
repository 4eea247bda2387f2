import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_NAMES, type ServiceName } from '../platform/config.js';
import { serviceDatabaseUrl } from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import { seedDemoListingsAt } from '../scripts/sample-data.js';
import {
  callerHeaders,
  STAFF_ADMIN,
  startTestStack,
  type TestStack,
} from './support/stack.js';

const PRODUCT_COUNT = 55;
let stack: TestStack;
// The mutations need write scopes and the page reads stock levels.
const ADMIN = callerHeaders(STAFF_ADMIN);

const CREATE = `mutation ($input: ProductCreateInput!) {
  productCreate(input: $input) { product { id } userErrors { message } }
}`;
const SET_STOCK = `mutation ($input: StockSetInput!) {
  stockSet(input: $input) { userErrors { message } }
}`;

beforeAll(async () => {
  stack = await startTestStack();
  for (let index = 0; index < PRODUCT_COUNT; index += 1) {
    const created = await stack.query(
      CREATE,
      {
        input: {
          title: `Sock ${index}`,
          status: 'ACTIVE',
          images: [{ url: `https://cdn.example/socks/${index}.jpg` }],
          options: [{ name: 'Size', values: ['S', 'L'] }],
          variants: ['S', 'L'].map((size) => ({
            sku: `sock-${index}-${size}`,
            price: { amount: '9.99' },
            selectedOptions: [{ name: 'Size', value: size }],
          })),
        },
      },
      ADMIN,
    );
    expect(created.data!.productCreate.userErrors).toEqual([]);
    const stocked = await stack.query(
      SET_STOCK,
      {
        input: { sku: `sock-${index}-S`, quantity: index, reason: 'RECEIVED' },
      },
      ADMIN,
    );
    expect(stocked.data!.stockSet.userErrors).toEqual([]);
  }
  const logger = createLogger('test', stack.config.LOG_LEVEL);
  await seedDemoListingsAt(
    stack.config,
    serviceDatabaseUrl(stack.config, 'marketplace'),
    stack.subgraphs.catalog.url,
    logger,
  );
  // The seeded listings are published to the sandbox marketplace in the
  // background; the counts below start once that is done.
  const marketplace = stack.subgraphs.marketplace.database.sql;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const [{ pending }] = await marketplace<{ pending: number }[]>`
      select count(*)::int as pending from listing_sync_tasks`;
    if (pending === 0) break;
    if (Date.now() > deadline) {
      throw new Error(`${pending} listing pushes still pending after 120 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}, 300_000);

afterAll(async () => {
  await stack?.close();
});

const PAGE = `query ($first: Int!) {
  products(first: $first) {
    nodes {
      id title images { url } availableForSale
      priceRange { minVariantPrice { amount } }
      listings { status quantity }
      variants {
        sku availableForSale quantityAvailable price { amount }
        stockLevels { onHand available location { code } }
        listings { status price { amount } marketplace { name } }
      }
    }
  }
}`;

type Counts = Record<Exclude<ServiceName, 'shipments'>, number>;

/**
 * Background work of the services (event stream readers, sweeps, sync
 * workers) also sends statements now and then, and only ever adds to a
 * count. The smallest count of several runs is the page's own.
 */
async function countStatements(first: number): Promise<Counts> {
  let smallest: Counts | undefined;
  for (let run = 0; run < 5; run += 1) {
    const counts = await countStatementsOnce(first);
    smallest = smallest
      ? (Object.fromEntries(
          Object.entries(counts).map(([name, count]) => [
            name,
            Math.min(count, smallest![name as keyof Counts]),
          ]),
        ) as Counts)
      : counts;
  }
  return smallest!;
}

async function countStatementsOnce(first: number): Promise<Counts> {
  for (const name of SERVICE_NAMES) {
    stack.subgraphs[name].database.queries.reset();
    stack.subgraphs[name].database.queries.recording = true;
  }
  const result = await stack.query(PAGE, { first }, ADMIN);
  expect(result.errors).toBeUndefined();
  expect(result.data!.products.nodes).toHaveLength(first);
  for (const node of result.data!.products.nodes) {
    expect(node.listings).toHaveLength(2);
    expect(node.variants[0].listings).toHaveLength(1);
  }
  if (process.env.PRINT_SQL) {
    for (const name of SERVICE_NAMES) {
      console.log(
        name,
        first,
        stack.subgraphs[name].database.queries.statements.map((text) =>
          text.replace(/\s+/g, ' ').slice(0, 140),
        ),
      );
    }
  }
  // The page reads nothing from shipments, whose database also serves the
  // orders service's event consumer in the background, so it is left out.
  return Object.fromEntries(
    SERVICE_NAMES.filter((name) => name !== 'shipments').map((name) => [
      name,
      stack.subgraphs[name].database.queries.count,
    ]),
  ) as Counts;
}

describe('SQL statements per page', () => {
  it('are the same for 5 and 50 products', async () => {
    // postgres.js reads the type catalog once per new connection. A first
    // run opens the connections the page needs, so the counts below are
    // the page's own statements.
    await countStatements(50);
    const small = await countStatements(5);
    const large = await countStatements(50);
    expect(large).toEqual(small);
    expect(small.catalog).toBeGreaterThan(0);
    expect(small.marketplace).toBeGreaterThan(0);
    // Bounded: one statement per loader, not one per product.
    expect(small.catalog).toBeLessThanOrEqual(8);
    expect(small.marketplace).toBeLessThanOrEqual(4);
  });
});
