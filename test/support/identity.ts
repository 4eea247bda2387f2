import {
  IDENTITY_HEADER,
  signIdentity,
  type SubgraphCaller,
} from '../../platform/identity.js';
import { parsePrivateKey } from '../../platform/identity-keys.js';
import type { Config } from '../../platform/config.js';
import { scopesOfRoles } from '../../gateway/identity/scopes.js';

/** An admin with every scope, for tests that call a subgraph directly. */
export const TEST_ADMIN: SubgraphCaller = {
  kind: 'staff',
  subject: '00000000-0000-7000-8000-000000000001',
  roles: ['admin'],
  scopes: scopesOfRoles(['admin']),
};

/**
 * Returns headers with `caller` signed by the configuration's identity key,
 * as the gateway would send them to a subgraph.
 */
export async function identityHeaders(
  config: Config,
  caller: SubgraphCaller = TEST_ADMIN,
): Promise<Record<string, string>> {
  const key = await parsePrivateKey(config.IDENTITY_PRIVATE_KEY!);
  return { [IDENTITY_HEADER]: await signIdentity(key, caller) };
}
