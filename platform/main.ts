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
 * Calls `stop` once on SIGINT or SIGTERM, then exits. A second signal
 * while stopping exits at once.
 */
export function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal while stopping; exiting now');
      process.exit(1);
    }
    stopping = true;
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
}

/** Entry point of a subgraph process: `tsx subgraphs/<name>/index.ts`. */
export async function runSubgraphProcess<
  TSchema extends Record<string, unknown>,
  TLoaders,
>(definition: SubgraphDefinition<TSchema, TLoaders>): Promise<void> {
  const config = loadConfig();
  const name: ServiceName = definition.name;
  const logger = createLogger(name, config.LOG_LEVEL);
  try {
    const server = await resolveDatabaseServer(config, logger);
    const running = await startSubgraph(definition, {
      config,
      logger,
      databaseUrl: serviceDatabaseUrl(config, name, server.url),
      host: config.HOST,
      port: servicePort(config, name),
    });
    stopOnSignals(logger, async () => {
      await running.close();
      await server.embedded?.stop();
    });
  } catch (error) {
    logger.fatal({ err: error }, `${name} subgraph failed to start`);
    process.exit(1);
  }
}
