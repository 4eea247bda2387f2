import { fileURLToPath } from 'node:url';
import type { SubgraphDefinition } from '../../platform/subgraph-service.js';
import * as tables from './db/tables.js';
import { createLoaders, type Loaders } from './loaders.js';
import { resolvers } from './resolvers.js';

export const marketplaceSubgraph: SubgraphDefinition<typeof tables, Loaders> = {
  name: 'marketplace',
  tables,
  migrationsFolder: fileURLToPath(new URL('./migrations', import.meta.url)),
  resolvers,
  createLoaders,
};
