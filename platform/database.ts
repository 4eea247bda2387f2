import type { Tracer } from '@opentelemetry/api';
import postgres, { type Sql } from 'postgres';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type { Config, ServiceName } from './config.js';
import type { Logger } from './logger.js';
import { PoolUsage, trackPoolUsage } from './pool-usage.js';
import { traceQueries } from './sql-tracing.js';

export type Database<TSchema extends Record<string, unknown>> =
  PostgresJsDatabase<TSchema>;

/** Counts SQL statements sent by one connection pool, for tests and benches. */
export class QueryCounter {
  count = 0;
  /** Statement texts since the last reset, kept only while `recording` is set. */
  statements: string[] = [];
  recording = false;

  reset(): void {
    this.count = 0;
    this.statements = [];
  }

  add(statement: string): void {
    this.count += 1;
    if (this.recording) this.statements.push(statement);
  }
}

export interface DatabaseHandle<TSchema extends Record<string, unknown>> {
  db: Database<TSchema>;
  sql: Sql;
  queries: QueryCounter;
  /** Queries and transactions that `db` has in flight, for /metrics. */
  usage: PoolUsage;
  close(): Promise<void>;
}

/**
 * Returns the connection URL of a service's own database. A per-service
 * variable (CATALOG_DATABASE_URL, …) is used as it is; otherwise the database
 * `<DATABASE_PREFIX>_<service>` on the DATABASE_URL server.
 */
export function serviceDatabaseUrl(
  config: Config,
  service: ServiceName,
  serverUrl = config.DATABASE_URL,
): string {
  const overrides: Record<ServiceName, string | undefined> = {
    catalog: config.CATALOG_DATABASE_URL,
    orders: config.ORDERS_DATABASE_URL,
    shipments: config.SHIPMENTS_DATABASE_URL,
    marketplace: config.MARKETPLACE_DATABASE_URL,
  };
  const override = overrides[service];
  if (override) return override;
  if (!serverUrl) {
    throw new Error(
      `No database configured for ${service}: set DATABASE_URL, ${service.toUpperCase()}_DATABASE_URL, or start through the embedded server.`,
    );
  }
  return withDatabaseName(serverUrl, `${config.DATABASE_PREFIX}_${service}`);
}

export function withDatabaseName(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Creates the database named in `url` if it does not exist. Concurrent
 * callers are safe: a `duplicate_database` error from a racing replica counts
 * as success.
 */
export async function ensureDatabase(url: string): Promise<void> {
  const parsed = new URL(url);
  const name = decodeURIComponent(parsed.pathname.slice(1));
  parsed.pathname = '/postgres';
  const admin = postgres(parsed.toString(), { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`select 1 from pg_database where datname = ${name}`;
    if (rows.length === 0) {
      await admin.unsafe(`create database "${name.replaceAll('"', '""')}"`);
    }
  } catch (error) {
    if ((error as { code?: string }).code !== '42P04') throw error;
  } finally {
    await admin.end();
  }
}

/** Drops a database, ending its other sessions first. For tests. */
export async function dropDatabase(url: string): Promise<void> {
  const parsed = new URL(url);
  const name = decodeURIComponent(parsed.pathname.slice(1));
  parsed.pathname = '/postgres';
  const admin = postgres(parsed.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(
      `drop database if exists "${name.replaceAll('"', '""')}" with (force)`,
    );
  } finally {
    await admin.end();
  }
}

/**
 * Applies the committed drizzle-kit migrations in `migrationsFolder`. A
 * session-level advisory lock, keyed by the database name, serialises
 * replicas and tools (such as the importer) that migrate the same database
 * at the same time, so only one of them runs each migration.
 */
export async function runMigrations(
  url: string,
  migrationsFolder: string,
  logger: Logger,
): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const database = decodeURIComponent(new URL(url).pathname.slice(1));
    await sql`select pg_advisory_lock(hashtext(${'migrations:' + database}))`;
    await migrate(drizzle(sql), { migrationsFolder });
    logger.debug({ migrationsFolder }, 'migrations applied');
  } finally {
    await sql.end();
  }
}

/**
 * Opens a connection pool with a statement counter. With a `tracer`, each
 * statement and transaction that `db` sends gets a span
 * (platform/sql-tracing.ts).
 */
export function connectDatabase<TSchema extends Record<string, unknown>>(
  url: string,
  schema: TSchema,
  options: { poolSize?: number; tracer?: Tracer } = {},
): DatabaseHandle<TSchema> {
  const queries = new QueryCounter();
  const sql = postgres(url, {
    max: options.poolSize ?? 10,
    onnotice: () => {},
    debug: (_connection, statement) => queries.add(statement),
  });
  const usage = new PoolUsage(sql.options.max);
  const tracked = trackPoolUsage(sql, usage);
  const client = options.tracer
    ? traceQueries(tracked, options.tracer, sql.options.database)
    : tracked;
  const db = drizzle(client, { schema });
  return {
    db,
    sql,
    queries,
    usage,
    close: () => sql.end({ timeout: 5 }),
  };
}
