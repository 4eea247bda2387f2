import { expect } from 'vitest';
import type { Config } from '../../platform/config.js';
import { serviceDatabaseUrl } from '../../platform/database.js';
import { createLogger } from '../../platform/logger.js';
import {
  startSubgraph,
  type RunningSubgraph,
  type SubgraphDefinition,
} from '../../platform/subgraph-service.js';
import { identityHeaders } from './identity.js';
import { postGraphQL, type GraphQLResponse } from './stack.js';

/** Starts one real subgraph on its private test database and a free port. */
export function startTestSubgraph<
  TSchema extends Record<string, unknown>,
  TLoaders,
>(
  definition: SubgraphDefinition<TSchema, TLoaders>,
  config: Config,
): Promise<RunningSubgraph<TSchema>> {
  return startSubgraph(definition, {
    config,
    logger: createLogger(definition.name, config.LOG_LEVEL),
    databaseUrl: serviceDatabaseUrl(config, definition.name),
    host: '127.0.0.1',
    port: 0,
  });
}

/** Sends a GraphQL request to a subgraph with an identity signed for `config`. */
export async function requestSubgraph<TData = Record<string, any>>(
  subgraph: { url: string },
  config: Config,
  document: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLResponse<TData>> {
  return postGraphQL<TData>(
    subgraph.url,
    document,
    variables,
    await identityHeaders(config),
  );
}

/** Like `requestSubgraph`, and checks that the subgraph answered HTTP 200. */
export async function querySubgraph(
  subgraph: { url: string },
  config: Config,
  document: string,
  variables: Record<string, unknown> = {},
) {
  const response = await requestSubgraph(subgraph, config, document, variables);
  expect(response.status).toBe(200);
  return response;
}
