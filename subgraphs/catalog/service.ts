import { fileURLToPath } from 'node:url';
import type { SubgraphDefinition } from '../../platform/subgraph-service.js';
import * as tables from './db/tables.js';
import { createLoaders, type Loaders } from './loaders.js';
import { resolvers } from './resolvers.js';
import { startReservationSweep } from './services/reservation-sweep.js';

export const catalogMigrationsFolder = fileURLToPath(
  new URL('./migrations', import.meta.url),
);

/** Products, variants, prices, stock levels and their history. */
export const catalogSubgraph: SubgraphDefinition<typeof tables, Loaders> = {
  name: 'catalog',
  tables,
  migrationsFolder: catalogMigrationsFolder,
  resolvers,
  createLoaders,
  async start({ db, config, logger }) {
    const sweep = startReservationSweep({
      db,
      intervalMs: config.STOCK_RESERVATION_SWEEP_INTERVAL_MS,
      logger: logger.child({ component: 'stock-reservation-sweep' }),
    });
    return { stop: () => sweep.stop() };
  },
};
