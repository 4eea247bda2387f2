import { isProduction, type Config } from '../../platform/config.js';
import type { SecretBox } from '../../platform/secrets.js';
import { marketplaceSecretBox } from '../../subgraphs/marketplace/secrets.js';
import type { UrlGuardSettings } from './url-guard.js';

/**
 * Returns the URL guard settings of `config`: http and loopback receivers
 * are accepted only outside production, and loopback only with
 * WEBHOOK_ALLOW_LOOPBACK.
 */
export function urlGuardSettings(config: Config): UrlGuardSettings {
  const production = isProduction(config);
  return {
    allowHttp: !production,
    allowLoopback: !production && config.WEBHOOK_ALLOW_LOOPBACK,
  };
}

/**
 * Returns the SecretBox that encrypts webhook secrets: SECRETS_ENCRYPTION_KEY,
 * required in production, or in development the key file under DATA_DIR
 * that the marketplace service uses for its credentials.
 */
export function webhookSecretBox(config: Config): Promise<SecretBox> {
  return marketplaceSecretBox(config);
}

/** Context that binds an encrypted secret to its endpoint row. */
export function secretContext(endpointId: string): string {
  return `webhook_endpoints:${endpointId}:secret`;
}
