import type { Database } from '../../../platform/database.js';
import type { Logger } from '../../../platform/logger.js';
import type * as tables from '../db/tables.js';
import { expireDueReservations } from './reservations.js';

/** Reservations expired per transaction of the sweep. */
export const SWEEP_BATCH_SIZE = 100;

export interface ReservationSweep {
  /** Stops scheduling sweeps and waits for a running one to finish. */
  stop(): Promise<void>;
}

/**
 * Expires overdue reservations every `intervalMs`, in batches of
 * SWEEP_BATCH_SIZE until none is left. Replicas can sweep at the same time,
 * because each batch skips reservations another transaction has locked.
 * A failed sweep is logged and the next one runs on schedule.
 */
export function startReservationSweep(options: {
  db: Database<typeof tables>;
  intervalMs: number;
  logger: Logger;
}): ReservationSweep {
  const { db, intervalMs, logger } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function sweep(): Promise<void> {
    let expired = 0;
    try {
      while (!stopped) {
        const batch = await expireDueReservations(db, SWEEP_BATCH_SIZE);
        expired += batch;
        if (batch < SWEEP_BATCH_SIZE) break;
      }
    } catch (error) {
      logger.error(
        { err: error, expired },
        'stock reservation sweep failed; retrying at the next interval',
      );
      return;
    }
    if (expired > 0) {
      logger.info({ expired }, 'expired stock reservations released');
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = sweep().finally(() => {
        running = undefined;
        schedule();
      });
    }, intervalMs);
    timer.unref();
  }

  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
