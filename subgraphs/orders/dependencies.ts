import { and, eq, sql } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import type { Database } from '../../platform/database.js';
import * as tables from './db/tables.js';
import {
  createPaymentProvider,
  type PaymentProvider,
  type SandboxStorage,
} from './payments/index.js';
import { CatalogStockClient } from './stock/catalog-stock-client.js';
import type { StockClient } from './stock/stock-client.js';

export type OrdersDatabase = Database<typeof tables>;

/** What checkout, the order admin mutations and the webhooks talk to. */
export interface OrdersDependencies {
  /** The catalog's stock: prices, reservations. */
  stock: StockClient;
  /** The payment provider that PAYMENT_PROVIDER selects. */
  payments: PaymentProvider;
}

const created = new WeakMap<OrdersDatabase, OrdersDependencies>();
/** Substitutes by DATABASE_PREFIX, which tells test stacks apart. */
const substitutes = new Map<string, Partial<OrdersDependencies>>();

/**
 * Returns the dependencies of the orders service that owns `db`, created
 * on the first call and the same object afterwards. One process may run
 * several orders services (the test stacks), so they are kept per
 * database handle.
 */
export function ordersDependencies(
  db: OrdersDatabase,
  config: Config,
): OrdersDependencies {
  let dependencies = created.get(db);
  if (!dependencies) {
    const substitute = substitutes.get(config.DATABASE_PREFIX) ?? {};
    dependencies = {
      stock: substitute.stock ?? new CatalogStockClient(config),
      payments:
        substitute.payments ??
        createPaymentProvider(config, new DatabaseSandboxStorage(db)),
    };
    created.set(db, dependencies);
  }
  return dependencies;
}

/**
 * Makes every orders service whose configuration has this
 * DATABASE_PREFIX use the given stock client or payment provider, such as
 * a provider pointed at a fake server in tests. Call it before the
 * service starts.
 */
export function substituteOrdersDependencies(
  config: Config,
  substitute: Partial<OrdersDependencies>,
): void {
  const key = config.DATABASE_PREFIX;
  substitutes.set(key, { ...substitutes.get(key), ...substitute });
}

/**
 * Closes what the dependencies of `db` hold open, such as the catalog
 * client's connections; the next call creates them anew.
 */
export async function closeOrdersDependencies(
  db: OrdersDatabase,
): Promise<void> {
  const dependencies = created.get(db);
  created.delete(db);
  if (dependencies?.stock instanceof CatalogStockClient) {
    await dependencies.stock.close();
  }
}

/** The sandbox provider's records in the sandbox_payment_records table. */
export class DatabaseSandboxStorage implements SandboxStorage {
  constructor(private readonly db: OrdersDatabase) {}

  async get(key: string): Promise<unknown> {
    const [row] = await this.db
      .select({ value: tables.sandboxPaymentRecords.value })
      .from(tables.sandboxPaymentRecords)
      .where(eq(tables.sandboxPaymentRecords.key, key));
    return row?.value;
  }

  async put(key: string, value: unknown, expected: unknown): Promise<boolean> {
    const records = tables.sandboxPaymentRecords;
    if (expected === undefined) {
      const inserted = await this.db
        .insert(records)
        .values({ key, value })
        .onConflictDoNothing()
        .returning({ key: records.key });
      return inserted.length === 1;
    }
    const updated = await this.db
      .update(records)
      .set({ value, updatedAt: new Date() })
      .where(
        and(
          eq(records.key, key),
          sql`${records.value} = ${JSON.stringify(expected)}::jsonb`,
        ),
      )
      .returning({ key: records.key });
    return updated.length === 1;
  }
}
