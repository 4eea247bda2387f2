import type { PersistedQueryOptions } from '@apollo/server';
import { BoundedCache } from './bounded-cache.js';

/**
 * Creates the cache of automatic persisted queries (APQ), which maps hashes
 * to query text in this process's memory. It keeps up to `maxBytes` UTF-16
 * code units of keys and documents and evicts the least recently used
 * first. Each gateway replica has
 * its own, so a client whose hash-only request reaches a replica that has
 * not seen the query gets PERSISTED_QUERY_NOT_FOUND once and resends the
 * query, as the APQ protocol expects. Entries have no expiry, because a
 * hash always names the same document.
 */
export function createApqCache(
  maxBytes: number,
): NonNullable<PersistedQueryOptions['cache']> {
  const cache = new BoundedCache<string>(
    maxBytes,
    (key, value) => key.length + value.length,
  );
  return {
    async get(key) {
      return cache.get(key);
    },
    async set(key, value) {
      cache.set(key, value);
    },
    async delete(key) {
      cache.delete(key);
    },
  };
}
