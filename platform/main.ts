import type { Config, ServiceName } from './config.js';
import { loadConfig, servicePort } from './config.js';
import { serviceDatabaseUrl } from './database.js';
import {
  startEmbeddedPostgres,
  type EmbeddedServer,
} from './embedded-postgres.js';
import { createLogger, type Logger } from './logger.js';
import { startSubgraph, type SubgraphDefinition } from './subgraph-service.js';

/**
 * Returns the PostgreSQL server URL to use: DATABASE_URL when set, otherwise
 * the embedded server under DATA_DIR (started here when it is not running).
 */
export async function resolveDatabaseServer(
  config: Config,
  logger: Logger,
): Promise<{ url: string; embedded?: EmbeddedServer }> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL };
  const embedded = await startEmbeddedPostgres({
    dataDir: config.DATA_DIR,
    port: config.EMBEDDED_PG_PORT,
    logger,
  });
  return { url: embedded.url, embedded };
}

/**
 * Signals that arrive within this time of the first count as the same
 * request to stop. A terminal's Ctrl-C reaches every process of the group,
 * and npm also forwards it to its child, so one Ctrl-C often arrives twice.
 */
export const DUPLICATE_SIGNAL_WINDOW_MS = 1000;

/**
 * Calls `stop` once on SIGINT, SIGTERM or SIGHUP, then exits. A signal
 * that comes later than DUPLICATE_SIGNAL_WINDOW_MS after the first, while
 * stopping, calls `force` and exits at once.
 */
export function onStopSignals(
  logger: Logger,
  stop: () => Promise<void>,
  force: () => void = () => {},
): void {
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt !== undefined) {
      if (Date.now() - firstSignalAt < DUPLICATE_SIGNAL_WINDOW_MS) return;
      logger.warn({ signal }, 'second signal while stopping; exiting now');
      force();
      process.exit(1);
    }
    firstSignalAt = Date.now();
    logger.info({ signal }, 'stopping');
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'failed to stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // A process started by `npm start` has an IPC channel to it; when the
  // channel closes, the supervisor is gone and no other process will stop
  // this one.
  if (process.send) {
    process.once('disconnect', () => onSignal('SIGHUP'));
  }
}

/** Stops a service process on SIGINT, SIGTERM, SIGHUP or a lost supervisor. */
export function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  onStopSignals(logger, stop);
}

/** Entry point of a subgraph process: `tsx subgraphs/<name>/index.ts`. */
export async function runSubgraphProcess<
  TSchema extends Record<string, unknown>,
  TLoaders,
>(definition: SubgraphDefinition<TSchema, TLoaders>): Promise<void> {
  const config = loadConfig();
  const name: ServiceName = definition.name;
  const logger = createLogger(name, config.LOG_LEVEL);
  // Signals are handled from the start, so a process that gets a signal while it
  // is still migrating stops what it has started so far.
  let server: Awaited<ReturnType<typeof resolveDatabaseServer>> | undefined;
  let running: Awaited<ReturnType<typeof startSubgraph>> | undefined;
  stopOnSignals(logger, async () => {
    await running?.close();
    await server?.embedded?.stop();
  });
  try {
    server = await resolveDatabaseServer(config, logger);
    running = await startSubgraph(definition, {
      config,
      logger,
      databaseUrl: serviceDatabaseUrl(config, name, server.url),
      host: config.HOST,
      port: servicePort(config, name),
    });
  } catch (error) {
    logger.fatal({ err: error }, `${name} subgraph failed to start`);
    process.exit(1);
  }
}
