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
import { onStopSignals, resolveDatabaseServer } from '../platform/main.js';
import { prepareSubgraphDatabase } from '../platform/subgraph-service.js';
import { subgraphDefinitions } from '../subgraphs/index.js';
import {
  importSampleCatalogIfEmpty,
  seedDemoListingsAt,
} from './sample-data.js';
import {
  assertPortFree,
  startChildService,
  stopChildService,
  waitUntilReady,
  type ChildService,
} from './supervisor.js';

const READY_TIMEOUT_MS = 60_000;

/** Thrown to end start-up once a signal has begun stopping everything. */
class StoppingError extends Error {
  constructor() {
    super('stopping');
  }
}

const entryPoints: Record<ServiceName | 'gateway', string> = {
  catalog: 'subgraphs/catalog/index.ts',
  orders: 'subgraphs/orders/index.ts',
  shipments: 'subgraphs/shipments/index.ts',
  marketplace: 'subgraphs/marketplace/index.ts',
  gateway: 'gateway/index.ts',
};

const urlVariables: Record<ServiceName, string> = {
  catalog: 'CATALOG_URL',
  orders: 'ORDERS_URL',
  shipments: 'SHIPMENTS_URL',
  marketplace: 'MARKETPLACE_URL',
};

function localUrl(config: Config, port: number, path: string): string {
  const host =
    config.HOST === '0.0.0.0' || config.HOST === '::'
      ? 'localhost'
      : config.HOST;
  return `http://${host}:${port}${path}`;
}

/**
 * Returns the gateway's environment: each subgraph's URL points at the port
 * it was started on here, unless its *_URL variable is set, so changing a
 * subgraph's port needs no second setting.
 */
function gatewayEnvironment(
  config: Config,
  environment: NodeJS.ProcessEnv,
): NodeJS.ProcessEnv {
  const result = { ...environment };
  for (const name of SERVICE_NAMES) {
    result[urlVariables[name]] ??= localUrl(
      config,
      servicePort(config, name),
      '/graphql',
    );
  }
  return result;
}

async function checkPortsFree(config: Config): Promise<void> {
  await assertPortFree(config.HOST, config.GATEWAY_PORT, 'GATEWAY_PORT');
  for (const name of SERVICE_NAMES) {
    await assertPortFree(
      config.HOST,
      servicePort(config, name),
      `${name.toUpperCase()}_PORT`,
    );
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('start', config.LOG_LEVEL);
  const children: ChildService[] = [];
  let databaseStarting: ReturnType<typeof resolveDatabaseServer> | undefined;
  let stopped: Promise<never> | undefined;

  // Starts a service unless stopping has begun, so a signal that arrives
  // during start-up leaves no service behind.
  function startService(
    name: ServiceName | 'gateway',
    environment: NodeJS.ProcessEnv,
  ): ChildService {
    if (stopped) throw new StoppingError();
    const child = startChildService(name, entryPoints[name], environment);
    children.push(child);
    return child;
  }

  // Stops the gateway first, so no request reaches a subgraph that is gone,
  // then the subgraphs, then the database. Runs once, whoever calls it.
  function stopAll(exitCode: number): Promise<never> {
    stopped ??= (async () => {
      for (const child of [...children].reverse()) {
        await stopChildService(child, config.SHUTDOWN_GRACE_MS + 5000, logger);
      }
      // A server still starting is waited for, then stopped.
      const server = await databaseStarting?.catch(() => undefined);
      await server?.embedded?.stop();
      process.stdout.write('All services stopped.\n');
      process.exit(exitCode);
    })();
    return stopped;
  }
  onStopSignals(
    logger,
    () => stopAll(0),
    () => {
      for (const child of children) child.process.kill('SIGKILL');
    },
  );

  try {
    await checkPortsFree(config);
    databaseStarting = resolveDatabaseServer(config, logger);
    const server = await databaseStarting;
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
    for (const name of SERVICE_NAMES) startService(name, environment);
    await Promise.all(
      SERVICE_NAMES.map((name, index) =>
        waitUntilReady(
          children[index]!,
          localUrl(config, servicePort(config, name), '/ready'),
          READY_TIMEOUT_MS,
        ),
      ),
    );
    await seedDemoListingsAt(
      serviceDatabaseUrl(config, 'marketplace', server.url),
      localUrl(config, config.CATALOG_PORT, '/graphql'),
      logger,
    );

    const gateway = startService(
      'gateway',
      gatewayEnvironment(config, environment),
    );
    await waitUntilReady(
      gateway,
      localUrl(config, config.GATEWAY_PORT, '/ready'),
      READY_TIMEOUT_MS,
    );
    for (const child of children) {
      void child.exited.then((code) => {
        if (stopped) return;
        logger.error(
          { service: child.name, code },
          'service exited unexpectedly; stopping the others',
        );
        void stopAll(1);
      });
    }
    printUrls(config);
  } catch (error) {
    if (stopped) {
      await stopped;
      return;
    }
    logger.error({ err: error }, 'start failed');
    process.stderr.write(`npm start failed: ${(error as Error).message}\n`);
    await stopAll(1);
  }
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
