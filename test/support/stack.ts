import { fileURLToPath } from 'node:url';
import {
  SERVICE_NAMES,
  type Config,
  type ServiceName,
} from '../../platform/config.js';
import { serviceDatabaseUrl } from '../../platform/database.js';
import { createLogger } from '../../platform/logger.js';
import {
  startSubgraph,
  type RunningSubgraph,
} from '../../platform/subgraph-service.js';
import { startGateway } from '../../gateway/server.js';
import { subgraphDefinitions } from '../../subgraphs/index.js';
import { createTestConfig, dropTestDatabases } from './config.js';

export const committedSupergraphPath = fileURLToPath(
  new URL('../../schema/supergraph.graphql', import.meta.url),
);

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
  /** Sends a GraphQL request to the gateway over HTTP. */
  query<TData = Record<string, any>>(
    document: string,
    variables?: Record<string, unknown>,
  ): Promise<GraphQLResponse<TData>>;
  close(): Promise<void>;
}

export async function postGraphQL<TData>(
  url: string,
  document: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLResponse<TData>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
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
 * and the gateway over them serving the committed supergraph.
 */
export async function startTestStack(
  overrides: Record<string, string> = {},
): Promise<TestStack> {
  const config = createTestConfig(overrides);
  const logger = createLogger('test', config.LOG_LEVEL);
  const subgraphs = {} as TestStack['subgraphs'];
  await Promise.all(
    SERVICE_NAMES.map(async (name) => {
      subgraphs[name] = (await startSubgraph(
        subgraphDefinitions[name] as never,
        {
          config,
          logger: logger.child({ service: name }),
          databaseUrl: serviceDatabaseUrl(config, name),
          host: '127.0.0.1',
          port: 0,
        },
      )) as RunningSubgraph<Record<string, unknown>>;
    }),
  );
  const gateway = await startGateway({
    config,
    logger: logger.child({ service: 'gateway' }),
    supergraphPath: committedSupergraphPath,
    subgraphUrls: Object.fromEntries(
      SERVICE_NAMES.map((name) => [name, subgraphs[name].url]),
    ),
    host: '127.0.0.1',
    port: 0,
  });
  return {
    config,
    subgraphs,
    gatewayUrl: gateway.url,
    query: (document, variables) =>
      postGraphQL(gateway.url, document, variables),
    async close() {
      await gateway.close();
      await Promise.all(SERVICE_NAMES.map((name) => subgraphs[name].close()));
      await dropTestDatabases(config);
    },
  };
}
