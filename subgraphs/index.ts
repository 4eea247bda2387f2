import type { ServiceName } from '../platform/config.js';
import { catalogSubgraph } from './catalog/service.js';
import { marketplaceSubgraph } from './marketplace/service.js';
import { ordersSubgraph } from './orders/service.js';
import { shipmentsSubgraph } from './shipments/service.js';

/** Every subgraph by name, for `npm start`, tests and benchmarks. */
export const subgraphDefinitions = {
  catalog: catalogSubgraph,
  orders: ordersSubgraph,
  shipments: shipmentsSubgraph,
  marketplace: marketplaceSubgraph,
} satisfies Record<
  ServiceName,
  { name: ServiceName; migrationsFolder: string }
>;
