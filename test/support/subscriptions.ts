import { once } from 'node:events';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** A result a subscriber received, with the event's position. */
export interface ReceivedEvent {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; extensions?: Record<string, any> }>;
  extensions?: { position?: string };
}

/** A subscription a test reads from, over graphql-ws or SSE. */
export interface TestSubscription {
  /** Every result received so far, in order. */
  readonly received: ReceivedEvent[];
  /** Resolves once `count` results have arrived, or rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedEvent[]>;
  /** Errors the transport reported, such as a refused subscription. */
  readonly errors: unknown[];
  /** Resolves when the server ends the subscription. */
  readonly ended: Promise<void>;
  close(): Promise<void>;
}

class Inbox {
  readonly received: ReceivedEvent[] = [];
  readonly errors: unknown[] = [];
  private listeners = new Set<() => void>();

  push(event: ReceivedEvent) {
    this.received.push(event);
    for (const listener of this.listeners) listener();
  }

  fail(error: unknown) {
    this.errors.push(error);
    for (const listener of this.listeners) listener();
  }

  waitFor(count: number, timeoutMs = 20_000): Promise<ReceivedEvent[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.received.length >= count) {
          finish();
          resolve(this.received.slice(0, count));
        } else if (this.errors.length > 0) {
          finish();
          reject(
            new Error(
              `subscription failed after ${this.received.length} events: ${JSON.stringify(this.errors)}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(
            `received ${this.received.length} of ${count} events within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }
}

/** One graphql-ws connection that carries several subscriptions. */
export interface TestWsConnection {
  client: Client;
  /** Resolves with the close code and reason once the socket closes. */
  closeEvent: Promise<{ code: number; reason: string }>;
  /** Starts a subscription on this connection. */
  subscribe(
    query: string,
    variables?: Record<string, unknown>,
  ): TestSubscription;
  /** Closes the connection and every subscription on it. */
  close(): Promise<void>;
}

/**
 * Opens a graphql-ws connection. `connectionParams` carries credentials,
 * such as `{ 'x-test-caller': ... }` for the test stack's gateway. The
 * client connects on its first subscription and never reconnects.
 */
export function connectWs(
  gatewayUrl: string,
  connectionParams: Record<string, string> = {},
): TestWsConnection {
  let resolveClose!: (event: { code: number; reason: string }) => void;
  const closeEvent = new Promise<{ code: number; reason: string }>(
    (resolve) => (resolveClose = resolve),
  );
  const client = createClient({
    url: gatewayUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        resolveClose({ code, reason: String(reason) });
      },
    },
  });
  return {
    client,
    closeEvent,
    subscribe(query, variables = {}) {
      const inbox = new Inbox();
      let resolveEnded!: () => void;
      const ended = new Promise<void>((resolve) => (resolveEnded = resolve));
      const unsubscribe = client.subscribe(
        { query, variables },
        {
          next: (value) => inbox.push(value as ReceivedEvent),
          error: (error) => {
            inbox.fail(error);
            resolveEnded();
          },
          complete: () => resolveEnded(),
        },
      );
      return {
        get received() {
          return inbox.received;
        },
        get errors() {
          return inbox.errors;
        },
        ended,
        waitFor: (count, timeoutMs) => inbox.waitFor(count, timeoutMs),
        async close() {
          unsubscribe();
        },
      };
    },
    close: async () => {
      await client.dispose();
    },
  };
}

/**
 * Subscribes over graphql-ws on a connection of its own. `connectionParams`
 * carries credentials, such as `{ 'x-test-caller': ... }` for the test
 * stack's gateway.
 */
export function subscribeWs(
  gatewayUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  connectionParams: Record<string, string> = {},
): TestSubscription & {
  client: Client;
  closeEvent: Promise<{ code: number; reason: string }>;
} {
  const connection = connectWs(gatewayUrl, connectionParams);
  const subscription = connection.subscribe(query, variables);
  return {
    client: connection.client,
    closeEvent: connection.closeEvent,
    get received() {
      return subscription.received;
    },
    get errors() {
      return subscription.errors;
    },
    ended: subscription.ended,
    waitFor: (count, timeoutMs) => subscription.waitFor(count, timeoutMs),
    async close() {
      await subscription.close();
      await connection.close();
    },
  };
}

/**
 * Subscribes over GraphQL over SSE (distinct connections mode) with a POST.
 * Resolves once the response headers arrive; `status` and `body` describe
 * a refused request.
 */
export async function subscribeSse(
  gatewayUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<
  TestSubscription & {
    status: number;
    body?: any;
    ids: string[];
    /** True once the server sent the `complete` event. */
    readonly completed: boolean;
  }
> {
  const inbox = new Inbox();
  const ids: string[] = [];
  let completed = false;
  const controller = new AbortController();
  const response = await fetch(gatewayUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  if (!response.headers.get('content-type')?.includes('text/event-stream')) {
    const body = await response.json();
    return {
      status: response.status,
      body,
      ids,
      completed: false,
      received: [],
      errors: [body],
      ended: Promise.resolve(),
      waitFor: () => Promise.reject(new Error(JSON.stringify(body))),
      close: async () => {},
    };
  }
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
            else if (line.startsWith('id: ')) ids.push(line.slice(4));
          }
          if (event === 'next') inbox.push(JSON.parse(data) as ReceivedEvent);
          if (event === 'complete') {
            completed = true;
            return;
          }
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) inbox.fail(error);
    }
  })();
  return {
    status: response.status,
    ids,
    get completed() {
      return completed;
    },
    get received() {
      return inbox.received;
    },
    get errors() {
      return inbox.errors;
    },
    ended,
    waitFor: (count, timeoutMs) => inbox.waitFor(count, timeoutMs),
    async close() {
      controller.abort();
      await ended;
    },
  };
}

/**
 * A graphql-ws connection driven message by message with the `ws` package,
 * whose TCP socket a test can stop reading.
 */
export interface RawWsConnection {
  socket: WebSocket;
  /** Number of `next` messages read so far. */
  readonly nextCount: number;
  /** Resolves with the close code and reason once the socket closes. */
  closeEvent: Promise<{ code: number; reason: string }>;
  /** Sends a `subscribe` message with id `id`. */
  subscribe(
    id: string,
    query: string,
    variables?: Record<string, unknown>,
  ): void;
  /** Stops reading the TCP socket, so unread data fills the kernel buffers. */
  pause(): void;
  /** Reads the TCP socket again. */
  resume(): void;
}

/**
 * Opens a WebSocket with the `graphql-transport-ws` subprotocol, sends
 * `connection_init` with `payload` and resolves once the server sent
 * `connection_ack`.
 */
export async function connectRawWs(
  gatewayUrl: string,
  payload: Record<string, string> = {},
): Promise<RawWsConnection> {
  const socket = new WebSocket(
    gatewayUrl.replace(/^http/, 'ws'),
    'graphql-transport-ws',
  );
  let nextCount = 0;
  let resolveAck!: () => void;
  const acknowledged = new Promise<void>((resolve) => (resolveAck = resolve));
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { type: string };
    if (message.type === 'connection_ack') resolveAck();
    if (message.type === 'next') nextCount += 1;
  });
  const closeEvent = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) =>
      resolve({ code, reason: reason.toString() }),
    ),
  );
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'connection_init', payload }));
  await Promise.race([
    acknowledged,
    closeEvent.then(({ code }) => {
      throw new Error(
        `the server closed the connection with code ${code} before connection_ack`,
      );
    }),
  ]);
  return {
    socket,
    get nextCount() {
      return nextCount;
    },
    closeEvent,
    subscribe(id, query, variables = {}) {
      socket.send(
        JSON.stringify({
          id,
          type: 'subscribe',
          payload: { query, variables },
        }),
      );
    },
    // WebSocket#pause stops reading the net.Socket and, unlike pausing the
    // net.Socket directly, keeps ws from resuming it when its parser drains.
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  };
}
