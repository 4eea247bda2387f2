import type { IncomingMessage } from 'node:http';
import {
  HeaderMap,
  type ApolloServerPlugin,
  type GraphQLResponse,
} from '@apollo/server';
import type { Config } from '../../platform/config.js';
import { ErrorCode } from '../../platform/errors.js';
import type { Logger } from '../../platform/logger.js';
import type { GatewayContext } from '../context.js';
import { gatewayDatabaseUrl } from '../db/database.js';
import { limitExceededError } from '../limits/errors.js';
import { findOperationCost, type ThrottleStatus } from '../limits/index.js';
import { clientAddress } from './client-address.js';
import { createPostgresBucketStore } from './postgres-store.js';
import { createRedisBucketStore } from './redis-store.js';
import {
  longestRefillSeconds,
  readRateLimitSettings,
  type Budget,
  type RateLimitSettings,
} from './settings.js';
import type { BucketStore } from './store.js';
import { createThrottledLog } from './throttle-log.js';

/**
 * Property of the request context that contains the client address. Apollo
 * Server gives each operation a shallow copy of the context, which keeps
 * symbol-keyed properties, so the address cannot be looked up by the
 * original context object.
 */
const CLIENT_ADDRESS = Symbol('clientAddress');

type TrackedContext = GatewayContext & { [CLIENT_ADDRESS]?: string };

/** Connections of the PostgreSQL store's own pool. */
const POSTGRES_POOL_SIZE = 4;

/** Maximum wait for the store per request, in ms, before it counts as down. */
const STORE_TIMEOUT_MS = 2_000;

export interface RateLimiter {
  /** Records the client address of the request that `context` belongs to. */
  trackClient(
    context: GatewayContext,
    request: IncomingMessage,
  ): GatewayContext;
  plugin: ApolloServerPlugin<GatewayContext>;
  close(): Promise<void>;
}

/**
 * Creates the rate limiter: a token bucket of query cost per partner key,
 * customer, staff member and, for anonymous callers, client IP, kept in
 * PostgreSQL or Redis so that every replica spends from the same bucket.
 * Each operation costs its static cost from gateway/limits, at least 1.
 *
 * When the store cannot be reached, requests are let through (fail-open)
 * and a warning is logged at most once per 10 s, because an outage of the
 * bucket store must not take the whole graph down with it.
 */
export async function createRateLimiter(options: {
  config: Config;
  logger: Logger;
}): Promise<RateLimiter> {
  const settings = readRateLimitSettings(options.config);
  const logger = options.logger.child({ component: 'rate-limit' });
  const logStoreFailure = createThrottledLog(
    'warn',
    'rate limit store unavailable, request let through',
  );
  const store = await openStore(options.config, settings, logger, (error) =>
    logStoreFailure(logger, { err: error }),
  );
  if (!store) {
    return {
      trackClient: (context) => context,
      plugin: {},
      close: async () => {},
    };
  }

  const logRejection = createThrottledLog('info', 'request rate limited');

  const plugin: ApolloServerPlugin<GatewayContext> = {
    async requestDidStart() {
      return {
        // Runs after every plugin's didResolveOperation, so the limits
        // plugin has computed the cost and the operation is within its
        // limits, and before the gateway sends anything to a subgraph.
        async responseForOperation(requestContext) {
          const { contextValue } = requestContext;
          const cost = findOperationCost(requestContext.request);
          const budget = settings.budgets[contextValue.caller.kind];
          if (!cost || !budget) return null;

          const charge = Math.max(1, cost.requestedQueryCost);
          if (charge > budget.capacity) {
            return overCapacityResponse(charge, budget);
          }
          const key = bucketKey(
            settings.keyPrefix,
            contextValue,
            (contextValue as TrackedContext)[CLIENT_ADDRESS],
          );

          let result;
          try {
            result = await withTimeout(
              store.take(key, budget, charge),
              STORE_TIMEOUT_MS,
            );
          } catch (error) {
            logStoreFailure(contextValue.logger, {
              err: error,
              store: settings.store,
            });
            return null;
          }

          const throttleStatus: ThrottleStatus = {
            maximumAvailable: budget.capacity,
            currentlyAvailable: Math.floor(result.tokens),
            restoreRate: budget.restoreRate,
          };
          cost.throttleStatus = throttleStatus;
          if (result.allowed) return null;

          const retryAfterSeconds = Math.max(
            1,
            Math.ceil((charge - result.tokens) / budget.restoreRate),
          );
          logRejection(contextValue.logger, {
            callerKind: contextValue.caller.kind,
            cost: charge,
            currentlyAvailable: throttleStatus.currentlyAvailable,
            operationName: requestContext.operationName,
          });
          return rateLimitedResponse(charge, throttleStatus, retryAfterSeconds);
        },
      };
    },
  };

  return {
    trackClient(context, request) {
      (context as TrackedContext)[CLIENT_ADDRESS] = clientAddress(
        request,
        settings.trustedProxyHops,
      );
      return context;
    },
    plugin,
    close: () => store.close(),
  };
}

async function openStore(
  config: Config,
  settings: RateLimitSettings,
  logger: Logger,
  onConnectionError: (error: Error) => void,
): Promise<BucketStore | undefined> {
  if (settings.store === 'off') {
    logger.info('rate limiting off (RATE_LIMIT_STORE=off)');
    return undefined;
  }
  if (settings.store === 'redis') {
    return createRedisBucketStore({
      url: settings.redisUrl,
      logger,
      onConnectionError,
    });
  }
  const databaseUrl = gatewayDatabaseUrl(config);
  if (!databaseUrl) {
    // Production mode already refuses to start without the database.
    logger.warn(
      'rate limiting off: RATE_LIMIT_STORE is postgres but no gateway database is set (DATABASE_URL or GATEWAY_DATABASE_URL)',
    );
    return undefined;
  }
  return createPostgresBucketStore({
    databaseUrl,
    poolSize: POSTGRES_POOL_SIZE,
    idleSeconds: Math.ceil(longestRefillSeconds(settings)) + 60,
    logger,
  });
}

/**
 * Returns the bucket key of the request's caller: the subject of a partner
 * key, customer or staff member, or the client address of an anonymous
 * caller.
 */
function bucketKey(
  prefix: string,
  context: GatewayContext,
  address: string | undefined,
): string {
  const { kind, subject } = context.caller;
  const id = kind === 'anonymous' ? (address ?? 'unknown') : subject;
  return `${prefix}${kind}:${id}`;
}

function rateLimitedResponse(
  cost: number,
  throttleStatus: ThrottleStatus,
  retryAfterSeconds: number,
): GraphQLResponse {
  return {
    http: {
      status: 429,
      headers: new HeaderMap([['retry-after', String(retryAfterSeconds)]]),
    },
    body: {
      kind: 'single',
      singleResult: {
        errors: [
          {
            message: `Rate limit exceeded: the operation costs ${cost} and ${throttleStatus.currentlyAvailable} of ${throttleStatus.maximumAvailable} points are available, restored at ${throttleStatus.restoreRate} per second. Retry after ${retryAfterSeconds} s.`,
            extensions: {
              code: ErrorCode.RateLimited,
              cost,
              retryAfterSeconds,
            },
          },
        ],
      },
    },
  };
}

/**
 * Rejects an operation that costs more than the caller's bucket can ever
 * hold with MAX_COST_EXCEEDED (HTTP 400), because waiting would not help.
 */
function overCapacityResponse(cost: number, budget: Budget): GraphQLResponse {
  const error = limitExceededError('cost', cost, budget.capacity);
  const { http: _http, ...extensions } = error.extensions;
  return {
    http: { status: 400, headers: new HeaderMap() },
    body: {
      kind: 'single',
      singleResult: { errors: [{ message: error.message, extensions }] },
    },
  };
}

/** Rejects when `promise` has not settled after `timeoutMs`. */
async function withTimeout<T>(promise: Promise<T>, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`The rate limit store timed out after ${timeoutMs} ms.`),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
