import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../platform/config.js';
import {
  CUSTOMER_DEVELOPMENT_KEYS_FILE,
  resolveCustomerTokenSigningKey,
  signCustomerAccessToken,
} from '../platform/customer-tokens.js';
import {
  generateIdentityKeyPair,
  loadOrCreateDevelopmentKeys,
  parsePrivateKey,
} from '../platform/identity-keys.js';
import { createLogger } from '../platform/logger.js';
import { createCustomerTokenVerifier } from '../gateway/identity/customer-tokens.js';
import { prepareCustomerAccounts } from '../subgraphs/orders/accounts.js';

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'customer-keys-'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const logger = createLogger('test', 'silent');

describe('customer token keys', () => {
  test('development key is created once', async () => {
    const config = loadConfig({ DATA_DIR: dataDir });
    const first = await resolveCustomerTokenSigningKey(config);
    const second = await resolveCustomerTokenSigningKey(config);
    expect(first.source).toBe('development');
    expect(second.signingKey.keyId).toBe(first.signingKey.keyId);
    const file = await stat(path.join(dataDir, CUSTOMER_DEVELOPMENT_KEYS_FILE));
    expect(file.mode & 0o777).toBe(0o600);
  });

  test('production requires a configured key', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, APP_ENV: 'production' });
    await expect(prepareCustomerAccounts(config, logger)).rejects.toThrow(
      /CUSTOMER_TOKEN_PRIVATE_KEY is required/,
    );
  });

  test('production rejects the development key', async () => {
    const development = await loadOrCreateDevelopmentKeys(
      dataDir,
      CUSTOMER_DEVELOPMENT_KEYS_FILE,
    );
    const config = loadConfig({
      DATA_DIR: dataDir,
      APP_ENV: 'production',
      CUSTOMER_TOKEN_PRIVATE_KEY: development.privateKey,
    });
    await expect(prepareCustomerAccounts(config, logger)).rejects.toThrow(
      /development key pair/,
    );
  });

  test('gateway verifies with a configured public key', async () => {
    const pair = generateIdentityKeyPair();
    const config = loadConfig({
      DATA_DIR: dataDir,
      CUSTOMER_TOKEN_PUBLIC_KEY: pair.publicKey,
    });
    const verifier = await createCustomerTokenVerifier(
      config,
      'http://127.0.0.1:1/graphql',
    );
    expect(verifier.keySource).toBe('configured');
    const token = await signCustomerAccessToken(
      await parsePrivateKey(pair.privateKey),
      '01a2422d-e9fe-755b-a75b-568937dbf9df',
      60,
    );
    expect(await verifier.verify(token)).toEqual({
      kind: 'customer',
      subject: '01a2422d-e9fe-755b-a75b-568937dbf9df',
      scopes: [],
      roles: [],
    });
    const other = await parsePrivateKey(generateIdentityKeyPair().privateKey);
    const forged = await signCustomerAccessToken(other, 'x', 60);
    await expect(verifier.verify(forged)).rejects.toThrow();
  });
});
