import { Pool } from 'undici';
import { describeUnreachable } from '../gateway/subgraph-failure.js';
import type { Config } from './config.js';
import type { EventPage } from './event-stream.js';
import { signServiceIdentity } from './identity.js';

/**
 * Returns the URL of the `/events` route beside a service's GraphQL URL,
 * such as `http://127.0.0.1:4003/events` for `http://127.0.0.1:4003/graphql`.
 */
export function eventsUrlBeside(graphqlUrl: string): string {
  const url = new URL(graphqlUrl);
  url.pathname = url.pathname.replace(/\/graphql\/?$/, '') + '/events';
  url.search = '';
  return url.toString();
}

/** Error of a stream source that is unreachable or returns anything but an event page. */
export class EventSourceError extends Error {}

export interface EventPageRequest {
  /** Events per page, 1 to 1000. */
  limit: number;
  /** Event types to read; others are skipped. All types when absent. */
  types?: readonly string[];
  /** Time in ms the source may hold the request until an event arrives. */
  waitMs?: number;
  signal?: AbortSignal;
}

/** Reads pages of one service's `/events` route as a signed service. */
export interface EventStreamClient {
  /** The URL of the `/events` route read. */
  readonly url: string;
  /** Reads the events after `after`, from the start of the stream when null. */
  read(after: string | null, request: EventPageRequest): Promise<EventPage>;
  /**
   * Returns the position of the last event of the stream now, or null
   * while the stream is empty: reading after it yields only new events.
   */
  end(signal?: AbortSignal): Promise<string | null>;
  close(): Promise<void>;
}

/**
 * Creates a client of the `/events` route at `url` (docs/events.md). Each
 * request carries a freshly signed identity of the service `caller`, so
 * the process needs IDENTITY_PRIVATE_KEY. A request is cut off after its
 * wait plus SUBGRAPH_TIMEOUT_MS.
 */
export function createEventStreamClient(options: {
  url: string;
  caller: string;
  config: Config;
}): EventStreamClient {
  const { config, caller } = options;
  const eventsUrl = new URL(options.url);
  const pool = new Pool(eventsUrl.origin, { keepAliveTimeout: 4_000 });

  async function get(
    parameters: Record<string, string>,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<EventPage> {
    const url = new URL(eventsUrl);
    for (const [name, value] of Object.entries(parameters)) {
      url.searchParams.set(name, value);
    }
    const timeoutMs = waitMs + config.SUBGRAPH_TIMEOUT_MS;
    const headers = await signServiceIdentity(config, caller);
    let status: number;
    let text: string;
    try {
      const response = await pool.request({
        path: url.pathname + url.search,
        method: 'GET',
        headers,
        signal: signal
          ? AbortSignal.any([AbortSignal.timeout(timeoutMs), signal])
          : AbortSignal.timeout(timeoutMs),
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw new EventSourceError(
        describeUnreachable(error, timeoutMs) ??
          (error instanceof Error ? error.message : 'request failed'),
      );
    }

    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new EventSourceError(
        `HTTP ${status}, and the response is not JSON`,
      );
    }
    if (status !== 200) {
      const message = (body as { error?: unknown } | null)?.error;
      throw new EventSourceError(
        `HTTP ${status}${typeof message === 'string' ? `: ${message}` : ''}`,
      );
    }
    const page = body as Partial<EventPage> | null;
    if (!Array.isArray(page?.events) || page.next === undefined) {
      throw new EventSourceError('the response is not an event page');
    }
    return page as EventPage;
  }

  return {
    url: options.url,
    read(after, request) {
      const parameters: Record<string, string> = {
        limit: String(request.limit),
        wait: String(request.waitMs ?? 0),
      };
      if (after !== null) parameters.after = after;
      if (request.types) parameters.types = request.types.join(',');
      return get(parameters, request.waitMs ?? 0, request.signal);
    },
    async end(signal) {
      const page = await get({ after: 'end' }, 0, signal);
      return page.next;
    },
    close: () => pool.close(),
  };
}
