/**
 * `npm run bench`: measures the storefront listing query through the
 * gateway and its catalog-only part straight from the catalog subgraph, in
 * one run over the sample catalog, and writes the table to BENCHMARKS.md.
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
import { dropDatabase, serviceDatabaseUrl } from '../platform/database.js';
import { signServiceIdentity } from '../platform/identity.js';
import { generateIdentityKeyPair } from '../platform/identity-keys.js';
import { gatewayDatabaseUrl } from '../gateway/db/database.js';
import { startEmbeddedPostgres } from '../platform/embedded-postgres.js';
import { createLogger } from '../platform/logger.js';
import { prepareSubgraphDatabase } from '../platform/subgraph-service.js';
import { subgraphDefinitions } from '../subgraphs/index.js';
import {
  importSampleCatalogIfEmpty,
  seedDemoListingsAt,
} from '../scripts/sample-data.js';
import {
  startChildService,
  stopChildService,
  waitUntilReady,
  type ChildService,
} from '../scripts/supervisor.js';

const DURATION_SECONDS = Number(process.env.BENCH_DURATION_SECONDS ?? 10);
const WARMUP_SECONDS = 3;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const BASE_PORT = Number(process.env.BENCH_BASE_PORT ?? 4100);

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
}

function readRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) : 0;
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
 * signed identity that is refreshed meanwhile is picked up.
 */
async function measure(
  name: string,
  url: string,
  query: string,
  rssPid?: number,
  extraHeaders: () => Record<string, string> = () => ({}),
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
  await autocannon({ ...options, duration: WARMUP_SECONDS });

  let peakRss = 0;
  const sampler = rssPid
    ? setInterval(() => {
        peakRss = Math.max(peakRss, readRssKiB(rssPid));
      }, 100)
    : undefined;
  const result = await autocannon({ ...options, duration: DURATION_SECONDS });
  if (sampler) clearInterval(sampler);
  return {
    name,
    target: url,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
    peakRssMiB: rssPid ? peakRss / 1024 : undefined,
  };
}

function machineDescription(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

function writeReport(results: Measurement[], productsPerPage: number): void {
  const rows = results.map(
    (result) =>
      `| ${result.name} | ${result.requestsPerSecond.toFixed(0)} | ${result.p50.toFixed(1)} | ${result.p99.toFixed(1)} | ${result.peakRssMiB === undefined ? 'n/a' : result.peakRssMiB.toFixed(0)} | ${result.errors} |`,
  );
  const text = `# Benchmarks

Written by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString().slice(0, 10)}.

- Machine: ${machineDescription()}
- Command: \`npm run bench\` (${DURATION_SECONDS} s per workload after ${WARMUP_SECONDS} s of warm-up, ${CONNECTIONS} connections, autocannon in the benchmark process, rate limits off, anonymous caller)
- Data: the sample catalog (data/woocommerce_sample_products.csv) with one sandbox marketplace listing per variant; PostgreSQL 15 from embedded-postgres unless DATABASE_URL is set
- Query: a storefront product-list page of ${productsPerPage} products with prices, images, variants, stock and (through the gateway) marketplace listings; the catalog-only part is the same query without listings, sent straight to the catalog subgraph

| workload | req/s | p50 ms | p99 ms | gateway peak RSS MiB | errors |
|---|---:|---:|---:|---:|---:|
${rows.join('\n')}

The load generator, the gateway, the subgraphs and PostgreSQL share the
machine's cores, so the numbers compare runs on this machine; they are not
a capacity figure for a dedicated server.
`;
  writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), text);
  process.stdout.write(text);
}

async function main(): Promise<void> {
  const logger = createLogger('bench', process.env.LOG_LEVEL ?? 'warn');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'commerce-graph-bench-'));
  chmodSync(dataDir, 0o777);
  const baseConfig = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  const embedded = baseConfig.DATABASE_URL
    ? undefined
    : await startEmbeddedPostgres({ dataDir, port: BASE_PORT + 10, logger });
  const serverUrl = baseConfig.DATABASE_URL ?? embedded!.url;
  // A key pair of the run's own: the bench signs identities to call the
  // catalog directly, as the marketplace seeding does.
  const keys = generateIdentityKeyPair();
  const environment: Record<string, string> = {
    ...(process.env as Record<string, string>),
    DATABASE_URL: serverUrl,
    DATABASE_PREFIX: `bench${randomBytes(3).toString('hex')}`,
    LOG_LEVEL: 'warn',
    // The benchmark measures execution: one client IP at full speed would
    // otherwise spend the anonymous rate-limit budget within a second.
    RATE_LIMIT_STORE: 'off',
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
        startChildService(name, `subgraphs/${name}/index.ts`, environment),
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
      environment,
    );
    children.push(gateway);
    const gatewayUrl = `http://127.0.0.1:${BASE_PORT}/graphql`;
    await waitUntilReady(
      gateway,
      `http://127.0.0.1:${BASE_PORT}/ready`,
      60_000,
    );

    let identity = await signServiceIdentity(config, 'bench');
    identityRefresh = setInterval(() => {
      void signServiceIdentity(config, 'bench').then((headers) => {
        identity = headers;
      });
    }, IDENTITY_REFRESH_MS);
    const productsPerPage = await checkResponse(gatewayUrl, GATEWAY_QUERY);
    await checkResponse(catalogUrl, CATALOG_QUERY, identity);
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
    writeReport(results, productsPerPage);
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
