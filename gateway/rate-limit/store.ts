import type { Budget } from './settings.js';

/** The outcome of taking points from a bucket. */
export interface TakeResult {
  /** Whether the bucket held `cost` points, which were then taken. */
  allowed: boolean;
  /** Points left in the bucket after this request. */
  tokens: number;
}

/**
 * Shared storage of token buckets. `take` refills the bucket for the time
 * since its last use and takes `cost` points if it contains them, in one atomic
 * step, so concurrent requests on any replica never spend a point twice.
 * A bucket seen for the first time starts full.
 */
export interface BucketStore {
  take(key: string, budget: Budget, cost: number): Promise<TakeResult>;
  close(): Promise<void>;
}
