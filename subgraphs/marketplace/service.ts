import { fileURLToPath } from 'node:url';
import { loadSecretBox } from '../../platform/secrets.js';
import type { SubgraphDefinition } from '../../platform/subgraph-service.js';
import { closeCatalogClient } from './catalog-client.js';
import * as tables from './db/tables.js';
import { createLoaders, type Loaders } from './loaders.js';
import { resolvers } from './resolvers.js';
import { startListingSync } from './sync/index.js';
import { adapterForConnection } from './sync/adapters.js';
import { GOOGLE_FEED_PATH, startGoogleFeed } from './feeds/index.js';
import { startMarketplaceOrderWork } from './orders/index.js';

export const marketplaceSubgraph: SubgraphDefinition<typeof tables, Loaders> = {
  name: 'marketplace',
  tables,
  migrationsFolder: fileURLToPath(new URL('./migrations', import.meta.url)),
  resolvers,
  createLoaders,
  async prepare(config) {
    // Production mode requires SECRETS_ENCRYPTION_KEY, so a missing or
    // malformed key stops the start before the database is touched.
    loadSecretBox(config);
    return {};
  },
  async start({ db, config, logger }) {
    const sync = startListingSync({ db, config, logger });
    // Orders placed on marketplaces are imported, and their shipments
    // reported back; the Google feed is public because Merchant Center
    // fetches it without credentials.
    const marketplaceOrders = startMarketplaceOrderWork({
      db,
      config,
      logger,
      adapterFor: (connection) => adapterForConnection(db, config, connection),
    });
    const googleFeed = startGoogleFeed({ db, config, logger });
    let stopping: Promise<void> | undefined;
    return {
      routes: { [GOOGLE_FEED_PATH]: googleFeed.route },
      // A subgraph closed twice (a test stopping it before the stack
      // closes) stops its background work once.
      stop() {
        stopping ??= (async () => {
          await marketplaceOrders.stop();
          await googleFeed.stop();
          await sync.stop();
          await closeCatalogClient(db);
        })();
        return stopping;
      },
    };
  },
};
