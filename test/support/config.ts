import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import {
  loadConfig,
  SERVICE_NAMES,
  type Config,
} from '../../platform/config.js';
import { dropDatabase, serviceDatabaseUrl } from '../../platform/database.js';

/**
 * Returns a configuration whose databases are private to one test file:
 * `t<random>_<service>` on the run's server. Call `dropTestDatabases` after.
 */
export function createTestConfig(
  overrides: Record<string, string> = {},
): Config {
  const prefix = `t${randomBytes(5).toString('hex')}`;
  return loadConfig({
    DATABASE_URL: inject('databaseServerUrl'),
    DATABASE_PREFIX: prefix,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SHUTDOWN_GRACE_MS: '2000',
    ...overrides,
  });
}

export async function dropTestDatabases(config: Config): Promise<void> {
  await Promise.all(
    SERVICE_NAMES.map((service) =>
      dropDatabase(serviceDatabaseUrl(config, service)),
    ),
  );
}
