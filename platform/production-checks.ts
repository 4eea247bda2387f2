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

/** The public development secret the sandbox signs webhooks with by default. */
const DEVELOPMENT_SANDBOX_WEBHOOK_SECRET = 'whsec_sandbox_development';

/**
 * Start-up checks of the orders service's payment settings, run by its
 * `prepare` hook before the database is touched and again when it creates
 * its payment provider. In production mode the sandbox provider
 * is refused unless ALLOW_SANDBOX_PAYMENTS=true: it accepts test tokens
 * only and takes no money, so a shop left on the default would confirm
 * every order without being paid. When it is allowed, for a demo, its
 * webhook secret must not be the public development default, or anyone
 * could sign webhooks that mark orders paid. Throws an error that names
 * the variable, the reason and the fix.
 */
export function checkPaymentConfiguration(
  config: Pick<
    Config,
    | 'APP_ENV'
    | 'NODE_ENV'
    | 'PAYMENT_PROVIDER'
    | 'ALLOW_SANDBOX_PAYMENTS'
    | 'SANDBOX_WEBHOOK_SECRET'
  >,
): void {
  if (!isProduction(config) || config.PAYMENT_PROVIDER !== 'sandbox') return;
  if (!config.ALLOW_SANDBOX_PAYMENTS) {
    throw new Error(
      'PAYMENT_PROVIDER=sandbox is rejected in production mode, because the sandbox accepts only test tokens and takes no money, so orders would be confirmed without payment: set PAYMENT_PROVIDER=stripe with STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or set ALLOW_SANDBOX_PAYMENTS=true for a demo that takes no money.',
    );
  }
  if (config.SANDBOX_WEBHOOK_SECRET === DEVELOPMENT_SANDBOX_WEBHOOK_SECRET) {
    throw new Error(
      `SANDBOX_WEBHOOK_SECRET is the public development default (${DEVELOPMENT_SANDBOX_WEBHOOK_SECRET}), which production mode rejects, because anyone could sign sandbox webhooks that mark orders paid or refunded: set it to a random secret, such as whsec_ followed by the output of \`openssl rand -hex 32\`.`,
    );
  }
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
