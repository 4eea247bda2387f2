import type { Config } from '../../../platform/config.js';
import type { Database } from '../../../platform/database.js';
import { startEventConsumer } from '../../../platform/event-consumer.js';
import type { Logger } from '../../../platform/logger.js';
import { catalogClientFor, catalogEventsUrl } from '../catalog-client.js';
import type * as tables from '../db/tables.js';
import { CATALOG_EVENT_TYPES, recordCatalogEvents } from './catalog-events.js';
import { startSyncWorker, type SyncWorkerOptions } from './worker.js';

/** Settings of the sync worker that tests shorten, by DATABASE_PREFIX. */
const workerSettings = new Map<
  string,
  Pick<SyncWorkerOptions, 'retryMinMs' | 'retryMaxMs' | 'idleIntervalMs'>
>();

/**
 * Makes the marketplace service whose configuration has this
 * DATABASE_PREFIX run its sync worker with these settings, such as a
 * shorter retry pause in tests. Call it before the service starts.
 */
export function configureListingSync(
  config: Pick<Config, 'DATABASE_PREFIX'>,
  settings: Pick<
    SyncWorkerOptions,
    'retryMinMs' | 'retryMaxMs' | 'idleIntervalMs'
  >,
): void {
  workerSettings.set(config.DATABASE_PREFIX, settings);
}

/**
 * Starts the listing sync: a consumer of the catalog's event stream that
 * records a sync task per affected listing, and the worker that pushes due
 * tasks to the marketplaces. Calls to the catalog are signed as the
 * `marketplace` service, which needs IDENTITY_PRIVATE_KEY (or the
 * development key pair).
 */
export function startListingSync(options: {
  db: Database<typeof tables>;
  config: Config;
  logger: Logger;
}): { stop(): Promise<void> } {
  const { db, config } = options;
  const logger = options.logger.child({ component: 'listing-sync' });
  const catalog = catalogClientFor(db, config);
  const consumer = startEventConsumer({
    name: 'marketplace.listing-sync',
    caller: 'marketplace',
    source: { service: 'catalog', url: catalogEventsUrl(config) },
    types: CATALOG_EVENT_TYPES,
    db,
    config,
    logger,
    batchSize: 500,
    handle: (events, transaction) =>
      recordCatalogEvents(events, transaction, logger),
  });
  const worker = startSyncWorker({
    db,
    config,
    logger,
    catalog,
    ...workerSettings.get(config.DATABASE_PREFIX),
  });
  return {
    async stop() {
      await consumer.stop();
      await worker.stop();
    },
  };
}
