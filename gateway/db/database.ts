import { fileURLToPath } from 'node:url';
import type { Config } from '../../platform/config.js';
import {
  ensureDatabase,
  runMigrations,
  withDatabaseName,
  type Database,
} from '../../platform/database.js';
import type { Logger } from '../../platform/logger.js';
import * as tables from './tables.js';

export { tables };
export type GatewayDatabase = Database<typeof tables>;

export const gatewayMigrationsFolder = fileURLToPath(
  new URL('../migrations/', import.meta.url),
);

/**
 * Returns the URL of the gateway's own database: GATEWAY_DATABASE_URL as it
 * is, otherwise `<DATABASE_PREFIX>_gateway` on the `serverUrl` server
 * (DATABASE_URL by default), or undefined when neither is set.
 */
export function gatewayDatabaseUrl(
  config: Config,
  serverUrl = config.DATABASE_URL,
): string | undefined {
  if (config.GATEWAY_DATABASE_URL) return config.GATEWAY_DATABASE_URL;
  if (!serverUrl) return undefined;
  return withDatabaseName(serverUrl, `${config.DATABASE_PREFIX}_gateway`);
}

/** Creates the gateway's database if needed and applies its migrations. */
export async function prepareGatewayDatabase(
  url: string,
  logger: Logger,
): Promise<void> {
  await ensureDatabase(url);
  await runMigrations(url, gatewayMigrationsFolder, logger);
}
