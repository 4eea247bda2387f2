import { isProduction, type Config } from '../../platform/config.js';
import { resolveSecretBox, type SecretBox } from '../../platform/secrets.js';
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

/** Returns the SecretBox that encrypts webhook secrets (see resolveSecretBox). */
export function webhookSecretBox(config: Config): Promise<SecretBox> {
  return resolveSecretBox(config);
}

/** Context that binds an encrypted secret to its endpoint row. */
export function secretContext(endpointId: string): string {
  return `webhook_endpoints:${endpointId}:secret`;
}
