import { fileURLToPath } from 'node:url';
import { checkPaymentConfiguration } from '../../platform/production-checks.js';
import type { SubgraphDefinition } from '../../platform/subgraph-service.js';
import { prepareCustomerAccounts } from './accounts.js';
import { checkoutSettings } from './checkout/pricing.js';
import { startCheckoutReconciliation } from './checkout/reconciliation.js';
import * as tables from './db/tables.js';
import { closeOrdersDependencies, ordersDependencies } from './dependencies.js';
import { startOrdersEventConsumers } from './events/index.js';
import { createLoaders, type Loaders } from './loaders.js';
import { resolvers } from './resolvers.js';
import { closeShippingQuoteClient } from './shipping/shipments-client.js';
import { paymentWebhookRoutes } from './webhooks.js';

export const ordersSubgraph: SubgraphDefinition<typeof tables, Loaders> = {
  name: 'orders',
  tables,
  migrationsFolder: fileURLToPath(new URL('./migrations', import.meta.url)),
  resolvers,
  createLoaders,
  async prepare(config, logger) {
    // Payment settings that production mode rejects stop the start before
    // the database is created or migrated.
    checkPaymentConfiguration(config);
    return prepareCustomerAccounts(config, logger);
  },
  async start({ db, config, logger }) {
    // Amounts in the wrong precision for SHOP_CURRENCY stop the start.
    checkoutSettings(config);
    const dependencies = ordersDependencies(db, config);
    const reconciliation = startCheckoutReconciliation({
      db,
      dependencies,
      config,
      logger: logger.child({ component: 'checkout-reconciliation' }),
    });
    // Cash on delivery is collected when shipments reports a delivery.
    const eventConsumers = startOrdersEventConsumers({ db, config, logger });
    return {
      routes: paymentWebhookRoutes({
        db,
        dependencies,
        logger: logger.child({ component: 'payment-webhooks' }),
        bodyLimitBytes: config.REQUEST_BODY_LIMIT_BYTES,
      }),
      async stop() {
        await eventConsumers.stop();
        await reconciliation.stop();
        await closeOrdersDependencies(db);
        await closeShippingQuoteClient(db);
      },
    };
  },
};
