import type { Config } from '../../platform/config.js';
import type { CallerKind } from '../caller.js';

/** A token bucket of query cost points. */
export interface Budget {
  /** Points the bucket holds when full, which is also the largest burst. */
  capacity: number;
  /** Points per second that flow back into the bucket, up to `capacity`. */
  restoreRate: number;
}

export interface RateLimitSettings {
  store: 'postgres' | 'redis' | 'off';
  redisUrl: string;
  keyPrefix: string;
  /** The budget of each caller kind; undefined where the kind is not limited. */
  budgets: Record<CallerKind, Budget | undefined>;
  /** Proxies in front of the gateway whose `x-forwarded-for` entries are trusted. */
  trustedProxyHops: number;
}

export function readRateLimitSettings(config: Config): RateLimitSettings {
  const budget = (capacity: number, restoreRate: number) =>
    capacity > 0 ? { capacity, restoreRate } : undefined;
  return {
    store: config.RATE_LIMIT_STORE,
    redisUrl: config.REDIS_URL,
    keyPrefix: config.RATE_LIMIT_KEY_PREFIX,
    budgets: {
      anonymous: budget(
        config.RATE_LIMIT_ANONYMOUS_CAPACITY,
        config.RATE_LIMIT_ANONYMOUS_RESTORE_RATE,
      ),
      customer: budget(
        config.RATE_LIMIT_CUSTOMER_CAPACITY,
        config.RATE_LIMIT_CUSTOMER_RESTORE_RATE,
      ),
      partner: budget(
        config.RATE_LIMIT_PARTNER_CAPACITY,
        config.RATE_LIMIT_PARTNER_RESTORE_RATE,
      ),
      staff: budget(
        config.RATE_LIMIT_STAFF_CAPACITY,
        config.RATE_LIMIT_STAFF_RESTORE_RATE,
      ),
    },
    trustedProxyHops: config.RATE_LIMIT_TRUSTED_PROXY_HOPS,
  };
}

/**
 * Returns the longest time in seconds that any bucket takes to refill from
 * empty. A bucket untouched for longer is full, so its row or key can go.
 */
export function longestRefillSeconds(settings: RateLimitSettings): number {
  let longest = 0;
  for (const budget of Object.values(settings.budgets)) {
    if (!budget) continue;
    longest = Math.max(longest, budget.capacity / budget.restoreRate);
  }
  return longest;
}
