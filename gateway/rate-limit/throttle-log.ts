import type { Logger } from '../../platform/logger.js';

/** Minimum time between two records of one kind at warn or info level, in ms. */
const INTERVAL_MS = 10_000;

/**
 * Returns a logger function that writes at `level` at most once per
 * INTERVAL_MS, with the number of events since the previous record, and at
 * debug level otherwise, so a flood of requests does not flood the log.
 */
export function createThrottledLog(level: 'info' | 'warn', message: string) {
  let lastAt = -Infinity;
  let suppressed = 0;

  return (logger: Logger, fields: Record<string, unknown>): void => {
    const now = performance.now();
    if (now - lastAt < INTERVAL_MS) {
      suppressed += 1;
      logger.debug(fields, message);
      return;
    }
    logger[level](
      { ...fields, suppressedSinceLastRecord: suppressed },
      message,
    );
    lastAt = now;
    suppressed = 0;
  };
}
