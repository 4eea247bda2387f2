import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Logger } from '../../platform/logger.js';
import type { GatewayDatabase } from '../db/database.js';

/**
 * Counts open subscriptions per caller. `acquire` returns the function that
 * frees the slot, or null when the caller has its maximum open.
 */
export interface SubscriptionCounter {
  acquire(callerKey: string): Promise<(() => Promise<void>) | null>;
  close(): Promise<void>;
}

/** Counts in this process only, for a gateway without a database. */
export function createMemoryCounter(max: number): SubscriptionCounter {
  const open = new Map<string, number>();
  return {
    async acquire(callerKey) {
      const count = open.get(callerKey) ?? 0;
      if (count >= max) return null;
      open.set(callerKey, count + 1);
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        const left = (open.get(callerKey) ?? 1) - 1;
        if (left === 0) open.delete(callerKey);
        else open.set(callerKey, left);
      };
    },
    async close() {
      open.clear();
    },
  };
}

/** Time in ms after which a slot of a replica that stopped renewing it lapses. */
const SLOT_LEASE_MS = 90_000;
/** Time in ms between renewals of a replica's slots. */
const SLOT_RENEW_MS = 30_000;

/**
 * Counts in the gateway database, so the limit applies across every replica
 * that shares it. Each open subscription is a row leased by its replica.
 * The replica renews its leases while it runs and deletes them when it
 * stops, and the leases of a replica that died lapse after SLOT_LEASE_MS. A transaction-scoped advisory lock per caller makes the
 * count and the insert one step, so concurrent subscriptions of one
 * caller never exceed the limit.
 */
export function createDatabaseCounter(options: {
  db: GatewayDatabase;
  max: number;
  logger: Logger;
}): SubscriptionCounter {
  const { db, max } = options;
  const replicaId = randomUUID();
  const renew = setInterval(() => {
    db.execute(
      sql`update open_subscriptions
             set expires_at = now() + make_interval(secs => ${SLOT_LEASE_MS / 1000})
           where replica_id = ${replicaId}`,
    ).catch((error: unknown) =>
      options.logger.warn(
        { err: error },
        'renewing the leases of open subscriptions failed; retrying at the next renewal',
      ),
    );
  }, SLOT_RENEW_MS);
  renew.unref();

  return {
    async acquire(callerKey) {
      const id = randomUUID();
      const acquired = await db.transaction(async (transaction) => {
        await transaction.execute(
          sql`select pg_advisory_xact_lock(hashtext('open-subscriptions'), hashtext(${callerKey}))`,
        );
        await transaction.execute(
          sql`delete from open_subscriptions
               where caller_key = ${callerKey} and expires_at < now()`,
        );
        const rows = await transaction.execute<{ open: number }>(
          sql`select count(*)::int as open from open_subscriptions
               where caller_key = ${callerKey}`,
        );
        if (rows[0]!.open >= max) return false;
        await transaction.execute(
          sql`insert into open_subscriptions (id, caller_key, replica_id, expires_at)
              values (${id}, ${callerKey}, ${replicaId},
                      now() + make_interval(secs => ${SLOT_LEASE_MS / 1000}))`,
        );
        return true;
      });
      if (!acquired) return null;
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await db.execute(sql`delete from open_subscriptions where id = ${id}`);
      };
    },
    async close() {
      clearInterval(renew);
      await db.execute(
        sql`delete from open_subscriptions where replica_id = ${replicaId}`,
      );
    },
  };
}
