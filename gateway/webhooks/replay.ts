import { z } from 'zod';
import { SERVICE_NAMES, type Config } from '../../platform/config.js';
import { ErrorCode } from '../../platform/errors.js';
import {
  MAX_EVENT_LIMIT,
  type StreamEvent,
} from '../../platform/event-stream.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import {
  compareEventPositions,
  parseEventPosition,
} from '../../platform/outbox.js';
import { tables, type GatewayDatabase } from '../db/database.js';
import { parseBody, RouteError } from '../json-routes.js';
import { eventTypesOf, type EventSource } from './event-types.js';
import {
  createEventStreamClient,
  EventSourceError,
} from '../../platform/event-stream-client.js';

/** Streams a replay may read: the subgraphs' and the gateway's own. */
const EVENT_SOURCES: readonly EventSource[] = [...SERVICE_NAMES, 'gateway'];
/** Rows per insert statement, well below PostgreSQL's 65 535 parameters. */
const INSERT_CHUNK = 500;

const replayBody = z.object({
  source: z.string(),
  from: z.string(),
  to: z.string(),
});

/** Result of a replay, as `POST /admin/webhooks/<id>/replay` returns it. */
export interface ReplayResult {
  replayId: string;
  endpointId: string;
  source: EventSource;
  from: string;
  to: string;
  /** Deliveries created, one per event in the range of the endpoint's types. */
  enqueued: number;
  /** Positions of the first and last replayed events; null when none matched. */
  firstPosition: string | null;
  lastPosition: string | null;
}

function badInput(message: string): RouteError {
  return new RouteError(400, ErrorCode.BadUserInput, message);
}

function checkPosition(name: 'from' | 'to', value: string): void {
  if (parseEventPosition(value) !== null) return;
  throw badInput(
    `Invalid ${name} "${value}": use an event position as webhooks send it in "position", such as "7431.12"` +
      (name === 'from'
        ? ', or "0.0" to start at the beginning of the stream.'
        : '.'),
  );
}

/**
 * Creates a PENDING delivery to one endpoint for every event of the
 * endpoint's types in a range of a stream: after `from` and up to and
 * including `to`. The events are read through the source's `GET /events`
 * route, and the deliveries are inserted in one transaction after
 * everything already recorded for the endpoint, so they are sent after its
 * pending deliveries, in stream order. Each keeps its event's id, so
 * receivers that deduplicate by `webhook-id` ignore events they processed.
 *
 * Throws a RouteError, having written nothing, for an invalid body, a range
 * of more than WEBHOOK_REPLAY_MAX_EVENTS events, a `to` after the end of the
 * stream, or a stream that could not be read.
 */
export async function replayRange(options: {
  config: Config;
  db: GatewayDatabase;
  logger: Logger;
  /** URL of a stream's `/events` route; undefined while it is unknown. */
  eventsUrl(source: EventSource): string | undefined;
  endpoint: { id: string; eventTypes: string[] };
  /** Whether the endpoint's subscription document wants an event; absent: every event of its types. */
  wants?: (event: StreamEvent) => boolean;
  body: unknown;
}): Promise<ReplayResult> {
  const { config, db, endpoint } = options;
  const body = parseBody(replayBody, options.body);
  const source = EVENT_SOURCES.find((name) => name === body.source);
  if (!source) {
    throw badInput(
      `Invalid source "${body.source}": use the service whose stream contains the events, one of ${EVENT_SOURCES.join(', ')}.`,
    );
  }
  checkPosition('from', body.from);
  checkPosition('to', body.to);
  if (compareEventPositions(body.from, body.to) >= 0) {
    throw badInput(
      `Invalid range: from "${body.from}" must be before to "${body.to}". The range excludes from and includes to, so to replay only the event at position <id>.<n>, send from "<id>.<n-1>".`,
    );
  }
  const sourceTypes = new Set(eventTypesOf(source));
  const types = endpoint.eventTypes.filter((type) => sourceTypes.has(type));
  if (types.length === 0) {
    throw badInput(
      `The endpoint subscribes to no event type of the ${source} stream (it subscribes to ${endpoint.eventTypes.join(', ')}); set source to the service that emits one of them.`,
    );
  }
  const url = options.eventsUrl(source);
  if (!url) {
    throw new RouteError(
      503,
      ErrorCode.ServiceUnavailable,
      `The ${source} stream's address is not known yet; try again in a few seconds.`,
    );
  }

  const events = await readRange({
    config,
    url,
    source,
    types,
    from: body.from,
    to: body.to,
  });

  const replayId = uuidv7();
  const selected = options.wants ? events.filter(options.wants) : events;
  const rows = selected.map((event) => ({
    id: uuidv7(),
    endpointId: endpoint.id,
    eventId: event.id,
    source,
    eventPosition: event.position,
    type: event.type,
    payload: event.payload,
    occurredAt: new Date(event.occurredAt),
    replayId,
  }));
  // Each statement numbers `sequence` in the order of its rows, and later
  // statements take higher numbers, so the deliveries keep stream order.
  await db.transaction(async (transaction) => {
    for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
      await transaction
        .insert(tables.webhookDeliveries)
        .values(rows.slice(start, start + INSERT_CHUNK));
    }
  });
  const result: ReplayResult = {
    replayId,
    endpointId: endpoint.id,
    source,
    from: body.from,
    to: body.to,
    enqueued: rows.length,
    firstPosition: selected[0]?.position ?? null,
    lastPosition: selected.at(-1)?.position ?? null,
  };
  options.logger.info(result, 'webhook replay enqueued');
  return result;
}

/**
 * Reads the events of `types` after `from` up to and including `to`, page
 * by page. Throws a 400 RouteError when they number more than
 * WEBHOOK_REPLAY_MAX_EVENTS or when `to` is after the stream's last event,
 * and a 502 when the stream could not be read.
 */
async function readRange(options: {
  config: Config;
  url: string;
  source: EventSource;
  types: string[];
  from: string;
  to: string;
}): Promise<StreamEvent[]> {
  const { config, source, from, to } = options;
  const maxEvents = config.WEBHOOK_REPLAY_MAX_EVENTS;
  const events: StreamEvent[] = [];
  const stream = createEventStreamClient({
    url: options.url,
    caller: 'gateway',
    config,
  });
  try {
    return await readPages();
  } finally {
    await stream.close();
  }

  async function readPages(): Promise<StreamEvent[]> {
    let after = from;
    for (;;) {
      let page;
      try {
        page = await stream.read(after, {
          limit: MAX_EVENT_LIMIT,
          types: options.types,
        });
      } catch (error) {
        if (!(error instanceof EventSourceError)) throw error;
        throw new RouteError(
          502,
          ErrorCode.SubgraphUnavailable,
          `Reading the ${source} stream failed (${error.message}); nothing was replayed. Try again later.`,
        );
      }
      for (const event of page.events) {
        if (compareEventPositions(event.position, to) > 0) return events;
        if (events.length === maxEvents) {
          const last = events.at(-1)!.position;
          throw badInput(
            `The range from "${from}" to "${to}" contains more than ${maxEvents} events of this endpoint's types, the maximum one replay sends; nothing was replayed. Replay it in parts, such as from "${from}" to "${last}", then from "${last}" to "${to}".`,
          );
        }
        events.push(event);
      }
      const next = page.next;
      if (next !== null && compareEventPositions(next, to) >= 0) return events;
      if (next === null || next === after) {
        const end =
          after === from
            ? `the ${source} stream contains no event after from "${from}"`
            : `the last event of the ${source} stream is at "${after}"`;
        throw badInput(
          `Invalid to "${to}": ${end}, so the range reaches past the end of the stream; nothing was replayed. Use positions the stream returned.`,
        );
      }
      after = next;
    }
  }
}
