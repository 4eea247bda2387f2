import { Redis } from 'ioredis';
import type { Logger } from '../../platform/logger.js';
import type { Budget } from './settings.js';
import type { BucketStore } from './store.js';

/** Maximum wait for one Redis command, in ms, before the store counts as down. */
const COMMAND_TIMEOUT_MS = 1_000;

/**
 * Refills and takes from one bucket, a hash with `tokens` and `updated_at`
 * (seconds, from the Redis server's clock). Redis runs a script without
 * interleaving other commands, so the read and the write are atomic. The
 * key expires once the bucket would be full again. Tokens are returned as a
 * string because Redis turns Lua numbers into integers.
 */
const TAKE_SCRIPT = `
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'updated_at')
local tokens = capacity
if stored[1] then
  local elapsed = math.max(0, now - tonumber(stored[2]))
  tokens = math.min(capacity, tonumber(stored[1]) + elapsed * rate)
end
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated_at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return { allowed, tostring(tokens) }
`;

type TakeCommand = (
  key: string,
  capacity: number,
  restoreRate: number,
  cost: number,
) => Promise<[number, string]>;

/**
 * Stores buckets in Redis, one hash per key, changed by a Lua script. It
 * waits for the first connection, and when that fails it logs a warning
 * and keeps trying to connect in the background.
 */
export async function createRedisBucketStore(options: {
  url: string;
  logger: Logger;
  onConnectionError: (error: Error) => void;
}): Promise<BucketStore> {
  const redis = new Redis(options.url, {
    lazyConnect: true,
    // A request fails at once while Redis is down instead of waiting in
    // ioredis's offline queue, so the rate limiter can let it through.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: COMMAND_TIMEOUT_MS,
  });
  redis.on('error', options.onConnectionError);
  redis.defineCommand('takeFromBucket', { numberOfKeys: 1, lua: TAKE_SCRIPT });
  const takeFromBucket = (
    redis as unknown as { takeFromBucket: TakeCommand }
  ).takeFromBucket.bind(redis);
  try {
    await redis.connect();
  } catch (error) {
    options.logger.warn(
      { err: error },
      'rate limit: connecting to Redis failed, requests are let through until it is reachable',
    );
  }

  return {
    async take(key: string, budget: Budget, cost: number) {
      const [allowed, tokens] = await takeFromBucket(
        key,
        budget.capacity,
        budget.restoreRate,
        cost,
      );
      return { allowed: allowed === 1, tokens: Number(tokens) };
    },
    async close() {
      redis.disconnect();
    },
  };
}
