import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Sql } from 'postgres';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { ErrorCode } from './errors.js';
import { sendJson, type RouteHandler } from './http-server.js';
import type { SubgraphCaller } from './identity.js';
import type { Logger } from './logger.js';
import {
  OUTBOX_NOTIFY_CHANNEL,
  parseEventPosition,
  readCommittedEvents,
  readStreamEnd,
  type StoredEvent,
} from './outbox.js';

/** Events per response when the request names no `limit`. */
export const DEFAULT_EVENT_LIMIT = 100;
/** Maximum `limit` served. A larger `limit` is lowered to this value. */
export const MAX_EVENT_LIMIT = 1000;
/** Maximum `wait`, in milliseconds. A longer `wait` is lowered to this value. */
export const MAX_EVENT_WAIT_MS = 30_000;
/**
 * Events read and left out by a `types` filter before a response is sent
 * anyway, so a rare type does not make one request scan the whole stream.
 */
const MAX_SCANNED_PER_REQUEST = 5_000;
/**
 * While waiting, the stream is read again this often even without a
 * notification, in case one was lost (such as while the listening
 * connection reconnected).
 */
const UNNOTIFIED_RECHECK_MS = 1_000;
/**
 * After a notification whose events are not readable yet, the stream is
 * read this often. A commit becomes readable only once every older
 * transaction in the cluster has ended (see readCommittedEvents), and
 * those older transactions need not send a notification of their own.
 */
const HELD_BACK_RECHECK_MS = 25;

/** One event as the `/events` route returns it. */
export interface StreamEvent {
  /**
   * Position as `<transaction id>.<sequence>`. Pass it as `after` to
   * continue after this event.
   */
  position: string;
  id: string;
  type: string;
  aggregateId: string;
  payload: unknown;
  occurredAt: string;
}

/** Body of a `/events` response. */
export interface EventPage {
  events: StreamEvent[];
  /**
   * Position the next request continues after: the last event read,
   * including events a `types` filter left out. It equals `after` when
   * nothing new was read, and it is null only while the stream is empty and
   * no `after` was given.
   */
  next: string | null;
}

type ExecutingDatabase = Pick<
  PgDatabase<PgQueryResultHKT, Record<string, unknown>>,
  'execute'
>;

class BadRequest extends Error {}

interface StreamQuery {
  after: string | null;
  /** `after=end`: respond with the stream's last position and no events. */
  fromEnd: boolean;
  limit: number;
  types: Set<string> | null;
  waitMs: number;
}

function parseInteger(
  parameters: URLSearchParams,
  name: string,
  fallback: number,
  hint: string,
): number {
  const text = parameters.get(name);
  if (text === null || text === '') return fallback;
  if (!/^\d{1,9}$/.test(text)) {
    throw new BadRequest(`Invalid ${name} "${text}": ${hint}`);
  }
  return Number(text);
}

function parseQuery(url: string): StreamQuery {
  const parameters = new URL(url, 'http://localhost').searchParams;
  const afterText = parameters.get('after');
  const fromEnd = afterText === 'end';
  const after =
    afterText === null || afterText === '' || fromEnd ? null : afterText;
  if (after !== null && parseEventPosition(after) === null) {
    throw new BadRequest(
      `Invalid event position "${after}": use a position returned with an event or as next, such as "7431.12", "end" for the stream's last position, or leave after out to read from the start.`,
    );
  }
  const limit = parseInteger(
    parameters,
    'limit',
    DEFAULT_EVENT_LIMIT,
    `use a whole number from 1 to ${MAX_EVENT_LIMIT}.`,
  );
  if (limit < 1) {
    throw new BadRequest(
      `Invalid limit "${limit}": use a whole number from 1 to ${MAX_EVENT_LIMIT}.`,
    );
  }
  const waitMs = parseInteger(
    parameters,
    'wait',
    0,
    `use a whole number of milliseconds up to ${MAX_EVENT_WAIT_MS}.`,
  );
  const typesText = parameters.get('types');
  const types =
    typesText === null || typesText.trim() === ''
      ? null
      : new Set(
          typesText
            .split(',')
            .map((type) => type.trim())
            .filter((type) => type !== ''),
        );
  return {
    after,
    fromEnd,
    limit: Math.min(limit, MAX_EVENT_LIMIT),
    types,
    waitMs: Math.min(waitMs, MAX_EVENT_WAIT_MS),
  };
}

function toStreamEvent(event: StoredEvent): StreamEvent {
  return {
    position: event.position,
    id: event.id,
    type: event.type,
    aggregateId: event.aggregateId,
    payload: event.payload,
    occurredAt: event.createdAt,
  };
}

/**
 * Reads one page of committed events after `after`, of `types` when given.
 * Events of other types are skipped, up to MAX_SCANNED_PER_REQUEST of them,
 * and `next` moves past them.
 */
async function readPage(
  db: ExecutingDatabase,
  query: Pick<StreamQuery, 'limit' | 'types'>,
  after: string | null,
): Promise<EventPage> {
  let next = after;
  let scanned = 0;
  for (;;) {
    const stored = await readCommittedEvents(db, next, query.limit);
    if (stored.length > 0) next = stored.at(-1)!.position;
    scanned += stored.length;
    const events = (
      query.types
        ? stored.filter((event) => query.types!.has(event.type))
        : stored
    ).map(toStreamEvent);
    if (
      events.length > 0 ||
      stored.length < query.limit ||
      scanned >= MAX_SCANNED_PER_REQUEST
    ) {
      return { events, next };
    }
  }
}

/**
 * Wakes waiting requests when `appendEvents` notifies a commit. The
 * listening connection is opened on the first wait and closed with the
 * database's pool.
 */
class CommitNotifications {
  /** Notification count, so a reader can detect one that arrived while it read. */
  generation = 0;
  private readonly waiters = new Set<() => void>();
  private listening: Promise<boolean> | null = null;
  private closed = false;

  constructor(
    private readonly sql: Sql,
    private readonly logger: Logger,
  ) {}

  /**
   * Starts listening for commit notifications on the first call. Resolves
   * true once listening, or false if listening failed.
   */
  listen(): Promise<boolean> {
    if (!this.listening) {
      this.listening = this.sql
        .listen(OUTBOX_NOTIFY_CHANNEL, () => this.wake())
        .then(
          () => true,
          (error: unknown) => {
            this.logger.warn(
              { err: error },
              'event stream: listening for commits failed; waiting requests read the stream every 25 ms instead',
            );
            this.listening = null;
            return false;
          },
        );
    }
    return this.listening;
  }

  /** Waits up to `ms` for a notification and resolves true if one arrived. */
  wait(ms: number, signal: AbortSignal): Promise<boolean> {
    if (this.closed || signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (notified: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        signal.removeEventListener('abort', abort);
        resolve(notified);
      };
      const wake = () => finish(true);
      const abort = () => finish(false);
      const timer = setTimeout(() => finish(false), ms);
      this.waiters.add(wake);
      signal.addEventListener('abort', abort);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends every wait, so requests in flight respond with the events they have read. */
  close(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    this.generation += 1;
    for (const waiter of [...this.waiters]) waiter();
  }
}

function sendError(
  response: ServerResponse,
  status: number,
  message: string,
  code: string,
  headers: Record<string, string> = {},
) {
  for (const [name, value] of Object.entries(headers)) {
    response.setHeader(name, value);
  }
  sendJson(response, status, { error: message, code });
}

/**
 * The `GET /events` route of a subgraph: its outbox as a stream, for other
 * services (docs/events.md).
 *
 * Query parameters:
 * - `after`: a position. Without it the stream is read from the start;
 *   `end` responds at once with no events and the last position as `next`.
 * - `limit`: 1 to MAX_EVENT_LIMIT, default DEFAULT_EVENT_LIMIT.
 * - `types`: comma-separated event types.
 * - `wait`: milliseconds, up to MAX_EVENT_WAIT_MS, to hold the request
 *   until an event arrives.
 *
 * Only callers with a signed service identity are served: 401 without a
 * valid identity header, 403 for other kinds of callers, 400 for a
 * malformed parameter. `close` ends every waiting request, so the HTTP
 * server can close without waiting for them, and resolves once no request
 * reads the database any more, so the pool can close after it.
 */
export function createEventStreamRoute(options: {
  db: ExecutingDatabase;
  sql: Sql;
  authenticate(request: IncomingMessage): Promise<SubgraphCaller>;
  logger: Logger;
}): { route: RouteHandler; close(): Promise<void> } {
  const { db, logger } = options;
  const notifications = new CommitNotifications(options.sql, logger);
  const reads = new Set<Promise<EventPage>>();

  async function readWaiting(
    query: StreamQuery,
    signal: AbortSignal,
  ): Promise<EventPage> {
    const deadline = Date.now() + query.waitMs;
    const listening = query.waitMs > 0 ? await notifications.listen() : false;
    // Once a commit was notified, its events may be held back until older
    // transactions end, so the stream is read often until they appear.
    let notified = !listening;
    let page: EventPage = { events: [], next: query.after };
    for (;;) {
      const generation = notifications.generation;
      page = await readPage(db, query, page.next);
      const remaining = deadline - Date.now();
      if (
        page.events.length > 0 ||
        remaining <= 0 ||
        signal.aborted ||
        notifications.isClosed
      ) {
        return page;
      }
      if (notifications.generation !== generation) {
        notified = true;
        continue;
      }
      const arrived = await notifications.wait(
        Math.min(
          remaining,
          notified ? HELD_BACK_RECHECK_MS : UNNOTIFIED_RECHECK_MS,
        ),
        signal,
      );
      notified ||= arrived;
    }
  }

  const route: RouteHandler = async (request, response) => {
    let caller: SubgraphCaller;
    try {
      caller = await options.authenticate(request);
    } catch (error) {
      if (
        error instanceof GraphQLError &&
        error.extensions.code === ErrorCode.Unauthenticated
      ) {
        sendError(response, 401, error.message, ErrorCode.Unauthenticated, {
          'www-authenticate': 'Bearer',
        });
        return;
      }
      throw error;
    }

    if (caller.kind !== 'service') {
      sendError(
        response,
        403,
        `The event stream serves other services only; this request was signed for a ${caller.kind} caller. Sign a service identity (signServiceIdentity).`,
        ErrorCode.Forbidden,
      );
      return;
    }

    let query: StreamQuery;
    try {
      query = parseQuery(request.url ?? '/events');
    } catch (error) {
      if (!(error instanceof BadRequest)) throw error;
      sendError(response, 400, error.message, 'BAD_REQUEST');
      return;
    }

    if (query.fromEnd) {
      sendJson(response, 200, {
        events: [],
        next: await readStreamEnd(db),
      } satisfies EventPage);
      return;
    }

    // A client that goes away ends its wait.
    const gone = new AbortController();
    response.on('close', () => gone.abort());
    const read = readWaiting(query, gone.signal);
    reads.add(read);
    let page: EventPage;
    try {
      page = await read;
    } finally {
      reads.delete(read);
    }

    if (response.destroyed) return;
    sendJson(response, 200, page);
  };

  return {
    route,
    async close() {
      notifications.close();
      // A failed read is logged by the request that made it.
      await Promise.allSettled([...reads]);
    },
  };
}
