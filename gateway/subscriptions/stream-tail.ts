import type { StreamEvent } from '../../platform/event-stream.js';
import type { EventStreamClient } from '../../platform/event-stream-client.js';
import { redactUrl, type Logger } from '../../platform/logger.js';

/** Events per request while following a stream. */
const PAGE_LIMIT = 1000;
/** Time in ms one request waits for new events. */
const WAIT_MS = 25_000;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;

export type TailListener = (events: StreamEvent[]) => void;

/**
 * Follows one subgraph's event stream from its end at start-up, for the
 * subscriptions of one gateway process. Every listener receives each new event
 * once, in stream order, and `position` is the last position dispatched:
 * a listener added now receives exactly the events after it.
 *
 * The stream is the subgraph's outbox, so a stopped or restarted subgraph
 * only delays events; the tail continues from its position once the
 * subgraph answers again.
 */
export class StreamTail {
  private current: string | null | undefined;
  private readonly listeners = new Set<TailListener>();
  private readonly stopController = new AbortController();
  private running: Promise<void> | undefined;
  private readonly started: Promise<void>;
  private markStarted!: () => void;

  constructor(
    private readonly client: EventStreamClient,
    private readonly types: readonly string[],
    private readonly logger: Logger,
  ) {
    this.started = new Promise((resolve) => (this.markStarted = resolve));
  }

  /**
   * Starts following the stream on the first call and resolves once its
   * starting position is known, or rejects after `timeoutMs`.
   */
  async ready(timeoutMs: number): Promise<void> {
    this.running ??= this.run();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.started,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(
            () => reject(new Error(this.unreachableMessage())),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last position dispatched to listeners; undefined before `ready`. */
  get position(): string | null | undefined {
    return this.current;
  }

  listen(listener: TailListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    await this.running;
    await this.client.close();
  }

  private unreachableMessage(): string {
    return `The event stream at ${redactUrl(this.client.url)} did not answer; subscriptions to it cannot start now. Try again shortly.`;
  }

  private async run(): Promise<void> {
    const signal = this.stopController.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (this.current === undefined) {
          this.current = await this.client.end(signal);
          this.markStarted();
          continue;
        }
        const page = await this.client.read(this.current, {
          limit: PAGE_LIMIT,
          types: this.types,
          waitMs: WAIT_MS,
          signal,
        });
        failures = 0;
        // Dispatching and moving the position happen in one turn of the
        // event loop, so a listener added between two pages misses nothing
        // and receives nothing twice.
        if (page.events.length > 0) {
          for (const listener of this.listeners) listener(page.events);
        }
        this.current = page.next ?? this.current;
      } catch (error) {
        if (signal.aborted) return;
        failures += 1;
        this.logger.warn(
          {
            url: redactUrl(this.client.url),
            reason: (error as Error).message,
            failures,
          },
          'reading an event stream for subscriptions failed; retrying',
        );
        await sleep(
          Math.min(RETRY_MIN_MS * 2 ** (failures - 1), RETRY_MAX_MS),
          signal,
        );
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
