import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import parsePrometheusTextFormat, {
  type MetricFamily,
} from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureOf } from '../gateway/metrics.js';
import { SubgraphUnavailableError } from '../gateway/subgraph-data-source.js';
import { createLogger } from '../platform/logger.js';
import {
  createMetricsRoute,
  MAX_OPERATION_NAMES,
  NO_OPERATION,
  OperationNameLabels,
  OTHER_OPERATION,
} from '../platform/metrics.js';
import { startTestStack, type TestStack } from './support/stack.js';

// Scrapes the real stack's /metrics and reads the text with an independent
// parser of the Prometheus text format, so a malformed exposition fails.

const METRICS_TOKEN = `metrics-${randomUUID()}`;
const PRODUCTS_QUERY =
  'query MetricsProductProbe { products(first: 1) { nodes { id title } } }';

const lines: string[] = [];
const destination = new Writable({
  write(chunk, _encoding, done) {
    lines.push(String(chunk));
    done();
  },
});

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack(
    { METRICS_TOKEN },
    { logger: createLogger('metrics', 'debug', destination) },
  );
});

afterAll(async () => {
  await stack?.close();
});

/** One scrape: its text and the families the parser read from it. */
interface Scrape {
  text: string;
  families: MetricFamily[];
}

async function scrape(origin: string): Promise<Scrape> {
  const response = await fetch(`${origin}/metrics`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('version=0.0.4');
  const text = await response.text();
  return { text, families: parsePrometheusTextFormat(text) };
}

function family(scraped: Scrape, name: string): MetricFamily {
  const found = scraped.families.find((entry) => entry.name === name);
  if (!found) throw new Error(`No metric family ${name} in the scrape.`);
  return found;
}

/** Value of the sample of `name` whose labels include `labels`, or 0. */
function sampleValue(
  scraped: Scrape,
  name: string,
  labels: Record<string, string> = {},
): number {
  const found = scraped.families.find((entry) => entry.name === name);
  const sample = found?.metrics.find((metric) =>
    Object.entries(labels).every(
      ([key, value]) => metric.labels?.[key] === value,
    ),
  );
  return Number(sample?.value ?? 0);
}

/**
 * Observation count of the histogram `name` whose labels include `labels`,
 * or 0. parse-prometheus-text-format 1.1 merges the series of a labelled
 * histogram into one without labels, so the `_count` sample is read from
 * the text after the parser has accepted it.
 */
function histogramCount(
  scraped: Scrape,
  name: string,
  labels: Record<string, string>,
): number {
  const expectedLabels = Object.entries(labels).map(
    ([key, value]) => `${key}=${JSON.stringify(value)}`,
  );
  const line = scraped.text
    .split('\n')
    .find(
      (candidate) =>
        candidate.startsWith(`${name}_count{`) &&
        expectedLabels.every((label) => candidate.includes(label)),
    );
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function logRecords(): Array<Record<string, any>> {
  return lines.map((line) => JSON.parse(line) as Record<string, any>);
}

describe('gateway /metrics', () => {
  it('counts one request once', async () => {
    const before = await scrape(stack.gatewayOrigin);
    const response = await stack.query(PRODUCTS_QUERY);
    expect(response.errors).toBeUndefined();
    const after = await scrape(stack.gatewayOrigin);

    const labels = {
      operation_name: 'MetricsProductProbe',
      outcome: 'success',
    };
    expect(family(after, 'graphql_requests_total').type).toBe('COUNTER');
    expect(
      sampleValue(after, 'graphql_requests_total', labels) -
        sampleValue(before, 'graphql_requests_total', labels),
    ).toBe(1);
    expect(
      histogramCount(after, 'graphql_request_duration_seconds', {
        operation_name: 'MetricsProductProbe',
      }) -
        histogramCount(before, 'graphql_request_duration_seconds', {
          operation_name: 'MetricsProductProbe',
        }),
    ).toBe(1);
  });

  it('times the fetch of the subgraph a query touched', async () => {
    const before = await scrape(stack.gatewayOrigin);
    await stack.query(PRODUCTS_QUERY);
    const after = await scrape(stack.gatewayOrigin);

    const fetches = (scraped: Scrape) =>
      histogramCount(scraped, 'subgraph_fetch_duration_seconds', {
        subgraph: 'catalog',
      });
    expect(family(after, 'subgraph_fetch_duration_seconds').type).toBe(
      'HISTOGRAM',
    );
    expect(fetches(after) - fetches(before)).toBe(1);
    expect(
      histogramCount(after, 'subgraph_fetch_duration_seconds', {
        subgraph: 'orders',
      }) -
        histogramCount(before, 'subgraph_fetch_duration_seconds', {
          subgraph: 'orders',
        }),
    ).toBe(0);
  });

  it('counts query plan cache misses then hits', async () => {
    // A document no other test sends, so its first plan is not cached.
    const document = `query MetricsPlanProbe${randomUUID().replaceAll('-', '')} { products(first: 2) { nodes { id } } }`;
    const before = await scrape(stack.gatewayOrigin);
    await stack.query(document);
    const afterFirst = await scrape(stack.gatewayOrigin);
    await stack.query(document);
    const afterSecond = await scrape(stack.gatewayOrigin);

    const misses = (scraped: Scrape) =>
      sampleValue(scraped, 'query_plan_cache_misses_total');
    const hits = (scraped: Scrape) =>
      sampleValue(scraped, 'query_plan_cache_hits_total');
    expect(misses(afterFirst) - misses(before)).toBe(1);
    expect(hits(afterFirst) - hits(before)).toBe(0);
    expect(misses(afterSecond) - misses(afterFirst)).toBe(0);
    expect(hits(afterSecond) - hits(afterFirst)).toBe(1);
  });

  it('counts a syntax error as rejected', async () => {
    const labels = { operation_name: NO_OPERATION, outcome: 'rejected' };
    const before = await scrape(stack.gatewayOrigin);
    const response = await stack.query('query Broken { products(');
    expect(response.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    const after = await scrape(stack.gatewayOrigin);

    expect(
      sampleValue(after, 'graphql_requests_total', labels) -
        sampleValue(before, 'graphql_requests_total', labels),
    ).toBe(1);
  });

  it('counts rejected credentials as rejected', async () => {
    const labels = { operation_name: NO_OPERATION, outcome: 'rejected' };
    const before = await scrape(stack.gatewayOrigin);
    const response = await stack.query('{ __typename }', undefined, {
      authorization: 'Bearer not-a-valid-token',
    });
    expect(response.status).toBe(401);
    const after = await scrape(stack.gatewayOrigin);

    expect(
      sampleValue(after, 'graphql_requests_total', labels) -
        sampleValue(before, 'graphql_requests_total', labels),
    ).toBe(1);
  });

  it('counts an executed request with errors as error', async () => {
    const labels = {
      operation_name: 'MetricsAnonymousCustomer',
      outcome: 'error',
    };
    const before = await scrape(stack.gatewayOrigin);
    // Authorization removes the field for an anonymous caller and reports
    // UNAUTHENTICATED, and the rest of the operation still executes.
    const response = await stack.query(
      'query MetricsAnonymousCustomer { customer(id: "c-1") { id } products(first: 1) { nodes { id } } }',
    );
    expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const after = await scrape(stack.gatewayOrigin);

    expect(
      sampleValue(after, 'graphql_requests_total', labels) -
        sampleValue(before, 'graphql_requests_total', labels),
    ).toBe(1);
  });

  it('exposes open subscriptions and process metrics', async () => {
    const scraped = await scrape(stack.gatewayOrigin);

    expect(family(scraped, 'graphql_subscriptions_open').type).toBe('GAUGE');
    expect(sampleValue(scraped, 'graphql_subscriptions_open')).toBe(0);
    expect(family(scraped, 'process_cpu_seconds_total').type).toBe('COUNTER');
    expect(family(scraped, 'nodejs_heap_size_used_bytes').type).toBe('GAUGE');
  });

  it('rejects a scrape without the token', async () => {
    const missing = await fetch(`${stack.gatewayOrigin}/metrics`);
    const wrong = await fetch(`${stack.gatewayOrigin}/metrics`, {
      headers: { authorization: 'Bearer wrong-token' },
    });

    expect(missing.status).toBe(401);
    expect(wrong.status).toBe(401);
  });
});

describe('subgraph /metrics', () => {
  it('shows the database pool gauges', async () => {
    const origin = new URL(stack.subgraphs.catalog.url).origin;
    const scraped = await scrape(origin);

    const pool = family(scraped, 'db_pool_connections');
    expect(pool.type).toBe('GAUGE');
    const byState = (state: string) =>
      sampleValue(scraped, 'db_pool_connections', { state });
    expect(byState('max')).toBe(stack.config.DATABASE_POOL_SIZE);
    expect(byState('in_use')).toBeGreaterThanOrEqual(0);
    expect(byState('in_use') + byState('idle')).toBe(byState('max'));
    expect(family(scraped, 'db_pool_queries_in_flight').type).toBe('GAUGE');
  });

  it('counts the requests the gateway sent', async () => {
    const origin = new URL(stack.subgraphs.catalog.url).origin;
    const total = (scraped: Scrape) =>
      family(scraped, 'graphql_requests_total').metrics.reduce(
        (sum, metric) =>
          metric.labels?.outcome === 'success'
            ? sum + Number(metric.value)
            : sum,
        0,
      );
    const before = await scrape(origin);
    await stack.query(PRODUCTS_QUERY);
    const after = await scrape(origin);

    expect(total(after) - total(before)).toBe(1);
  });
});

describe('request log lines', () => {
  it('log one gateway line per request', async () => {
    const requestId = `metrics-log-${randomUUID()}`;
    const response = await stack.query(PRODUCTS_QUERY, undefined, {
      'x-request-id': requestId,
    });
    expect(response.errors).toBeUndefined();

    const records = logRecords().filter(
      (record) =>
        record.requestId === requestId &&
        record.msg === 'graphql request completed',
    );
    const gateway = records.filter((record) => record.service === 'gateway');
    expect(gateway).toHaveLength(1);
    const line = gateway[0]!;
    expect(line.level).toBe(30);
    expect(line.operationName).toBe('MetricsProductProbe');
    expect(line.outcome).toBe('success');
    expect(line.subgraphs).toEqual(['catalog']);
    expect(line.errorCodes).toEqual([]);
    expect(line.status).toBe(200);
    expect(typeof line.durationMs).toBe('number');
  });

  it('log the subgraph line at debug', async () => {
    const requestId = `metrics-log-${randomUUID()}`;
    await stack.query(PRODUCTS_QUERY, undefined, { 'x-request-id': requestId });

    const catalog = logRecords().filter(
      (record) =>
        record.requestId === requestId &&
        record.msg === 'graphql request completed' &&
        record.service === 'catalog',
    );
    expect(catalog).toHaveLength(1);
    expect(catalog[0]!.level).toBe(20);
    expect(catalog[0]!.outcome).toBe('success');
  });

  it('list the error codes of a rejected request', async () => {
    const requestId = `metrics-log-${randomUUID()}`;
    await stack.query('query MetricsUnknownField { noSuchField }', undefined, {
      'x-request-id': requestId,
    });

    const gateway = logRecords().filter(
      (record) =>
        record.requestId === requestId &&
        record.msg === 'graphql request completed',
    );
    expect(gateway).toHaveLength(1);
    expect(gateway[0]!.outcome).toBe('rejected');
    expect(gateway[0]!.errorCodes).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(gateway[0]!.subgraphs).toEqual([]);
  });
});

describe('OperationNameLabels', () => {
  it('caps distinct names', () => {
    const labels = new OperationNameLabels();
    for (let index = 0; index < MAX_OPERATION_NAMES; index += 1) {
      expect(labels.labelOf(`Operation${index}`, true)).toBe(
        `Operation${index}`,
      );
    }

    expect(labels.labelOf('OneTooMany', true)).toBe(OTHER_OPERATION);
    expect(labels.labelOf('Operation0', true)).toBe('Operation0');
    expect(labels.labelOf('Operation0', false)).toBe(NO_OPERATION);
  });
});

describe('failureOf', () => {
  it('maps unavailable reasons to labels', () => {
    const failure = (reason: string) =>
      failureOf(new SubgraphUnavailableError('message', 'catalog', reason));

    expect(failure('HTTP 503')).toBe('http_status');
    expect(failure('timed out after 10000 ms')).toBe('timeout');
    expect(failure('connection refused')).toBe('unreachable');
    expect(failureOf(new Error('invalid body'))).toBe('other');
  });
});

describe('createMetricsRoute', () => {
  it('serves nothing when disabled', () => {
    const routes = createMetricsRoute(
      new Registry(),
      {
        METRICS_ENABLED: false,
        METRICS_TOKEN: undefined,
        APP_ENV: undefined,
        NODE_ENV: undefined,
      },
      createLogger('metrics-route', 'silent'),
    );

    expect(routes).toEqual({});
  });
});
