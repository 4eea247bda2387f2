/**
 * `npm start`: runs the whole graph on one machine. Starts PostgreSQL (the
 * embedded server unless DATABASE_URL is set), migrates every service's
 * database and the gateway's, imports the sample catalog into an empty
 * catalog, starts the four subgraphs and the gateway as separate
 * processes, and stops them all on Ctrl-C. In development mode it also
 * provides the identity key pair and a demo admin and partner key.
 */
import {
  isProduction,
  loadConfig,
  SERVICE_NAMES,
  servicePort,
  type Config,
  type ServiceName,
} from '../platform/config.js';
import { connectDatabase, serviceDatabaseUrl } from '../platform/database.js';
import {
  loadOrCreateDevelopmentKeys,
  parsePrivateKey,
  publicKeyPem,
  resolveIdentityKeys,
} from '../platform/identity-keys.js';
import { createLogger, type Logger } from '../platform/logger.js';
import { onStopSignals, resolveDatabaseServer } from '../platform/main.js';
import { prepareSubgraphDatabase } from '../platform/subgraph-service.js';
import { subgraphDefinitions } from '../subgraphs/index.js';
import {
  gatewayDatabaseUrl,
  prepareGatewayDatabase,
  tables as gatewayTables,
} from '../gateway/db/database.js';
import {
  ensureDevelopmentCredentials,
  type DevelopmentCredentials,
} from '../gateway/identity/development-credentials.js';
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

/**
 * Returns the identity key pair that the services get through
 * IDENTITY_PRIVATE_KEY and IDENTITY_PUBLIC_KEY: the configured keys, or in
 * development without them, the pair kept under DATA_DIR (generated on
 * the first start). Invalid keys, and missing or development keys in
 * production mode, are rejected here, before any service starts.
 */
async function identityKeyPair(
  config: Config,
): Promise<{ privateKey: string; publicKey: string }> {
  let pair: { privateKey: string; publicKey: string };
  if (config.IDENTITY_PRIVATE_KEY) {
    pair = {
      privateKey: config.IDENTITY_PRIVATE_KEY,
      publicKey:
        config.IDENTITY_PUBLIC_KEY ??
        publicKeyPem(await parsePrivateKey(config.IDENTITY_PRIVATE_KEY)),
    };
  } else if (isProduction(config) || config.IDENTITY_PUBLIC_KEY) {
    // resolveIdentityKeys below rejects this with the reason.
    pair = { privateKey: '', publicKey: config.IDENTITY_PUBLIC_KEY ?? '' };
  } else {
    pair = await loadOrCreateDevelopmentKeys(config.DATA_DIR);
  }
  await resolveIdentityKeys(
    {
      ...config,
      IDENTITY_PRIVATE_KEY: pair.privateKey || undefined,
      IDENTITY_PUBLIC_KEY: pair.publicKey || undefined,
    },
    'sign',
  );
  return pair;
}

/**
 * Creates the development admin and partner key when the gateway has none,
 * and returns the credentials to print.
 */
async function developmentCredentials(
  config: Config,
  gatewayUrl: string,
  logger: Logger,
): Promise<DevelopmentCredentials> {
  const database = connectDatabase(gatewayUrl, gatewayTables, { poolSize: 1 });
  try {
    return await ensureDevelopmentCredentials(
      database.db,
      config.DATA_DIR,
      logger,
    );
  } finally {
    await database.close();
  }
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
  // then the subgraphs, then the database. Runs once, however many callers ask.
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
    const keys = await identityKeyPair(config);
    const signingConfig = {
      ...config,
      IDENTITY_PRIVATE_KEY: keys.privateKey,
      IDENTITY_PUBLIC_KEY: keys.publicKey,
    };
    databaseStarting = resolveDatabaseServer(config, logger);
    const server = await databaseStarting;
    const gatewayDatabase = gatewayDatabaseUrl(config, server.url)!;
    await Promise.all([
      ...SERVICE_NAMES.map((name) =>
        prepareSubgraphDatabase(
          subgraphDefinitions[name],
          serviceDatabaseUrl(config, name, server.url),
          logger,
        ),
      ),
      prepareGatewayDatabase(gatewayDatabase, logger),
    ]);
    await importSampleCatalogIfEmpty(
      config,
      serviceDatabaseUrl(config, 'catalog', server.url),
      logger,
    );

    // Children reach the database through the URL resolved here, so none of
    // them starts an embedded server of its own. Subgraphs get only the
    // public key, except those that call other subgraphs.
    const environment = { ...process.env, DATABASE_URL: server.url };
    const subgraphEnvironment: NodeJS.ProcessEnv = {
      ...environment,
      IDENTITY_PUBLIC_KEY: keys.publicKey,
    };
    delete subgraphEnvironment.IDENTITY_PRIVATE_KEY;
    for (const name of SERVICE_NAMES) {
      // Orders calls the catalog for stock and reads the shipments event
      // stream, at the ports they are started on here, and signs those
      // calls as a service, so it holds the private key like the gateway
      // does (docs/identity.md).
      startService(
        name,
        name === 'orders'
          ? {
              ...subgraphEnvironment,
              IDENTITY_PRIVATE_KEY: keys.privateKey,
              CATALOG_URL:
                subgraphEnvironment.CATALOG_URL ||
                localUrl(config, config.CATALOG_PORT, '/graphql'),
              SHIPMENTS_URL:
                subgraphEnvironment.SHIPMENTS_URL ||
                localUrl(config, config.SHIPMENTS_PORT, '/graphql'),
            }
          : name === 'shipments'
            ? {
                // Shipments commits stock in the catalog and reads orders,
                // signed as a service like orders.
                ...subgraphEnvironment,
                IDENTITY_PRIVATE_KEY: keys.privateKey,
                CATALOG_URL:
                  subgraphEnvironment.CATALOG_URL ||
                  localUrl(config, config.CATALOG_PORT, '/graphql'),
                ORDERS_URL:
                  subgraphEnvironment.ORDERS_URL ||
                  localUrl(config, config.ORDERS_PORT, '/graphql'),
              }
            : name === 'marketplace'
              ? {
                  // The listing sync reads the catalog's event stream and
                  // variants, signed as a service.
                  ...subgraphEnvironment,
                  IDENTITY_PRIVATE_KEY: keys.privateKey,
                  CATALOG_URL:
                    subgraphEnvironment.CATALOG_URL ||
                    localUrl(config, config.CATALOG_PORT, '/graphql'),
                  // Marketplace orders are imported into orders, and
                  // their shipments read from the shipments stream.
                  ORDERS_URL:
                    subgraphEnvironment.ORDERS_URL ||
                    localUrl(config, config.ORDERS_PORT, '/graphql'),
                  SHIPMENTS_URL:
                    subgraphEnvironment.SHIPMENTS_URL ||
                    localUrl(config, config.SHIPMENTS_PORT, '/graphql'),
                }
              : subgraphEnvironment,
      );
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
    await seedDemoListingsAt(
      signingConfig,
      serviceDatabaseUrl(config, 'marketplace', server.url),
      localUrl(config, config.CATALOG_PORT, '/graphql'),
      logger,
    );
    const credentials = isProduction(config)
      ? undefined
      : await developmentCredentials(config, gatewayDatabase, logger);

    const gateway = startService(
      'gateway',
      gatewayEnvironment(config, {
        ...environment,
        IDENTITY_PRIVATE_KEY: keys.privateKey,
        IDENTITY_PUBLIC_KEY: keys.publicKey,
      }),
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
    if (credentials) printDevelopmentCredentials(config, credentials);
    process.stdout.write('Press Ctrl-C to stop.\n\n');
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
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

/**
 * Prints the development admin and partner key. These are development
 * secrets, printed for the person who started the graph and never logged.
 */
function printDevelopmentCredentials(
  config: Config,
  credentials: DevelopmentCredentials,
): void {
  const tokenUrl = localUrl(config, config.GATEWAY_PORT, '/auth/staff/token');
  const lines = ['', `Development credentials (kept in ${credentials.file}):`];
  if (credentials.staff) {
    const body = JSON.stringify(credentials.staff);
    lines.push(
      `  staff admin  ${credentials.staff.email}  password ${credentials.staff.password}`,
      `    get a token: curl -s ${tokenUrl} -H 'content-type: application/json' -d '${body}'`,
      `    then send:   authorization: Bearer <accessToken>`,
    );
  } else {
    lines.push(
      '  staff admin  an account existed before this file; create one with',
      '    npx tsx gateway/identity/cli.ts create-staff --email EMAIL --role admin',
    );
  }
  if (credentials.partnerKey) {
    lines.push(
      `  partner key  ${credentials.partnerKey.key}`,
      `    send as:     x-api-key: <key>   (scopes: ${credentials.partnerKey.scopes.join(', ')})`,
    );
  } else {
    lines.push(
      '  partner key  none on file; an admin creates one with POST /admin/partner-keys',
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
