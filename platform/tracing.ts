import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  diag,
  DiagLogLevel,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type DiagLogger,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { Config } from './config.js';
import type { RouteHandler } from './http-server.js';
import type { Logger } from './logger.js';

/**
 * OpenTelemetry tracing of one service. `startTracing` returns it only when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set, so callers skip every tracing step
 * with one `undefined` check when tracing is off.
 *
 * Spans carry no request data: no variables, query text, headers, SQL
 * parameters or error messages, because those can contain personal data.
 */
export interface Tracing {
  /** The tracer of this service's own provider, for spans such as SQL's. */
  readonly tracer: Tracer;
  /**
   * Wraps an HTTP handler so that each request to one of `paths` runs in a
   * server span, continued from the request's `traceparent` when it has
   * one. Requests to other paths pass through without a span.
   */
  traceHttpRequests(
    handler: RouteHandler,
    paths: readonly string[],
  ): RouteHandler;
  /** Runs one subgraph request of the gateway in a client span. */
  traceSubgraphFetch<T>(
    subgraph: string,
    url: string,
    fetch: () => Promise<T>,
  ): Promise<T>;
  /** Writes the active span's `traceparent` (and `tracestate`) into `headers`. */
  injectTraceContext(headers: Record<string, string>): void;
  /** Exports the spans still buffered and stops the exporter. */
  shutdown(): Promise<void>;
}

/** Minimum time in ms between two logged warnings of the OpenTelemetry SDK. */
const DIAG_WARNING_INTERVAL_MS = 60_000;

let contextManagerRegistered = false;
let diagLoggerRegistered = false;

/**
 * Starts tracing for one service when OTEL_EXPORTER_OTLP_ENDPOINT is set,
 * and returns undefined otherwise, without creating a provider or exporter.
 *
 * Spans are batched and sent as OTLP/HTTP JSON to
 * `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`. `registerGlobally` also makes
 * the provider the process's global one, so that libraries that create
 * their own spans through `@opentelemetry/api`, such as `@apollo/gateway`,
 * report to it. Only one provider per process can be global.
 */
export function startTracing(
  config: Pick<
    Config,
    | 'OTEL_EXPORTER_OTLP_ENDPOINT'
    | 'OTEL_SERVICE_NAME'
    | 'OTEL_TRACES_SAMPLER_ARG'
  >,
  defaultServiceName: string,
  logger: Logger,
  options: { registerGlobally?: boolean } = {},
): Tracing | undefined {
  const endpoint = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (endpoint === undefined) return undefined;
  const serviceName = config.OTEL_SERVICE_NAME ?? defaultServiceName;

  registerProcessWideParts(logger);
  const provider = new BasicTracerProvider({
    resource: new Resource({ [ATTR_SERVICE_NAME]: serviceName }),
    // A request with a `traceparent` keeps its caller's decision. New
    // traces are sampled at the configured ratio.
    sampler: new ParentBasedSampler({
      root: new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG),
    }),
    spanProcessors: [
      new BatchSpanProcessor(
        // The URL is given in code, so the exporter's own reading of
        // OTEL_EXPORTER_OTLP_ENDPOINT does not apply. It still reads
        // OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT and _COMPRESSION.
        new OTLPTraceExporter({ url: tracesUrlOf(endpoint) }),
      ),
    ],
  });
  const registered =
    options.registerGlobally === true &&
    trace.setGlobalTracerProvider(provider);
  if (options.registerGlobally && !registered) {
    logger.warn(
      { serviceName },
      'another OpenTelemetry tracer provider is already global; spans of @apollo/gateway go to it',
    );
  }
  const tracer = provider.getTracer('commerce-graph');
  const propagator = new W3CTraceContextPropagator();
  logger.info(
    {
      serviceName,
      endpoint: tracesUrlOf(endpoint),
      samplerRatio: config.OTEL_TRACES_SAMPLER_ARG,
    },
    'tracing on: exporting spans over OTLP/HTTP',
  );

  return {
    tracer,

    traceHttpRequests(handler, paths) {
      return (request, response) => {
        const path = (request.url ?? '/').split('?')[0];
        if (!paths.includes(path)) return handler(request, response);
        const parent = propagator.extract(
          ROOT_CONTEXT,
          request.headers,
          defaultTextMapGetter,
        );
        const method = request.method ?? 'GET';
        // Only the path, because a GET request's query string can contain
        // variables.
        const span = tracer.startSpan(
          `${method} ${path}`,
          {
            kind: SpanKind.SERVER,
            attributes: {
              [ATTR_HTTP_REQUEST_METHOD]: method,
              [ATTR_HTTP_ROUTE]: path,
              [ATTR_URL_PATH]: path,
            },
          },
          parent,
        );
        response.once('close', () => {
          span.setAttribute(
            ATTR_HTTP_RESPONSE_STATUS_CODE,
            response.statusCode,
          );
          if (response.statusCode >= 500) {
            span.setStatus({ code: SpanStatusCode.ERROR });
          }
          span.end();
        });
        return context.with(trace.setSpan(parent, span), () =>
          handler(request, response),
        );
      };
    },

    traceSubgraphFetch(subgraph, url, fetch) {
      const target = new URL(url);
      return tracer.startActiveSpan(
        `POST ${subgraph}`,
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'graphql.subgraph.name': subgraph,
            [ATTR_HTTP_REQUEST_METHOD]: 'POST',
            [ATTR_SERVER_ADDRESS]: target.hostname,
            [ATTR_SERVER_PORT]: Number(target.port || defaultPortOf(target)),
          },
        },
        async (span) => {
          try {
            return await fetch();
          } catch (error) {
            // The error's class only, because messages can quote request data.
            span.setStatus({ code: SpanStatusCode.ERROR });
            span.setAttribute('error.type', errorTypeOf(error));
            throw error;
          } finally {
            span.end();
          }
        },
      );
    },

    injectTraceContext(headers) {
      propagator.inject(context.active(), headers, defaultTextMapSetter);
    },

    async shutdown() {
      try {
        await provider.shutdown();
      } catch (error) {
        logger.warn(
          { err: error, serviceName },
          'failed to export the last spans at shutdown',
        );
      } finally {
        // NOTE: @apollo/gateway 2.14 takes its tracer once, when it is
        // loaded, and that tracer keeps the first global provider. So a
        // second gateway started later in the same process with tracing on
        // gets no @apollo/gateway spans; its own spans are unaffected.
        if (registered) trace.disable();
      }
    },
  };
}

/** Returns the OTLP/HTTP traces URL under a base endpoint URL. */
export function tracesUrlOf(endpoint: string): string {
  return endpoint.endsWith('/')
    ? `${endpoint}v1/traces`
    : `${endpoint}/v1/traces`;
}

/**
 * Registers what every tracing service of the process shares: the
 * AsyncLocalStorage context manager, through which spans find their parent
 * across `await`, and a logger for the SDK's own warnings, such as failed
 * exports. Both stay for the life of the process.
 */
function registerProcessWideParts(logger: Logger): void {
  if (!contextManagerRegistered) {
    context.setGlobalContextManager(
      new AsyncLocalStorageContextManager().enable(),
    );
    contextManagerRegistered = true;
  }
  if (!diagLoggerRegistered) {
    diag.setLogger(createDiagLogger(logger), DiagLogLevel.WARN);
    diagLoggerRegistered = true;
  }
}

/**
 * Returns a logger for the OpenTelemetry SDK's warnings and errors. It logs
 * at most one line per DIAG_WARNING_INTERVAL_MS with the count of the lines
 * it left out, because an unreachable collector fails every export.
 */
function createDiagLogger(logger: Logger): DiagLogger {
  const child = logger.child({ component: 'opentelemetry' });
  let lastLoggedAt = 0;
  let suppressed = 0;
  const log = (message: string, ...args: unknown[]) => {
    const now = Date.now();
    if (now - lastLoggedAt < DIAG_WARNING_INTERVAL_MS) {
      suppressed += 1;
      return;
    }
    child.warn(
      { details: args.map(String), suppressedSinceLastWarning: suppressed },
      `OpenTelemetry SDK: ${message}`,
    );
    lastLoggedAt = now;
    suppressed = 0;
  };
  const ignore = () => {};
  return {
    error: log,
    warn: log,
    info: ignore,
    debug: ignore,
    verbose: ignore,
  };
}

function defaultPortOf(url: URL): number {
  return url.protocol === 'https:' ? 443 : 80;
}

function errorTypeOf(error: unknown): string {
  return error instanceof Error ? error.constructor.name : typeof error;
}
