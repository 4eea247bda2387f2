import type { IncomingMessage, ServerResponse } from 'node:http';
import { and, count, eq, isNull } from 'drizzle-orm';
import { exportJWK } from 'jose';
import { isProduction, type Config } from '../../platform/config.js';
import {
  connectDatabase,
  type DatabaseHandle,
} from '../../platform/database.js';
import { sendJson, type RouteHandler } from '../../platform/http-server.js';
import {
  resolveIdentityKeys,
  type IdentityKey,
} from '../../platform/identity-keys.js';
import type { Logger } from '../../platform/logger.js';
import { redactUrl } from '../../platform/logger.js';
import type { CallerIdentity } from '../caller.js';
import {
  gatewayDatabaseUrl,
  prepareGatewayDatabase,
  tables,
  type GatewayDatabase,
} from '../db/database.js';
import { createAuthenticator } from './authenticate.js';
import {
  CredentialCheckUnavailableError,
  CredentialError,
  toGraphQLError,
} from './errors.js';
import { createCustomerTokenVerifier } from './customer-tokens.js';
import { createExternalTokenVerifier } from './external-tokens.js';
import { createIdentityHeaderSigner } from './identity-header.js';
import { createPartnerKeyVerifier } from './partner-keys.js';
import { createIdentityRoutes } from './routes.js';
import { checkServiceConfiguration } from '../../platform/production-checks.js';
import { signInThrottleSettings } from '../../platform/sign-in-throttle.js';

/** Identity services of the gateway: the caller of each request, and the headers that carry it to subgraphs. */
export interface IdentityLayer {
  /**
   * Verifies the request's credentials and returns the caller, anonymous
   * when there are none. Throws an UNAUTHENTICATED GraphQL error (HTTP 401)
   * for invalid credentials, and SERVICE_UNAVAILABLE (HTTP 503) when they
   * could not be checked.
   */
  authenticate(request: IncomingMessage): Promise<CallerIdentity>;
  /** Headers that carry the caller to a subgraph, signed by the gateway. */
  subgraphHeaders(caller: CallerIdentity): Promise<Record<string, string>>;
  /** Extra GET routes: `/.well-known/jwks.json`, the gateway's public keys. */
  routes: Record<string, RouteHandler>;
  /**
   * Serves the sign-in and partner-key routes, whatever the method (see
   * routes.ts). Returns false, having sent nothing, for other paths.
   */
  handleRequest(
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<boolean>;
  /** The gateway's database, shared with other edge features; absent without one. */
  db?: GatewayDatabase;
  close(): Promise<void>;
}

type GatewayDatabaseHandle = DatabaseHandle<typeof tables>;

/**
 * Creates the identity layer: loads the signing keys, migrates the
 * gateway's database and wires credential checks, the identity header for
 * subgraphs and the identity routes.
 *
 * Without a gateway database (no DATABASE_URL or GATEWAY_DATABASE_URL),
 * development mode serves anonymous callers and staff tokens only, and
 * staff sign-in and partner keys respond with 503. Production mode rejects that.
 */
export async function createIdentityLayer(options: {
  config: Config;
  logger: Logger;
  /**
   * GraphQL URL of the orders service. Customer tokens are verified with
   * the JWK Set at `/.well-known/jwks.json` on its origin, unless
   * CUSTOMER_TOKEN_PUBLIC_KEY or CUSTOMER_TOKEN_JWKS_URL is set.
   */
  ordersUrl?: string;
}): Promise<IdentityLayer> {
  const { config } = options;
  const logger = options.logger.child({ component: 'identity' });
  checkServiceConfiguration(config);
  const keys = await resolveIdentityKeys(config, 'sign');
  const signingKey = keys.signingKey!;
  if (keys.source === 'development') {
    logger.info(
      { file: `${config.DATA_DIR}/identity-keys.json` },
      'identity keys: using the development key pair',
    );
  }
  const external = createExternalTokenVerifier(config);
  if (
    external &&
    isProduction(config) &&
    !config.STAFF_IDP_JWKS_URL!.startsWith('https:')
  ) {
    logger.warn('STAFF_IDP_JWKS_URL is not an https URL');
  }

  const customer = await createCustomerTokenVerifier(
    config,
    options.ordersUrl ??
      config.ORDERS_URL ??
      `http://127.0.0.1:${config.ORDERS_PORT}/graphql`,
  );
  logger.debug({ keys: customer.keySource }, 'customer token key source');

  const database = await openGatewayDatabase(config, logger);
  try {
    if (database && isProduction(config)) {
      await rejectDevelopmentCredentials(database);
    }
  } catch (error) {
    await database?.close();
    throw error;
  }

  const partnerKeys = database
    ? createPartnerKeyVerifier(database.db, config.PARTNER_KEY_CACHE_MS)
    : undefined;
  const authenticate = createAuthenticator({
    staffKeys: keys.verificationKeys,
    external,
    customer,
    partnerKeys,
    logger,
  });
  const handleRequest = createIdentityRoutes({
    db: database?.db,
    signingKey,
    staffTokenTtlSeconds: config.STAFF_TOKEN_TTL_SECONDS,
    signInThrottle: signInThrottleSettings(config),
    authenticate,
    onPartnerKeyRevoked: (id) => partnerKeys?.forget(id),
    logger,
  });
  const jwks = await publishedKeys(keys.verificationKeys);

  return {
    async authenticate(request) {
      try {
        return await authenticate(request);
      } catch (error) {
        // Dependency failures were logged where they happened.
        const isExpected =
          error instanceof CredentialError ||
          error instanceof CredentialCheckUnavailableError;
        if (!isExpected)
          logger.error({ err: error }, 'credential check failed');
        throw toGraphQLError(error);
      }
    },
    subgraphHeaders: createIdentityHeaderSigner(signingKey),
    routes: {
      '/.well-known/jwks.json': (_request, response) => {
        response.setHeader('cache-control', 'public, max-age=300');
        sendJson(response, 200, jwks);
      },
    },
    handleRequest,
    db: database?.db,
    close: async () => {
      await database?.close();
    },
  };
}

async function openGatewayDatabase(
  config: Config,
  logger: Logger,
): Promise<GatewayDatabaseHandle | undefined> {
  const url = gatewayDatabaseUrl(config);
  if (!url) {
    if (isProduction(config)) {
      throw new Error(
        'The gateway needs its database in production mode: set DATABASE_URL or GATEWAY_DATABASE_URL.',
      );
    }
    logger.warn(
      'no gateway database (set DATABASE_URL or GATEWAY_DATABASE_URL): staff sign-in and partner keys are unavailable',
    );
    return undefined;
  }
  await prepareGatewayDatabase(url, logger);
  logger.debug({ url: redactUrl(url) }, 'gateway database ready');
  return connectDatabase(url, tables, { poolSize: config.DATABASE_POOL_SIZE });
}

/**
 * Throws when the database contains an active account or key that `npm start`
 * created in development mode: their secrets sit in a file under DATA_DIR.
 */
async function rejectDevelopmentCredentials(
  database: GatewayDatabaseHandle,
): Promise<void> {
  const { db } = database;
  const [staff] = await db
    .select({ value: count() })
    .from(tables.staffAccounts)
    .where(
      and(
        isNull(tables.staffAccounts.disabledAt),
        eq(tables.staffAccounts.origin, 'development'),
      ),
    );
  const [keys] = await db
    .select({ value: count() })
    .from(tables.partnerKeys)
    .where(
      and(
        isNull(tables.partnerKeys.revokedAt),
        eq(tables.partnerKeys.origin, 'development'),
      ),
    );
  if (staff!.value > 0 || keys!.value > 0) {
    throw new Error(
      'The gateway database contains the development staff account or partner key that npm start created, and production mode rejects them. Disable the account (gateway/identity/cli.ts disable-staff) and revoke the key, or use another database.',
    );
  }
}

/** Returns the JWK Set of the gateway's public keys, for verifiers elsewhere. */
async function publishedKeys(
  keys: IdentityKey[],
): Promise<{ keys: Record<string, unknown>[] }> {
  return {
    keys: await Promise.all(
      keys.map(async (key) => ({
        ...(await exportJWK(key.key)),
        kid: key.keyId,
        alg: key.algorithm,
        use: 'sig',
      })),
    ),
  };
}
