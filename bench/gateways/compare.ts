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

/** Rounds per workload; each measures every gateway once. */
const ROUNDS = Number(process.env.BENCH_GATEWAY_ROUNDS ?? 5);
const ROUND_SECONDS = Number(process.env.BENCH_GATEWAY_ROUND_SECONDS ?? 4);
const WARMUP_SECONDS = 1;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const READY_TIMEOUT_MS = 60_000;

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
  /** Requests the subgraphs received per completed request, over all rounds. */
  subgraphCallsPerQuery: number | undefined;
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

/** CPU time (user and system) of a process in ms; /proc counts 100 ticks per second. */
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

/** Waits until the gateway answers `{ __typename }`, or its process exits. */
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
    `${child.name} did not answer at ${url} within ${READY_TIMEOUT_MS} ms`,
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
        `${gateway.name} answered HTTP ${status}: ${JSON.stringify(body).slice(0, 500)}`,
      );
    }
    const data = JSON.stringify(body.data);
    if (expected === undefined) {
      expected = data;
    } else if (data !== expected) {
      let index = 0;
      while (data[index] === expected[index]) index += 1;
      throw new Error(
        `${gateway.name} answered other data than ${gateways[0]!.name}, first at character ${index}: ${data.slice(Math.max(0, index - 80), index + 80)} instead of ${expected.slice(Math.max(0, index - 80), index + 80)}`,
      );
    }
  }
}

interface RoundMeasurement {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  peakRssKiB: number;
  cpuMs: number;
  requests: number;
  subgraphCalls: number | undefined;
  errors: number;
}

async function measureRound(
  url: string,
  query: string,
  pid: number,
  countSubgraphCalls: () => Promise<number | undefined>,
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
  const callsBefore = await countSubgraphCalls();
  const cpuBefore = readCpuMs(pid);
  const result = await autocannon({ ...options, duration: ROUND_SECONDS });
  const cpuMs = readCpuMs(pid) - cpuBefore;
  const callsAfter = await countSubgraphCalls();
  clearInterval(sampler);
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    peakRssKiB,
    cpuMs,
    requests: result.requests.total,
    subgraphCalls:
      callsBefore === undefined || callsAfter === undefined
        ? undefined
        : callsAfter - callsBefore,
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
  const started: { variant: GatewayVariant; child: ChildService; url: string }[] =
    [];
  try {
    for (const [index, variant] of GATEWAYS.entries()) {
      const port = options.firstPort + index;
      const child = startChildService(
        `gw-${variant.kind}`,
        'bench/gateways/gateway-process.ts',
        gatewayEnvironment(options.environment, variant, supergraphPath, port),
      );
      const url = `http://127.0.0.1:${port}/graphql`;
      started.push({ variant, child, url });
      await waitForGateway(child, url);
    }
    await checkSameResponses(
      started.map(({ variant, url }) => ({ name: variant.name, url })),
      options.query,
    );
    const loadAverageBefore = os.loadavg()[0]!;
    const rounds: RoundMeasurement[][] = started.map(() => []);
    for (let round = 0; round < ROUNDS; round += 1) {
      for (let step = 0; step < started.length; step += 1) {
        const index = (round + step) % started.length;
        const { child, url } = started[index]!;
        rounds[index]!.push(
          await measureRound(
            url,
            options.query,
            child.process.pid!,
            options.countSubgraphCalls,
          ),
        );
      }
    }
    const loadAverageAfter = os.loadavg()[0]!;
    const rows = started.map(({ variant }, index): GatewayRow => {
      const measured = rounds[index]!;
      const requests = measured.reduce((sum, round) => sum + round.requests, 0);
      const calls = measured.map((round) => round.subgraphCalls);
      return {
        name: variant.name,
        requestsPerSecond: median(measured.map((round) => round.requestsPerSecond)),
        p50: median(measured.map((round) => round.p50)),
        p99: median(measured.map((round) => round.p99)),
        peakRssMiB: Math.max(...measured.map((round) => round.peakRssKiB)) / 1024,
        cpuMsPerRequest: median(
          measured.map((round) =>
            round.requests > 0 ? round.cpuMs / round.requests : 0,
          ),
        ),
        subgraphCallsPerQuery:
          calls.some((value) => value === undefined) || requests === 0
            ? undefined
            : calls.reduce((sum, value) => sum! + value!, 0)! / requests,
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
 * subgraphs, then the deep query over the demo subgraphs, which this
 * starts in a process of their own on `firstPort + 10` and the three ports
 * after it. Gateways listen on `firstPort` and the ports after it.
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
        throw new Error('The demo subgraphs did not start');
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
