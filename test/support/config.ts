import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import {
  loadConfig,
  SERVICE_NAMES,
  type Config,
} from '../../platform/config.js';
import { dropDatabase, serviceDatabaseUrl } from '../../platform/database.js';
import { generateIdentityKeyPair } from '../../platform/identity-keys.js';
import { gatewayDatabaseUrl } from '../../gateway/db/database.js';

/**
 * Returns a configuration whose databases are private to one test file:
 * `t<random>_<service>` on the run's server. Each configuration has an
 * identity key pair of its own. Call `dropTestDatabases` after.
 */
export function createTestConfig(
  overrides: Record<string, string> = {},
): Config {
  const prefix = `t${randomBytes(5).toString('hex')}`;
  const keys = generateIdentityKeyPair();
  return loadConfig({
    DATABASE_URL: inject('databaseServerUrl'),
    DATABASE_PREFIX: prefix,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SHUTDOWN_GRACE_MS: '2000',
    IDENTITY_PRIVATE_KEY: keys.privateKey,
    IDENTITY_PUBLIC_KEY: keys.publicKey,
    ...overrides,
  });
}

export async function dropTestDatabases(config: Config): Promise<void> {
  const gateway = gatewayDatabaseUrl(config);
  await Promise.all([
    ...SERVICE_NAMES.map((service) =>
      dropDatabase(serviceDatabaseUrl(config, service)),
    ),
    ...(gateway ? [dropDatabase(gateway)] : []),
  ]);
}
