import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  GraphQLError,
  parse,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import type { CallerIdentity } from '../caller.js';
import { watchCredentials } from './credentials.js';
import {
  SUBSCRIPTION_LIMIT_CODE,
  type ActiveSubscription,
  type CloseReason,
  type SubscribeOutcome,
  type SubscriptionEngine,
} from './engine.js';

/**
 * WebSocket close codes the gateway sends besides those of the graphql-ws
 * protocol. A client that receives one reconnects and subscribes again
 * with the last position it saw, and misses nothing.
 */
export const CLOSE_CODES: Record<CloseReason, number> = {
  /** RFC 6455 "going away": the gateway is stopping. */
  shutdown: 1001,
  /** RFC 6455 "policy violation": the client read too slowly. */
  slow_consumer: 1008,
  /** RFC 6455 "service restart": a new supergraph was loaded. */
  schema_reload: 1012,
};

/** Close code for a connection whose credentials were rejected. */
export const UNAUTHORIZED_CLOSE_CODE = 4401;

/** Credential headers a client may send in the connection_init payload. */
const CREDENTIAL_KEYS = ['authorization', 'x-api-key'];

/** Time in ms to wait for a closing handshake before dropping a slow client. */
const SLOW_CLOSE_GRACE_MS = 1_000;

/** Time in ms between pings that detect connections that went away. */
const KEEP_ALIVE_MS = 15_000;

interface ConnectionState {
  caller: CallerIdentity;
  requestId: string;
  logger: Logger;
  subscriptions: Map<string, ActiveSubscription>;
  /** Subscribe requests still being checked, which count towards the limit. */
  starting: number;
  /** Stops the periodic authentication of the connection. */
  stopWatching?: () => void;
}

// graphql-ws hands a subscription's iterator to `subscribe` through the
// execution arguments; the document itself is never executed.
const PLACEHOLDER_DOCUMENT = parse('subscription { __typename }');

/**
 * Serves subscriptions over WebSocket with the graphql-ws protocol
 * (`graphql-transport-ws`) on `path` of `server`.
 *
 * The caller is authenticated once, at connection_init, from the
 * `authorization` or `x-api-key` entry of its payload or, failing those,
 * from the upgrade request's headers: browsers cannot set headers on a
 * WebSocket. Rejected credentials close the connection with 4401.
 */
export function attachGraphqlWs(options: {
  server: Server;
  path: string;
  engine: SubscriptionEngine;
  config: Config;
  logger: Logger;
  /** Extra headers tests may pass in the connection_init payload. */
  extraCredentialKeys?: string[];
  authenticate(request: IncomingMessage): Promise<CallerIdentity>;
}): { close(): Promise<void> } {
  const { engine, config } = options;
  const logger = options.logger.child({ component: 'graphql-ws' });
  const credentialKeys = [
    ...CREDENTIAL_KEYS,
    ...(options.extraCredentialKeys ?? []),
  ];
  const states = new WeakMap<object, ConnectionState>();
  // The ws default of 100 MiB per message would let a client that has not
  // even sent connection_init make the gateway buffer and parse that much.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.REQUEST_BODY_LIMIT_BYTES,
  });

  const onUpgrade = (
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ) => {
    const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (pathname !== options.path) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(request, socket, head, (client) => {
      wss.emit('connection', client, request);
    });
  };
  options.server.on('upgrade', onUpgrade);

  const server = useServer<Record<string, unknown> | undefined>(
    {
      schema: () => engine.apiSchema,
      async onConnect(context) {
        const { request, socket } = context.extra;
        const headers: IncomingMessage['headers'] = { ...request.headers };
        const params = context.connectionParams ?? {};
        if (credentialKeys.some((key) => typeof params[key] === 'string')) {
          for (const key of credentialKeys) delete headers[key];
          for (const key of credentialKeys) {
            const value = params[key];
            if (typeof value === 'string') headers[key] = value;
          }
        }
        const authenticating = Object.assign(Object.create(request), {
          headers,
        }) as IncomingMessage;
        const header = request.headers['x-request-id'];
        const requestId =
          typeof header === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(header)
            ? header
            : randomUUID();
        let caller: CallerIdentity;
        try {
          caller = await options.authenticate(authenticating);
        } catch (error) {
          socket.close(
            UNAUTHORIZED_CLOSE_CODE,
            closeReasonText(
              error instanceof Error ? error.message : 'Invalid credentials.',
            ),
          );
          return false;
        }
        // graphql-ws has run onClose already for a client that left during
        // authentication, so no state or credential checks may start.
        if (socket.readyState !== socket.OPEN) return false;
        const state: ConnectionState = {
          caller,
          requestId,
          logger: logger.child({ requestId }),
          subscriptions: new Map(),
          starting: 0,
        };
        states.set(context, state);
        state.stopWatching = watchCredentials({
          caller,
          authenticate: () => options.authenticate(authenticating),
          intervalMs: config.SUBSCRIPTION_REAUTHENTICATE_MS,
          onRejected: (error) =>
            socket.close(
              UNAUTHORIZED_CLOSE_CODE,
              closeReasonText(error.message),
            ),
        });
        return true;
      },

      async onSubscribe(context, id, payload) {
        const state = states.get(context);
        if (!state) {
          return [
            new GraphQLError(
              'The connection is not initialised: send connection_init first.',
              { extensions: { code: 'BAD_REQUEST' } },
            ),
          ];
        }
        // graphql-ws runs the subscribe requests of a connection
        // concurrently, so requests still starting count as open.
        if (
          state.subscriptions.size + state.starting >=
          config.SUBSCRIPTIONS_MAX_PER_CONNECTION
        ) {
          return [
            new GraphQLError(
              `Too many subscriptions on this connection: at most ${config.SUBSCRIPTIONS_MAX_PER_CONNECTION}. Complete some or open another connection.`,
              { extensions: { code: SUBSCRIPTION_LIMIT_CODE } },
            ),
          ];
        }
        state.starting += 1;
        let outcome: SubscribeOutcome;
        try {
          outcome = await engine.subscribe({
            query: payload.query,
            variables: payload.variables ?? null,
            operationName: payload.operationName ?? null,
            caller: state.caller,
            requestId: state.requestId,
            logger: state.logger,
          });
        } finally {
          state.starting -= 1;
        }
        if (!outcome.ok) return outcome.errors.map(toGraphQLError);
        const subscription = outcome.subscription;
        if (context.extra.socket.readyState !== context.extra.socket.OPEN) {
          // The client left while the subscription started.
          void subscription.return?.();
          return [
            new GraphQLError(
              'The connection closed while the subscription started.',
              {
                extensions: { code: 'BAD_REQUEST' },
              },
            ),
          ];
        }
        state.subscriptions.set(id, subscription);
        subscription.onClose((reason) =>
          closeSocket(context.extra.socket, reason, config),
        );
        return {
          schema: engine.apiSchema,
          document: PLACEHOLDER_DOCUMENT,
          contextValue: { subscription },
        };
      },

      subscribe(args) {
        const { subscription } = args.contextValue as {
          subscription: ActiveSubscription;
        };
        // graphql-ws sends each result as it is; the gateway's results are
        // already formatted.
        return results(
          subscription,
        ) as unknown as AsyncIterableIterator<ExecutionResult>;
      },

      // The engine's results carry formatted plain errors, which have no
      // toJSON method, so they are sent as they are instead of graphql-ws
      // formatting each error.
      onNext(_context, _id, _payload, _args, result) {
        return result as FormattedExecutionResult;
      },

      onComplete(context, id) {
        const state = states.get(context);
        const subscription = state?.subscriptions.get(id);
        state?.subscriptions.delete(id);
        void subscription?.return?.();
      },

      onClose(context) {
        const state = states.get(context);
        if (!state) return;
        state.stopWatching?.();
        for (const subscription of state.subscriptions.values()) {
          void subscription.return?.();
        }
        state.subscriptions.clear();
      },
    },
    wss,
    KEEP_ALIVE_MS,
  );

  return {
    async close() {
      options.server.off('upgrade', onUpgrade);
      for (const client of wss.clients) {
        client.close(CLOSE_CODES.shutdown, 'The gateway is shutting down.');
      }
      await server.dispose();
    },
  };
}

type Result = { data?: unknown; errors?: GraphQLFormattedError[] };

/**
 * Returns an iterator over the results of `subscription` whose `return`
 * ends the subscription at once. graphql-ws calls `return` when the client
 * completes a subscription. An async generator waiting for its next
 * message would end only after one more event, holding the subscription's
 * slots until then.
 */
function results(
  subscription: ActiveSubscription,
): AsyncIterableIterator<Result> {
  const iterator: AsyncIterableIterator<Result> = {
    async next() {
      const step = await subscription.next();
      return step.done
        ? { done: true, value: undefined }
        : { done: false, value: step.value.result as Result };
    },
    async return() {
      await subscription.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

function closeSocket(socket: WebSocket, reason: CloseReason, config: Config) {
  if (socket.readyState !== socket.OPEN) return;
  const text: Record<CloseReason, string> = {
    shutdown: 'The gateway is shutting down; reconnect and resume.',
    schema_reload: 'The supergraph changed; reconnect and resume.',
    slow_consumer: `Too slow: ${config.SUBSCRIPTION_BUFFER_EVENTS} events waited to be sent.`,
  };
  socket.close(CLOSE_CODES[reason], text[reason]);
  if (reason === 'slow_consumer') {
    // The closing handshake waits behind the data the client does not read.
    setTimeout(() => socket.terminate(), SLOW_CLOSE_GRACE_MS).unref();
  }
}

/** Returns `message` cut to the 123 bytes that a WebSocket close reason may have. */
function closeReasonText(message: string): string {
  return Buffer.byteLength(message) <= 123
    ? message
    : Buffer.from(message).subarray(0, 120).toString('utf8') + '...';
}

function toGraphQLError(formatted: GraphQLFormattedError): GraphQLError {
  return new GraphQLError(formatted.message, {
    extensions: formatted.extensions,
  });
}
