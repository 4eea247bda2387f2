import type { Logger } from '../../platform/logger.js';
import type { LimitName } from './errors.js';

/** Minimum time between two info-level records about rejections, in ms. */
const INFO_INTERVAL_MS = 10_000;

/**
 * Logs rejected operations: at info level at most once per
 * INFO_INTERVAL_MS, with the number of rejections logged at debug level
 * since then, so a flood of abusive requests does not flood the log.
 */
export function createRejectionLog() {
  let lastInfoAt = -Infinity;
  let suppressed = 0;

  return (
    logger: Logger,
    rejection: {
      limit: LimitName;
      value: number | null;
      maximum: number;
      operationName: string | null;
    },
  ): void => {
    const now = performance.now();
    if (now - lastInfoAt < INFO_INTERVAL_MS) {
      suppressed += 1;
      logger.debug(rejection, 'operation rejected by a limit');
      return;
    }
    logger.info(
      { ...rejection, suppressedSinceLastInfo: suppressed },
      'operation rejected by a limit',
    );
    lastInfoAt = now;
    suppressed = 0;
  };
}
