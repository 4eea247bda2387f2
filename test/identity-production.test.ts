import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, SignJWT } from 'jose';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProduction, loadConfig, SERVICE_NAMES } from '../platform/config.js';
import { connectDatabase, serviceDatabaseUrl } from '../platform/database.js';
import {
  generateIdentityKeyPair,
  loadOrCreateDevelopmentKeys,
} from '../platform/identity-keys.js';
import { createLogger } from '../platform/logger.js';
import { startSubgraph } from '../platform/subgraph-service.js';
import {
  gatewayDatabaseUrl,
  prepareGatewayDatabase,
  tables,
} from '../gateway/db/database.js';
import { ensureDevelopmentCredentials } from '../gateway/identity/development-credentials.js';
import { startGateway } from '../gateway/server.js';
import { catalogSubgraph } from '../subgraphs/catalog/service.js';
import { ordersSubgraph } from '../subgraphs/orders/service.js';
import { checkPaymentConfiguration } from '../platform/production-checks.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import {
  committedSupergraphPath,
  startTestStack,
  type TestStack,
} from './support/stack.js';

const PRODUCTS = '{ products(first: 1) { nodes { id } } }';
const ISSUER = 'https://idp.example.test/';
const AUDIENCE = 'commerce-admin';
const KEY_ID = 'idp-key-1';

const logger = createLogger('test', 'silent');

/** True when the server of `url` has the database that `url` names. */
async function databaseExists(url: string): Promise<boolean> {
  const parsed = new URL(url);
  const name = decodeURIComponent(parsed.pathname.slice(1));
  parsed.pathname = '/postgres';
  const admin = postgres(parsed.toString(), { max: 1 });
  try {
    const rows = await admin`select 1 from pg_database where datname = ${name}`;
    return rows.length > 0;
  } finally {
    await admin.end();
  }
}

/** A valid SECRETS_ENCRYPTION_KEY: 32 random bytes in base64. */
const SECRETS_KEY = randomBytes(32).toString('base64');

/** An identity provider's JWKS endpoint on 127.0.0.1, with one RSA key. */
interface JwksServer {
  url: string;
  privateKey: KeyObject;
  requests: number;
  close(): Promise<void>;
}

async function startJwksServer(): Promise<JwksServer> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
  });
  const jwks = {
    keys: [
      {
        ...(await exportJWK(publicKey)),
        kid: KEY_ID,
        alg: 'RS256',
        use: 'sig',
      },
    ],
  };
  const state = { requests: 0 };
  const server = http.createServer((request, response) => {
    state.requests += 1;
    if (request.url !== '/.well-known/jwks.json') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    privateKey,
    get requests() {
      return state.requests;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let idp: JwksServer;
let stack: TestStack;

beforeAll(async () => {
  idp = await startJwksServer();
  stack = await startTestStack({
    APP_ENV: 'production',
    // Production mode requires the orders service's customer token key,
    // an explicit opt-in to the sandbox payment provider with a secret of
    // its own and, in every service, the secrets key.
    CUSTOMER_TOKEN_PRIVATE_KEY: generateIdentityKeyPair().privateKey,
    ALLOW_SANDBOX_PAYMENTS: 'true',
    SANDBOX_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('hex')}`,
    SECRETS_ENCRYPTION_KEY: SECRETS_KEY,
    STAFF_IDP_JWKS_URL: idp.url,
    STAFF_IDP_ISSUER: ISSUER,
    STAFF_IDP_AUDIENCE: AUDIENCE,
  });
});

afterAll(async () => {
  await stack?.close();
  await idp?.close();
});

/** Signs a token as the identity provider would, with `changes` applied. */
async function idpToken(
  changes: {
    claims?: Record<string, unknown>;
    issuer?: string;
    audience?: string;
    expiresAt?: number;
    key?: KeyObject;
    keyId?: string;
  } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(changes.claims ?? { roles: ['support'] })
    .setProtectedHeader({ alg: 'RS256', kid: changes.keyId ?? KEY_ID })
    .setIssuer(changes.issuer ?? ISSUER)
    .setAudience(changes.audience ?? AUDIENCE)
    .setSubject('auth0|staff-7')
    .setIssuedAt(now - 10)
    .setExpirationTime(changes.expiresAt ?? now + 300)
    .sign(changes.key ?? idp.privateKey);
}

async function whoami(token: string) {
  const response = await fetch(`${stack.gatewayOrigin}/auth/whoami`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: (await response.json()) as any };
}

describe('external identity provider in production mode', () => {
  it('accepts an RS256 token from the JWKS', async () => {
    const token = await idpToken();

    const caller = await whoami(token);
    const result = await stack.query(PRODUCTS, undefined, {
      authorization: `Bearer ${token}`,
    });

    expect(caller.status).toBe(200);
    expect(caller.body.kind).toBe('staff');
    expect(caller.body.subject).toBe('auth0|staff-7');
    expect(caller.body.roles).toEqual(['support']);
    expect(caller.body.scopes).toContain('read_orders');
    expect(caller.body.scopes).not.toContain('write_products');
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
  });

  it('reads roles from a space-separated claim', async () => {
    const token = await idpToken({ claims: { roles: 'admin auditor' } });

    const caller = await whoami(token);

    expect(caller.body.roles).toEqual(['admin']);
    expect(caller.body.scopes).toContain('manage_partner_keys');
  });

  it('fetches the JWKS once for many tokens', async () => {
    const before = idp.requests;
    for (let index = 0; index < 3; index += 1) {
      expect((await whoami(await idpToken())).status).toBe(200);
    }

    expect(idp.requests - before).toBe(0);
  });

  it('rejects tokens that fail a check', async () => {
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, string, string]> = [
      [
        'wrong issuer',
        await idpToken({ issuer: 'https://other-idp.example.test/' }),
        'issuer is not trusted',
      ],
      [
        'wrong audience',
        await idpToken({ audience: 'another-api' }),
        'aud claim',
      ],
      ['expired', await idpToken({ expiresAt: now - 60 }), 'expired'],
      [
        'other key under the known kid',
        await idpToken({ key: otherKey.privateKey }),
        'invalid',
      ],
      [
        'unknown kid',
        await idpToken({ key: otherKey.privateKey, keyId: 'idp-key-2' }),
        'invalid',
      ],
    ];

    for (const [name, token, message] of cases) {
      const result = await stack.query(PRODUCTS, undefined, {
        authorization: `Bearer ${token}`,
      });
      expect(result.status, name).toBe(401);
      expect(result.errors?.[0]?.extensions?.code, name).toBe(
        'UNAUTHENTICATED',
      );
      expect(result.errors?.[0]?.message, name).toContain(message);
    }
  });

  it('answers 503 when the JWKS cannot be fetched', async () => {
    const closed = await startJwksServer();
    await closed.close();
    const gateway = await startGateway({
      config: { ...stack.config, STAFF_IDP_JWKS_URL: closed.url },
      logger,
      supergraphPath: committedSupergraphPath,
      subgraphUrls: Object.fromEntries(
        SERVICE_NAMES.map((name) => [name, stack.subgraphs[name].url]),
      ),
      host: '127.0.0.1',
      port: 0,
    });
    try {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await idpToken()}`,
        },
        body: JSON.stringify({ query: PRODUCTS }),
      });
      const body = (await response.json()) as any;

      expect(response.status).toBe(503);
      expect(body.errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
    } finally {
      await gateway.close();
    }
  });

  it('still signs staff in with a password', async () => {
    const headers = await stack.staffHeaders('admin');

    const result = await stack.query(PRODUCTS, undefined, headers);

    expect(result.status).toBe(200);
  });
});

describe('production mode start-up', () => {
  const folders: string[] = [];
  afterAll(() => {
    for (const folder of folders)
      rmSync(folder, { recursive: true, force: true });
  });

  function startTestGateway(config: ReturnType<typeof loadConfig>) {
    return startGateway({
      config,
      logger,
      supergraphPath: committedSupergraphPath,
      host: '127.0.0.1',
      port: 0,
    });
  }

  it('follows NODE_ENV unless APP_ENV is set', () => {
    expect(isProduction(loadConfig({ NODE_ENV: 'production' }))).toBe(true);
    expect(isProduction(loadConfig({ APP_ENV: 'production' }))).toBe(true);
    expect(
      isProduction(
        loadConfig({ NODE_ENV: 'production', APP_ENV: 'development' }),
      ),
    ).toBe(false);
    expect(isProduction(loadConfig({ NODE_ENV: 'test' }))).toBe(false);
  });

  function startTestSubgraph(config: ReturnType<typeof loadConfig>) {
    return startSubgraph(catalogSubgraph, {
      config,
      logger,
      databaseUrl: serviceDatabaseUrl(config, 'catalog'),
      host: '127.0.0.1',
      port: 0,
    });
  }

  it('rejects a gateway and a subgraph without SECRETS_ENCRYPTION_KEY', async () => {
    const config = createTestConfig({ APP_ENV: 'production' });
    // Names the variable, why it is needed and how to make one.
    const message =
      /SECRETS_ENCRYPTION_KEY is required in production mode, because payment-provider and marketplace credentials and webhook secrets are stored encrypted with it: .*openssl rand -base64 32/;

    await expect(startTestGateway(config)).rejects.toThrow(message);
    await expect(startTestSubgraph(config)).rejects.toThrow(message);
  });

  it('rejects an invalid SECRETS_ENCRYPTION_KEY in every mode', async () => {
    for (const [mode, value, reason] of [
      ['production', randomBytes(16).toString('base64'), /not 16/],
      ['development', 'not base64!', /not base64/],
    ] as const) {
      const config = createTestConfig({
        APP_ENV: mode,
        SECRETS_ENCRYPTION_KEY: value,
      });

      for (const start of [startTestGateway, startTestSubgraph]) {
        const failure = start(config);
        await expect(failure, mode).rejects.toThrow(
          /SECRETS_ENCRYPTION_KEY is not a valid key .*openssl rand -base64 32/,
        );
        await expect(failure, mode).rejects.toThrow(reason);
      }
    }
  });

  describe('payment provider', () => {
    /** Production settings the orders service needs besides payments. */
    const ordersSettings = () => ({
      APP_ENV: 'production',
      SECRETS_ENCRYPTION_KEY: SECRETS_KEY,
      CUSTOMER_TOKEN_PRIVATE_KEY: generateIdentityKeyPair().privateKey,
    });

    async function startOrders(config: ReturnType<typeof loadConfig>) {
      try {
        const orders = await startSubgraph(ordersSubgraph, {
          config,
          logger,
          databaseUrl: serviceDatabaseUrl(config, 'orders'),
          host: '127.0.0.1',
          port: 0,
        });
        await orders.close();
      } finally {
        await dropTestDatabases(config);
      }
    }

    /** Starts the orders service, expecting `message`, and drops its databases. */
    async function expectOrdersRejected(
      config: ReturnType<typeof loadConfig>,
      message: RegExp,
    ): Promise<{ databaseCreated: boolean }> {
      try {
        await expect(
          startSubgraph(ordersSubgraph, {
            config,
            logger,
            databaseUrl: serviceDatabaseUrl(config, 'orders'),
            host: '127.0.0.1',
            port: 0,
          }),
        ).rejects.toThrow(message);
        return {
          databaseCreated: await databaseExists(
            serviceDatabaseUrl(config, 'orders'),
          ),
        };
      } finally {
        await dropTestDatabases(config);
      }
    }

    it('refuses the sandbox in production mode without the opt-in', async () => {
      const config = createTestConfig(ordersSettings());

      // Names the setting, why it is refused and what to set instead.
      const outcome = await expectOrdersRejected(
        config,
        /PAYMENT_PROVIDER=sandbox is rejected in production mode, because the sandbox .* takes no money.*PAYMENT_PROVIDER=stripe.*ALLOW_SANDBOX_PAYMENTS=true/,
      );

      // The check runs before the database is created or migrated.
      expect(outcome.databaseCreated).toBe(false);
    });

    it('refuses the development sandbox webhook secret even with the opt-in', async () => {
      const config = createTestConfig({
        ...ordersSettings(),
        ALLOW_SANDBOX_PAYMENTS: 'true',
      });

      const outcome = await expectOrdersRejected(
        config,
        /SANDBOX_WEBHOOK_SECRET is the public development default .*set it to a random secret/,
      );

      expect(outcome.databaseCreated).toBe(false);
    });

    it('starts with the opt-in and a secret of its own, or with Stripe', async () => {
      await startOrders(
        createTestConfig({
          ...ordersSettings(),
          ALLOW_SANDBOX_PAYMENTS: 'true',
          SANDBOX_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('hex')}`,
        }),
      );
      await startOrders(
        createTestConfig({
          ...ordersSettings(),
          PAYMENT_PROVIDER: 'stripe',
          STRIPE_SECRET_KEY: 'sk_test_production_check',
          STRIPE_WEBHOOK_SECRET: 'whsec_production_check',
          CHECKOUT_RECONCILE_INTERVAL_MS: '0',
        }),
      );
    });

    it('keeps the sandbox and its default secret in development', () => {
      const config = createTestConfig({ APP_ENV: 'development' });

      expect(() => checkPaymentConfiguration(config)).not.toThrow();
    });
  });

  it('rejects a gateway without a private key', async () => {
    const config = createTestConfig({
      APP_ENV: 'production',
      SECRETS_ENCRYPTION_KEY: SECRETS_KEY,
      IDENTITY_PRIVATE_KEY: '',
      IDENTITY_PUBLIC_KEY: '',
    });

    await expect(startTestGateway(config)).rejects.toThrow(
      /IDENTITY_PRIVATE_KEY is required in production mode/,
    );
  });

  it('rejects a subgraph without a public key', async () => {
    const config = createTestConfig({
      APP_ENV: 'production',
      SECRETS_ENCRYPTION_KEY: SECRETS_KEY,
      IDENTITY_PRIVATE_KEY: '',
      IDENTITY_PUBLIC_KEY: '',
    });

    await expect(
      startSubgraph(catalogSubgraph, {
        config,
        logger,
        databaseUrl: serviceDatabaseUrl(config, 'catalog'),
        host: '127.0.0.1',
        port: 0,
      }),
    ).rejects.toThrow(/IDENTITY_PUBLIC_KEY .*is required in production mode/);
  });

  it('rejects the development key pair', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'identity-keys-'));
    folders.push(dataDir);
    const development = await loadOrCreateDevelopmentKeys(dataDir);
    const config = createTestConfig({
      APP_ENV: 'production',
      SECRETS_ENCRYPTION_KEY: SECRETS_KEY,
      DATA_DIR: dataDir,
      IDENTITY_PRIVATE_KEY: development.privateKey,
      IDENTITY_PUBLIC_KEY: development.publicKey,
    });

    await expect(startTestGateway(config)).rejects.toThrow(
      /development key pair/,
    );
  });

  it('rejects a gateway without a database', async () => {
    const config = createTestConfig({
      APP_ENV: 'production',
      SECRETS_ENCRYPTION_KEY: SECRETS_KEY,
    });
    delete (config as { DATABASE_URL?: string }).DATABASE_URL;

    await expect(startTestGateway(config)).rejects.toThrow(
      /needs its database in production mode/,
    );
  });

  it('rejects development credentials in the database', async () => {
    const dataDir = mkdtempSync(
      path.join(os.tmpdir(), 'identity-credentials-'),
    );
    folders.push(dataDir);
    const config = createTestConfig({
      APP_ENV: 'production',
      SECRETS_ENCRYPTION_KEY: SECRETS_KEY,
    });
    const url = gatewayDatabaseUrl(config)!;
    await prepareGatewayDatabase(url, logger);
    const database = connectDatabase(url, tables, { poolSize: 1 });
    try {
      await ensureDevelopmentCredentials(database.db, dataDir, logger);

      await expect(startTestGateway(config)).rejects.toThrow(
        /development staff account or partner key/,
      );
    } finally {
      await database.close();
      await dropTestDatabases(config);
    }
  });
});
