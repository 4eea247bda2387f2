import { sql } from 'drizzle-orm';
import { pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import type { ReservedSql, Sql } from 'postgres';
import type { Config } from './config.js';
import type { Database } from './database.js';
import { summarizeError } from './errors.js';
import type { EventPage, StreamEvent } from './event-stream.js';
import {
  createEventStreamClient,
  EventSourceError,
} from './event-stream-client.js';
import { redactUrl, type Logger } from './logger.js';

export type { StreamEvent } from './event-stream.js';

/** Table name of `eventConsumerPositionsTable`. */
export const EVENT_CONSUMER_POSITIONS_TABLE = 'event_consumer_positions';

/**
 * Stored positions of a service's event consumers, one per consumer and
 * stream.
 * Every service that consumes events keeps this table in its own database
 * (add it to the service's tables and generate a migration), so the
 * position advances in the same transaction as the handler's changes.
 * A null position means the consumer has read nothing yet.
 */
export function eventConsumerPositionsTable() {
  return pgTable(
    EVENT_CONSUMER_POSITIONS_TABLE,
    {
      consumer: text('consumer').notNull(),
      source: text('source').notNull(),
      position: text('position'),
      updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' })
        .notNull()
        .defaultNow(),
    },
    (table) => [primaryKey({ columns: [table.consumer, table.source] })],
  );
}

/** A transaction of `Database<TSchema>`. */
export type DatabaseTransaction<TSchema extends Record<string, unknown>> =
  Parameters<Parameters<Database<TSchema>['transaction']>[0]>[0];

export interface EventConsumerOptions<TSchema extends Record<string, unknown>> {
  /** Consumer name, used in the positions table, the lock and logs. */
  name: string;
  /**
   * The service whose stream is read, and the URL of its `/events` route,
   * such as `http://127.0.0.1:4003/events`.
   */
  source: { service: string; url: string };
  /** Event types to receive. Events of other types are skipped. */
  types: string[];
  /** The consuming service's database, which must contain the positions table. */
  db: Database<TSchema>;
  /**
   * Applies a batch of events inside `transaction`, which also advances
   * the stored position. Throwing rolls both back, and the same batch is
   * applied again after a pause. A batch may be delivered again after a
   * rollback, but never applied twice.
   */
  handle(
    events: StreamEvent[],
    transaction: DatabaseTransaction<TSchema>,
  ): Promise<void>;
  config: Config;
  logger: Logger;
  /** Subject of the service identity the requests carry, `name` if absent. */
  caller?: string;
  /** Maximum events per batch, 100 by default. */
  batchSize?: number;
  /** Wait time of one request for new events, in ms, 10 000 by default. */
  waitMs?: number;
  /** First pause after a failure, in ms. It doubles with each further failure. */
  retryMinMs?: number;
  /** Maximum pause after failures, in ms. */
  retryMaxMs?: number;
  /** Interval at which a standby replica tries to take the stream's lock, in ms. */
  standbyCheckMs?: number;
}

export interface EventConsumer {
  /** Stops polling and resolves once the batch being applied, if any, ends. */
  stop(): Promise<void>;
}

/** Raised when another consumer moved the stored position meanwhile. */
class PositionMovedError extends Error {}

/**
 * Reads a subgraph's event stream from the stored position and applies each
 * batch with `handle` in one transaction of `db` that also stores the
 * position after the batch. So a crash before the commit applies the batch
 * again from the old position, and a committed batch is never read again:
 * at-least-once delivery, applied effectively once.
 *
 * One replica consumes a stream at a time: the consumer holds a
 * session-level advisory lock of (`name`, source) on a connection of its
 * own. Other replicas wait on standby and take over when it is released. Each batch
 * transaction also locks the position row and checks that the position is
 * still the one the batch was read from, so a lock lost with its
 * connection cannot make two replicas apply one batch.
 *
 * Source failures are retried with exponential backoff and logged with
 * the source's name, its URL without credentials, and the reason.
 */
export function startEventConsumer<TSchema extends Record<string, unknown>>(
  options: EventConsumerOptions<TSchema>,
): EventConsumer {
  const { name, source, db, config, handle } = options;
  const logger = options.logger.child({
    consumer: name,
    source: source.service,
  });
  const batchSize = options.batchSize ?? 100;
  const waitMs = options.waitMs ?? 10_000;
  const retryMinMs = options.retryMinMs ?? 200;
  const retryMaxMs = options.retryMaxMs ?? 30_000;
  const standbyCheckMs = options.standbyCheckMs ?? 1_000;
  const shownUrl = redactUrl(source.url);
  const stream = createEventStreamClient({
    url: source.url,
    caller: options.caller ?? name,
    config,
  });
  // drizzle() keeps the postgres.js client it was given as `$client`.
  const client = (db as unknown as { $client: Sql }).$client;

  let stopping = false;
  const stopController = new AbortController();
  let lock: ReservedSql | null = null;

  function sleep(ms: number): Promise<void> {
    if (stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        stopController.signal.removeEventListener('abort', done);
        resolve();
      }
      stopController.signal.addEventListener('abort', done);
    });
  }

  /** Takes the stream's advisory lock and returns false if another replica has it. */
  async function acquireLock(): Promise<boolean> {
    const reserved = await client.reserve();
    try {
      const [row] = await reserved<[{ locked: boolean }]>`
        select pg_try_advisory_lock(hashtext('event-consumer'),
          hashtext(${name} || '/' || ${source.service})) as locked`;
      if (row!.locked) {
        lock = reserved;
        return true;
      }
    } catch (error) {
      reserved.release();
      throw error;
    }
    reserved.release();
    return false;
  }

  async function releaseLock(): Promise<void> {
    const reserved = lock;
    lock = null;
    if (!reserved) return;
    try {
      await reserved`select pg_advisory_unlock(hashtext('event-consumer'),
        hashtext(${name} || '/' || ${source.service}))`;
    } catch {
      // A broken connection has released its session's locks already.
    } finally {
      reserved.release();
    }
  }

  async function storedPosition(): Promise<string | null> {
    await db.execute(sql`
      insert into event_consumer_positions (consumer, source, position)
      values (${name}, ${source.service}, null)
      on conflict (consumer, source) do nothing`);
    const rows = await db.execute<{ position: string | null }>(sql`
      select position from event_consumer_positions
       where consumer = ${name} and source = ${source.service}`);
    return rows[0]!.position;
  }

  function fetchPage(after: string | null): Promise<EventPage> {
    return stream.read(after, {
      limit: batchSize,
      types: options.types,
      waitMs,
      signal: stopController.signal,
    });
  }

  /** Applies one page and stores `page.next` in one transaction. */
  async function apply(from: string | null, page: EventPage): Promise<void> {
    await db.transaction(async (transaction) => {
      const rows = await transaction.execute<{ position: string | null }>(sql`
        select position from event_consumer_positions
         where consumer = ${name} and source = ${source.service}
         for update`);
      if (rows[0]?.position !== from) {
        throw new PositionMovedError(
          `the stored position moved from ${from ?? 'the start'} to ${rows[0]?.position ?? 'the start'}`,
        );
      }
      if (page.events.length > 0) await handle(page.events, transaction);
      await transaction.execute(sql`
        update event_consumer_positions
           set position = ${page.next}, updated_at = now()
         where consumer = ${name} and source = ${source.service}`);
    });
  }

  /** Consumes events while this replica has the lock, and returns when it stops. */
  async function consume(): Promise<void> {
    let position = await storedPosition();
    let failures = 0;
    const pause = async () => {
      failures += 1;
      await sleep(Math.min(retryMinMs * 2 ** (failures - 1), retryMaxMs));
    };
    while (!stopping) {
      let page: EventPage;
      try {
        page = await fetchPage(position);
      } catch (error) {
        if (stopping) return;
        if (!(error instanceof EventSourceError)) throw error;
        logger.warn(
          { url: shownUrl, reason: error.message, failures: failures + 1 },
          `event source ${source.service} failed: ${error.message}`,
        );
        await pause();
        continue;
      }
      // An empty page only matters when skipped events moved `next`.
      if (page.events.length === 0 && page.next === position) {
        failures = 0;
        continue;
      }
      try {
        await apply(position, page);
        position = page.next;
        failures = 0;
        if (page.events.length > 0) {
          logger.debug(
            { events: page.events.length, position },
            'event batch applied',
          );
        }
      } catch (error) {
        if (error instanceof PositionMovedError) {
          logger.warn(
            { reason: error.message },
            'event batch not applied: another consumer advanced the stream; continuing from its position',
          );
          position = await storedPosition();
          continue;
        }
        logger.error(
          {
            err: summarizeError(error),
            from: position,
            events: page.events.length,
            failures: failures + 1,
          },
          `applying events of ${source.service} failed; the batch is applied again after a pause`,
        );
        await pause();
        // Reads again from the stored position, which did not move.
        position = await storedPosition();
      }
    }
  }

  const running = (async () => {
    let failures = 0;
    while (!stopping) {
      try {
        if (!(await acquireLock())) {
          await sleep(standbyCheckMs);
          continue;
        }
        logger.info('event consumer started');
        await consume();
        failures = 0;
      } catch (error) {
        failures += 1;
        logger.error(
          { err: summarizeError(error), failures },
          'event consumer failed; retrying after a pause',
        );
        await sleep(Math.min(retryMinMs * 2 ** (failures - 1), retryMaxMs));
      } finally {
        await releaseLock();
      }
    }
  })();

  return {
    async stop() {
      stopping = true;
      // Aborts a request waiting for events, but a batch being applied finishes.
      stopController.abort();
      await running;
      await stream.close();
    },
  };
}
