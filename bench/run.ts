/**
 * `npm run bench`: measures the storefront listing query through the
 * gateway and its catalog-only part straight from the catalog subgraph, in
 * one run over the sample catalog, and writes the table to BENCHMARKS.md.
 * Then it measures what authentication and limits cost: rounds that
 * alternate between the gateway as shipped (anonymous and partner callers)
 * and the same gateway started with them off (bench/gateway-without-checks.ts).
 * Last it measures checkout completion (bench/checkout.ts): concurrent
 * buyers that create and complete checkouts with the sandbox provider,
 * over several SKUs and over one hot SKU.
 *
 * Then it measures how fast a stock change reaches a marketplace
 * (bench/marketplace-sync.ts): stock adjustments through the gateway and
 * the delay until the sandbox marketplace stores each new quantity.
 *
 * BENCH_ONLY=checkout runs only the checkout workloads and prints their
 * section without writing BENCHMARKS.md, for work on the checkout path.
 * BENCH_ONLY=marketplace does the same for the marketplace sync workloads,
 * and BENCH_ONLY=subscriptions for the subscription fan-out workloads
 * (bench/subscriptions-fanout.ts): 1,000 graphql-ws subscribers of one
 * partner to stockChanged while stock changes at a steady rate.
 *
 * BENCH_ONLY=gateways runs only the gateway comparison
 * (bench/gateways/compare.ts): ours, plain @apollo/gateway and Hive Gateway
 * with and without its Rust query planner, on the storefront listing and
 * on a deep query over in-memory subgraphs. It prints the section and
 * replaces it in BENCHMARKS.md; a full run measures it too.
 *
 * Every service runs in its own process as under `npm start`, so the
 * gateway's resident memory is its own. The load generator (autocannon)
 * runs in this process and shares the machine's cores with the services.
 */
import {
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { loadConfig, SERVICE_NAMES, type Config } from '../platform/config.js';
import {
  connectDatabase,
  dropDatabase,
  serviceDatabaseUrl,
} from '../platform/database.js';
import { signServiceIdentity } from '../platform/identity.js';
import { generateIdentityKeyPair } from '../platform/identity-keys.js';
import { gatewayDatabaseUrl, tables } from '../gateway/db/database.js';
import { createPartnerKey } from '../gateway/identity/partner-keys.js';
import { startEmbeddedPostgres } from '../platform/embedded-postgres.js';
import { createLogger } from '../platform/logger.js';
import { prepareSubgraphDatabase } from '../platform/subgraph-service.js';
import { subgraphDefinitions } from '../subgraphs/index.js';
import {
  importSampleCatalogIfEmpty,
  seedDemoListingsAt,
} from '../scripts/sample-data.js';
import {
  benchSql,
  hasStatementStatistics,
  measureCheckouts,
  prepareBenchSkus,
  BENCH_STOCK,
  type CheckoutMeasurement,
} from './checkout.js';
import {
  measureMarketplaceSync,
  SYNC_POLL_MS,
  type SyncMeasurement,
  type SyncWorkload,
} from './marketplace-sync.js';
import {
  measureSubscriptionFanout,
  subscriptionFanoutSection,
  type FanoutMeasurement,
  type FanoutWorkload,
} from './subscriptions-fanout.js';
import {
  gatewayComparisonSection,
  measureGatewayComparison,
  withRoutingUrls,
  writeGatewayComparisonSection,
  type GatewayComparison,
} from './gateways/compare.js';
import {
  startChildService,
  stopChildService,
  waitUntilReady,
  type ChildService,
} from '../scripts/supervisor.js';

const DURATION_SECONDS = Number(process.env.BENCH_DURATION_SECONDS ?? 10);
/** Sections to run: all, or only the checkout or marketplace sync workloads. */
const ONLY_CHECKOUT = process.env.BENCH_ONLY === 'checkout';
const ONLY_MARKETPLACE = process.env.BENCH_ONLY === 'marketplace';
const ONLY_SUBSCRIPTIONS = process.env.BENCH_ONLY === 'subscriptions';
const ONLY_GATEWAYS = process.env.BENCH_ONLY === 'gateways';
/** Concurrent buyers of the checkout workloads. */
const CHECKOUT_BUYERS = Number(process.env.BENCH_CHECKOUT_BUYERS ?? 20);
const CHECKOUT_SECONDS = Number(process.env.BENCH_CHECKOUT_SECONDS ?? 15);
const CHECKOUT_WARMUP_SECONDS = 3;
/** SKUs the spread checkout workload buys from, one line per checkout. */
const CHECKOUT_SKUS = 16;
const WARMUP_SECONDS = 3;
/** Listings of the marketplace sync workloads, one variant each. */
const SYNC_VARIANTS = 20;
/** Bursts of the hot-SKU sync workload, and adjustments per burst. */
const SYNC_BURSTS = 10;
const SYNC_BURST_SIZE = 10;
/** Target of the marketplace sync, in ms from the stock change to the marketplace. */
const SYNC_TARGET_P99_MS = 2000;
/** SKUs the subscription fan-out workloads change, round robin. */
const FANOUT_SKUS = 10;
const FANOUT_SECONDS = Number(process.env.BENCH_FANOUT_SECONDS ?? 15);
/** Stock changes per second of the fan-out workload with shared variables. */
const FANOUT_RATE = Number(process.env.BENCH_FANOUT_RATE ?? 20);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const BASE_PORT = Number(process.env.BENCH_BASE_PORT ?? 4100);
/** First port of the gateway comparison's gateways. Its demo subgraphs listen 10 ports higher. */
const GATEWAY_COMPARISON_PORT = BASE_PORT + 20;
/**
 * Rounds of the comparison with checks off, each measuring every workload
 * once. The rounds are short and many, so that each workload is measured
 * close in time to the others and a burst of other load on the machine
 * hits one round of each rather than one workload.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 4);
/** Warm-up before each measurement of a round, when every gateway is warm already. */
const ROUND_WARMUP_SECONDS = 1;
/** Port of the gateway started with authentication and limits off. */
const BASELINE_PORT = BASE_PORT + 5;
/**
 * Rate-limit budget of the measured gateway, in points and points per
 * second. A listing page costs about 1,200 points, so one client at full
 * speed spends the default budgets within a second and then gets cheap 429
 * responses. With this budget every request is still charged in
 * PostgreSQL, and none is rejected.
 */
const UNEXHAUSTED_BUDGET = '1000000000';
/** Scopes of the partner key that the comparison sends. */
const PARTNER_SCOPES = ['read_products', 'read_inventory', 'read_listings'];

const CATALOG_PART = `
      id handle title
      priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
      images { url }
      variants {
        id sku title availableForSale quantityAvailable
        price { amount currencyCode }
        compareAtPrice { amount currencyCode }
        selectedOptions { name value }
      }`;

/** A storefront product-list page: catalog fields plus marketplace listings. */
const GATEWAY_QUERY = `query StorefrontListing {
  products(first: 20) { nodes { ${CATALOG_PART}
      listings { id status price { amount currencyCode } quantity }
  } }
}`;
const CATALOG_QUERY = `query StorefrontListingCatalogPart {
  products(first: 20) { nodes { ${CATALOG_PART} } }
}`;

interface Measurement {
  name: string;
  target: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  peakRssMiB?: number;
  /** CPU time (user and system) of the gateway process per request, in ms. */
  gatewayCpuMsPerRequest?: number;
}

/** One workload of the comparison, summarised over its rounds. */
interface ComparisonRow {
  name: string;
  /** Median over the rounds. */
  requestsPerSecond: number;
  roundRequestsPerSecond: number[];
  /** Median over the rounds, in ms. */
  p50: number;
  /** Median over the rounds, in ms. */
  p99: number;
  errors: number;
  /** Fewer req/s than the gateway with checks off, in percent. */
  overheadPercent?: number;
  /** Median over the rounds. */
  gatewayCpuMsPerRequest: number;
  /** More gateway CPU per request than with checks off, in percent. */
  cpuOverheadPercent?: number;
}

/** The comparison's rows and the machine's 1-minute load average around it. */
interface Comparison {
  rows: ComparisonRow[];
  loadAverageBefore: number;
  loadAverageAfter: number;
}

function readRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) : 0;
}

/**
 * Returns the CPU time (user and system) that a process has used, in ms.
 * /proc/<pid>/stat counts it in clock ticks of USER_HZ, which is 100 per
 * second on Linux.
 */
function readCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses, start at
  // field 3, so utime (field 14) and stime (field 15) are at 11 and 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Interval at which the bench signs a fresh identity for direct subgraph calls. */
const IDENTITY_REFRESH_MS = 20_000;

async function checkResponse(
  url: string,
  query: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown[] };
  if (body.errors || !body.data?.products?.nodes?.length) {
    throw new Error(
      `Unexpected response from ${url}: ${JSON.stringify(body).slice(0, 500)}`,
    );
  }
  return body.data.products.nodes.length;
}

/**
 * Measures one workload. `extraHeaders` is read for every request, so a
 * signed identity that is refreshed meanwhile is picked up. With
 * `gatewayPid`, it also samples that process's memory and CPU time.
 */
async function measure(
  name: string,
  url: string,
  query: string,
  gatewayPid?: number,
  extraHeaders: () => Record<string, string> = () => ({}),
  seconds = { warmup: WARMUP_SECONDS, measured: DURATION_SECONDS },
): Promise<Measurement> {
  const body = JSON.stringify({ query });
  const options = {
    url,
    method: 'POST' as const,
    headers: { 'content-type': 'application/json' },
    body,
    connections: CONNECTIONS,
    requests: [
      {
        setupRequest: (request: autocannon.Request) => ({
          ...request,
          headers: { ...request.headers, ...extraHeaders() },
        }),
      },
    ],
  };
  await autocannon({ ...options, duration: seconds.warmup });

  let peakRss = 0;
  const sampler = gatewayPid
    ? setInterval(() => {
        peakRss = Math.max(peakRss, readRssKiB(gatewayPid));
      }, 100)
    : undefined;
  const cpuMsBefore = gatewayPid ? readCpuMs(gatewayPid) : 0;
  const result = await autocannon({ ...options, duration: seconds.measured });
  const cpuMs = gatewayPid ? readCpuMs(gatewayPid) - cpuMsBefore : 0;
  if (sampler) clearInterval(sampler);
  return {
    name,
    target: url,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
    peakRssMiB: gatewayPid ? peakRss / 1024 : undefined,
    gatewayCpuMsPerRequest:
      gatewayPid && result.requests.total > 0
        ? cpuMs / result.requests.total
        : undefined,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface ComparisonWorkload {
  name: string;
  url: string;
  headers: Record<string, string>;
  gatewayPid: number;
}

/**
 * Measures each workload once per round, the first workload being the
 * baseline. Each round starts one workload later than the one before, so
 * no workload always runs first or right after the same other one, and
 * drift of the machine over the run spreads over all of them.
 */
async function compareWorkloads(
  workloads: ComparisonWorkload[],
): Promise<Comparison> {
  const loadAverageBefore = os.loadavg()[0]!;
  const measurements: Measurement[][] = workloads.map(() => []);
  for (let round = 0; round < ROUNDS; round += 1) {
    for (let step = 0; step < workloads.length; step += 1) {
      const index = (round + step) % workloads.length;
      const workload = workloads[index]!;
      measurements[index]!.push(
        await measure(
          workload.name,
          workload.url,
          GATEWAY_QUERY,
          workload.gatewayPid,
          () => workload.headers,
          { warmup: ROUND_WARMUP_SECONDS, measured: ROUND_SECONDS },
        ),
      );
    }
  }
  const rows = workloads.map((workload, index): ComparisonRow => {
    const rounds = measurements[index]!;
    const perRound = rounds.map((result) => result.requestsPerSecond);
    return {
      name: workload.name,
      requestsPerSecond: median(perRound),
      roundRequestsPerSecond: perRound,
      p50: median(rounds.map((result) => result.p50)),
      p99: median(rounds.map((result) => result.p99)),
      errors: rounds.reduce((sum, result) => sum + result.errors, 0),
      gatewayCpuMsPerRequest: median(
        rounds.map((result) => result.gatewayCpuMsPerRequest ?? 0),
      ),
    };
  });
  const baseline = rows[0]!;
  for (const row of rows.slice(1)) {
    row.overheadPercent =
      ((baseline.requestsPerSecond - row.requestsPerSecond) /
        baseline.requestsPerSecond) *
      100;
    row.cpuOverheadPercent =
      ((row.gatewayCpuMsPerRequest - baseline.gatewayCpuMsPerRequest) /
        baseline.gatewayCpuMsPerRequest) *
      100;
  }
  return { rows, loadAverageBefore, loadAverageAfter: os.loadavg()[0]! };
}

/** The marketplace sync workloads: adjustments spread over SKUs, then bursts on one SKU. */
const SYNC_WORKLOADS: SyncWorkload[] = [
  {
    name: `${SYNC_VARIANTS} SKUs`,
    description: `240 adjustments from 4 concurrent senders, each pausing 20 ms after each adjustment, cycling through the ${SYNC_VARIANTS} SKUs`,
    adjustments: 240,
    senders: 4,
    variantOf: (index) => index,
    pauseAfter: () => 20,
  },
  {
    name: 'bursts on one SKU',
    description: `${SYNC_BURSTS} bursts of ${SYNC_BURST_SIZE} adjustments sent back to back to one SKU by one sender, 1 s apart`,
    adjustments: SYNC_BURSTS * SYNC_BURST_SIZE,
    senders: 1,
    variantOf: () => 0,
    pauseAfter: (index) => ((index + 1) % SYNC_BURST_SIZE === 0 ? 1000 : 0),
  },
];

/**
 * The fan-out workloads: 1,000 subscriptions on 1,000 connections, first
 * all with the same variables, then each with variables of its own that
 * differ only in the `skus` filter, at the same rate.
 */
const FANOUT_WORKLOADS: FanoutWorkload[] = [
  {
    name: 'shared variables',
    connections: 1000,
    subscriptionsPerConnection: 1,
    distinctVariables: false,
    changesPerSecond: FANOUT_RATE,
    seconds: FANOUT_SECONDS,
  },
  {
    name: 'variables per subscription',
    connections: 1000,
    subscriptionsPerConnection: 1,
    distinctVariables: true,
    changesPerSecond: FANOUT_RATE,
    seconds: FANOUT_SECONDS,
  },
];

/** Runs the subscription fan-out workloads against the running services. */
async function runSubscriptionFanout(
  config: Config,
  gatewayUrl: string,
  pids: { gateway: number; catalog: number },
): Promise<FanoutMeasurement[]> {
  return measureSubscriptionFanout(
    {
      gatewayUrl,
      identityPrivateKey: config.IDENTITY_PRIVATE_KEY!,
      partnerKey: await createBenchPartnerKey(config),
      pids,
    },
    FANOUT_SKUS,
    FANOUT_WORKLOADS,
  );
}

interface SyncResult {
  measurements: SyncMeasurement[];
  /** The machine's 1-minute load average before and after the workloads. */
  loadAverage: [number, number];
}

/** Runs the marketplace sync workloads against the running services. */
async function runMarketplaceSync(
  config: Config,
  gatewayUrl: string,
): Promise<SyncResult> {
  const marketplaceSql = benchSql(serviceDatabaseUrl(config, 'marketplace'));
  const catalogSql = benchSql(serviceDatabaseUrl(config, 'catalog'));
  try {
    const loadBefore = os.loadavg()[0]!;
    const measurements = await measureMarketplaceSync(
      {
        gatewayUrl,
        identityPrivateKey: config.IDENTITY_PRIVATE_KEY!,
        marketplaceSql,
        catalogSql,
      },
      SYNC_VARIANTS,
      SYNC_WORKLOADS,
    );
    return { measurements, loadAverage: [loadBefore, os.loadavg()[0]!] };
  } finally {
    await Promise.all([marketplaceSql.end(), catalogSql.end()]);
  }
}

/** Returns the "Stock sync to a marketplace" section of BENCHMARKS.md. */
function marketplaceSyncSection(result: SyncResult): string {
  const ms = (value: number) =>
    Number.isNaN(value) ? 'n/a' : value.toFixed(0);
  const rows = result.measurements.map(
    (row) =>
      `| ${row.name} | ${row.variants} | ${row.adjustments} | ${row.pushes} | ${ms(row.p50)} | ${ms(row.p95)} | ${ms(row.p99)} | ${ms(row.max)} | ${ms(row.adjustP50)} |`,
  );
  const stageRows = result.measurements.map(
    (row) =>
      `| ${row.name} | ${ms(row.taskRecordedP50)} | ${ms(row.taskRecordedP99)} | ${ms(row.adapterWriteP50)} | ${ms(row.adapterWriteP99)} | ${ms(row.observedLagP50)} | ${row.beforeResponse} |`,
  );
  const workloads = result.measurements.map(
    (row) =>
      `  - ${row.name}: ${row.description}, in ${row.seconds.toFixed(1)} s`,
  );
  const problems = result.measurements.flatMap((row) =>
    row.problems.map((problem) => `- ${row.name}: ${problem}`),
  );
  const worst = Math.max(...result.measurements.map((row) => row.p99));
  return `## Stock sync to a marketplace

Staff adjust stock (\`stockAdjust\` through the gateway as shipped, with a
staff access token of the admin role) of variants listed on a sandbox
marketplace connection. Each change goes from the catalog's outbox through
its event stream to the marketplace service's consumer, which records a
sync task, and the sync worker pushes the new quantity through the sandbox
adapter (docs/marketplaces.md, "Sync"). The delay of an adjustment runs
from its stockAdjust response, which the catalog sends after its commit,
to the \`updatedAt\` that the sandbox adapter stores with the first
quantity at least the expected one. Every adjustment adds 1 to 3 units, so
quantities only grow and a push that coalesced an adjustment with later
ones counts for it too.

- Command: the same \`npm run bench\` run (\`BENCH_ONLY=marketplace npm run bench\` runs only these workloads and prints this section)
- Other load: the machine's 1-minute load average was ${result.loadAverage[0].toFixed(1)} before and ${result.loadAverage[1].toFixed(1)} after the workloads, on ${os.cpus().length} cores
- Listings: a new SANDBOX connection (safety stock 0) with ${SYNC_VARIANTS} new products of one variant each, one listing per variant, all published and synced before the workloads; every service runs with its default sync settings
- Workloads:
${workloads.join('\n')}
- The bench reads the connection's records in \`sandbox_marketplace_records\` and the listings' rows in \`listing_sync_tasks\` every ${SYNC_POLL_MS} ms. Pushes are the connection's \`listing.synced\` events in the marketplace outbox; fewer pushes than adjustments means the sync coalesced changes
- The target is a p99 of at most ${SYNC_TARGET_P99_MS} ms; the highest p99 here is ${ms(worst)} ms

| workload | SKUs | adjustments | pushes | p50 ms | p95 ms | p99 ms | max ms | stockAdjust p50 ms |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

Where the time goes, each stage measured from the \`created_at\` of the
adjustment's \`stock.changed\` event in the catalog outbox (the start of
the catalog transaction): until the consumer recorded the listing's sync
task (\`listing_sync_tasks.updated_at\`, the catalog commit, the event
stream's long-poll and the consumer's transaction) and until the adapter
wrote the quantity (that, plus the worker's wake-up, its claim, the
catalog read of the variants and the adapter's write). A task recorded
twice between two reads of the bench shows only its later time, so the
first column can be a few ms high. The last columns are the time from the
adapter's write to the bench reading it, and how many adjustments the
marketplace stored before their stockAdjust response arrived (counted as 0 ms).

| workload | task recorded p50 ms | task recorded p99 ms | adapter write p50 ms | adapter write p99 ms | write to read p50 ms | before response |
|---|---:|---:|---:|---:|---:|---:|
${stageRows.join('\n')}
${problems.length > 0 ? `\nProblems:\n\n${problems.join('\n')}\n` : ''}`;
}

/** Creates a partner key in the gateway database and returns the key. */
async function createBenchPartnerKey(config: Config): Promise<string> {
  const database = connectDatabase(gatewayDatabaseUrl(config)!, tables, {
    poolSize: 1,
  });
  try {
    const { key } = await createPartnerKey(database.db, {
      name: 'Benchmark partner',
      scopes: PARTNER_SCOPES,
    });
    return key;
  } finally {
    await database.close();
  }
}

function machineDescription(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

interface CheckoutResult {
  measurement: CheckoutMeasurement;
  verification: string[];
  /** The machine's 1-minute load average before and after the workload. */
  loadAverage: [number, number];
}

/** Target of the checkout workloads, in completed orders per second. */
const CHECKOUT_TARGET_ORDERS_PER_SECOND = 200;

/** How far the spread workload is from the target, and where its CPU goes. */
function gapParagraph(results: CheckoutResult[]): string {
  const spread = results[0]?.measurement;
  if (!spread) return '';
  const cpu = spread.cpuMsPerOrder;
  const total =
    cpu.gateway + cpu.orders + cpu.catalog + cpu.postgres + cpu.loadGenerator;
  const cores = os.cpus().length;
  const budget = (cores * 1000) / CHECKOUT_TARGET_ORDERS_PER_SECOND;
  const share = (value: number) => `${((value / total) * 100).toFixed(0)} %`;
  return `**Gap to the target.** The target is ${CHECKOUT_TARGET_ORDERS_PER_SECOND} orders/s on this ${cores}-core machine. The spread workload completed ${spread.ordersPerSecond.toFixed(0)} orders/s and cost ${total.toFixed(1)} ms of CPU per order across the processes, so even with the machine to itself it could not pass about ${((cores * 1000) / total).toFixed(0)} orders/s; ${CHECKOUT_TARGET_ORDERS_PER_SECOND} orders/s needs at most ${budget.toFixed(0)} ms per order. The CPU goes to PostgreSQL (${share(cpu.postgres)}: the statements above and eleven commits per order, each a WAL flush: seven in orders (the checkout, the idempotency claim, the order id, two sandbox provider records, the order transaction and the stock confirmation), two in the catalog (reserve, confirm) and the gateway's two rate-limit charges), the orders service (${share(cpu.orders)}), the catalog (${share(cpu.catalog)}), the gateway (${share(cpu.gateway)}) and the load generator (${share(cpu.loadGenerator)}). CPU profiles of orders and catalog (BENCH_CPU_PROF_DIR) show no single hot spot: per round trip to PostgreSQL, drizzle builds the query and postgres.js writes it to the socket (the write system call alone is the largest single item, about a fifth of the orders service's busy time), then Apollo Server and graphql-js run each request, and undici carries the two catalog calls. So the cost follows the number of round trips and requests per order rather than any one function. ${hotSkuSentence(results)} Other load on the machine (see the load average above) also takes CPU from the run.`;
}

/** Compares the hot-SKU workload with the spread one. */
function hotSkuSentence(results: CheckoutResult[]): string {
  const [spread, hot] = results.map((result) => result.measurement);
  if (!spread || !hot) return '';
  if (spread.ordersPerSecond === 0 || hot.ordersPerSecond === 0) return '';
  const slower = 1 - hot.ordersPerSecond / spread.ordersPerSecond;
  const lock =
    "A reservation holds its stock row's lock only for the locked read, one pipelined round trip of writes and the commit";
  return slower <= 0.1
    ? `${lock}, and the hot-SKU workload was no slower than the spread one here: with ${hot.buyers} buyers the CPU, not that lock, sets the pace.`
    : `${lock}; the hot-SKU workload was ${(slower * 100).toFixed(0)} % slower than the spread one, the time its reservations waited for that one lock (the catalog's locked stock read in its statements above).`;
}

/** The "Checkout completion" section of BENCHMARKS.md. */
function checkoutSection(results: CheckoutResult[]): string {
  const statements = (row: CheckoutMeasurement, service: string) =>
    row.statementsPerOrder
      ? (row.statementsPerOrder[service] ?? 0).toFixed(1)
      : 'n/a';
  const rows = results.map(
    ({ measurement: row }) =>
      `| ${row.name} | ${row.skus} | ${row.ordersPerSecond.toFixed(0)} | ${row.completed} | ${row.completeP50.toFixed(1)} | ${row.completeP99.toFixed(1)} | ${row.createP50.toFixed(1)} | ${statements(row, 'orders')} | ${statements(row, 'catalog')} | ${statements(row, 'gateway')} | ${row.errors} |`,
  );
  const cpuRows = results.map(({ measurement: row }) => {
    const cpu = row.cpuMsPerOrder;
    const total =
      cpu.gateway + cpu.orders + cpu.catalog + cpu.postgres + cpu.loadGenerator;
    return `| ${row.name} | ${cpu.gateway.toFixed(2)} | ${cpu.orders.toFixed(2)} | ${cpu.catalog.toFixed(2)} | ${cpu.postgres.toFixed(2)} | ${cpu.loadGenerator.toFixed(2)} | ${total.toFixed(2)} | ${((os.cpus().length * 1000) / total).toFixed(0)} |`;
  });
  const checks = results.map(({ measurement, verification }) =>
    verification.length === 0
      ? `- ${measurement.name}: every completed order is in the orders database with its reservation confirmed, and each SKU's reserved stock rose by exactly the units ordered while on hand stayed unchanged.`
      : `- ${measurement.name}: **check failed**: ${verification.join('; ')}`,
  );
  const failures = results
    .filter(({ measurement }) => measurement.firstError)
    .map(
      ({ measurement }) =>
        `- ${measurement.name}, first error: \`${measurement.firstError}\``,
    );
  const top = results
    .filter(({ measurement }) => measurement.topStatements.length > 0)
    .map(
      ({ measurement }) =>
        `Statements of "${measurement.name}" by database time per order:\n\n| database | calls/order | ms/order | statement |\n|---|---:|---:|---|\n` +
        measurement.topStatements
          .slice(0, 12)
          .map(
            (statement) =>
              `| ${statement.database} | ${statement.callsPerOrder.toFixed(2)} | ${statement.msPerOrder.toFixed(3)} | \`${statement.query.slice(0, 140).replaceAll('|', '\\|').replaceAll('`', "'")}\` |`,
          )
          .join('\n'),
    );
  return `## Checkout completion

Buyers that each create a checkout (\`checkoutCreate\` with one line, an
email, an address and the first shipping method a checkout offers, asking back only the id) and
complete it (\`checkoutComplete\` with a fresh idempotency key, \`CARD\`
and \`tok_sandbox_visa\`, PAYMENT_CAPTURE=automatic, asking back the
order's id, number, status and total), over and over, as anonymous guests
through the gateway as shipped. Each completion reserves the stock in the
catalog, captures the payment with the sandbox provider, writes the order,
payment, ledger entries and events in one transaction and confirms the
reservation.

- Command: the same \`npm run bench\` run, ${CHECKOUT_BUYERS} concurrent buyers, ${CHECKOUT_SECONDS} s per workload after ${CHECKOUT_WARMUP_SECONDS} s of warm-up (\`BENCH_ONLY=checkout npm run bench\` runs only these workloads and prints this section; \`BENCH_CPU_PROF_DIR=folder\` also writes CPU profiles of the gateway, catalog and orders processes)
- Other load: the machine's 1-minute load average was ${results.map(({ measurement, loadAverage }) => `${loadAverage[0].toFixed(1)} before and ${loadAverage[1].toFixed(1)} after "${measurement.name}"`).join(', ')}, on ${os.cpus().length} cores
- Stock: ${BENCH_STOCK.toLocaleString('en')} units on hand of each SKU, set before the run, so nothing runs out; each checkout buys 1 to 3 units of one SKU, the spread workload cycling through ${CHECKOUT_SKUS} SKUs of the sample catalog, the hot-SKU workload buying one SKU only, so every reservation waits for the lock of the same stock row
- Orders/s counts completed orders (an order came back) over the measured time; p50 and p99 are of \`checkoutComplete\` alone, create p50 of \`checkoutCreate\`
- SQL statements per order are counted by pg_stat_statements (the bench preloads it in its embedded PostgreSQL) for both mutations together: BEGIN is counted, COMMIT is not, and on orders the ledger's balance check runs one statement per journal row at commit (about 7 per order) that is counted too; gateway counts the rate-limit charges of the two requests
- CPU ms per order is each process's user and system CPU time (from /proc) over the measured time divided by the completed orders; PostgreSQL is the postmaster and all its backends; the load generator is this process. Their sum bounds orders/s on ${os.cpus().length} cores at ${os.cpus().length * 1000} ms of CPU per second (last column)

| workload | SKUs | orders/s | orders | complete p50 ms | complete p99 ms | create p50 ms | SQL/order orders | SQL/order catalog | SQL/order gateway | errors |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

| workload | gateway CPU ms/order | orders CPU ms/order | catalog CPU ms/order | PostgreSQL CPU ms/order | load generator CPU ms/order | total | orders/s the CPU allows |
|---|---:|---:|---:|---:|---:|---:|---:|
${cpuRows.join('\n')}

${gapParagraph(results)}

Checks after each workload:

${checks.join('\n')}
${failures.length > 0 ? `\n${failures.join('\n')}\n` : ''}
${top.join('\n\n')}
`;
}

function writeReport(
  results: Measurement[],
  comparison: Comparison,
  productsPerPage: number,
  checkout: CheckoutResult[],
  marketplaceSync: SyncResult,
  fanout: FanoutMeasurement[],
  gateways: GatewayComparison,
): void {
  const rows = results.map(
    (result) =>
      `| ${result.name} | ${result.requestsPerSecond.toFixed(0)} | ${result.p50.toFixed(1)} | ${result.p99.toFixed(1)} | ${result.peakRssMiB === undefined ? 'n/a' : result.peakRssMiB.toFixed(0)} | ${result.errors} |`,
  );
  const percent = (value: number | undefined) =>
    value === undefined ? 'baseline' : `${value.toFixed(1)} %`;
  const comparisonRows = comparison.rows.map(
    (row) =>
      `| ${row.name} | ${row.requestsPerSecond.toFixed(0)} | ${row.roundRequestsPerSecond.map((value) => value.toFixed(0)).join(', ')} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${percent(row.overheadPercent)} | ${row.gatewayCpuMsPerRequest.toFixed(2)} | ${percent(row.cpuOverheadPercent)} | ${row.errors} |`,
  );
  const text = `# Benchmarks

Written by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString().slice(0, 10)}.

- Machine: ${machineDescription()}
- Command: \`npm run bench\` (${DURATION_SECONDS} s per workload after ${WARMUP_SECONDS} s of warm-up, ${CONNECTIONS} connections, autocannon in the benchmark process, anonymous caller, rate limits in PostgreSQL with budgets raised so that no request is rejected)
- Data: the sample catalog (data/woocommerce_sample_products.csv) with one sandbox marketplace listing per variant; PostgreSQL 15 from embedded-postgres unless DATABASE_URL is set
- Query: a storefront product-list page of ${productsPerPage} products with prices, images, variants, stock and (through the gateway) marketplace listings; the catalog-only part is the same query without listings, sent straight to the catalog subgraph

| workload | req/s | p50 ms | p99 ms | gateway peak RSS MiB | errors |
|---|---:|---:|---:|---:|---:|
${rows.join('\n')}

The load generator, the gateway, the subgraphs and PostgreSQL share the
machine's cores, so the numbers compare runs on this machine; they are not
a capacity figure for a dedicated server.

## Cost of authentication and limits

The same storefront listing query, sent to two gateway processes over the
same subgraphs. The gateway as shipped (gateway/index.ts) verifies the
caller, authorizes the operation, checks the operation limits and charges
the caller's rate-limit bucket in PostgreSQL. For a partner it also looks up
the key in the gateway database, cached for PARTNER_KEY_CACHE_MS. The
baseline is the same gateway with all four off
(bench/gateway-without-checks.ts), which still signs the anonymous identity
for the subgraphs. The rate-limit budgets are raised so that every request
is charged and none is rejected.

- Command: the same \`npm run bench\` run, ${ROUNDS} rounds that alternate the three workloads, ${ROUND_SECONDS} s per workload after ${ROUND_WARMUP_SECONDS} s of warm-up, ${CONNECTIONS} connections
- Other load: the machine's 1-minute load average was ${comparison.loadAverageBefore.toFixed(1)} when the comparison started and ${comparison.loadAverageAfter.toFixed(1)} when it ended, on ${os.cpus().length} cores
- Partner key: a real key created in the gateway database with scopes ${PARTNER_SCOPES.join(', ')}, sent in \`x-api-key\`
- req/s, p50 and p99 are the medians over the rounds, which other load on the machine disturbs less than means; overhead is how many fewer req/s than the baseline, and the target is at most 10 %
- Gateway CPU is the user and system CPU time of the gateway process (from /proc) divided by the requests it completed, median over the rounds. It counts only the gateway's own work, so its extra over the baseline shows what the checks cost the gateway even when other load on the machine makes req/s noisy

| workload | req/s | req/s per round | p50 ms | p99 ms | overhead | gateway CPU ms/request | extra gateway CPU | errors |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
${comparisonRows.join('\n')}

${gatewayComparisonSection(gateways)}
${checkoutSection(checkout)}
${marketplaceSyncSection(marketplaceSync)}
${subscriptionFanoutSection(fanout)}`;
  writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), text);
  process.stdout.write(text);
}

/**
 * With BENCH_CPU_PROF_DIR set, the gateway, catalog and orders processes
 * write V8 CPU profiles (.cpuprofile, for Chrome DevTools) there when they
 * stop (bench/cpu-profile.ts).
 */
function profiledEnvironment(
  environment: Record<string, string>,
  name: string,
): Record<string, string> {
  const directory = process.env.BENCH_CPU_PROF_DIR;
  if (!directory || !['gateway', 'catalog', 'orders'].includes(name)) {
    return environment;
  }
  const preload = new URL('./cpu-profile.ts', import.meta.url).href;
  return {
    ...environment,
    BENCH_CPU_PROF_DIR: path.resolve(directory),
    BENCH_CPU_PROF_NAME: name,
    NODE_OPTIONS:
      `${environment.NODE_OPTIONS ?? ''} --import tsx --import ${preload}`.trim(),
  };
}

/** Runs the spread and the hot-SKU checkout workloads and checks their effects. */
async function measureCheckoutWorkloads(
  config: Config,
  serverUrl: string,
  gatewayUrl: string,
  pids: { gateway: number; orders: number; catalog: number },
): Promise<CheckoutResult[]> {
  const adminSql = benchSql(serverUrl);
  const catalogSql = benchSql(serviceDatabaseUrl(config, 'catalog'));
  const ordersSql = benchSql(serviceDatabaseUrl(config, 'orders'));
  const databaseName = (url: string) =>
    decodeURIComponent(new URL(url).pathname.slice(1));
  try {
    const statementStatistics = await hasStatementStatistics(adminSql);
    const skus = await prepareBenchSkus(
      catalogSql,
      config.SHOP_CURRENCY,
      CHECKOUT_SKUS,
    );
    const targets = {
      gatewayUrl,
      pids,
      adminSql,
      catalogSql,
      ordersSql,
      databases: {
        orders: databaseName(serviceDatabaseUrl(config, 'orders')),
        catalog: databaseName(serviceDatabaseUrl(config, 'catalog')),
        gateway: databaseName(gatewayDatabaseUrl(config)!),
      },
    };
    const results: CheckoutResult[] = [];
    for (const workload of [
      { name: `${CHECKOUT_SKUS} SKUs`, skus },
      { name: 'one hot SKU', skus: skus.slice(0, 1) },
    ]) {
      const loadBefore = os.loadavg()[0]!;
      const result = await measureCheckouts(targets, {
        ...workload,
        buyers: CHECKOUT_BUYERS,
        warmupSeconds: CHECKOUT_WARMUP_SECONDS,
        seconds: CHECKOUT_SECONDS,
        statementStatistics,
      });
      results.push({ ...result, loadAverage: [loadBefore, os.loadavg()[0]!] });
    }
    return results;
  } finally {
    await Promise.all([adminSql.end(), catalogSql.end(), ordersSql.end()]);
  }
}

async function main(): Promise<void> {
  const logger = createLogger('bench', process.env.LOG_LEVEL ?? 'warn');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'commerce-graph-bench-'));
  chmodSync(dataDir, 0o777);
  const baseConfig = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  let embedded = baseConfig.DATABASE_URL
    ? undefined
    : await startEmbeddedPostgres({ dataDir, port: BASE_PORT + 10, logger });
  if (embedded) {
    // pg_stat_statements counts the SQL statements of the checkout
    // workloads; it must be loaded at server start.
    const admin = benchSql(embedded.url);
    await admin`alter system set shared_preload_libraries = 'pg_stat_statements'`;
    await admin.end();
    await embedded.stop();
    embedded = await startEmbeddedPostgres({
      dataDir,
      port: BASE_PORT + 10,
      logger,
    });
  }
  const serverUrl = baseConfig.DATABASE_URL ?? embedded!.url;
  // A key pair of the run's own: the bench signs identities to call the
  // catalog directly, as the marketplace seeding does.
  const keys = generateIdentityKeyPair();
  const environment: Record<string, string> = {
    ...(process.env as Record<string, string>),
    DATABASE_URL: serverUrl,
    DATABASE_PREFIX: `bench${randomBytes(3).toString('hex')}`,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_STORE: 'postgres',
    RATE_LIMIT_ANONYMOUS_CAPACITY: UNEXHAUSTED_BUDGET,
    RATE_LIMIT_ANONYMOUS_RESTORE_RATE: UNEXHAUSTED_BUDGET,
    RATE_LIMIT_PARTNER_CAPACITY: UNEXHAUSTED_BUDGET,
    RATE_LIMIT_PARTNER_RESTORE_RATE: UNEXHAUSTED_BUDGET,
    GATEWAY_PORT: String(BASE_PORT),
    CATALOG_PORT: String(BASE_PORT + 1),
    ORDERS_PORT: String(BASE_PORT + 2),
    SHIPMENTS_PORT: String(BASE_PORT + 3),
    MARKETPLACE_PORT: String(BASE_PORT + 4),
    CATALOG_URL: `http://127.0.0.1:${BASE_PORT + 1}/graphql`,
    ORDERS_URL: `http://127.0.0.1:${BASE_PORT + 2}/graphql`,
    SHIPMENTS_URL: `http://127.0.0.1:${BASE_PORT + 3}/graphql`,
    MARKETPLACE_URL: `http://127.0.0.1:${BASE_PORT + 4}/graphql`,
    IDENTITY_PRIVATE_KEY: keys.privateKey,
    IDENTITY_PUBLIC_KEY: keys.publicKey,
  };
  const config: Config = loadConfig(environment);
  const children: ChildService[] = [];
  let identityRefresh: NodeJS.Timeout | undefined;
  try {
    for (const name of SERVICE_NAMES) {
      await prepareSubgraphDatabase(
        subgraphDefinitions[name],
        serviceDatabaseUrl(config, name),
        logger,
      );
    }
    await importSampleCatalogIfEmpty(
      config,
      serviceDatabaseUrl(config, 'catalog'),
      logger,
    );
    for (const name of SERVICE_NAMES) {
      children.push(
        startChildService(
          name,
          `subgraphs/${name}/index.ts`,
          profiledEnvironment(environment, name),
        ),
      );
    }
    for (const [index, name] of SERVICE_NAMES.entries()) {
      await waitUntilReady(
        children[index]!,
        `http://127.0.0.1:${BASE_PORT + 1 + index}/ready`,
        60_000,
      );
    }
    const catalogUrl = `http://127.0.0.1:${BASE_PORT + 1}/graphql`;
    await seedDemoListingsAt(
      config,
      serviceDatabaseUrl(config, 'marketplace'),
      catalogUrl,
      logger,
    );
    const gateway = startChildService(
      'gateway',
      'gateway/index.ts',
      profiledEnvironment(environment, 'gateway'),
    );
    children.push(gateway);
    const gatewayUrl = `http://127.0.0.1:${BASE_PORT}/graphql`;
    await waitUntilReady(
      gateway,
      `http://127.0.0.1:${BASE_PORT}/ready`,
      60_000,
    );
    // Started once the first gateway has migrated the gateway database.
    const baselineGateway = startChildService(
      'gateway-off',
      'bench/gateway-without-checks.ts',
      { ...environment, GATEWAY_PORT: String(BASELINE_PORT) },
    );
    children.push(baselineGateway);
    const baselineUrl = `http://127.0.0.1:${BASELINE_PORT}/graphql`;
    await waitUntilReady(
      baselineGateway,
      `http://127.0.0.1:${BASELINE_PORT}/ready`,
      60_000,
    );
    const partnerHeaders = {
      'x-api-key': await createBenchPartnerKey(config),
    };

    let identity = await signServiceIdentity(config, 'bench');
    identityRefresh = setInterval(() => {
      void signServiceIdentity(config, 'bench').then((headers) => {
        identity = headers;
      });
    }, IDENTITY_REFRESH_MS);
    const productsPerPage = await checkResponse(gatewayUrl, GATEWAY_QUERY);
    await checkResponse(gatewayUrl, GATEWAY_QUERY, partnerHeaders);
    await checkResponse(baselineUrl, GATEWAY_QUERY);
    await checkResponse(catalogUrl, CATALOG_QUERY, identity);
    const runCheckouts = () =>
      measureCheckoutWorkloads(config, serverUrl, gatewayUrl, {
        gateway: gateway.process.pid!,
        orders: children[SERVICE_NAMES.indexOf('orders')]!.process.pid!,
        catalog: children[SERVICE_NAMES.indexOf('catalog')]!.process.pid!,
      });
    const fanoutPids = {
      gateway: gateway.process.pid!,
      catalog: children[SERVICE_NAMES.indexOf('catalog')]!.process.pid!,
    };
    const runGatewayComparison = () =>
      measureGatewayComparison({
        environment,
        storefront: {
          query: GATEWAY_QUERY,
          supergraphSdl: withRoutingUrls(
            readFileSync(config.SUPERGRAPH_PATH, 'utf8'),
            (name) => environment[`${name.toUpperCase()}_URL`],
          ),
          subgraphMetricsUrls: SERVICE_NAMES.map(
            (_, index) => `http://127.0.0.1:${BASE_PORT + 1 + index}/metrics`,
          ),
          metricsToken: config.METRICS_TOKEN,
        },
        firstPort: GATEWAY_COMPARISON_PORT,
        logger,
      });
    if (ONLY_GATEWAYS) {
      const section = gatewayComparisonSection(await runGatewayComparison());
      writeGatewayComparisonSection(
        new URL('../BENCHMARKS.md', import.meta.url),
        section,
      );
      process.stdout.write(section);
      return;
    }
    if (ONLY_SUBSCRIPTIONS) {
      process.stdout.write(
        subscriptionFanoutSection(
          await runSubscriptionFanout(config, gatewayUrl, fanoutPids),
        ),
      );
      return;
    }
    if (ONLY_MARKETPLACE) {
      process.stdout.write(
        marketplaceSyncSection(await runMarketplaceSync(config, gatewayUrl)),
      );
      return;
    }
    if (ONLY_CHECKOUT) {
      const checkouts = await runCheckouts();
      if (process.env.BENCH_STATEMENTS_FILE) {
        writeFileSync(
          process.env.BENCH_STATEMENTS_FILE,
          JSON.stringify(checkouts, null, 2),
        );
      }
      process.stdout.write(checkoutSection(checkouts));
      return;
    }
    const results = [
      await measure(
        'storefront listing through the gateway',
        gatewayUrl,
        GATEWAY_QUERY,
        gateway.process.pid,
      ),
      await measure(
        'catalog-only part, catalog subgraph directly',
        catalogUrl,
        CATALOG_QUERY,
        undefined,
        () => identity,
      ),
    ];
    const comparison = await compareWorkloads([
      {
        name: 'authentication and limits off',
        url: baselineUrl,
        headers: {},
        gatewayPid: baselineGateway.process.pid!,
      },
      {
        name: 'as shipped, anonymous caller',
        url: gatewayUrl,
        headers: {},
        gatewayPid: gateway.process.pid!,
      },
      {
        name: 'as shipped, partner key',
        url: gatewayUrl,
        headers: partnerHeaders,
        gatewayPid: gateway.process.pid!,
      },
    ]);
    const gatewayComparison = await runGatewayComparison();
    const checkouts = await runCheckouts();
    const marketplaceSync = await runMarketplaceSync(config, gatewayUrl);
    const fanout = await runSubscriptionFanout(config, gatewayUrl, fanoutPids);
    writeReport(
      results,
      comparison,
      productsPerPage,
      checkouts,
      marketplaceSync,
      fanout,
      gatewayComparison,
    );
  } finally {
    clearInterval(identityRefresh);
    for (const child of children.reverse())
      await stopChildService(child, 10_000, logger);
    if (!embedded) {
      for (const name of SERVICE_NAMES)
        await dropDatabase(serviceDatabaseUrl(config, name));
      await dropDatabase(gatewayDatabaseUrl(config)!);
    }
    await embedded?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
