import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProxyTracerProvider, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statementKind } from '../platform/sql-tracing.js';
import { tracesUrlOf } from '../platform/tracing.js';
import { startTestStack, type TestStack } from './support/stack.js';

// Runs a real stack against a local OTLP/HTTP receiver and checks the spans
// that reach it: one trace from the caller's `traceparent` through the
// gateway and two subgraphs down to SQL, with no variable values in it.

/** A local OTLP/HTTP receiver that keeps the JSON body of every export. */
interface Receiver {
  url: string;
  bodies: string[];
  /** Requests of any kind, including those that are not trace exports. */
  requests: number;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const receiver = { bodies: [] as string[], requests: 0 };
  const server = http.createServer(async (request, response) => {
    receiver.requests += 1;
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (request.method !== 'POST' || request.url !== '/v1/traces') {
      response.writeHead(404).end();
      return;
    }
    receiver.bodies.push(Buffer.concat(chunks).toString('utf8'));
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{}');
  });
  await new Promise<void>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve()),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get bodies() {
      return receiver.bodies;
    },
    get requests() {
      return receiver.requests;
    },
    close: () =>
      new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      ),
  };
}

interface AttributeValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
}

interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, AttributeValue>;
}

/** OTLP span kinds, which are the API's kinds plus one. */
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

/** Reads the spans out of OTLP/HTTP JSON export requests. */
function spansOf(bodies: string[]): ExportedSpan[] {
  const spans: ExportedSpan[] = [];
  for (const body of bodies) {
    const request = JSON.parse(body) as {
      resourceSpans: Array<{
        resource: { attributes: { key: string; value: AttributeValue }[] };
        scopeSpans: Array<{
          spans: Array<
            Omit<ExportedSpan, 'service' | 'attributes'> & {
              attributes?: { key: string; value: AttributeValue }[];
            }
          >;
        }>;
      }>;
    };
    for (const resourceSpans of request.resourceSpans) {
      const service = resourceSpans.resource.attributes.find(
        (attribute) => attribute.key === 'service.name',
      )?.value.stringValue;
      for (const scopeSpans of resourceSpans.scopeSpans) {
        for (const span of scopeSpans.spans) {
          spans.push({
            ...span,
            service: service ?? '(none)',
            attributes: Object.fromEntries(
              (span.attributes ?? []).map(({ key, value }) => [key, value]),
            ),
          });
        }
      }
    }
  }
  return spans;
}

/** Two root fields of two subgraphs, each with a variable. */
const PROBE_QUERY = `query TraceProbe($sku: String, $email: String!) {
  variant(sku: $sku) { sku }
  orderLookup(number: 1, email: $email) { number }
}`;

function probeVariables(): { sku: string; email: string } {
  const marker = randomBytes(6).toString('hex');
  return {
    sku: `trace-sku-${marker}`,
    email: `trace-${marker}@example.com`,
  };
}

describe('tracing off', () => {
  let receiver: Receiver;
  let stack: TestStack | undefined;
  const previousTracesEndpoint = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;

  beforeAll(async () => {
    receiver = await startReceiver();
    // The OTLP exporter package sends here when it is created without a
    // URL, so any exporter made despite the unset endpoint shows up.
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = tracesUrlOf(receiver.url);
    stack = await startTestStack();
  });

  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
    if (previousTracesEndpoint === undefined) {
      delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    } else {
      process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = previousTracesEndpoint;
    }
  });

  it('registers no tracer provider and exports nothing', async () => {
    const response = await stack!.query(PROBE_QUERY, probeVariables(), {
      traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
    });
    expect(response.errors).toBeUndefined();
    const provider = trace.getTracerProvider() as ProxyTracerProvider;
    expect(provider.getDelegate().constructor.name).toBe('NoopTracerProvider');

    await stack!.close();
    stack = undefined;
    expect(receiver.requests).toBe(0);
  });
});

describe('tracing on', () => {
  let receiver: Receiver;
  let stack: TestStack | undefined;
  const traceId = randomBytes(16).toString('hex');
  const callerSpanId = randomBytes(8).toString('hex');
  const variables = probeVariables();
  let spans: ExportedSpan[];

  beforeAll(async () => {
    receiver = await startReceiver();
    stack = await startTestStack({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    const response = await stack.query(PROBE_QUERY, variables, {
      traceparent: `00-${traceId}-${callerSpanId}-01`,
    });
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({ variant: null, orderLookup: null });
    // Closing shuts every service's tracer provider down, which exports
    // the spans still buffered.
    await stack.close();
    stack = undefined;
    spans = spansOf(receiver.bodies);
  });

  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  const byId = (spanId: string | undefined) =>
    spans.find((span) => span.spanId === spanId);

  /** True when `ancestor` is `span`'s parent, grandparent, and so on. */
  const descendsFrom = (span: ExportedSpan, ancestor: ExportedSpan) => {
    for (let parent = byId(span.parentSpanId); parent;) {
      if (parent.spanId === ancestor.spanId) return true;
      parent = byId(parent.parentSpanId);
    }
    return false;
  };

  const gatewayServerSpan = () => {
    const found = spans.filter(
      (span) => span.service === 'gateway' && span.kind === SPAN_KIND_SERVER,
    );
    expect(found).toHaveLength(1);
    return found[0];
  };

  const clientSpanOf = (subgraph: string) => {
    const found = spans.filter(
      (span) =>
        span.service === 'gateway' &&
        span.kind === SPAN_KIND_CLIENT &&
        span.attributes['graphql.subgraph.name']?.stringValue === subgraph,
    );
    expect(found).toHaveLength(1);
    return found[0];
  };

  const serverSpanOf = (subgraph: string) => {
    const found = spans.filter(
      (span) => span.service === subgraph && span.kind === SPAN_KIND_SERVER,
    );
    expect(found).toHaveLength(1);
    return found[0];
  };

  it('exports every span in the caller trace', () => {
    expect(spans.length).toBeGreaterThan(0);
    expect(new Set(spans.map((span) => span.traceId))).toEqual(
      new Set([traceId]),
    );
  });

  it('continues the caller span at the gateway', () => {
    const server = gatewayServerSpan();
    expect(server.name).toBe('POST /graphql');
    expect(server.parentSpanId).toBe(callerSpanId);
    expect(server.attributes['http.response.status_code']?.intValue).toBe(200);
  });

  it('makes one client span per subgraph', () => {
    const server = gatewayServerSpan();
    for (const subgraph of ['catalog', 'orders']) {
      const client = clientSpanOf(subgraph);
      expect(client.name).toBe(`POST ${subgraph}`);
      expect(descendsFrom(client, server)).toBe(true);
    }
    const names = spans
      .filter((span) => span.kind === SPAN_KIND_CLIENT)
      .map((span) => span.attributes['graphql.subgraph.name']?.stringValue)
      .filter((name) => name !== undefined)
      .sort();
    expect(names).toEqual(['catalog', 'orders']);
  });

  it('parents subgraph server spans on client spans', () => {
    for (const subgraph of ['catalog', 'orders']) {
      const server = serverSpanOf(subgraph);
      expect(server.name).toBe('POST /graphql');
      expect(server.parentSpanId).toBe(clientSpanOf(subgraph).spanId);
    }
  });

  it('puts SQL spans under subgraph server spans', () => {
    for (const subgraph of ['catalog', 'orders']) {
      const server = serverSpanOf(subgraph);
      const sql = spans.filter(
        (span) =>
          span.service === subgraph &&
          span.attributes['db.system.name']?.stringValue === 'postgresql',
      );
      expect(sql.length).toBeGreaterThan(0);
      for (const span of sql) {
        expect(span.kind).toBe(SPAN_KIND_CLIENT);
        expect(descendsFrom(span, server)).toBe(true);
        expect(['select', 'insert', 'update', 'delete', 'with']).toContain(
          span.name,
        );
        expect(span.attributes['db.query.text']).toBeUndefined();
        expect(span.attributes['db.statement']).toBeUndefined();
      }
    }
  });

  it('exports no variable values', () => {
    expect(receiver.bodies.length).toBeGreaterThan(0);
    for (const body of receiver.bodies) {
      expect(body).not.toContain(variables.sku);
      expect(body).not.toContain(variables.email);
    }
  });
});

describe('statementKind', () => {
  it.each([
    ['select "id" from "products" where "sku" = $1', 'select'],
    ['  INSERT INTO t (a) VALUES ($1)', 'insert'],
    ['(select 1) union (select 2)', 'select'],
    ['with x as (select 1) update t set a = 1', 'with'],
    ['vacuum', 'query'],
    ['', 'query'],
  ])('%s is %s', (text, kind) => {
    expect(statementKind(text)).toBe(kind);
  });
});
