import type { SubgraphContext } from '../../platform/subgraph-service.js';
import type * as tables from './db/tables.js';
import type { Loaders } from './loaders.js';

export type Context = SubgraphContext<typeof tables, Loaders>;
