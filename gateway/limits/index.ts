import type { ApolloServerPlugin } from '@apollo/server';
import type { Config } from '../../platform/config.js';
import type { GatewayContext } from '../context.js';

/**
 * Rejects operations over the depth, alias, root-field, directive, token
 * and cost limits before any subgraph is called.
 * NOTE: enforces nothing yet.
 */
export function createOperationLimitsPlugin(
  _config: Config,
): ApolloServerPlugin<GatewayContext> {
  return {};
}
