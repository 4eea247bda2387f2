import { fileURLToPath } from 'node:url';
import type { SubgraphDefinition } from '../../platform/subgraph-service.js';
import { prepareCustomerAccounts } from './accounts.js';
import * as tables from './db/tables.js';
import { createLoaders, type Loaders } from './loaders.js';
import { resolvers } from './resolvers.js';

export const ordersSubgraph: SubgraphDefinition<typeof tables, Loaders> = {
  name: 'orders',
  tables,
  migrationsFolder: fileURLToPath(new URL('./migrations', import.meta.url)),
  resolvers,
  createLoaders,
  prepare: prepareCustomerAccounts,
};
