import postgres, { type Sql } from 'postgres';
import type { Logger } from '../../platform/logger.js';
import type { Budget } from './settings.js';
import type { BucketStore, TakeResult } from './store.js';

/** Time between two deletions of buckets that are full again, in ms. */
const CLEANUP_INTERVAL_MS = 60_000;

/**
 * Stores buckets in the gateway database's `rate_limit_buckets` table. Each
 * `take` is one INSERT ... ON CONFLICT DO UPDATE: PostgreSQL locks the row
 * for the update, so concurrent requests for one key run one after another.
 * Time comes from the database server's clock, so replicas with skewed
 * clocks still agree.
 */
export function createPostgresBucketStore(options: {
  databaseUrl: string;
  poolSize: number;
  /** Buckets untouched for this many seconds are full and get deleted. */
  idleSeconds: number;
  logger: Logger;
}): BucketStore {
  const sql = postgres(options.databaseUrl, {
    max: options.poolSize,
    // Seconds. postgres.js waits 30 s by default, and every request waits
    // for its bucket, so an unreachable server must fail fast.
    connect_timeout: 2,
    onnotice: () => {},
  });

  const cleanup = setInterval(() => {
    deleteIdleBuckets(sql, options.idleSeconds).catch((error: unknown) => {
      options.logger.warn(
        { err: error },
        'rate limit: deleting idle buckets failed',
      );
    });
  }, CLEANUP_INTERVAL_MS);
  cleanup.unref();

  return {
    async take(key, budget, cost) {
      return takeFromBucket(sql, key, budget, cost);
    },
    async close() {
      clearInterval(cleanup);
      await sql.end({ timeout: 5 });
    },
  };
}

async function takeFromBucket(
  sql: Sql,
  key: string,
  budget: Budget,
  cost: number,
): Promise<TakeResult> {
  const capacity = budget.capacity;
  const rate = budget.restoreRate;
  // A request that waited for the row lock can have an earlier now() than
  // the row's updated_at, so the elapsed time is never negative and
  // updated_at never moves back.
  const refilled = sql`least(
    ${capacity}::float8,
    bucket.tokens + greatest(0, extract(epoch from now() - bucket.updated_at)) * ${rate}::float8
  )`;
  const rows = await sql<{ tokens: number; last_allowed: boolean }[]>`
    insert into rate_limit_buckets as bucket (key, tokens, last_allowed, updated_at)
    values (${key}, ${capacity}::float8 - ${cost}::float8, true, now())
    on conflict (key) do update set
      tokens = case when ${refilled} >= ${cost}::float8
        then ${refilled} - ${cost}::float8
        else ${refilled} end,
      last_allowed = ${refilled} >= ${cost}::float8,
      updated_at = greatest(bucket.updated_at, now())
    returning tokens, last_allowed
  `;
  const row = rows[0]!;
  return { allowed: row.last_allowed, tokens: row.tokens };
}

async function deleteIdleBuckets(sql: Sql, idleSeconds: number) {
  await sql`
    delete from rate_limit_buckets
    where updated_at < now() - make_interval(secs => ${idleSeconds}::float8)
  `;
}
