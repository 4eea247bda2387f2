import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Config } from '../../platform/config.js';
import { ErrorCode } from '../../platform/errors.js';
import type { GatewayContext } from '../context.js';
import { readJsonBody, RouteError } from '../json-routes.js';
import { watchCredentials } from './credentials.js';
import {
  SUBSCRIPTION_LIMIT_CODE,
  type CloseReason,
  type SubscriptionEngine,
} from './engine.js';

/** Time in ms between comment lines that keep idle streams open through proxies. */
const KEEP_ALIVE_MS = 15_000;

/**
 * Codes of the error a stream ends with when the gateway ends it. The
 * client subscribes again with its last position (Last-Event-ID), except
 * after `SLOW_CONSUMER`, when the gateway drops the connection instead.
 */
export const SSE_CLOSE_CODES: Record<CloseReason, string> = {
  shutdown: 'SHUTTING_DOWN',
  schema_reload: 'SUPERGRAPH_RELOADED',
  slow_consumer: 'SLOW_CONSUMER',
};

/**
 * Serves subscriptions as GraphQL over Server-Sent Events, in the
 * protocol's distinct connections mode: one subscription per request to
 * `/graphql` that accepts `text/event-stream`, by POST with a JSON body or
 * by GET with `query`, `variables` and `operationName` parameters.
 *
 * Each event is an SSE `next` event whose `id` is the event's stream
 * position, so a client reconnecting with `Last-Event-ID` resumes after
 * it. The root field's `after` argument takes precedence. Rejected requests
 * get a JSON body of GraphQL errors with the status their code implies.
 */
export function createSseHandler(options: {
  engine: SubscriptionEngine;
  config: Config;
  createContext(request: IncomingMessage): Promise<GatewayContext>;
}): (request: IncomingMessage, response: ServerResponse) => Promise<boolean> {
  const { engine, config } = options;
  return async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== '/graphql') return false;
    if (!request.headers.accept?.includes('text/event-stream')) return false;
    if (request.method !== 'GET' && request.method !== 'POST') return false;

    let body: { query?: unknown; variables?: unknown; operationName?: unknown };
    try {
      body =
        request.method === 'POST'
          ? (((await readJsonBody(
              request,
              config.REQUEST_BODY_LIMIT_BYTES,
            )) as typeof body) ?? {})
          : readQueryParameters(url.searchParams);
    } catch (error) {
      if (!(error instanceof RouteError)) throw error;
      sendErrors(response, error.status, [
        { message: error.message, extensions: { code: error.code } },
      ]);
      return true;
    }
    if (
      typeof body !== 'object' ||
      body === null ||
      typeof body.query !== 'string'
    ) {
      sendErrors(response, 400, [
        {
          message: 'Send the subscription document as a string in "query".',
          extensions: { code: ErrorCode.BadUserInput },
        },
      ]);
      return true;
    }
    if (
      body.variables !== undefined &&
      body.variables !== null &&
      (typeof body.variables !== 'object' || Array.isArray(body.variables))
    ) {
      sendErrors(response, 400, [
        {
          message:
            'Invalid "variables": send them as a JSON object, such as {"skus": ["A-1"]}.',
          extensions: { code: ErrorCode.BadUserInput },
        },
      ]);
      return true;
    }

    let context: GatewayContext;
    try {
      context = await options.createContext(request);
    } catch (error) {
      if (error instanceof GraphQLError) {
        sendErrors(response, statusOf(error.extensions.code), [error.toJSON()]);
        return true;
      }
      throw error;
    }
    response.setHeader('x-request-id', context.requestId);

    // A client that leaves while the subscription starts emits `close`
    // before the listener below exists, so it is recorded from here on.
    let clientGone = false;
    response.once('close', () => (clientGone = true));
    const lastEventId = request.headers['last-event-id'];
    const outcome = await engine.subscribe({
      query: body.query,
      variables: (body.variables as Record<string, unknown> | null) ?? null,
      operationName:
        typeof body.operationName === 'string' ? body.operationName : null,
      caller: context.caller,
      requestId: context.requestId,
      logger: context.logger,
      resumeAfter:
        typeof lastEventId === 'string' && lastEventId !== ''
          ? lastEventId
          : undefined,
    });
    if (!outcome.ok) {
      sendErrors(
        response,
        statusOf(outcome.errors[0]?.extensions?.code),
        outcome.errors,
      );
      return true;
    }

    const subscription = outcome.subscription;
    if (clientGone) {
      await subscription.return?.();
      return true;
    }
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.flushHeaders();
    const keepAlive = setInterval(() => response.write(':\n\n'), KEEP_ALIVE_MS);
    let rejection: GraphQLFormattedError | undefined;
    const stopWatching = watchCredentials({
      caller: context.caller,
      authenticate: async () => (await options.createContext(request)).caller,
      intervalMs: config.SUBSCRIPTION_REAUTHENTICATE_MS,
      onRejected: (error) => {
        rejection = error;
        void subscription.return?.();
      },
    });
    response.on('close', () => {
      clearInterval(keepAlive);
      stopWatching();
      void subscription.return?.();
    });
    subscription.onClose((reason) => {
      if (reason === 'slow_consumer') response.destroy();
    });

    try {
      for await (const message of subscription) {
        const chunk = `event: next\nid: ${message.position}\ndata: ${JSON.stringify(message.result)}\n\n`;
        if (!response.write(chunk)) {
          await Promise.race([
            once(response, 'drain'),
            once(response, 'close'),
          ]);
        }
        if (response.destroyed) break;
      }
    } catch (error) {
      const formatted =
        error instanceof GraphQLError
          ? error.toJSON()
          : {
              message: 'Internal server error',
              extensions: { code: ErrorCode.InternalServerError },
            };
      if (!response.destroyed) {
        response.write(
          `event: next\ndata: ${JSON.stringify({ errors: [formatted] })}\n\n`,
        );
      }
    }
    clearInterval(keepAlive);
    stopWatching();
    if (response.destroyed) return true;
    if (rejection) {
      response.write(
        `event: next\ndata: ${JSON.stringify({ errors: [rejection] })}\n\n`,
      );
    }
    const reason = subscription.closeReason;
    if (reason) {
      const error = {
        message:
          reason === 'shutdown'
            ? 'The gateway is shutting down; subscribe again with Last-Event-ID to resume.'
            : 'The supergraph changed; subscribe again with Last-Event-ID to resume.',
        extensions: { code: SSE_CLOSE_CODES[reason] },
      };
      response.write(
        `event: next\ndata: ${JSON.stringify({ errors: [error] })}\n\n`,
      );
    }
    response.end('event: complete\ndata:\n\n');
    return true;
  };
}

function readQueryParameters(parameters: URLSearchParams): {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
} {
  const variablesText = parameters.get('variables');
  let variables: unknown;
  if (variablesText) {
    try {
      variables = JSON.parse(variablesText);
    } catch {
      throw new RouteError(
        400,
        ErrorCode.BadUserInput,
        'The "variables" parameter is not valid JSON.',
      );
    }
  }
  return {
    query: parameters.get('query') ?? undefined,
    variables,
    operationName: parameters.get('operationName') ?? undefined,
  };
}

function statusOf(code: unknown): number {
  switch (code) {
    case ErrorCode.Unauthenticated:
      return 401;
    case ErrorCode.Forbidden:
      return 403;
    case SUBSCRIPTION_LIMIT_CODE:
      return 429;
    case ErrorCode.ServiceUnavailable:
    case ErrorCode.SubgraphUnavailable:
      return 503;
    case ErrorCode.InternalServerError:
      return 500;
    default:
      return 400;
  }
}

function sendErrors(
  response: ServerResponse,
  status: number,
  errors: readonly GraphQLFormattedError[],
): void {
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
  });
  response.end(JSON.stringify({ errors }));
}
