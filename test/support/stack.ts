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
import {
  bindHttpServer,
  type BoundHttpServer,
} from '../../platform/http-server.js';
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
  /**
   * The configuration every subgraph started with, including the
   * CATALOG_URL, ORDERS_URL, SHIPMENTS_URL and MARKETPLACE_URL of the
   * stack's own subgraphs.
   */
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
 * Starts the four real subgraphs on private databases and random ports, in
 * parallel, and the gateway over them serving the committed supergraph.
 * `overrides` may replace the subgraphs' URLs, such as SHIPMENTS_URL of a
 * proxy in front of shipments. The gateway
 * accepts `callerHeaders`. Every service logs to `options.logger` when it
 * is given, such as a logger with a capturing destination.
 */
export async function startTestStack(
  overrides: Record<string, string> = {},
  options: { logger?: Logger } = {},
): Promise<TestStack> {
  // Every subgraph's port is bound before any subgraph starts, so each one
  // starts with the real URLs of all the others: orders calls the catalog
  // and reads the shipments stream, shipments calls the catalog and orders.
  // The bound servers are handed to the subgraphs, so no other process can
  // take a port between choosing it and listening on it, and a request
  // sent to a subgraph still starting waits for it instead of failing.
  const listeners = {} as Record<ServiceName, BoundHttpServer>;
  await Promise.all(
    SERVICE_NAMES.map(async (name) => {
      listeners[name] = await bindHttpServer('127.0.0.1', 0);
    }),
  );
  const config = createTestConfig({
    CATALOG_URL: listeners.catalog.url,
    ORDERS_URL: listeners.orders.url,
    SHIPMENTS_URL: listeners.shipments.url,
    MARKETPLACE_URL: listeners.marketplace.url,
    ...overrides,
  });
  const logger = options.logger ?? createLogger('test', config.LOG_LEVEL);
  const subgraphs = {} as TestStack['subgraphs'];
  const started = await Promise.allSettled(
    SERVICE_NAMES.map(async (name) => {
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
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    await Promise.all(
      SERVICE_NAMES.map((name) =>
        subgraphs[name] ? subgraphs[name].close() : listeners[name].close(),
      ),
    );
    await dropTestDatabases(config);
    throw failed.reason;
  }
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
