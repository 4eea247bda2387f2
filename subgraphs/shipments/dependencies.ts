import type { Config } from '../../platform/config.js';
import type { Database } from '../../platform/database.js';
import { createCarrier } from './carriers/index.js';
import type { Carrier } from './carriers/carrier.js';
import {
  HttpCatalogClient,
  HttpOrdersClient,
  type CatalogClient,
  type OrdersClient,
} from './clients.js';
import type * as tables from './db/tables.js';

export type ShipmentsDatabase = Database<typeof tables>;

/** What fulfilment, labels and tracking talk to. */
export interface ShipmentsDependencies {
  orders: OrdersClient;
  catalog: CatalogClient;
  /** The carrier that CARRIER selects. */
  carrier: Carrier;
}

const created = new WeakMap<ShipmentsDatabase, ShipmentsDependencies>();
/** Substitutes by DATABASE_PREFIX, which tells test stacks apart. */
const substitutes = new Map<string, Partial<ShipmentsDependencies>>();

/**
 * Returns the dependencies of the shipments service that owns `db`,
 * created on the first call and the same object afterwards. One process
 * may run several shipments services (the test stacks), so they are kept
 * per database handle.
 */
export function shipmentsDependencies(
  db: ShipmentsDatabase,
  config: Config,
): ShipmentsDependencies {
  let dependencies = created.get(db);
  if (!dependencies) {
    const substitute = substitutes.get(config.DATABASE_PREFIX) ?? {};
    dependencies = {
      orders: substitute.orders ?? new HttpOrdersClient(config),
      catalog: substitute.catalog ?? new HttpCatalogClient(config),
      carrier: substitute.carrier ?? createCarrier(config),
    };
    created.set(db, dependencies);
  }
  return dependencies;
}

/**
 * Makes every shipments service whose configuration has this
 * DATABASE_PREFIX use the given clients or carrier, such as a carrier that
 * a test controls. Call it before the service starts.
 */
export function substituteShipmentsDependencies(
  config: Pick<Config, 'DATABASE_PREFIX'>,
  substitute: Partial<ShipmentsDependencies>,
): void {
  const key = config.DATABASE_PREFIX;
  substitutes.set(key, { ...substitutes.get(key), ...substitute });
}

/** Closes the connection pools of the dependencies of `db`. */
export async function closeShipmentsDependencies(
  db: ShipmentsDatabase,
): Promise<void> {
  const dependencies = created.get(db);
  created.delete(db);
  if (!dependencies) return;
  await Promise.all([
    dependencies.orders.close(),
    dependencies.catalog.close(),
  ]);
}
