/**
 * `npm start`: runs the whole graph on one machine. Starts PostgreSQL (the
 * embedded server unless DATABASE_URL is set), migrates every service's
 * database, imports the sample catalog into an empty catalog, starts the
 * four subgraphs and the gateway as separate processes, and stops them all
 * on Ctrl-C.
 */
import {
  loadConfig,
  SERVICE_NAMES,
  servicePort,
  type Config,
  type ServiceName,
} from '../platform/config.js';
import { serviceDatabaseUrl } from '../platform/database.js';
import { createLogger, type Logger } from '../platform/logger.js';
import { resolveDatabaseServer } from '../platform/main.js';
import { prepareSubgraphDatabase } from '../platform/subgraph-service.js';
import { subgraphDefinitions } from '../subgraphs/index.js';
import {
  importSampleCatalogIfEmpty,
  seedDemoListingsAt,
} from './sample-data.js';
import {
  startChildService,
  stopChildService,
  waitUntilReady,
  type ChildService,
} from './supervisor.js';

const READY_TIMEOUT_MS = 60_000;

const entryPoints: Record<ServiceName | 'gateway', string> = {
  catalog: 'subgraphs/catalog/index.ts',
  orders: 'subgraphs/orders/index.ts',
  shipments: 'subgraphs/shipments/index.ts',
  marketplace: 'subgraphs/marketplace/index.ts',
  gateway: 'gateway/index.ts',
};

function localUrl(config: Config, port: number, path: string): string {
  const host =
    config.HOST === '0.0.0.0' || config.HOST === '::'
      ? 'localhost'
      : config.HOST;
  return `http://${host}:${port}${path}`;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('start', config.LOG_LEVEL);
  const server = await resolveDatabaseServer(config, logger);
  const children: ChildService[] = [];
  let stopping = false;

  async function stopAll(exitCode: number): Promise<never> {
    stopping = true;
    // The gateway first, so no request reaches a subgraph that is gone.
    for (const child of [...children].reverse()) {
      await stopChildService(child, config.SHUTDOWN_GRACE_MS + 5000, logger);
    }
    await server.embedded?.stop();
    process.stdout.write('All services stopped.\n');
    process.exit(exitCode);
  }
  process.on('SIGINT', () => void (stopping || stopAll(0)));
  process.on('SIGTERM', () => void (stopping || stopAll(0)));

  try {
    await Promise.all(
      SERVICE_NAMES.map((name) =>
        prepareSubgraphDatabase(
          subgraphDefinitions[name],
          serviceDatabaseUrl(config, name, server.url),
          logger,
        ),
      ),
    );
    await importSampleCatalogIfEmpty(
      config,
      serviceDatabaseUrl(config, 'catalog', server.url),
      logger,
    );

    // Children reach the database through the URL resolved here, so none of
    // them starts an embedded server of its own.
    const environment = { ...process.env, DATABASE_URL: server.url };
    for (const name of SERVICE_NAMES) {
      children.push(startChildService(name, entryPoints[name], environment));
    }
    await Promise.all(
      SERVICE_NAMES.map((name, index) =>
        waitUntilReady(
          children[index]!,
          localUrl(config, servicePort(config, name), '/ready'),
          READY_TIMEOUT_MS,
        ),
      ),
    );
    await seedDemoData(config, server.url, logger);

    const gateway = startChildService(
      'gateway',
      entryPoints.gateway,
      environment,
    );
    children.push(gateway);
    await waitUntilReady(
      gateway,
      localUrl(config, config.GATEWAY_PORT, '/ready'),
      READY_TIMEOUT_MS,
    );
    for (const child of children) {
      void child.exited.then((code) => {
        if (stopping) return;
        logger.error(
          { service: child.name, code },
          'service exited unexpectedly; stopping the others',
        );
        void stopAll(1);
      });
    }
    printUrls(config);
  } catch (error) {
    logger.error({ err: error }, 'start failed');
    await stopAll(1);
  }
}

async function seedDemoData(
  config: Config,
  serverUrl: string,
  logger: Logger,
): Promise<void> {
  await seedDemoListingsAt(
    serviceDatabaseUrl(config, 'marketplace', serverUrl),
    localUrl(config, config.CATALOG_PORT, '/graphql'),
    logger,
  );
}

function printUrls(config: Config): void {
  const lines = [
    '',
    'The commerce graph is running:',
    `  gateway      ${localUrl(config, config.GATEWAY_PORT, '/graphql')}`,
    ...SERVICE_NAMES.map(
      (name) =>
        `  ${name.padEnd(12)} ${localUrl(config, servicePort(config, name), '/graphql')}`,
    ),
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
