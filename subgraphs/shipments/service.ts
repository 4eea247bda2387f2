import { fileURLToPath } from 'node:url';
import type { SubgraphDefinition } from '../../platform/subgraph-service.js';
import { startShipmentsBackground } from './background.js';
import * as tables from './db/tables.js';
import {
  closeShipmentsDependencies,
  shipmentsDependencies,
} from './dependencies.js';
import { sandboxLabelRoutes } from './label-route.js';
import { createLoaders, type Loaders } from './loaders.js';
import { resolvers } from './resolvers.js';
import { carrierWebhookRoutes } from './webhooks.js';

export const shipmentsSubgraph: SubgraphDefinition<typeof tables, Loaders> = {
  name: 'shipments',
  tables,
  migrationsFolder: fileURLToPath(new URL('./migrations', import.meta.url)),
  resolvers,
  createLoaders,
  async start({ db, config, logger }) {
    // An invalid carrier configuration, such as a bad sandbox rate file,
    // stops the start here.
    const dependencies = shipmentsDependencies(db, config);
    const background = startShipmentsBackground({
      db,
      dependencies,
      config,
      logger: logger.child({ component: 'shipments-background' }),
    });
    // Sandbox labels are served whatever CARRIER is, so labels bought
    // before a switch to another carrier stay printable.
    const labelRoutes = await sandboxLabelRoutes({
      db,
      config,
      logger: logger.child({ component: 'sandbox-labels' }),
    });
    return {
      routes: {
        ...carrierWebhookRoutes({
          db,
          carrier: dependencies.carrier,
          logger: logger.child({ component: 'carrier-webhooks' }),
          bodyLimitBytes: config.REQUEST_BODY_LIMIT_BYTES,
        }),
        ...labelRoutes,
      },
      async stop() {
        await background.stop();
        await closeShipmentsDependencies(db);
      },
    };
  },
};
