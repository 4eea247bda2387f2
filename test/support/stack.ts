import { fileURLToPath } from 'node:url';
import {
  SERVICE_NAMES,
  type Config,
  type ServiceName,
} from '../../platform/config.js';
import { randomBytes } from 'node:crypto';
import {
  connectDatabase,
  serviceDatabaseUrl,
} from '../../platform/database.js';
import { createLogger, type Logger } from '../../platform/logger.js';
import {
  startSubgraph,
  type RunningSubgraph,
} from '../../platform/subgraph-service.js';
import { gatewayDatabaseUrl, tables } from '../../gateway/db/database.js';
import { createStaffAccount } from '../../gateway/identity/staff-accounts.js';
import { scopesOfRoles } from '../../gateway/identity/scopes.js';
import { TEST_CALLER_HEADER } from '../../gateway/authorization/index.js';
import type { CallerIdentity } from '../../gateway/caller.js';
import { startGateway } from '../../gateway/server.js';
import { subgraphDefinitions } from '../../subgraphs/index.js';
import type { SubgraphCaller } from '../../platform/identity.js';
import { createTestConfig, dropTestDatabases } from './config.js';
import { identityHeaders } from './identity.js';

export const committedSupergraphPath = fileURLToPath(
  new URL('../../schema/supergraph.graphql', import.meta.url),
);

/** A staff admin with the admin role's scopes, for `callerHeaders`. */
export const STAFF_ADMIN: CallerIdentity = {
  kind: 'staff',
  subject: '00000000-0000-7000-8000-00000000000a',
  roles: ['admin'],
  scopes: scopesOfRoles(['admin']),
};

/**
 * Returns headers that make the test stack's gateway treat the request as
 * sent by `caller`, without credentials. Only gateways started with
 * `acceptTestCallerHeader`, as `startTestStack` does, read them.
 */
export function callerHeaders(caller: CallerIdentity): Record<string, string> {
  return { [TEST_CALLER_HEADER]: JSON.stringify(caller) };
}

export interface GraphQLResponse<TData = Record<string, any>> {
  status: number;
  data?: TData | null;
  errors?: Array<{
    message: string;
    path?: (string | number)[];
    extensions?: Record<string, any>;
  }>;
}

export interface TestStack {
  config: Config;
  subgraphs: Record<ServiceName, RunningSubgraph<Record<string, unknown>>>;
  gatewayUrl: string;
  /** The gateway's origin, for its other routes: `http://127.0.0.1:<port>`. */
  gatewayOrigin: string;
  /**
   * Returns an `authorization` header with a staff access token of `role`,
   * signed in through `POST /auth/staff/token`. The account is created on
   * first use and reused by later calls.
   */
  staffHeaders(role: 'admin' | 'support'): Promise<Record<string, string>>;
  /**
   * Sends a GraphQL request to the gateway over HTTP, with `headers` such
   * as credentials.
   */
  query<TData = Record<string, any>>(
    document: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<TData>>;
  /**
   * Sends a GraphQL request straight to a subgraph, with `caller` (an
   * admin by default) signed into the identity header.
   */
  querySubgraph<TData = Record<string, any>>(
    name: ServiceName,
    document: string,
    variables?: Record<string, unknown>,
    caller?: SubgraphCaller,
  ): Promise<GraphQLResponse<TData>>;
  close(): Promise<void>;
}

export async function postGraphQL<TData>(
  url: string,
  document: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<TData>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: document, variables }),
  });
  const body = (await response.json()) as Omit<
    GraphQLResponse<TData>,
    'status'
  >;
  return { status: response.status, ...body };
}

/**
 * Starts the four real subgraphs on private databases and random ports,
 * and the gateway over them serving the committed supergraph. The gateway
 * accepts `callerHeaders`. Every service logs to `options.logger` when it
 * is given, such as a logger with a capturing destination.
 */
export async function startTestStack(
  overrides: Record<string, string> = {},
  options: { logger?: Logger } = {},
): Promise<TestStack> {
  const config = createTestConfig(overrides);
  const logger = options.logger ?? createLogger('test', config.LOG_LEVEL);
  const subgraphs = {} as TestStack['subgraphs'];
  const start = async (name: ServiceName, serviceConfig: Config) => {
    subgraphs[name] = (await startSubgraph(subgraphDefinitions[name] as never, {
      config: serviceConfig,
      logger: logger.child({ service: name }),
      databaseUrl: serviceDatabaseUrl(config, name),
      host: '127.0.0.1',
      port: 0,
    })) as RunningSubgraph<Record<string, unknown>>;
  };
  // Orders calls the catalog for stock, so it starts with the catalog's
  // real URL; shipments calls both, so it starts after them with both.
  await start('catalog', config);
  await start('orders', { ...config, CATALOG_URL: subgraphs.catalog.url });
  await Promise.all(
    SERVICE_NAMES.filter((name) => name !== 'catalog' && name !== 'orders').map(
      (name) =>
        start(
          name,
          name === 'shipments'
            ? {
                ...config,
                CATALOG_URL: subgraphs.catalog.url,
                ORDERS_URL: subgraphs.orders.url,
              }
            : config,
        ),
    ),
  );
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway({
      config,
      logger: logger.child({ service: 'gateway' }),
      supergraphPath: committedSupergraphPath,
      subgraphUrls: Object.fromEntries(
        SERVICE_NAMES.map((name) => [name, subgraphs[name].url]),
      ),
      host: '127.0.0.1',
      port: 0,
      acceptTestCallerHeader: true,
    });
  } catch (error) {
    await Promise.all(SERVICE_NAMES.map((name) => subgraphs[name].close()));
    await dropTestDatabases(config);
    throw error;
  }
  const gatewayOrigin = new URL(gateway.url).origin;
  const staffTokens = new Map<string, Promise<string>>();
  const signIn = async (role: 'admin' | 'support') => {
    const email = `${role}-${randomBytes(4).toString('hex')}@example.com`;
    const password = randomBytes(16).toString('base64url');
    const database = connectDatabase(gatewayDatabaseUrl(config)!, tables, {
      poolSize: 1,
    });
    try {
      await createStaffAccount(database.db, { email, password, role });
    } finally {
      await database.close();
    }
    const response = await fetch(`${gatewayOrigin}/auth/staff/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    if (response.status !== 200) {
      throw new Error(`Staff sign-in failed with HTTP ${response.status}.`);
    }
    return ((await response.json()) as { accessToken: string }).accessToken;
  };
  return {
    config,
    subgraphs,
    gatewayUrl: gateway.url,
    gatewayOrigin,
    async staffHeaders(role) {
      if (!staffTokens.has(role)) staffTokens.set(role, signIn(role));
      return { authorization: `Bearer ${await staffTokens.get(role)}` };
    },
    query: (document, variables, headers) =>
      postGraphQL(gateway.url, document, variables, headers),
    querySubgraph: async (name, document, variables, caller) =>
      postGraphQL(
        subgraphs[name].url,
        document,
        variables,
        await identityHeaders(config, caller),
      ),
    async close() {
      await gateway.close();
      await Promise.all(SERVICE_NAMES.map((name) => subgraphs[name].close()));
      await dropTestDatabases(config);
    },
  };
}
