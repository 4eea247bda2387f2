import { isProduction, type Config } from './config.js';
import { parseSecretsKey } from './secrets.js';

/** How to make a secrets key, for error messages and docs. */
const MAKE_SECRETS_KEY =
  'set it to 32 random bytes in base64, such as the output of `openssl rand -base64 32`, and give every service the same value';

/**
 * Start-up checks of settings that every service needs, the gateway and
 * each subgraph alike. They run before a service touches its database, so
 * a misconfigured service stops before it serves anything. Throws an error
 * that names the variable, the reason and the fix.
 */
export function checkServiceConfiguration(config: Config): void {
  checkSecretsKey(config);
}

/**
 * SECRETS_ENCRYPTION_KEY encrypts the secrets that services store, such as
 * payment-provider and marketplace credentials and webhook secrets (see
 * platform/secrets.ts). Production mode requires it, so no service starts
 * that could store such a secret unencrypted or fail on the first one. A
 * key that is set is checked in every mode.
 */
function checkSecretsKey(config: Config): void {
  const value = config.SECRETS_ENCRYPTION_KEY;
  if (value === undefined) {
    if (!isProduction(config)) return;
    throw new Error(
      `SECRETS_ENCRYPTION_KEY is required in production mode, because payment-provider and marketplace credentials and webhook secrets are stored encrypted with it: ${MAKE_SECRETS_KEY}.`,
    );
  }
  try {
    parseSecretsKey(value);
  } catch (error) {
    throw new Error(
      `SECRETS_ENCRYPTION_KEY is not a valid key (${(error as Error).message.replace(/\.$/, '')}): ${MAKE_SECRETS_KEY}.`,
    );
  }
}
