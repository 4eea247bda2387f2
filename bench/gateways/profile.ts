/**
 * Profiles one gateway of the comparison on the deep query:
 *
 *   npx tsx bench/gateways/profile.ts [ours|apollo|hive|hive-router]
 *
 * It starts the demo subgraphs and the gateway, and sends the deep query
 * from BENCH_CONNECTIONS connections for BENCH_PROFILE_SECONDS. Then it
 * stops the gateway and prints the functions and packages with the most
 * self time in the gateway's V8 CPU profile. The profile stays in
 * BENCH_CPU_PROF_DIR (a temporary folder by default) for Chrome DevTools. `ours` uses the
 * PostgreSQL server in DATABASE_URL for its rate limits, as in the
 * comparison, in a gateway database of the run's own that it drops at
 * the end.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { gatewayDatabaseUrl } from '../../gateway/db/database.js';
import { loadConfig } from '../../platform/config.js';
import { dropDatabase } from '../../platform/database.js';
import { createLogger } from '../../platform/logger.js';
import {
  startChildService,
  stopChildService,
} from '../../scripts/supervisor.js';
import {
  composeDemoSupergraph,
  DEEP_QUERY,
  DEMO_SUBGRAPH_NAMES,
} from './demo-subgraphs.js';
import { prepareSupergraph } from '../../gateway/authorization/supergraph.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const kind = process.argv[2] ?? 'ours';
const seconds = Number(process.env.BENCH_PROFILE_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);
const basePort = Number(process.env.BENCH_PROFILE_PORT ?? 47100);
const directory =
  process.env.BENCH_CPU_PROF_DIR ??
  mkdtempSync(path.join(os.tmpdir(), 'gateway-profile-'));
const logger = createLogger('profile', 'warn');
/** A rate-limit budget that the profile's traffic never exhausts, as in the comparison. */
const UNEXHAUSTED_BUDGET = '1000000000';

async function waitFor(url: string, init?: RequestInit) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const response = await fetch(url, init).catch(() => undefined);
    if (response?.ok) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} did not respond within 120 s`);
}

/** Resident memory of a process in MiB, from /proc. */
function residentMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kib / 1024);
}

/** Self time in ms per key, from the profile's samples. */
function selfTime(profile: CpuProfile, keyOf: (node: ProfileNode) => string) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, number>();
  profile.samples.forEach((id, index) => {
    const key = keyOf(byId.get(id)!);
    totals.set(
      key,
      (totals.get(key) ?? 0) + (profile.timeDeltas[index] ?? 0) / 1000,
    );
  });
  return [...totals.entries()].sort((a, b) => b[1] - a[1]);
}

function packageOf(url: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match) return match[1]!;
  if (url.startsWith('node:')) return url;
  if (!url) return '(native or idle)';
  return path.relative(process.cwd(), url.replace(/^file:\/\//, ''));
}

const demoPort = basePort + 10;
const demo = startChildService(
  'demo-subgraphs',
  'bench/gateways/demo-subgraphs-main.ts',
  { ...process.env, BENCH_DEMO_BASE_PORT: String(demoPort) },
);
const supergraphPath = path.join(directory, 'supergraph.graphql');
writeFileSync(
  supergraphPath,
  prepareSupergraph(
    composeDemoSupergraph(
      (name) =>
        `http://127.0.0.1:${demoPort + DEMO_SUBGRAPH_NAMES.indexOf(name)}/graphql`,
    ),
  ),
);
const preload = new URL('../cpu-profile.ts', import.meta.url).href;
const gatewayEnvironment = {
  ...process.env,
  DATABASE_PREFIX: `profile${process.pid}`,
};
const gateway = startChildService(
  `gateway-${kind}`,
  'bench/gateways/gateway-process.ts',
  {
    ...gatewayEnvironment,
    APOLLO_TELEMETRY_DISABLED: 'true',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_STORE: 'postgres',
    RATE_LIMIT_ANONYMOUS_CAPACITY: UNEXHAUSTED_BUDGET,
    RATE_LIMIT_ANONYMOUS_RESTORE_RATE: UNEXHAUSTED_BUDGET,
    BENCH_GATEWAY_KIND: kind,
    BENCH_GATEWAY_SUPERGRAPH: supergraphPath,
    BENCH_GATEWAY_PORT: String(basePort),
    BENCH_ALLOWED_HOSTS: '127.0.0.1',
    BENCH_CPU_PROF_DIR: directory,
    BENCH_CPU_PROF_NAME: `gateway-${kind}`,
    NODE_OPTIONS: `--import tsx --import ${preload}`,
  },
);
try {
  await waitFor(`http://127.0.0.1:${demoPort}/ready`);
  const url = `http://127.0.0.1:${basePort}/graphql`;
  const init = {
    method: 'POST' as const,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: DEEP_QUERY }),
  };
  await waitFor(url, init);
  const rssBefore = residentMiB(gateway.process.pid!);
  const result = await autocannon({
    url,
    ...init,
    connections,
    duration: seconds,
  });
  console.log(
    `${kind}: ${result.requests.average} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ${result.non2xx} non-2xx, RSS ${rssBefore} MiB before the load and ${residentMiB(gateway.process.pid!)} MiB after`,
  );
} finally {
  await stopChildService(gateway, 10_000, logger);
  await stopChildService(demo, 10_000, logger);
  const database = gatewayDatabaseUrl(loadConfig(gatewayEnvironment));
  if (kind === 'ours' && database) await dropDatabase(database);
}

const file = readdirSync(directory).find((name) =>
  name.endsWith('.cpuprofile'),
);
if (!file) throw new Error(`No CPU profile was written to ${directory}`);
const profile = JSON.parse(
  readFileSync(path.join(directory, file), 'utf8'),
) as CpuProfile;
const total = profile.timeDeltas.reduce((sum, delta) => sum + delta, 0) / 1000;
const print = (title: string, rows: [string, number][]) => {
  console.log(`\n${title}`);
  for (const [key, ms] of rows.slice(0, 30)) {
    console.log(
      `${((100 * ms) / total).toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(7)} ms  ${key}`,
    );
  }
};
print(
  'Self time by package',
  selfTime(profile, (node) => packageOf(node.callFrame.url)),
);
print(
  'Self time by function',
  selfTime(
    profile,
    (node) =>
      `${node.callFrame.functionName || '(anonymous)'} ${packageOf(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`,
  ),
);
console.log(`\nProfile: ${path.join(directory, file)}`);
