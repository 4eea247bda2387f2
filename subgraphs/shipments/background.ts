import { and, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import { CarrierError, type TrackingUpdate } from './carriers/carrier.js';
import * as tables from './db/tables.js';
import type { ShipmentRow } from './db/tables.js';
import type {
  ShipmentsDatabase,
  ShipmentsDependencies,
} from './dependencies.js';
import {
  commitStock,
  shipmentsAwaitingStock,
  uncommitStock,
} from './fulfillment.js';
import { applyTrackingUpdate } from './tracking.js';

/** Shipments handled per pass, for tracking and for stock retries each. */
const BATCH_SIZE = 50;

/** Statuses in which the carrier still moves the parcel. */
const TRACKED_STATUSES: ShipmentRow['status'][] = [
  'LABEL_CREATED',
  'IN_TRANSIT',
  'OUT_FOR_DELIVERY',
];

export interface PassReport {
  polled: number;
  changed: number;
  stockRetried: number;
}

/**
 * Claims up to BATCH_SIZE shipments in transit on a carrier without
 * webhooks whose tracking was last asked for at least one interval ago.
 * Rows locked by another replica's pass are skipped (FOR UPDATE SKIP
 * LOCKED), and `polled_at` is set in the same statement, so replicas share
 * the work and no shipment is asked for twice per interval.
 */
async function claimShipmentsToPoll(
  db: ShipmentsDatabase,
  carrierName: string,
  intervalMs: number,
): Promise<ShipmentRow[]> {
  return db.transaction(async (transaction) => {
    const due = await transaction
      .select({ id: tables.shipments.id })
      .from(tables.shipments)
      .where(
        and(
          eq(tables.shipments.carrierProvider, carrierName),
          inArray(tables.shipments.status, TRACKED_STATUSES),
          isNotNull(tables.shipments.trackingNumber),
          sql`(${tables.shipments.polledAt} is null or ${tables.shipments.polledAt} <= now() - make_interval(secs => ${intervalMs / 1000}))`,
        ),
      )
      .orderBy(sql`${tables.shipments.polledAt} asc nulls first`)
      .limit(BATCH_SIZE)
      .for('update', { skipLocked: true });
    if (due.length === 0) return [];
    return transaction
      .update(tables.shipments)
      .set({ polledAt: sql`now()` })
      .where(
        inArray(
          tables.shipments.id,
          due.map((row) => row.id),
        ),
      )
      .returning();
  });
}

/**
 * Asks the carrier for the tracking of each claimed shipment and merges
 * the response the way a webhook is merged. The sandbox carrier also takes
 * the label's purchase time, from which it simulates the parcel's progress.
 */
async function pollTracking(
  db: ShipmentsDatabase,
  dependencies: ShipmentsDependencies,
  config: Config,
  logger: Logger,
): Promise<{ polled: number; changed: number }> {
  const { carrier } = dependencies;
  if (carrier.sendsWebhooks) return { polled: 0, changed: 0 };
  const claimed = await claimShipmentsToPoll(
    db,
    carrier.name,
    config.TRACKING_POLL_INTERVAL_MS,
  );
  let changed = 0;
  for (const shipment of claimed) {
    let update: TrackingUpdate;
    try {
      update = await carrier.track(
        shipment.trackingNumber!,
        shipment.carrier ?? '',
        shipment.labelCreatedAt ?? undefined,
      );
    } catch (error) {
      if (!(error instanceof CarrierError)) throw error;
      logger.warn(
        { shipmentId: shipment.id, err: error },
        'carrier tracking request failed',
      );
      continue;
    }
    const outcome = await db.transaction(async (transaction) => {
      const [locked] = await transaction
        .select()
        .from(tables.shipments)
        .where(eq(tables.shipments.id, shipment.id))
        .for('update');
      return locked
        ? applyTrackingUpdate(transaction, locked, update, 'poll')
        : null;
    });
    if (outcome && outcome.from !== outcome.to) changed += 1;
  }
  return { polled: claimed.length, changed };
}

/** Retries stock commits and returns that failed when the catalog was unreachable. */
async function retryStock(
  db: ShipmentsDatabase,
  dependencies: ShipmentsDependencies,
  logger: Logger,
): Promise<number> {
  const shipments = await shipmentsAwaitingStock(db, BATCH_SIZE);
  for (const shipment of shipments) {
    try {
      if (shipment.status === 'CANCELLED') {
        await uncommitStock(db, dependencies, logger, shipment);
      } else {
        await commitStock(db, dependencies, logger, shipment);
      }
    } catch (error) {
      logger.warn(
        { shipmentId: shipment.id, err: error },
        'stock retry of a shipment failed',
      );
    }
  }
  return shipments.length;
}

/** One background pass: tracking of carriers without webhooks, then stock retries. */
export async function runShipmentsPass(
  db: ShipmentsDatabase,
  dependencies: ShipmentsDependencies,
  config: Config,
  logger: Logger,
): Promise<PassReport> {
  const tracking = await pollTracking(db, dependencies, config, logger);
  const stockRetried = await retryStock(db, dependencies, logger);
  return { ...tracking, stockRetried };
}

/**
 * Runs `runShipmentsPass` every TRACKING_POLL_INTERVAL_MS (0 turns it off)
 * until stopped; a pass never overlaps the next.
 */
export function startShipmentsBackground(options: {
  db: ShipmentsDatabase;
  dependencies: ShipmentsDependencies;
  config: Config;
  logger: Logger;
}): { stop(): Promise<void> } {
  const { config, logger } = options;
  const intervalMs = config.TRACKING_POLL_INTERVAL_MS;
  if (intervalMs === 0) return { stop: async () => {} };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const pass = async () => {
    try {
      const report = await runShipmentsPass(
        options.db,
        options.dependencies,
        config,
        logger,
      );
      if (report.polled + report.stockRetried > 0) {
        logger.info(report, 'shipments background pass');
      }
    } catch (error) {
      logger.error({ err: error }, 'shipments background pass failed');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass().finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
