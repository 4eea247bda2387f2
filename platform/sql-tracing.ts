import {
  context,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Tracer,
} from '@opentelemetry/api';
import {
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';
import type { Sql } from 'postgres';

/** Statement kinds used as span names. Any other statement is a `query` span. */
const STATEMENT_KINDS = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'with',
  'values',
  'lock',
  'truncate',
  'create',
  'alter',
  'drop',
  'set',
  'show',
  'listen',
  'notify',
  'call',
]);

/**
 * Returns the kind of an SQL statement from its first keyword, such as
 * `select` or `insert`, or `query` for any other statement.
 */
export function statementKind(text: string): string {
  // drizzle-orm wraps each part of a union in parentheses.
  const keyword = /^[\s(]*([A-Za-z]+)/.exec(text)?.[1]?.toLowerCase();
  return keyword !== undefined && STATEMENT_KINDS.has(keyword)
    ? keyword
    : 'query';
}

/**
 * Returns `sql` with a client span for each statement sent through `unsafe`
 * and for each transaction (`begin`) and savepoint, whose statements become
 * the transaction span's children. drizzle-orm's postgres-js driver sends
 * every query through `unsafe` and every transaction through `begin`.
 *
 * The span name is the statement kind. Spans have no statement text and no
 * parameters, because both can contain personal data; a failed statement
 * records its SQLSTATE code, not its message.
 *
 * Statements outside a recorded span, such as those of background sweeps,
 * get no span, so that periodic work does not start a trace of its own.
 */
export function traceQueries(sql: Sql, tracer: Tracer, database: string): Sql {
  return wrapClient(sql, tracer, database);
}

type Client = Pick<Sql, 'unsafe'> & {
  begin?: (...args: unknown[]) => Promise<unknown>;
  savepoint?: (...args: unknown[]) => Promise<unknown>;
};

function wrapClient<T extends object>(
  client: T,
  tracer: Tracer,
  database: string,
): T {
  const target = client as unknown as Client;
  const attributes = (operation: string) => ({
    [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    [ATTR_DB_NAMESPACE]: database,
    [ATTR_DB_OPERATION_NAME]: operation,
  });

  const unsafe = (...args: Parameters<Sql['unsafe']>) => {
    const parent = recordingContext();
    if (parent === undefined) return target.unsafe(...args);
    const kind = statementKind(args[0]);
    const span = tracer.startSpan(
      kind,
      { kind: SpanKind.CLIENT, attributes: attributes(kind) },
      parent,
    );
    // Attaching a listener starts the query one microtask later
    // (postgres.js 3.4), so drizzle's chained `.values()` still applies.
    const query = target.unsafe(...args);
    query.then(endSpan(span), failSpan(span));
    return query;
  };

  /**
   * Wraps `begin` or `savepoint`. The callback, always the last argument,
   * receives a traced transaction and runs inside the transaction's span.
   */
  const transaction =
    (method: 'begin' | 'savepoint') =>
    (...args: unknown[]) => {
      const run = target[method]!.bind(target);
      const parent = recordingContext();
      if (parent === undefined) return run(...args);
      const name = method === 'begin' ? 'transaction' : 'savepoint';
      const span = tracer.startSpan(
        name,
        { kind: SpanKind.CLIENT, attributes: attributes(name) },
        parent,
      );
      const spanContext = trace.setSpan(parent, span);
      const callback = args[args.length - 1] as (tx: object) => unknown;
      const tracedCallback = (tx: object) =>
        context.with(spanContext, () =>
          callback(wrapClient(tx, tracer, database)),
        );
      const result = run(...args.slice(0, -1), tracedCallback);
      result.then(endSpan(span), failSpan(span));
      return result;
    };

  const begin = transaction('begin');
  const savepoint = transaction('savepoint');
  return new Proxy(client, {
    get(proxied, property, receiver) {
      if (property === 'unsafe') return unsafe;
      if (property === 'begin' && target.begin) return begin;
      if (property === 'savepoint' && target.savepoint) return savepoint;
      return Reflect.get(proxied, property, receiver);
    },
  });
}

/** Returns the active context when it has a recording span. */
function recordingContext(): Context | undefined {
  const active = context.active();
  return trace.getSpan(active)?.isRecording() ? active : undefined;
}

function endSpan(span: ReturnType<Tracer['startSpan']>) {
  return () => span.end();
}

function failSpan(span: ReturnType<Tracer['startSpan']>) {
  return (error: unknown) => {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') {
      span.setAttribute(ATTR_DB_RESPONSE_STATUS_CODE, code);
    }
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  };
}
