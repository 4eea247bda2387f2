/**
 * The gateway comparison of `npm run bench`: the same supergraph over the
 * same subgraphs, served by our gateway (GATEWAY_DEDUPLICATE_QUERIES on
 * and off), a plain @apollo/gateway in Apollo Server, @graphql-hive/gateway
 * and @graphql-hive/gateway with @graphql-hive/router-runtime, each in a
 * process of its own (bench/gateways/gateway-process.ts). Every gateway's
 * response to the workload's query is checked against the others' before
 * any load, and the rounds alternate the gateways.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import type { Logger } from '../../platform/logger.js';
import { prepareSupergraph } from '../../gateway/authorization/supergraph.js';
import {
  startChildService,
  stopChildService,
  type ChildService,
} from '../../scripts/supervisor.js';
import {
  composeDemoSupergraph,
  DEEP_QUERY,
  DEMO_SUBGRAPH_NAMES,
} from './demo-subgraphs.js';

/** Rounds per workload. Each round measures every gateway once. */
const ROUNDS = Number(process.env.BENCH_GATEWAY_ROUNDS ?? 5);
const ROUND_SECONDS = Number(process.env.BENCH_GATEWAY_ROUND_SECONDS ?? 3);
const WARMUP_SECONDS = 1;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
/** Hive Gateway took about 30 s to start in this bench on a busy 2-core machine. */
const READY_TIMEOUT_MS = 120_000;

interface GatewayVariant {
  name: string;
  kind: 'ours' | 'apollo' | 'hive' | 'hive-router';
  environment: Record<string, string>;
}

const GATEWAYS: GatewayVariant[] = [
  {
    name: 'plain @apollo/gateway',
    kind: 'apollo',
    environment: {},
  },
  {
    name: 'ours, dedup on',
    kind: 'ours',
    environment: { GATEWAY_DEDUPLICATE_QUERIES: 'true' },
  },
  {
    name: 'ours, dedup off',
    kind: 'ours',
    environment: { GATEWAY_DEDUPLICATE_QUERIES: 'false' },
  },
  { name: 'Hive Gateway', kind: 'hive', environment: {} },
  {
    name: 'Hive Gateway + router-runtime',
    kind: 'hive-router',
    environment: {},
  },
];

/** One gateway on one workload, summarised over the rounds. */
export interface GatewayRow {
  name: string;
  /** Medians over the rounds. */
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Highest RSS sampled every 100 ms in any round, in MiB. */
  peakRssMiB: number;
  /** Gateway process CPU (user and system) per completed request, median over rounds. */
  cpuMsPerRequest: number;
  /** Requests the subgraphs received per query, for queries sent one at a time. */
  subgraphCallsAlone: number | undefined;
  /** The same for batches of CONNECTIONS identical queries sent at once. */
  subgraphCallsConcurrent: number | undefined;
  errors: number;
}

export interface WorkloadResult {
  name: string;
  description: string;
  rows: GatewayRow[];
  loadAverageBefore: number;
  loadAverageAfter: number;
}

export interface StorefrontTarget {
  query: string;
  /** Supergraph of the project's four subgraphs, with their bench URLs. */
  supergraphSdl: string;
  /** Prometheus endpoints of the subgraphs, for their request counters. */
  subgraphMetricsUrls: string[];
  metricsToken?: string;
}

function readRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) : 0;
}

/** Returns the CPU time (user and system) of a process in ms. /proc counts 100 ticks per second. */
function readCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Environment of a gateway process: no telemetry, usage reporting or remote configuration. */
function gatewayEnvironment(
  base: Record<string, string>,
  variant: GatewayVariant,
  supergraphPath: string,
  port: number,
): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    // APOLLO_KEY and APOLLO_GRAPH_REF would turn on Apollo usage reporting,
    // HIVE_* Hive usage reporting or a CDN supergraph, OTEL_* an exporter.
    if (/^(APOLLO_|HIVE_|OTEL_|GRAPHOS)/.test(name)) continue;
    environment[name] = value;
  }
  const databaseHosts = [base.DATABASE_URL, base.GATEWAY_DATABASE_URL]
    .filter((url): url is string => Boolean(url))
    .map((url) => new URL(url).hostname);
  return {
    ...environment,
    ...variant.environment,
    APOLLO_TELEMETRY_DISABLED: 'true',
    LOG_LEVEL: 'warn',
    BENCH_GATEWAY_KIND: variant.kind,
    BENCH_GATEWAY_SUPERGRAPH: supergraphPath,
    BENCH_GATEWAY_PORT: String(port),
    BENCH_ALLOWED_HOSTS: variant.kind === 'ours' ? databaseHosts.join(',') : '',
  };
}

async function postQuery(
  url: string,
  query: string,
): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: text };
  }
}

/** Waits until the gateway responds to `{ __typename }`, or its process exits. */
async function waitForGateway(child: ChildService, url: string) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) {
      throw new Error(`${child.name} exited with ${child.process.exitCode}`);
    }
    try {
      const { body } = await postQuery(url, '{ __typename }');
      if (body?.data?.__typename === 'Query') return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `${child.name} did not respond at ${url} within ${READY_TIMEOUT_MS} ms`,
  );
}

/**
 * Sends the query to every gateway and throws unless each response has
 * data, no errors, and the same data as the first gateway's.
 */
async function checkSameResponses(
  gateways: { name: string; url: string }[],
  query: string,
): Promise<void> {
  let expected: string | undefined;
  for (const gateway of gateways) {
    const { status, body } = await postQuery(gateway.url, query);
    if (status !== 200 || !body?.data || body.errors) {
      throw new Error(
        `${gateway.name} responded with HTTP ${status}: ${JSON.stringify(body).slice(0, 500)}`,
      );
    }
    const data = JSON.stringify(body.data);
    if (expected === undefined) {
      expected = data;
    } else if (data !== expected) {
      let index = 0;
      while (data[index] === expected[index]) index += 1;
      throw new Error(
        `${gateway.name} returned other data than ${gateways[0]!.name}, first at character ${index}: ${data.slice(Math.max(0, index - 80), index + 80)} instead of ${expected.slice(Math.max(0, index - 80), index + 80)}`,
      );
    }
  }
}

/** Queries sent one at a time, and batches of CONNECTIONS queries, whose subgraph calls are counted. */
const COUNTED_QUERIES_ALONE = 3;
const COUNTED_BATCHES = 2;

interface SubgraphCalls {
  alone: number | undefined;
  concurrent: number | undefined;
}

/**
 * Counts the requests that the subgraphs receive per query, for queries
 * sent one at a time and for batches of CONNECTIONS identical queries sent
 * at once (where in-flight deduplication can share fetches). Every query
 * has completed before the count is read, so none is cut off.
 */
async function countSubgraphCallsPerQuery(
  url: string,
  query: string,
  countSubgraphCalls: () => Promise<number | undefined>,
): Promise<SubgraphCalls> {
  const callsDuring = async (send: () => Promise<number>) => {
    const before = await countSubgraphCalls();
    const queries = await send();
    const after = await countSubgraphCalls();
    return before === undefined || after === undefined
      ? undefined
      : (after - before) / queries;
  };
  const alone = await callsDuring(async () => {
    for (let index = 0; index < COUNTED_QUERIES_ALONE; index += 1) {
      await postQuery(url, query);
    }
    return COUNTED_QUERIES_ALONE;
  });
  const concurrent = await callsDuring(async () => {
    for (let batch = 0; batch < COUNTED_BATCHES; batch += 1) {
      await Promise.all(
        Array.from({ length: CONNECTIONS }, () => postQuery(url, query)),
      );
    }
    return COUNTED_BATCHES * CONNECTIONS;
  });
  return { alone, concurrent };
}

interface RoundMeasurement {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  peakRssKiB: number;
  cpuMs: number;
  requests: number;
  errors: number;
}

async function measureRound(
  url: string,
  query: string,
  pid: number,
): Promise<RoundMeasurement> {
  const options = {
    url,
    method: 'POST' as const,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
    connections: CONNECTIONS,
  };
  await autocannon({ ...options, duration: WARMUP_SECONDS });
  let peakRssKiB = readRssKiB(pid);
  const sampler = setInterval(() => {
    peakRssKiB = Math.max(peakRssKiB, readRssKiB(pid));
  }, 100);
  const cpuBefore = readCpuMs(pid);
  const result = await autocannon({ ...options, duration: ROUND_SECONDS });
  const cpuMs = readCpuMs(pid) - cpuBefore;
  clearInterval(sampler);
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    peakRssKiB,
    cpuMs,
    requests: result.requests.total,
    errors: result.errors + result.non2xx,
  };
}

/**
 * Starts every gateway over `supergraphSdl`, checks their responses, runs
 * the rounds and stops them again.
 */
async function runWorkload(options: {
  name: string;
  description: string;
  query: string;
  supergraphSdl: string;
  environment: Record<string, string>;
  firstPort: number;
  countSubgraphCalls: () => Promise<number | undefined>;
  logger: Logger;
}): Promise<WorkloadResult> {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'gateway-comparison-'));
  const supergraphPath = path.join(folder, 'supergraph.graphql');
  writeFileSync(supergraphPath, options.supergraphSdl);
  // @apollo/gateway 2.14 rejects the authorization specs that composition
  // links `for: SECURITY`, so the other gateways get the supergraph without
  // them, as prepared for ours. Ours reads and enforces them.
  const withoutAuthorizationPath = path.join(
    folder,
    'supergraph-without-authorization.graphql',
  );
  writeFileSync(
    withoutAuthorizationPath,
    prepareSupergraph(options.supergraphSdl),
  );
  const started: {
    variant: GatewayVariant;
    child: ChildService;
    url: string;
  }[] = [];
  try {
    for (const [index, variant] of GATEWAYS.entries()) {
      const port = options.firstPort + index;
      const child = startChildService(
        `gw-${variant.kind}`,
        'bench/gateways/gateway-process.ts',
        gatewayEnvironment(
          options.environment,
          variant,
          variant.kind === 'ours' ? supergraphPath : withoutAuthorizationPath,
          port,
        ),
      );
      const url = `http://127.0.0.1:${port}/graphql`;
      started.push({ variant, child, url });
      await waitForGateway(child, url);
    }
    await checkSameResponses(
      started.map(({ variant, url }) => ({ name: variant.name, url })),
      options.query,
    );
    const subgraphCalls: SubgraphCalls[] = [];
    for (const { url } of started) {
      subgraphCalls.push(
        await countSubgraphCallsPerQuery(
          url,
          options.query,
          options.countSubgraphCalls,
        ),
      );
    }
    const loadAverageBefore = os.loadavg()[0]!;
    const rounds: RoundMeasurement[][] = started.map(() => []);
    for (let round = 0; round < ROUNDS; round += 1) {
      for (let step = 0; step < started.length; step += 1) {
        const index = (round + step) % started.length;
        const { child, url } = started[index]!;
        rounds[index]!.push(
          await measureRound(url, options.query, child.process.pid!),
        );
      }
    }
    const loadAverageAfter = os.loadavg()[0]!;
    const rows = started.map(({ variant }, index): GatewayRow => {
      const measured = rounds[index]!;
      const calls = subgraphCalls[index]!;
      return {
        name: variant.name,
        requestsPerSecond: median(
          measured.map((round) => round.requestsPerSecond),
        ),
        p50: median(measured.map((round) => round.p50)),
        p99: median(measured.map((round) => round.p99)),
        peakRssMiB:
          Math.max(...measured.map((round) => round.peakRssKiB)) / 1024,
        cpuMsPerRequest: median(
          measured.map((round) =>
            round.requests > 0 ? round.cpuMs / round.requests : 0,
          ),
        ),
        subgraphCallsAlone: calls.alone,
        subgraphCallsConcurrent: calls.concurrent,
        errors: measured.reduce((sum, round) => sum + round.errors, 0),
      };
    });
    return {
      name: options.name,
      description: options.description,
      rows,
      loadAverageBefore,
      loadAverageAfter,
    };
  } finally {
    for (const { child } of started.reverse())
      await stopChildService(child, 10_000, options.logger);
    rmSync(folder, { recursive: true, force: true });
  }
}

/** Sums `graphql_requests_total` over the subgraphs' Prometheus endpoints. */
async function sumSubgraphRequestCounters(
  urls: string[],
  token: string | undefined,
): Promise<number | undefined> {
  let total = 0;
  for (const url of urls) {
    const response = await fetch(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    if (!response.ok) return undefined;
    for (const line of (await response.text()).split('\n')) {
      if (line.startsWith('graphql_requests_total')) {
        total += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
    }
  }
  return total;
}

export interface GatewayComparison {
  workloads: WorkloadResult[];
  rounds: number;
  roundSeconds: number;
  warmupSeconds: number;
  connections: number;
}

/**
 * Runs both workloads: the storefront listing over the project's running
 * subgraphs, then the deep query over the demo subgraphs. The demo
 * subgraphs run in a process of their own on `firstPort + 10` and the
 * three ports after it. Gateways listen on `firstPort` and the ports after
 * it.
 */
export async function measureGatewayComparison(options: {
  environment: Record<string, string>;
  storefront: StorefrontTarget;
  firstPort: number;
  logger: Logger;
}): Promise<GatewayComparison> {
  const workloads: WorkloadResult[] = [];
  workloads.push(
    await runWorkload({
      name: 'storefront listing',
      description:
        'the storefront listing query of this bench over the four project subgraphs and PostgreSQL',
      query: options.storefront.query,
      supergraphSdl: options.storefront.supergraphSdl,
      environment: options.environment,
      firstPort: options.firstPort,
      countSubgraphCalls: () =>
        sumSubgraphRequestCounters(
          options.storefront.subgraphMetricsUrls,
          options.storefront.metricsToken,
        ),
      logger: options.logger,
    }),
  );

  const demoPort = options.firstPort + 10;
  const demo = startChildService(
    'demo-subgraphs',
    'bench/gateways/demo-subgraphs-main.ts',
    {
      ...options.environment,
      BENCH_DEMO_BASE_PORT: String(demoPort),
    },
  );
  try {
    const demoUrl = (index: number) => `http://127.0.0.1:${demoPort + index}`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const ready = await fetch(`${demoUrl(0)}/ready`).catch(() => undefined);
      if (ready?.ok) break;
      if (Date.now() > deadline || demo.process.exitCode !== null) {
        throw new Error(
          `The demo subgraphs did not become ready at ${demoUrl(0)}/ready within ${READY_TIMEOUT_MS} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const supergraphSdl = composeDemoSupergraph(
      (name) => `${demoUrl(DEMO_SUBGRAPH_NAMES.indexOf(name))}/graphql`,
    );
    workloads.push(
      await runWorkload({
        name: 'deep query',
        description:
          'the deep query over four in-memory subgraphs in the shape of the federation demo',
        query: DEEP_QUERY,
        supergraphSdl,
        environment: options.environment,
        firstPort: options.firstPort,
        countSubgraphCalls: async () => {
          const response = await fetch(`${demoUrl(0)}/requests`);
          const counts = (await response.json()) as Record<string, number>;
          return Object.values(counts).reduce((sum, value) => sum + value, 0);
        },
        logger: options.logger,
      }),
    );
  } finally {
    await stopChildService(demo, 10_000, options.logger);
  }
  return {
    workloads,
    rounds: ROUNDS,
    roundSeconds: ROUND_SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    connections: CONNECTIONS,
  };
}

/**
 * Replaces each `join__graph` routing URL of the supergraph with the URL
 * that `urlOf(name)` returns for its subgraph name, or keeps it.
 */
export function withRoutingUrls(
  supergraphSdl: string,
  urlOf: (name: string) => string | undefined,
): string {
  return supergraphSdl.replace(
    /@join__graph\(name: "([^"]+)", url: "([^"]+)"\)/g,
    (whole, name: string, url: string) =>
      `@join__graph(name: "${name}", url: "${urlOf(name) ?? url}")`,
  );
}

function machineDescription(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

const OURS = 'ours, dedup on';
const OURS_DEDUP_OFF = 'ours, dedup off';
const APOLLO = 'plain @apollo/gateway';
const HIVE_ROUTER = 'Hive Gateway + router-runtime';

function rowOf(workload: WorkloadResult, name: string): GatewayRow {
  const row = workload.rows.find((candidate) => candidate.name === name);
  if (!row) throw new Error(`No row ${name} in ${workload.name}`);
  return row;
}

/** Returns one line per target: whether ours meets it, with the measured figures. */
function targetLines(comparison: GatewayComparison): string[] {
  const lines: string[] = [];
  const verdict = (met: boolean) => (met ? 'met' : '**not met**');
  const throughput = (
    workload: WorkloadResult,
    reference: string,
    factor: number,
  ) => {
    const ours = rowOf(workload, OURS).requestsPerSecond;
    const other = rowOf(workload, reference).requestsPerSecond;
    const ratio = ours / other;
    const gap =
      ratio >= factor
        ? ''
        : `; ${(factor * other).toFixed(0)} req/s would meet it, ${((factor * other) / ours).toFixed(1)}× what ours served`;
    lines.push(
      `- ${workload.name}, req/s at least ${factor}× ${reference}: ${verdict(ratio >= factor)}. Ours served ${ours.toFixed(0)} req/s, ${reference} ${other.toFixed(0)} req/s, a ratio of ${ratio.toFixed(2)}${gap}.`,
    );
  };
  const deep = comparison.workloads.find((w) => w.name === 'deep query');
  const storefront = comparison.workloads.find(
    (w) => w.name === 'storefront listing',
  );
  if (deep) {
    throughput(deep, APOLLO, 3);
    throughput(deep, HIVE_ROUTER, 1.5);
  }
  if (storefront) throughput(storefront, APOLLO, 2);
  for (const workload of comparison.workloads) {
    const ours = rowOf(workload, OURS);
    const apollo = rowOf(workload, APOLLO);
    lines.push(
      `- ${workload.name}, our p99 below ${APOLLO}'s p50: ${verdict(ours.p99 < apollo.p50)}. Our p99 was ${ours.p99.toFixed(1)} ms, its p50 ${apollo.p50.toFixed(1)} ms (${(ours.p99 / apollo.p50).toFixed(2)}×).`,
    );
    lines.push(
      `- ${workload.name}, peak RSS no higher than ${APOLLO}'s: ${verdict(ours.peakRssMiB <= apollo.peakRssMiB)}. Ours peaked at ${ours.peakRssMiB.toFixed(0)} MiB, it at ${apollo.peakRssMiB.toFixed(0)} MiB (${(ours.peakRssMiB / apollo.peakRssMiB).toFixed(2)}×).`,
    );
  }
  return lines;
}

/** Returns one line per workload: ours with dedup off against plain Apollo and Hive's Rust planner. */
function dedupOffLines(comparison: GatewayComparison): string[] {
  return comparison.workloads.map((workload) => {
    const ours = rowOf(workload, OURS_DEDUP_OFF).requestsPerSecond;
    const apollo = rowOf(workload, APOLLO).requestsPerSecond;
    const router = rowOf(workload, HIVE_ROUTER).requestsPerSecond;
    return `- ${workload.name}: ${ours.toFixed(0)} req/s, ${(ours / apollo).toFixed(2)}× ${APOLLO} and ${(ours / router).toFixed(2)}× ${HIVE_ROUTER}.`;
  });
}

/** Returns the "Gateway comparison" section of BENCHMARKS.md. */
export function gatewayComparisonSection(
  comparison: GatewayComparison,
): string {
  const tables = comparison.workloads.map((workload) => {
    const apollo = rowOf(workload, APOLLO);
    const ratio = (value: number, reference: number) =>
      `${(value / reference).toFixed(2)}×`;
    const calls = (value: number | undefined) =>
      value === undefined ? 'n/a' : value.toFixed(1);
    const rows = workload.rows.map(
      (row) =>
        `| ${row.name} | ${row.requestsPerSecond.toFixed(0)} | ${ratio(row.requestsPerSecond, apollo.requestsPerSecond)} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${ratio(row.p99, apollo.p99)} | ${row.peakRssMiB.toFixed(0)} | ${ratio(row.peakRssMiB, apollo.peakRssMiB)} | ${row.cpuMsPerRequest.toFixed(2)} | ${ratio(row.cpuMsPerRequest, apollo.cpuMsPerRequest)} | ${calls(row.subgraphCallsAlone)} | ${calls(row.subgraphCallsConcurrent)} | ${row.errors} |`,
    );
    return `### ${workload.name}

${workload.description[0]!.toUpperCase()}${workload.description.slice(1)}. Load average ${workload.loadAverageBefore.toFixed(1)} before and ${workload.loadAverageAfter.toFixed(1)} after the rounds.

| gateway | req/s | req/s vs Apollo | p50 ms | p99 ms | p99 vs Apollo | peak RSS MiB | RSS vs Apollo | gateway CPU ms/request | CPU vs Apollo | subgraph calls/query alone | subgraph calls/query, ${comparison.connections} at once | errors |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}`;
  });
  return `## Gateway comparison

Five gateway processes serve the same supergraph over the same subgraphs:
ours (gateway/server.ts as shipped, with the credential check,
authorization, operation limits and the rate-limit charge in PostgreSQL)
with GATEWAY_DEDUPLICATE_QUERIES on (the default) and off, a plain
\`@apollo/gateway\` in Apollo Server's standalone server,
\`@graphql-hive/gateway\`, and \`@graphql-hive/gateway\` with
\`@graphql-hive/router-runtime\` (Hive Router's query planner in Rust, as a
native addon). Hive Gateway's in-flight deduplication of subgraph requests
is off (\`deduplicateInflightRequests: false\` on its HTTP transport), so
only ours, dedup on, shares subgraph fetches. The cost of our checks
alone is in "Cost of authentication and limits" above
(bench/gateway-without-checks.ts). Before any load, each workload's query
is sent to every gateway and the run stops unless all return the same
data without errors. Every gateway process runs with
APOLLO_TELEMETRY_DISABLED=true, without APOLLO_\\*, HIVE_\\* or OTEL_\\*
variables, and with bench/gateways/loopback-only.ts, which rejects any
connection to a host other than 127.0.0.1.

- Machine: ${machineDescription()}
- Command: \`BENCH_ONLY=gateways npm run bench\` (bench/gateways/compare.ts; also part of \`npm run bench\`), ${comparison.rounds} rounds per workload that each measure every gateway once, in an order that starts one gateway later each round, ${comparison.roundSeconds} s per gateway after ${comparison.warmupSeconds} s of warm-up, ${comparison.connections} connections from autocannon in the benchmark process
- Processes: each gateway in its own process, pinned to no core; the subgraphs, PostgreSQL and the load generator share the same ${os.cpus().length} cores
- Load average: the machine's 1-minute load average, given per workload below; it counts the bench's own processes (gateways, subgraphs, PostgreSQL, load generator) as well as other work on the machine
- req/s, p50 and p99 are medians over the rounds; peak RSS is the highest VmRSS of the gateway process, sampled every 100 ms during the measured seconds; gateway CPU is the process's user and system time from /proc per completed request, median over the rounds; subgraph calls/query are the requests that the subgraphs counted (\`graphql_requests_total\` of the project's subgraphs, a counter in the demo subgraphs) per query, before the rounds, for ${COUNTED_QUERIES_ALONE} queries sent one at a time and for ${COUNTED_BATCHES} batches of ${CONNECTIONS} identical queries sent at once
- Every connection sends the same query, so fetches of concurrent queries are identical and in-flight deduplication can share most of them: that is what the rows "ours, dedup on" and "ours, dedup off" differ in, and the second column of subgraph calls shows it. Traffic with varied queries or variables shares fewer fetches
- @apollo/gateway 2.14 rejects the authorization specs that composition links \`for: SECURITY\`, so the Apollo and Hive gateways get the supergraph with them removed (\`prepareSupergraph\` in gateway/authorization/supergraph.ts, which ours runs too before it hands the text to @apollo/gateway); ours also enforces them
- The project's subgraphs reject requests without a signed caller, so on the storefront listing the Apollo and Hive gateways send the same signed anonymous identity (\`x-commerce-identity\`) that ours sends for an anonymous caller

${tables.join('\n\n')}

**Where ours stands.** Ours below means ours with dedup on, as shipped.

${targetLines(comparison).join('\n')}

**Without in-flight deduplication.** Every connection sends the same query, which favours dedup; ours with it off:

${dedupOffLines(comparison).join('\n')}

**Where the difference comes from.** Ours plans with @apollo/gateway's query planner and runs the plans on its own executor (gateway/execution; "Plan execution" in docs/gateway.md):

- Each entity fetch sends each distinct representation once. For the deep query the demo subgraphs receive 120 representations per query where plain @apollo/gateway sends 2,370 (test/plan-executor.test.ts counts them), so they resolve, and the gateway serialises, parses and merges, a twentieth of the entities.
- Entity fetches of one subgraph that are ready at the same time go out as one request. The deep query takes 8 to 13 subgraph calls instead of 17: its two root fields' branches take 6 and 7 on their own, and they share requests when their responses arrive in the same turn of the event loop. Hive Gateway + router-runtime's own planner makes 7.
- Result shaping reads directives, response names and types from the operation once per plan, and the subgraph client uses undici's request() instead of fetch().
- Absolute figures differ between runs on this shared 2-core machine: in five runs on the same day plain @apollo/gateway served 8 to 16 req/s on the deep query and 52 to 126 on the storefront listing, and ours served 3.5 to 5.3 times its deep-query rate in each of the four runs with the executor. Compare rows within one run.
`;
}

/**
 * Replaces the "Gateway comparison" section of the benchmark file, or
 * inserts it before "Checkout completion" (where a full run writes it),
 * or at the end.
 */
export function writeGatewayComparisonSection(
  file: URL,
  section: string,
): void {
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf('## Gateway comparison');
  let updated: string;
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 1);
    updated =
      text.slice(0, start) +
      section +
      (next >= 0 ? `\n${text.slice(next + 1)}` : '');
  } else {
    const checkout = text.indexOf('## Checkout completion');
    updated =
      checkout >= 0
        ? `${text.slice(0, checkout)}${section}\n${text.slice(checkout)}`
        : `${text.trimEnd()}\n\n${section}`;
  }
  writeFileSync(file, updated);
}
