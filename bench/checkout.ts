/**
 * The checkout-completion workload of `npm run bench`: buyers that each
 * create a checkout and complete it with a card, over and over, through the
 * gateway. See `measureCheckouts` and the "Checkout completion" section
 * that bench/run.ts writes to BENCHMARKS.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import postgres, { type Sql } from 'postgres';
import { Pool } from 'undici';

/** Units of stock each bench SKU gets, far more than any run sells. */
export const BENCH_STOCK = 10_000_000;

const ADDRESS = {
  name: 'Bench Buyer',
  line1: '1 Load Street',
  city: 'London',
  postalCode: 'SW1Y 4JH',
  countryCode: 'GB',
};

const CHECKOUT_CREATE = `mutation BenchCheckoutCreate($input: CheckoutCreateInput!) {
  checkoutCreate(input: $input) { checkout { id } userErrors { code message } }
}`;

const CHECKOUT_COMPLETE = `mutation BenchCheckoutComplete($input: CheckoutCompleteInput!) {
  checkoutComplete(input: $input) {
    order { id number financialStatus totalPrice { amount } }
    userErrors { code message }
  }
}`;

export interface BenchSku {
  sku: string;
  variantId: string;
}

/** CPU time of the processes the bench watches, in ms. */
export interface CpuSample {
  gateway: number;
  orders: number;
  catalog: number;
  postgres: number;
  loadGenerator: number;
}

export interface CheckoutMeasurement {
  name: string;
  buyers: number;
  skus: number;
  seconds: number;
  /** Completed orders (an order id came back) per second. */
  ordersPerSecond: number;
  completed: number;
  /** Requests that failed or returned user errors. */
  errors: number;
  firstError: string | null;
  /** checkoutComplete latency, ms. */
  completeP50: number;
  completeP99: number;
  /** checkoutCreate latency, ms. */
  createP50: number;
  /**
   * SQL statements per completed order, by database, or null without
   * pg_stat_statements.
   */
  statementsPerOrder: Record<string, number> | null;
  /** CPU ms per completed order, by process. */
  cpuMsPerOrder: CpuSample;
  /** Statements that took the most database time per order, by database. */
  topStatements: TopStatement[];
}

export interface TopStatement {
  database: string;
  callsPerOrder: number;
  msPerOrder: number;
  query: string;
}

/** Reads a process's user and system CPU time from /proc, in ms (USER_HZ 100). */
export function readCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** Reads the CPU ms of the postmaster `pid` and every process it started. */
function readProcessTreeCpuMs(pid: number): number {
  let total = readCpuMs(pid);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) {
        total += (Number(fields[11]) + Number(fields[12])) * 10;
      }
    } catch {
      // The process ended meanwhile.
    }
  }
  return total;
}

export interface CheckoutBenchTargets {
  gatewayUrl: string;
  pids: { gateway: number; orders: number; catalog: number };
  /** Connection to the server's `postgres` database, for statistics. */
  adminSql: Sql;
  catalogSql: Sql;
  ordersSql: Sql;
  /** Database names of the services, as pg_stat_statements reports them. */
  databases: Record<string, string>;
}

/** Returns the pid of the PostgreSQL postmaster, when it runs on this machine. */
async function postmasterPid(sql: Sql): Promise<number | null> {
  const [row] = await sql`select pg_backend_pid() as pid`;
  try {
    const stat = readFileSync(`/proc/${row!.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return null;
  }
}

/**
 * Picks `count` variants that checkout can sell: active standard products
 * that are purchasable, priced in the shop currency and shipped, so one
 * shipping method suits every checkout. It makes them track stock and
 * reject overselling, and gives each BENCH_STOCK units on hand at the
 * default location.
 */
export async function prepareBenchSkus(
  catalogSql: Sql,
  currency: string,
  count: number,
): Promise<BenchSku[]> {
  const rows = await catalogSql<{ sku: string; variant_id: string }[]>`
    select v.sku, v.id as variant_id
    from variants v join products p on p.id = v.product_id
    where p.status = 'ACTIVE' and p.product_type = 'STANDARD'
      and v.purchasable and v.price_amount is not null and v.price_amount > 0
      and v.requires_shipping
      and v.currency_code = ${currency}
    order by v.sku
    limit ${count}`;
  if (rows.length < count) {
    throw new Error(
      `The catalog has ${rows.length} sellable variants; the checkout bench needs ${count}.`,
    );
  }
  await catalogSql`
    insert into locations (id, code, name)
    values (${randomUUID()}, 'default', 'Default location')
    on conflict (code) do nothing`;
  const [location] = await catalogSql<{ id: string }[]>`
    select id from locations where code = 'default'`;
  // The sample catalog tracks stock of few variants: the bench's SKUs
  // track it and reject overselling, so every order reserves stock.
  await catalogSql`
    update variants set tracks_inventory = true, inventory_policy = 'DENY'
    where id in ${catalogSql(rows.map((row) => row.variant_id))}`;
  for (const row of rows) {
    await catalogSql`
      insert into stock_levels (variant_id, location_id, on_hand, reserved)
      values (${row.variant_id}, ${location!.id}, ${BENCH_STOCK}, 0)
      on conflict (variant_id, location_id)
      do update set on_hand = ${BENCH_STOCK}, updated_at = now()`;
  }
  return rows.map((row) => ({ sku: row.sku, variantId: row.variant_id }));
}

/** Reads the on-hand and reserved stock of each SKU, summed over locations. */
export async function readStock(
  catalogSql: Sql,
  skus: BenchSku[],
): Promise<Map<string, { onHand: number; reserved: number }>> {
  const rows = await catalogSql<
    { variant_id: string; on_hand: string; reserved: string }[]
  >`
    select variant_id, sum(on_hand)::text as on_hand, sum(reserved)::text as reserved
    from stock_levels
    where variant_id in ${catalogSql(skus.map((sku) => sku.variantId))}
    group by variant_id`;
  const byVariant = new Map(rows.map((row) => [row.variant_id, row]));
  return new Map(
    skus.map((sku) => {
      const row = byVariant.get(sku.variantId);
      return [
        sku.sku,
        {
          onHand: Number(row?.on_hand ?? 0),
          reserved: Number(row?.reserved ?? 0),
        },
      ];
    }),
  );
}

async function statementsSnapshot(
  adminSql: Sql,
): Promise<
  Map<string, { database: string; query: string; calls: number; ms: number }>
> {
  const rows = await adminSql<
    {
      datname: string;
      queryid: string;
      query: string;
      calls: string;
      total_exec_time: number;
    }[]
  >`
    select d.datname, s.queryid::text as queryid, s.query, s.calls::text as calls, s.total_exec_time
    from pg_stat_statements s join pg_database d on d.oid = s.dbid`;
  return new Map(
    rows.map((row) => [
      `${row.datname}\n${row.queryid}`,
      {
        database: row.datname,
        query: row.query,
        calls: Number(row.calls),
        ms: row.total_exec_time,
      },
    ]),
  );
}

/**
 * Returns true when pg_stat_statements can be read. The bench preloads it in
 * its embedded server.
 */
export async function hasStatementStatistics(adminSql: Sql): Promise<boolean> {
  try {
    await adminSql`create extension if not exists pg_stat_statements`;
    await adminSql`select 1 from pg_stat_statements limit 1`;
    return true;
  } catch {
    return false;
  }
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(
    sorted.length - 1,
    Math.max(0, Math.ceil(fraction * sorted.length) - 1),
  );
  return sorted[index]!;
}

interface BuyerTally {
  completed: number;
  errors: number;
  firstError: string | null;
  completeMs: number[];
  createMs: number[];
  /** Units ordered per SKU, from completed orders. */
  units: Map<string, number>;
  orderIds: Set<string>;
}

async function post(
  pool: Pool,
  path: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<any> {
  const response = await pool.request({
    path,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.body.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
  }
  if (body.errors?.length) {
    throw new Error(JSON.stringify(body.errors).slice(0, 300));
  }
  return body.data;
}

/**
 * Returns the code of the first shipping method a checkout of `sku` offers, which
 * every bench checkout then chooses. The probe checkout is left open.
 */
async function firstShippingMethod(
  pool: Pool,
  path: string,
  sku: BenchSku,
): Promise<string> {
  const data = await post(
    pool,
    path,
    `mutation BenchShippingMethods($input: CheckoutCreateInput!) {
      checkoutCreate(input: $input) {
        checkout { availableShippingMethods { code } }
        userErrors { code message }
      }
    }`,
    {
      input: {
        lines: [{ sku: sku.sku, quantity: 1 }],
        email: 'buyer@example.com',
        shippingAddress: ADDRESS,
      },
    },
  );
  const code =
    data.checkoutCreate.checkout?.availableShippingMethods?.[0]?.code;
  if (typeof code !== 'string') {
    throw new Error(
      `A checkout of SKU ${sku.sku} offers no shipping method: ${JSON.stringify(data).slice(0, 300)}`,
    );
  }
  return code;
}

/**
 * Runs `buyers` loops for `seconds`: each creates a checkout of one line
 * (a SKU of `skus` in turn, 1 to 3 units) and completes it with
 * tok_sandbox_visa and a fresh idempotency key. Only recorded results are
 * counted, so a run with `record` false is a warm-up.
 */
async function runBuyers(
  pool: Pool,
  path: string,
  shippingMethodCode: string,
  skus: BenchSku[],
  buyers: number,
  seconds: number,
  tally: BuyerTally,
  record: boolean,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let next = 0;
  async function buyer(): Promise<void> {
    while (Date.now() < deadline) {
      const sku = skus[next++ % skus.length]!;
      const quantity = 1 + (next % 3);
      try {
        const createStart = performance.now();
        const created = await post(pool, path, CHECKOUT_CREATE, {
          input: {
            lines: [{ sku: sku.sku, quantity }],
            email: 'buyer@example.com',
            shippingAddress: ADDRESS,
            shippingMethodCode,
          },
        });
        const createMs = performance.now() - createStart;
        const checkout = created.checkoutCreate;
        if (checkout.userErrors.length > 0) {
          throw new Error(JSON.stringify(checkout.userErrors));
        }
        const completeStart = performance.now();
        const completed = await post(pool, path, CHECKOUT_COMPLETE, {
          input: {
            checkoutId: checkout.checkout.id,
            payment: { method: 'CARD', cardToken: 'tok_sandbox_visa' },
            idempotencyKey: randomUUID(),
          },
        });
        const completeMs = performance.now() - completeStart;
        const payload = completed.checkoutComplete;
        if (payload.userErrors.length > 0 || !payload.order) {
          throw new Error(JSON.stringify(payload.userErrors));
        }
        // Orders of the warm-up count for the stock check too.
        tally.orderIds.add(payload.order.id);
        tally.units.set(sku.sku, (tally.units.get(sku.sku) ?? 0) + quantity);
        if (record) {
          tally.completed += 1;
          tally.completeMs.push(completeMs);
          tally.createMs.push(createMs);
        }
      } catch (error) {
        tally.errors += 1;
        tally.firstError ??= (error as Error).message;
      }
    }
  }
  await Promise.all(Array.from({ length: buyers }, () => buyer()));
}

/**
 * Measures checkout completion over `skus` with `buyers` concurrent buyers
 * after `warmupSeconds`, and checks afterwards that every completed order
 * is in the orders database and that stock moved by exactly the units
 * ordered.
 */
export async function measureCheckouts(
  targets: CheckoutBenchTargets,
  options: {
    name: string;
    skus: BenchSku[];
    buyers: number;
    warmupSeconds: number;
    seconds: number;
    statementStatistics: boolean;
  },
): Promise<{ measurement: CheckoutMeasurement; verification: string[] }> {
  const url = new URL(targets.gatewayUrl);
  const pool = new Pool(url.origin, {
    connections: options.buyers,
    pipelining: 1,
  });
  const shippingMethodCode = await firstShippingMethod(
    pool,
    url.pathname,
    options.skus[0]!,
  );
  const stockBefore = await readStock(targets.catalogSql, options.skus);
  const [countBefore] = await targets.ordersSql<
    { orders: string }[]
  >`select count(*)::text as orders from orders`;
  const ordersBefore = countBefore!.orders;
  const tally: BuyerTally = {
    completed: 0,
    errors: 0,
    firstError: null,
    completeMs: [],
    createMs: [],
    units: new Map(),
    orderIds: new Set(),
  };
  try {
    await runBuyers(
      pool,
      url.pathname,
      shippingMethodCode,
      options.skus,
      options.buyers,
      options.warmupSeconds,
      tally,
      false,
    );
    tally.errors = 0;
    tally.firstError = null;

    const postgresPid = await postmasterPid(targets.adminSql);
    const cpu = (): CpuSample => ({
      gateway: readCpuMs(targets.pids.gateway),
      orders: readCpuMs(targets.pids.orders),
      catalog: readCpuMs(targets.pids.catalog),
      postgres: postgresPid ? readProcessTreeCpuMs(postgresPid) : 0,
      loadGenerator: (() => {
        const usage = process.cpuUsage();
        return (usage.user + usage.system) / 1000;
      })(),
    });
    const statementsBefore = options.statementStatistics
      ? await statementsSnapshot(targets.adminSql)
      : null;
    const cpuBefore = cpu();
    const started = performance.now();
    await runBuyers(
      pool,
      url.pathname,
      shippingMethodCode,
      options.skus,
      options.buyers,
      options.seconds,
      tally,
      true,
    );
    const elapsedSeconds = (performance.now() - started) / 1000;
    const cpuAfter = cpu();
    const statementsAfter = options.statementStatistics
      ? await statementsSnapshot(targets.adminSql)
      : null;

    const perOrder = (value: number) =>
      tally.completed > 0 ? value / tally.completed : 0;
    const cpuMsPerOrder = Object.fromEntries(
      Object.entries(cpuAfter).map(([key, value]) => [
        key,
        perOrder(value - cpuBefore[key as keyof CpuSample]),
      ]),
    ) as unknown as CpuSample;

    let statementsPerOrder: Record<string, number> | null = null;
    const topStatements: TopStatement[] = [];
    if (statementsBefore && statementsAfter) {
      statementsPerOrder = {};
      const names = new Map(
        Object.entries(targets.databases).map(([service, database]) => [
          database,
          service,
        ]),
      );
      for (const [key, after] of statementsAfter) {
        const service = names.get(after.database);
        if (!service) continue;
        const before = statementsBefore.get(key);
        const calls = after.calls - (before?.calls ?? 0);
        const ms = after.ms - (before?.ms ?? 0);
        if (calls <= 0) continue;
        statementsPerOrder[service] =
          (statementsPerOrder[service] ?? 0) + perOrder(calls);
        topStatements.push({
          database: service,
          callsPerOrder: perOrder(calls),
          msPerOrder: perOrder(ms),
          query: after.query.replace(/\s+/g, ' '),
        });
      }
      topStatements.sort((left, right) => right.msPerOrder - left.msPerOrder);
    }

    const completeMs = [...tally.completeMs].sort((a, b) => a - b);
    const createMs = [...tally.createMs].sort((a, b) => a - b);
    const measurement: CheckoutMeasurement = {
      name: options.name,
      buyers: options.buyers,
      skus: options.skus.length,
      seconds: elapsedSeconds,
      ordersPerSecond: tally.completed / elapsedSeconds,
      completed: tally.completed,
      errors: tally.errors,
      firstError: tally.firstError,
      completeP50: percentile(completeMs, 0.5),
      completeP99: percentile(completeMs, 0.99),
      createP50: percentile(createMs, 0.5),
      statementsPerOrder,
      cpuMsPerOrder,
      topStatements,
    };

    const verification = await verify(targets, options.skus, tally, {
      ordersBefore: Number(ordersBefore),
      stockBefore,
    });
    return { measurement, verification };
  } finally {
    await pool.close();
  }
}

/**
 * Checks that the orders database has exactly the orders the buyers
 * received order ids for, each with its stock confirmed, and that on-hand
 * stock is unchanged while reserved stock rose by exactly the units ordered.
 * Returns the problems found, which is empty when every check passes.
 */
async function verify(
  targets: CheckoutBenchTargets,
  skus: BenchSku[],
  tally: BuyerTally,
  before: {
    ordersBefore: number;
    stockBefore: Map<string, { onHand: number; reserved: number }>;
  },
): Promise<string[]> {
  const problems: string[] = [];
  const [counts] = await targets.ordersSql<
    { orders: string; confirmed: string; lines: string }[]
  >`
    select count(*)::text as orders,
      count(o.reservation_confirmed_at)::text as confirmed,
      (select count(*) from order_lines)::text as lines
    from orders o`;
  const { orders, confirmed, lines } = counts!;
  const created = Number(orders) - before.ordersBefore;
  if (created !== tally.orderIds.size) {
    problems.push(
      `${created} orders were created but the buyers completed ${tally.orderIds.size}`,
    );
  }
  if (Number(confirmed) !== Number(orders)) {
    problems.push(
      `${Number(orders) - Number(confirmed)} orders have no confirmed reservation`,
    );
  }
  if (Number(lines) !== Number(orders)) {
    problems.push(`${lines} order lines for ${orders} one-line orders`);
  }
  const stockAfter = await readStock(targets.catalogSql, skus);
  for (const sku of skus) {
    const ordered = tally.units.get(sku.sku) ?? 0;
    const was = before.stockBefore.get(sku.sku)!;
    const now = stockAfter.get(sku.sku)!;
    if (now.onHand !== was.onHand) {
      problems.push(
        `SKU ${sku.sku}: on hand moved from ${was.onHand} to ${now.onHand}`,
      );
    }
    if (now.reserved - was.reserved !== ordered) {
      problems.push(
        `SKU ${sku.sku}: reserved rose by ${now.reserved - was.reserved}, ${ordered} units were ordered`,
      );
    }
    if (now.onHand - now.reserved <= 0) {
      problems.push(`SKU ${sku.sku} ran out of stock`);
    }
  }
  return problems;
}

/** Opens a small pool for the bench's own reads and set-up. */
export function benchSql(url: string): Sql {
  return postgres(url, { max: 2, onnotice: () => {} });
}
