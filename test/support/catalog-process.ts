import { randomUUID } from 'node:crypto';
import net from 'node:net';
import {
  SERVICE_NAMES,
  type Config,
  type ServiceName,
} from '../../platform/config.js';
import { serviceDatabaseUrl } from '../../platform/database.js';
import {
  bindHttpServer,
  type BoundHttpServer,
} from '../../platform/http-server.js';
import { parsePrivateKey } from '../../platform/identity-keys.js';
import { createLogger } from '../../platform/logger.js';
import {
  startSubgraph,
  type RunningSubgraph,
} from '../../platform/subgraph-service.js';
import { issueStaffAccessToken } from '../../gateway/identity/access-tokens.js';
import { startGateway } from '../../gateway/server.js';
import {
  startChildService,
  stopChildService,
  waitUntilReady,
  type ChildService,
} from '../../scripts/supervisor.js';
import { subgraphDefinitions } from '../../subgraphs/index.js';
import { createTestConfig, dropTestDatabases } from './config.js';
import {
  committedSupergraphPath,
  postGraphQL,
  type GraphQLResponse,
} from './stack.js';

const READY_TIMEOUT_MS = 60_000;

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A test stack whose catalog subgraph runs as a separate OS process. */
export interface CatalogProcessStack {
  config: Config;
  gatewayUrl: string;
  /** The gateway's origin, for its other routes: `http://127.0.0.1:<port>`. */
  gatewayOrigin: string;
  /** GraphQL URL of the catalog process; the same port after every restart. */
  catalogUrl: string;
  /** The running catalog process, or undefined while it is stopped. */
  readonly catalog: ChildService | undefined;
  /** `authorization` header with a staff admin access token. */
  staffHeaders: Record<string, string>;
  query<TData = Record<string, any>>(
    document: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<TData>>;
  /** Sends SIGKILL to the catalog process and waits until it has exited. */
  killCatalog(): Promise<void>;
  /** Starts the catalog process again on the same port and database. */
  startCatalog(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the catalog subgraph as a child process
 * (`node --import tsx subgraphs/catalog/index.ts`, as `npm start` does) on
 * a port chosen up front, then the other subgraphs and the gateway in this
 * process with CATALOG_URL pointing at it. Every service uses the test's
 * private databases. The gateway accepts `callerHeaders`, except on routes
 * that read only real credentials, such as /admin/webhooks, for which
 * `staffHeaders` carries a signed staff token.
 */
export async function startStackWithCatalogProcess(
  overrides: Record<string, string> = {},
): Promise<CatalogProcessStack> {
  const catalogPort = await findFreePort();
  const catalogUrl = `http://127.0.0.1:${catalogPort}/graphql`;
  const inProcess = SERVICE_NAMES.filter((name) => name !== 'catalog');
  const listeners = {} as Record<ServiceName, BoundHttpServer>;
  await Promise.all(
    inProcess.map(async (name) => {
      listeners[name] = await bindHttpServer('127.0.0.1', 0);
    }),
  );
  const config = createTestConfig({
    CATALOG_URL: catalogUrl,
    ORDERS_URL: listeners.orders.url,
    SHIPMENTS_URL: listeners.shipments.url,
    MARKETPLACE_URL: listeners.marketplace.url,
    ...overrides,
  });
  const logger = createLogger('test', config.LOG_LEVEL);
  const catalogEnvironment: NodeJS.ProcessEnv = {
    ...process.env,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    HOST: '127.0.0.1',
    CATALOG_PORT: String(catalogPort),
    DATABASE_URL: config.DATABASE_URL!,
    DATABASE_PREFIX: config.DATABASE_PREFIX,
    IDENTITY_PRIVATE_KEY: config.IDENTITY_PRIVATE_KEY!,
    IDENTITY_PUBLIC_KEY: config.IDENTITY_PUBLIC_KEY!,
    ORDERS_URL: listeners.orders.url,
    SHIPMENTS_URL: listeners.shipments.url,
    MARKETPLACE_URL: listeners.marketplace.url,
    SHUTDOWN_GRACE_MS: '2000',
  };

  let catalog: ChildService | undefined;
  const startCatalog = async () => {
    if (catalog) throw new Error('The catalog process is already running.');
    const started = startChildService(
      'catalog',
      'subgraphs/catalog/index.ts',
      catalogEnvironment,
    );
    catalog = started;
    await waitUntilReady(
      started,
      `http://127.0.0.1:${catalogPort}/ready`,
      READY_TIMEOUT_MS,
    );
  };
  const stopCatalog = async () => {
    const running = catalog;
    catalog = undefined;
    if (running) await stopChildService(running, 5_000, logger);
  };

  const subgraphs: Partial<
    Record<ServiceName, RunningSubgraph<Record<string, unknown>>>
  > = {};
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  const closeAll = async () => {
    await gateway?.close();
    await Promise.all(
      inProcess.map((name) =>
        subgraphs[name] ? subgraphs[name].close() : listeners[name].close(),
      ),
    );
    await stopCatalog();
    await dropTestDatabases(config);
  };

  try {
    // The catalog migrates its own database before the others call it.
    await startCatalog();
    await Promise.all(
      inProcess.map(async (name) => {
        subgraphs[name] = (await startSubgraph(
          subgraphDefinitions[name] as never,
          {
            config,
            logger: logger.child({ service: name }),
            databaseUrl: serviceDatabaseUrl(config, name),
            listener: listeners[name],
          },
        )) as RunningSubgraph<Record<string, unknown>>;
      }),
    );
    gateway = await startGateway({
      config,
      logger: logger.child({ service: 'gateway' }),
      supergraphPath: committedSupergraphPath,
      subgraphUrls: {
        catalog: catalogUrl,
        ...Object.fromEntries(
          inProcess.map((name) => [name, subgraphs[name]!.url]),
        ),
      },
      host: '127.0.0.1',
      port: 0,
      acceptTestCallerHeader: true,
    });
  } catch (error) {
    await closeAll();
    throw error;
  }

  const signingKey = await parsePrivateKey(config.IDENTITY_PRIVATE_KEY!);
  const { accessToken } = await issueStaffAccessToken(
    signingKey,
    { id: randomUUID(), role: 'admin' },
    3600,
  );
  const gatewayUrl = gateway.url;
  return {
    config,
    gatewayUrl,
    gatewayOrigin: new URL(gatewayUrl).origin,
    catalogUrl,
    get catalog() {
      return catalog;
    },
    staffHeaders: { authorization: `Bearer ${accessToken}` },
    query: (document, variables, headers) =>
      postGraphQL(gatewayUrl, document, variables, headers),
    async killCatalog() {
      const running = catalog;
      catalog = undefined;
      if (!running) return;
      running.process.kill('SIGKILL');
      await running.exited;
    },
    startCatalog,
    close: closeAll,
  };
}
