import { and, eq, sql } from 'drizzle-orm';
import type { Config } from '../../../platform/config.js';
import type { Database } from '../../../platform/database.js';
import type { MarketplaceAdapter } from '../adapters/adapter.js';
import { createMarketplaceAdapter } from '../adapters/index.js';
import type { SandboxStorage } from '../adapters/sandbox.js';
import * as tables from '../db/tables.js';
import type { MarketplaceConnectionRow } from '../db/tables.js';
import { resolveSecretBox } from '../../../platform/secrets.js';
import { credentialsContext } from '../secrets.js';

type MarketplaceDatabase = Database<typeof tables>;

/** Decrypted stored credentials of a connection, as field name to value. */
export type ConnectionCredentials = Record<string, string>;

/** Creates the adapter of one connection. */
export type AdapterFactory = (
  connection: MarketplaceConnectionRow,
  credentials: ConnectionCredentials | null,
) => MarketplaceAdapter;

/** Substitute factories by DATABASE_PREFIX, which distinguishes test stacks. */
const substitutes = new Map<string, AdapterFactory>();

/**
 * Makes every marketplace service whose configuration has this
 * DATABASE_PREFIX create its adapters with `factory`, such as one that
 * wraps the sandbox adapter with a failure switch in tests. Call it before
 * the service starts. Passing null removes the substitute.
 */
export function substituteMarketplaceAdapters(
  config: Config,
  factory: AdapterFactory | null,
): void {
  if (factory) substitutes.set(config.DATABASE_PREFIX, factory);
  else substitutes.delete(config.DATABASE_PREFIX);
}

/** Decrypts a connection's stored credentials; null when none are stored. */
export async function decryptCredentials(
  config: Config,
  connection: MarketplaceConnectionRow,
): Promise<ConnectionCredentials | null> {
  if (connection.credentialsEncrypted === null) return null;
  const box = await resolveSecretBox(config);
  return JSON.parse(
    box.decrypt(
      connection.credentialsEncrypted,
      credentialsContext(connection.id),
    ),
  ) as ConnectionCredentials;
}

/**
 * Creates the adapter of `connection` with its decrypted credentials: the
 * test substitute when one is set, else the adapter of its kind.
 */
export async function adapterForConnection(
  db: MarketplaceDatabase,
  config: Config,
  connection: MarketplaceConnectionRow,
): Promise<MarketplaceAdapter> {
  const credentials = await decryptCredentials(config, connection);
  const substitute = substitutes.get(config.DATABASE_PREFIX);
  if (substitute) return substitute(connection, credentials);
  const sandboxStorage = new DatabaseSandboxStorage(db);
  if (connection.kind === 'SANDBOX') {
    return createMarketplaceAdapter(
      { kind: 'SANDBOX', settings: null },
      { account: sandboxAccount(connection.id) },
      { config, sandboxStorage },
    );
  }
  // eBay takes the marketplace id and the inventory location with the
  // credentials, and the category and business policies as settings.
  const { marketplaceId, merchantLocationKey, ...ebaySettings } =
    connection.settings;
  return createMarketplaceAdapter(
    { kind: connection.kind, settings: withoutEmpty(ebaySettings) },
    withoutEmpty({ ...credentials, marketplaceId, merchantLocationKey }),
    { config, sandboxStorage },
  );
}

/**
 * Returns the sandbox account of a SANDBOX connection, which is the
 * connection id, so connections never share listings.
 */
export function sandboxAccount(connectionId: string): string {
  return connectionId;
}

function withoutEmpty(
  values: Record<string, string | null | undefined>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).filter(
      (entry): entry is [string, string] =>
        entry[1] !== null && entry[1] !== undefined,
    ),
  );
}

/** Sandbox adapter storage in the sandbox_marketplace_records table. */
export class DatabaseSandboxStorage implements SandboxStorage {
  constructor(private readonly db: MarketplaceDatabase) {}

  async get(key: string): Promise<unknown> {
    const [row] = await this.db
      .select({ value: tables.sandboxMarketplaceRecords.value })
      .from(tables.sandboxMarketplaceRecords)
      .where(eq(tables.sandboxMarketplaceRecords.key, key));
    return row?.value;
  }

  /**
   * Stores `value` under `key` when the stored value is still `expected`,
   * where undefined means no value is stored yet. Returns false when another writer
   * changed it first.
   */
  async put(key: string, value: unknown, expected: unknown): Promise<boolean> {
    const records = tables.sandboxMarketplaceRecords;
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
