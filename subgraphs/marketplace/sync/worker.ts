import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Sql } from 'postgres';
import type { Config } from '../../../platform/config.js';
import type { Database } from '../../../platform/database.js';
import { summarizeError } from '../../../platform/errors.js';
import type { Logger } from '../../../platform/logger.js';
import { appendEvents } from '../../../platform/outbox.js';
import {
  MarketplaceError,
  type MarketplaceAdapter,
} from '../adapters/adapter.js';
import type {
  CatalogListingClient,
  CatalogListingVariant,
} from '../catalog-client.js';
import * as tables from '../db/tables.js';
import type { ListingRow, MarketplaceConnectionRow } from '../db/tables.js';
import { listingPrice } from '../pricing.js';
import { adapterForConnection } from './adapters.js';
import { listingQuantity } from './quantity.js';
import { SYNC_TASKS_CHANNEL } from './tasks.js';

type MarketplaceDatabase = Database<typeof tables>;
type ListingStatus = ListingRow['status'];

export interface SyncWorkerOptions {
  db: MarketplaceDatabase;
  config: Config;
  logger: Logger;
  catalog: Pick<CatalogListingClient, 'variants'>;
  /** Tasks claimed per batch; 50 unless given. */
  batchSize?: number;
  /**
   * Maximum pause between looks for due tasks while none is due, in ms;
   * 30 000 unless given. Workers wake at once when a task is recorded
   * (a notification on SYNC_TASKS_CHANNEL) and when the earliest task in
   * backoff becomes due, so this only bounds the delay after a lost
   * notification. Without notifications they look every 200 ms.
   */
  idleIntervalMs?: number;
  /** How long a claimed task is reserved for its worker, in ms; 5 minutes unless given. */
  leaseMs?: number;
  /** Pause before the first retry of a failed push, in ms; doubled per failure. 500 unless given. */
  retryMinMs?: number;
  /** Maximum pause between retries of a failed push, in ms; 60 000 unless given. */
  retryMaxMs?: number;
  /** Pushes run at once per connection; 4 unless given. */
  concurrencyPerConnection?: number;
}

export interface SyncWorker {
  /** Stops claiming tasks; resolves once the batch being pushed, if any, ends. */
  stop(): Promise<void>;
}

/** A task as claimed: a changed version shows that a change arrived during the push. */
interface ClaimedTask {
  listingId: string;
  version: number;
  publishVersion: number | null;
  attempts: number;
}

type PushOutcome =
  | {
      kind: 'synced';
      status: ListingStatus;
      externalId: string | null;
      sku: string | null;
      quantity: number;
      price: { amount: number; currencyCode: string } | null;
      published: boolean;
    }
  | {
      /** The marketplace or the network failed; retried with backoff. */
      kind: 'failed';
      message: string;
      retryAfterMs: number | null;
    }
  | {
      /** The listing cannot be pushed until staff or the catalog change it. */
      kind: 'blocked';
      message: string;
    };

/** Pause between looks for due tasks when notifications are unavailable, in ms. */
const NO_NOTIFICATION_INTERVAL_MS = 200;

/** Longest `retryAfterMs` honoured, in ms, so a wrong header cannot stall a listing for days. */
const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * Starts the loop that pushes due sync tasks to the marketplaces. Each
 * batch is claimed with FOR UPDATE SKIP LOCKED and a lease, so replicas
 * share the work and never push one listing at the same time. The
 * variants of a batch are read from the catalog in one request, then each
 * listing is published (new listing, content or price change) or gets a
 * new quantity, and the outcome is stored with a `listing.synced` or
 * `listing.sync_failed` event.
 */
export function startSyncWorker(options: SyncWorkerOptions): SyncWorker {
  const { db, config, logger, catalog } = options;
  const batchSize = options.batchSize ?? 50;
  const idleIntervalMs = options.idleIntervalMs ?? 30_000;
  const leaseMs = options.leaseMs ?? 300_000;
  const retryMinMs = options.retryMinMs ?? 500;
  const retryMaxMs = options.retryMaxMs ?? 60_000;
  const concurrency = options.concurrencyPerConnection ?? 4;
  const adapters = new Map<
    string,
    { updatedAt: number; adapter: MarketplaceAdapter }
  >();
  const stopController = new AbortController();
  let stopping = false;
  /** Ends the current sleep early; set while sleeping. */
  let wakeSleeper: (() => void) | null = null;
  /** True when a notification arrived since the last claim. */
  let notified = false;

  function wake() {
    notified = true;
    wakeSleeper?.();
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (stopController.signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        wakeSleeper = null;
        stopController.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakeSleeper = done;
      stopController.signal.addEventListener('abort', done);
    });
  }

  /** Milliseconds until the earliest task of an ACTIVE connection is due or its lease ends; null without tasks. */
  async function untilNextDue(): Promise<number | null> {
    const [row] = await db.execute<{ ms: number | null }>(sql`
      select extract(epoch from min(greatest(t.due_at,
                                             coalesce(t.claimed_until, t.due_at)))
                                 - now()) * 1000 as ms
        from listing_sync_tasks t
        join listings l on l.id = t.listing_id
        join marketplace_connections c on c.id = l.connection_id
       where c.status = 'ACTIVE'`);
    return row?.ms === null || row?.ms === undefined ? null : Number(row.ms);
  }

  function retryDelay(attempts: number, retryAfterMs: number | null): number {
    if (retryAfterMs !== null && retryAfterMs > 0) {
      return Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
    }
    return Math.min(retryMinMs * 2 ** Math.max(0, attempts - 1), retryMaxMs);
  }

  async function claim(): Promise<ClaimedTask[]> {
    const rows = await db.execute<{
      listingId: string;
      version: number;
      publishVersion: number | null;
      attempts: number;
    }>(sql`
      with due as (
        select t.listing_id
          from listing_sync_tasks t
          join listings l on l.id = t.listing_id
          join marketplace_connections c on c.id = l.connection_id
         where t.due_at <= now()
           and (t.claimed_until is null or t.claimed_until <= now())
           and c.status = 'ACTIVE'
         order by t.due_at, t.listing_id
         limit ${batchSize}
         for update of t skip locked)
      update listing_sync_tasks t
         set claimed_until = now() + ${`${leaseMs} milliseconds`}::interval
        from due
       where t.listing_id = due.listing_id
      returning t.listing_id as "listingId", t.version,
                t.publish_version as "publishVersion", t.attempts`);
    return [...rows];
  }

  async function adapterFor(
    connection: MarketplaceConnectionRow,
  ): Promise<MarketplaceAdapter> {
    const cached = adapters.get(connection.id);
    if (cached && cached.updatedAt === connection.updatedAt.getTime()) {
      return cached.adapter;
    }
    const adapter = await adapterForConnection(db, config, connection);
    adapters.set(connection.id, {
      updatedAt: connection.updatedAt.getTime(),
      adapter,
    });
    return adapter;
  }

  /** Pushes one listing and returns the outcome; never throws. */
  async function push(
    task: ClaimedTask,
    listing: ListingRow,
    connection: MarketplaceConnectionRow,
    variant: CatalogListingVariant | undefined,
    adapter: MarketplaceAdapter,
  ): Promise<PushOutcome> {
    try {
      const sku = variant?.sku ?? listing.sku;
      if (listing.status === 'ENDED' || !variant) {
        // An ended listing, or one whose variant left the catalog, is taken
        // down; one never published has nothing to take down.
        if (listing.externalId !== null && sku !== null) {
          await adapter.end(sku, listing.externalId);
        }
        return {
          kind: 'synced',
          status: 'ENDED',
          externalId: listing.externalId,
          sku,
          quantity: 0,
          price: listingPriceOf(listing),
          published: false,
        };
      }
      const price = listingPrice(listing, connection, variant.price);
      if (price === null) {
        return {
          kind: 'blocked',
          message: `Variant ${variant.sku} has no price in the catalog; set one, or give the listing a price override.`,
        };
      }
      if ('error' in price) return { kind: 'blocked', message: price.error };
      const quantity = listingQuantity(variant, connection);
      const needsPublish =
        task.publishVersion !== null ||
        listing.externalId === null ||
        listing.status === 'DRAFT' ||
        listing.sku !== variant.sku ||
        listing.priceAmount !== price.amount ||
        listing.currencyCode !== price.currencyCode;
      if (needsPublish) {
        const published = await adapter.publish({
          sku: variant.sku,
          title: variant.title,
          description: variant.description,
          imageUrls: variant.imageUrls,
          brand: variant.brand,
          gtin: variant.barcode,
          mpn: null,
          condition: 'NEW',
          weightGrams: variant.weightGrams,
          price,
          quantity,
          externalId: listing.externalId,
        });
        return {
          kind: 'synced',
          status: published.status,
          externalId: published.externalId,
          sku: variant.sku,
          quantity,
          price,
          published: true,
        };
      }
      await adapter.setQuantity(variant.sku, listing.externalId!, quantity);
      return {
        kind: 'synced',
        status: listing.status === 'PENDING' ? 'PENDING' : 'ACTIVE',
        externalId: listing.externalId,
        sku: variant.sku,
        quantity,
        price,
        published: false,
      };
    } catch (error) {
      if (error instanceof MarketplaceError) {
        return {
          kind: 'failed',
          message: error.message,
          retryAfterMs: error.retryAfterMs,
        };
      }
      logger.error(
        { err: summarizeError(error), listingId: listing.id },
        'pushing a listing failed unexpectedly',
      );
      return {
        kind: 'failed',
        message:
          'Pushing the listing failed with an unexpected error; the marketplace service log has the details.',
        retryAfterMs: null,
      };
    }
  }

  async function storeOutcome(
    task: ClaimedTask,
    listing: ListingRow,
    outcome: PushOutcome,
  ): Promise<void> {
    await db.transaction(async (transaction) => {
      const now = new Date();
      if (outcome.kind === 'synced') {
        await transaction
          .update(tables.listings)
          .set({
            externalId: outcome.externalId,
            sku: outcome.sku,
            priceAmount: outcome.price?.amount ?? null,
            currencyCode: outcome.price?.currencyCode ?? null,
            quantity: outcome.quantity,
            // Staff may have ended or published the listing during the
            // push; their status is kept, and their task pushes next.
            status: sql`case when ${tables.listings.status} = ${listing.status}
                             then ${outcome.status}::listing_status
                             else ${tables.listings.status} end`,
            lastSyncedAt: now,
            lastError: null,
            updatedAt: now,
          })
          .where(eq(tables.listings.id, listing.id));
        const deleted = await transaction
          .delete(tables.listingSyncTasks)
          .where(
            and(
              eq(tables.listingSyncTasks.listingId, task.listingId),
              eq(tables.listingSyncTasks.version, task.version),
            ),
          )
          .returning({ listingId: tables.listingSyncTasks.listingId });
        if (deleted.length === 0) {
          // A change arrived during the push: the task stays, due now.
          await transaction
            .update(tables.listingSyncTasks)
            .set({
              claimedUntil: null,
              attempts: 0,
              publishVersion: outcome.published
                ? sql`case when ${tables.listingSyncTasks.publishVersion} <= ${task.version}
                           then null
                           else ${tables.listingSyncTasks.publishVersion} end`
                : sql`${tables.listingSyncTasks.publishVersion}`,
              updatedAt: now,
            })
            .where(eq(tables.listingSyncTasks.listingId, task.listingId));
        }
        await appendEvents(transaction, [
          {
            type: 'listing.synced',
            aggregateId: listing.id,
            payload: {
              listingId: listing.id,
              connectionId: listing.connectionId,
              variantId: listing.variantId,
              sku: outcome.sku,
              externalId: outcome.externalId,
              status: outcome.status,
              quantity: outcome.quantity,
              priceAmount: outcome.price?.amount ?? null,
              currencyCode: outcome.price?.currencyCode ?? null,
              published: outcome.published,
            },
          },
        ]);
        return;
      }

      const attempts = task.attempts + 1;
      await transaction
        .update(tables.listings)
        .set({
          status: sql`case when ${tables.listings.status} = 'ENDED'
                           then ${tables.listings.status}
                           else 'ERROR'::listing_status end`,
          lastError: outcome.message,
          updatedAt: now,
        })
        .where(eq(tables.listings.id, listing.id));
      let retryAt: Date | null = null;
      if (outcome.kind === 'failed') {
        retryAt = new Date(
          now.getTime() + retryDelay(attempts, outcome.retryAfterMs),
        );
        await transaction
          .update(tables.listingSyncTasks)
          .set({ attempts, dueAt: retryAt, claimedUntil: null, updatedAt: now })
          .where(eq(tables.listingSyncTasks.listingId, task.listingId));
      } else {
        // Retrying cannot help until the catalog or staff change the
        // listing, and such a change records a new task.
        const deleted = await transaction
          .delete(tables.listingSyncTasks)
          .where(
            and(
              eq(tables.listingSyncTasks.listingId, task.listingId),
              eq(tables.listingSyncTasks.version, task.version),
            ),
          )
          .returning({ listingId: tables.listingSyncTasks.listingId });
        if (deleted.length === 0) {
          await transaction
            .update(tables.listingSyncTasks)
            .set({ claimedUntil: null, updatedAt: now })
            .where(eq(tables.listingSyncTasks.listingId, task.listingId));
        }
      }
      await appendEvents(transaction, [
        {
          type: 'listing.sync_failed',
          aggregateId: listing.id,
          payload: {
            listingId: listing.id,
            connectionId: listing.connectionId,
            variantId: listing.variantId,
            error: outcome.message,
            attempts,
            retryAt: retryAt?.toISOString() ?? null,
          },
        },
      ]);
    });
    if (outcome.kind !== 'synced') {
      logger.warn(
        {
          listingId: listing.id,
          connectionId: listing.connectionId,
          attempts: task.attempts + 1,
          reason: outcome.message,
        },
        outcome.kind === 'failed'
          ? 'listing sync failed; retrying after a pause'
          : 'listing sync blocked until the listing or its variant changes',
      );
    }
  }

  /** Puts claimed tasks back, due after a pause, without touching their listings. */
  async function release(tasks: ClaimedTask[], delayMs: number) {
    await db
      .update(tables.listingSyncTasks)
      .set({
        claimedUntil: null,
        dueAt: new Date(Date.now() + delayMs),
        updatedAt: new Date(),
      })
      .where(
        inArray(
          tables.listingSyncTasks.listingId,
          tasks.map((task) => task.listingId),
        ),
      );
  }

  let catalogFailures = 0;

  /** Claims and pushes one batch; returns the number of tasks claimed. */
  async function runBatch(): Promise<number> {
    const tasks = await claim();
    if (tasks.length === 0) return 0;
    const listingRows = await db
      .select()
      .from(tables.listings)
      .where(
        inArray(
          tables.listings.id,
          tasks.map((task) => task.listingId),
        ),
      );
    const listingsById = new Map(listingRows.map((row) => [row.id, row]));
    const connectionRows = await db
      .select()
      .from(tables.marketplaceConnections)
      .where(
        inArray(tables.marketplaceConnections.id, [
          ...new Set(listingRows.map((row) => row.connectionId)),
        ]),
      );
    const connectionsById = new Map(connectionRows.map((row) => [row.id, row]));

    let variants: CatalogListingVariant[];
    try {
      variants = await catalog.variants(
        listingRows.flatMap((row) => (row.variantId ? [row.variantId] : [])),
      );
      catalogFailures = 0;
    } catch (error) {
      catalogFailures += 1;
      const delay = retryDelay(catalogFailures, null);
      logger.warn(
        { err: summarizeError(error), tasks: tasks.length, retryInMs: delay },
        'reading variants from the catalog failed; the batch is retried after a pause',
      );
      await release(tasks, delay);
      return 0;
    }
    const variantsById = new Map(variants.map((row) => [row.id, row]));

    const byConnection = new Map<string, ClaimedTask[]>();
    for (const task of tasks) {
      const listing = listingsById.get(task.listingId);
      if (!listing) continue;
      const group = byConnection.get(listing.connectionId) ?? [];
      group.push(task);
      byConnection.set(listing.connectionId, group);
    }

    await Promise.all(
      [...byConnection].map(async ([connectionId, group]) => {
        const connection = connectionsById.get(connectionId)!;
        let adapter: MarketplaceAdapter | null = null;
        let adapterError: string | null = null;
        try {
          adapter = await adapterFor(connection);
        } catch (error) {
          logger.error(
            { err: summarizeError(error), connectionId },
            'creating the marketplace adapter failed',
          );
          adapterError =
            'The marketplace connection could not be set up; check its credentials and settings.';
        }
        const queue = [...group];
        const runNext = async (): Promise<void> => {
          for (let task = queue.shift(); task; task = queue.shift()) {
            const listing = listingsById.get(task.listingId)!;
            const outcome: PushOutcome = adapter
              ? await push(
                  task,
                  listing,
                  connection,
                  listing.variantId
                    ? variantsById.get(listing.variantId)
                    : undefined,
                  adapter,
                )
              : { kind: 'failed', message: adapterError!, retryAfterMs: null };
            try {
              await storeOutcome(task, listing, outcome);
            } catch (error) {
              // The claim runs out after its lease, and the task is pushed
              // again then.
              logger.error(
                { err: summarizeError(error), listingId: listing.id },
                'storing a listing sync outcome failed',
              );
            }
          }
        };
        await Promise.all(
          Array.from({ length: Math.min(concurrency, group.length) }, runNext),
        );
      }),
    );
    return tasks.length;
  }

  const client = (db as unknown as { $client: Sql }).$client;
  const listening = client
    .listen(SYNC_TASKS_CHANNEL, () => wake())
    .then(
      (subscription) => subscription,
      (error: unknown) => {
        logger.warn(
          { err: summarizeError(error) },
          'listening for sync task notifications failed; looking for due tasks every 200 ms instead',
        );
        return null;
      },
    );

  const running = (async () => {
    const subscription = await listening;
    let failures = 0;
    while (!stopping) {
      let claimed = 0;
      try {
        notified = false;
        claimed = await runBatch();
        failures = 0;
        if (claimed < batchSize && !notified) {
          if (!subscription) {
            await sleep(NO_NOTIFICATION_INTERVAL_MS);
            continue;
          }
          const nextDue = await untilNextDue();
          if (!notified) {
            await sleep(
              Math.max(0, Math.min(nextDue ?? idleIntervalMs, idleIntervalMs)),
            );
          }
        }
      } catch (error) {
        failures += 1;
        logger.error(
          { err: summarizeError(error), failures },
          'listing sync batch failed; retrying after a pause',
        );
        await sleep(retryDelay(failures, null));
      }
    }
    await subscription?.unlisten().catch(() => undefined);
  })();

  return {
    async stop() {
      stopping = true;
      stopController.abort();
      await running;
    },
  };
}

function listingPriceOf(
  listing: ListingRow,
): { amount: number; currencyCode: string } | null {
  return listing.priceAmount === null || listing.currencyCode === null
    ? null
    : { amount: listing.priceAmount, currencyCode: listing.currencyCode };
}
