import type { Sql } from 'postgres';

/**
 * Counts the queries and transactions in flight on one postgres.js pool.
 * postgres.js 3.4 exposes the pool size (`sql.options.max`) but not which
 * connections are busy, so use is counted by wrapping the client that
 * drizzle calls.
 */
export class PoolUsage {
  private inFlight = 0;

  constructor(readonly max: number) {}

  /**
   * Returns the queries and transactions in flight and the connections
   * that they occupy. `inUse` is an estimate: each query or transaction
   * takes one connection until all `max` are taken, after which postgres.js
   * pipelines further queries on busy connections or queues them.
   */
  snapshot(): { inFlight: number; inUse: number; max: number } {
    return {
      inFlight: this.inFlight,
      inUse: Math.min(this.inFlight, this.max),
      max: this.max,
    };
  }

  /** Counts `promise` as in flight until it settles, and returns it. */
  track<T extends PromiseLike<unknown>>(promise: T): T {
    this.inFlight += 1;
    const done = () => {
      this.inFlight -= 1;
    };
    // then() with both handlers returns a promise that never rejects, so
    // no unhandled rejection comes from this second listener.
    promise.then(done, done);
    return promise;
  }
}

/**
 * Returns `sql` with `unsafe` and `begin` counted in `usage`; every other
 * member is the pool's own. drizzle-orm's postgres-js driver sends every
 * query through `unsafe` and every transaction through `begin`, whose
 * queries run on the transaction's own reserved connection.
 *
 * Attaching a listener to a postgres.js query starts it one microtask
 * later (postgres.js 3.4 `Query.handle`), so drizzle's chained `.values()`
 * still applies. Tagged-template queries are not wrapped, because a query
 * can be nested as a fragment in another and must then not run alone.
 */
export function trackPoolUsage(sql: Sql, usage: PoolUsage): Sql {
  const unsafe: Sql['unsafe'] = (...args) => usage.track(sql.unsafe(...args));
  const begin = ((...args: Parameters<Sql['begin']>) =>
    usage.track(sql.begin(...args))) as Sql['begin'];
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property === 'unsafe') return unsafe;
      if (property === 'begin') return begin;
      return Reflect.get(target, property, receiver);
    },
  });
}
