import type { IncomingMessage, ServerResponse } from 'node:http';
import { and, asc, desc, eq, sql, type SQL } from 'drizzle-orm';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import type { Config } from '../../platform/config.js';
import { ErrorCode, summarizeError } from '../../platform/errors.js';
import { sendJson } from '../../platform/http-server.js';
import { isUuid, uuidv7 } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import type { StreamEvent } from '../../platform/event-stream.js';
import type { CallerIdentity } from '../caller.js';
import { prepareEndpointDocument, type PrepareDocument } from './documents.js';
import { tables, type GatewayDatabase } from '../db/database.js';
import {
  allowMethods,
  parseBody,
  readJsonBody,
  RouteError,
} from '../json-routes.js';
import { WEBHOOK_EVENT_TYPES, type EventSource } from './event-types.js';
import { replayRange } from './replay.js';
import {
  secretContext,
  urlGuardSettings,
  webhookSecretBox,
} from './settings.js';
import { createWebhookSecret } from './signature.js';
import { checkWebhookUrl, WebhookUrlError } from './url-guard.js';

const WEBHOOKS_PATH = '/admin/webhooks';
/** Maximum JSON body size the webhook routes accept, in bytes. */
const BODY_LIMIT_BYTES = 16 * 1024;
/** Maximum deliveries listed per request, newest first. */
const DELIVERY_LIST_LIMIT = 100;

const createBody = z
  .object({
    url: z.string().min(1).max(2048),
    eventTypes: z.array(z.string()).min(1).max(50).optional(),
    /** A subscription document whose result for each event is the payload. */
    subscription: z
      .object({
        query: z.string().min(1).max(10_000),
        variables: z.record(z.string(), z.unknown()).optional(),
        operationName: z.string().optional(),
      })
      .optional(),
    /** Partner key that owns the endpoint, accepted from staff only. */
    partnerKeyId: z.string().optional(),
  })
  .refine(
    (body) =>
      (body.eventTypes === undefined) !== (body.subscription === undefined),
    {
      message:
        'Send either eventTypes or subscription: the event types to receive, or a subscription document that chooses and shapes them.',
      path: ['eventTypes'],
    },
  );

function partnerCaller(partnerKeyId: string, scopes: string[]): CallerIdentity {
  return { kind: 'partner', subject: partnerKeyId, scopes, roles: [] };
}

/** Caller allowed to manage webhook endpoints, staff or a partner key with its scopes. */
type Manager =
  | { kind: 'staff'; subject: string; caller: CallerIdentity }
  | { kind: 'partner'; partnerKeyId: string; scopes: string[] };

const endpointColumns = {
  id: tables.webhookEndpoints.id,
  partnerKeyId: tables.webhookEndpoints.partnerKeyId,
  staffOwner: tables.webhookEndpoints.staffOwner,
  url: tables.webhookEndpoints.url,
  eventTypes: tables.webhookEndpoints.eventTypes,
  subscription: tables.webhookEndpoints.subscriptionQuery,
  subscriptionVariables: tables.webhookEndpoints.subscriptionVariables,
  enabled: tables.webhookEndpoints.enabled,
  failureCount: tables.webhookEndpoints.failureCount,
  createdAt: tables.webhookEndpoints.createdAt,
  updatedAt: tables.webhookEndpoints.updatedAt,
};

const deliveryColumns = {
  id: tables.webhookDeliveries.id,
  endpointId: tables.webhookDeliveries.endpointId,
  eventId: tables.webhookDeliveries.eventId,
  source: tables.webhookDeliveries.source,
  eventPosition: tables.webhookDeliveries.eventPosition,
  type: tables.webhookDeliveries.type,
  status: tables.webhookDeliveries.status,
  attempts: tables.webhookDeliveries.attempts,
  nextAttemptAt: tables.webhookDeliveries.nextAttemptAt,
  lastResponseStatus: tables.webhookDeliveries.lastResponseStatus,
  lastError: tables.webhookDeliveries.lastError,
  replayId: tables.webhookDeliveries.replayId,
  createdAt: tables.webhookDeliveries.createdAt,
  updatedAt: tables.webhookDeliveries.updatedAt,
};

/**
 * Creates the handler of the webhook routes (docs/webhooks.md):
 *
 * - `GET /admin/webhooks` lists endpoints.
 * - `POST /admin/webhooks` `{ url, eventTypes, partnerKeyId? }` creates one
 *   and returns its signing secret once.
 * - `DELETE /admin/webhooks/<id>` deletes one with its deliveries.
 * - `POST /admin/webhooks/<id>/enable` enables a disabled endpoint.
 * - `GET /admin/webhooks/<id>/deliveries` lists its latest deliveries.
 * - `GET /admin/webhooks/<id>/deliveries/<deliveryId>/attempts` lists the
 *   attempts of one delivery.
 * - `POST /admin/webhooks/<id>/deliveries/<deliveryId>/redeliver` sends one
 *   delivery again.
 * - `POST /admin/webhooks/<id>/replay` `{ source, from, to }` sends a range
 *   of a stream again (replay.ts).
 *
 * Staff with manage_partner_keys manage every endpoint. A partner key
 * manages the endpoints it owns and subscribes only to event types whose
 * read scope it holds, never to staff-only types. `authenticate` is the
 * identity layer's, which
 * throws GraphQL errors with an HTTP status. The handler returns false for
 * any other path.
 */
export function createWebhookRoutes(options: {
  config: Config;
  db: GatewayDatabase;
  authenticate(request: IncomingMessage): Promise<CallerIdentity>;
  logger: Logger;
  /** URL of a stream's `/events` route, for replays; undefined while unknown. */
  eventsUrl(source: EventSource): string | undefined;
  /** Checks a subscription document that shapes an endpoint's payloads. */
  prepareDocument?: PrepareDocument;
}) {
  const { config, db, logger } = options;

  async function route(
    request: IncomingMessage,
    response: ServerResponse,
    pathname: string,
  ): Promise<boolean> {
    if (
      pathname !== WEBHOOKS_PATH &&
      !pathname.startsWith(`${WEBHOOKS_PATH}/`)
    ) {
      return false;
    }
    const method = request.method ?? 'GET';
    const parts = pathname.slice(WEBHOOKS_PATH.length + 1).split('/');
    if (pathname === WEBHOOKS_PATH) {
      allowMethods(method, ['GET', 'POST']);
      const manager = await managerOf(request);
      if (method === 'GET') {
        sendJson(response, 200, { webhooks: await listEndpoints(manager) });
      } else {
        await createEndpoint(request, response, manager);
      }
      return true;
    }
    const endpointId = parts[0]!;
    if (parts.length === 1) {
      allowMethods(method, ['DELETE']);
      const manager = await managerOf(request);
      const endpoint = await findEndpoint(manager, endpointId);
      await db
        .delete(tables.webhookEndpoints)
        .where(eq(tables.webhookEndpoints.id, endpoint.id));
      logger.info({ endpointId: endpoint.id }, 'webhook endpoint deleted');
      sendJson(response, 200, endpoint);
      return true;
    }
    if (parts.length === 2 && parts[1] === 'enable') {
      allowMethods(method, ['POST']);
      const manager = await managerOf(request);
      const endpoint = await findEndpoint(manager, endpointId);
      const [updated] = await db
        .update(tables.webhookEndpoints)
        .set({ enabled: true, failureCount: 0, updatedAt: new Date() })
        .where(eq(tables.webhookEndpoints.id, endpoint.id))
        .returning(endpointColumns);
      logger.info({ endpointId: endpoint.id }, 'webhook endpoint enabled');
      sendJson(response, 200, updated);
      return true;
    }
    if (parts.length === 2 && parts[1] === 'deliveries') {
      allowMethods(method, ['GET']);
      const manager = await managerOf(request);
      const endpoint = await findEndpoint(manager, endpointId);
      const deliveries = await db
        .select(deliveryColumns)
        .from(tables.webhookDeliveries)
        .where(eq(tables.webhookDeliveries.endpointId, endpoint.id))
        .orderBy(desc(tables.webhookDeliveries.sequence))
        .limit(DELIVERY_LIST_LIMIT);
      sendJson(response, 200, { deliveries });
      return true;
    }
    if (
      parts.length === 4 &&
      parts[1] === 'deliveries' &&
      parts[3] === 'attempts'
    ) {
      allowMethods(method, ['GET']);
      const manager = await managerOf(request);
      const endpoint = await findEndpoint(manager, endpointId);
      await listAttempts(response, endpoint.id, parts[2]!);
      return true;
    }
    if (parts.length === 2 && parts[1] === 'replay') {
      allowMethods(method, ['POST']);
      const manager = await managerOf(request);
      const endpoint = await findEndpoint(manager, endpointId);
      const result = await replayRange({
        config,
        db,
        logger,
        eventsUrl: options.eventsUrl,
        endpoint,
        wants: await documentFilter(endpoint.id),
        body: await readJsonBody(request, BODY_LIMIT_BYTES),
      });
      sendJson(response, 202, result);
      return true;
    }
    if (
      parts.length === 4 &&
      parts[1] === 'deliveries' &&
      parts[3] === 'redeliver'
    ) {
      allowMethods(method, ['POST']);
      const manager = await managerOf(request);
      const endpoint = await findEndpoint(manager, endpointId);
      await redeliver(response, endpoint.id, parts[2]!);
      return true;
    }
    throw new RouteError(
      404,
      ErrorCode.NotFound,
      `No webhook route has the path "${pathname}".`,
    );
  }

  /**
   * Returns the event filter of an endpoint's subscription document, so a
   * replay sends only what live delivery would; undefined without one.
   */
  async function documentFilter(
    endpointId: string,
  ): Promise<((event: StreamEvent) => boolean) | undefined> {
    const [columns] = await db
      .select({
        subscriptionQuery: tables.webhookEndpoints.subscriptionQuery,
        subscriptionVariables: tables.webhookEndpoints.subscriptionVariables,
        subscriptionCaller: tables.webhookEndpoints.subscriptionCaller,
      })
      .from(tables.webhookEndpoints)
      .where(eq(tables.webhookEndpoints.id, endpointId));
    const prepared = columns
      ? prepareEndpointDocument(
          options.prepareDocument,
          endpointId,
          columns,
          logger,
        )
      : null;
    if (prepared === null) return undefined;
    if (!prepared.ok) {
      throw new RouteError(
        409,
        String(prepared.errors[0]?.extensions?.code ?? ErrorCode.BadUserInput),
        `The endpoint's subscription document is invalid for the current supergraph, so nothing was replayed: ${prepared.errors[0]?.message ?? 'no reason given'}. Delete the endpoint and register it again.`,
      );
    }
    return prepared.wants;
  }

  async function managerOf(request: IncomingMessage): Promise<Manager> {
    let caller: CallerIdentity;
    try {
      caller = await options.authenticate(request);
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      const http = error.extensions.http as { status?: number } | undefined;
      throw new RouteError(
        http?.status ?? 401,
        String(error.extensions.code ?? ErrorCode.Unauthenticated),
        error.message,
      );
    }
    if (caller.kind === 'partner' && caller.subject) {
      return {
        kind: 'partner',
        partnerKeyId: caller.subject,
        scopes: caller.scopes,
      };
    }
    if (caller.kind === 'staff' && caller.subject) {
      if (!caller.scopes.includes('manage_partner_keys')) {
        throw new RouteError(
          403,
          ErrorCode.Forbidden,
          'This route needs the manage_partner_keys scope, which the admin role has.',
        );
      }
      return { kind: 'staff', subject: caller.subject, caller };
    }
    throw new RouteError(
      caller.kind === 'anonymous' ? 401 : 403,
      caller.kind === 'anonymous'
        ? ErrorCode.Unauthenticated
        : ErrorCode.Forbidden,
      'This route is for staff and partners: send a staff access token or a partner key.',
      caller.kind === 'anonymous' ? { 'www-authenticate': 'Bearer' } : {},
    );
  }

  function ownedBy(manager: Manager): SQL | undefined {
    return manager.kind === 'partner'
      ? eq(tables.webhookEndpoints.partnerKeyId, manager.partnerKeyId)
      : undefined;
  }

  async function listEndpoints(manager: Manager) {
    return db
      .select(endpointColumns)
      .from(tables.webhookEndpoints)
      .where(ownedBy(manager))
      .orderBy(asc(tables.webhookEndpoints.createdAt));
  }

  /** Returns an endpoint the manager may change, or throws a 404. */
  async function findEndpoint(manager: Manager, id: string) {
    const [endpoint] = isUuid(id)
      ? await db
          .select(endpointColumns)
          .from(tables.webhookEndpoints)
          .where(and(eq(tables.webhookEndpoints.id, id), ownedBy(manager)))
      : [];
    if (!endpoint) {
      throw new RouteError(
        404,
        ErrorCode.NotFound,
        `No webhook endpoint has the id "${id}".`,
      );
    }
    return endpoint;
  }

  /** Returns the scopes of an active partner key, or throws a 400. */
  async function partnerKeyScopes(id: string): Promise<string[]> {
    const [key] = isUuid(id)
      ? await db
          .select({ scopes: tables.partnerKeys.scopes })
          .from(tables.partnerKeys)
          .where(
            and(
              eq(tables.partnerKeys.id, id),
              sql`${tables.partnerKeys.revokedAt} is null`,
            ),
          )
      : [];
    if (!key) {
      throw new RouteError(
        400,
        ErrorCode.BadUserInput,
        `No active partner key has the id "${id}".`,
      );
    }
    return key.scopes;
  }

  async function createEndpoint(
    request: IncomingMessage,
    response: ServerResponse,
    manager: Manager,
  ) {
    const body = parseBody(
      createBody,
      await readJsonBody(request, BODY_LIMIT_BYTES),
    );

    let owner: { partnerKeyId: string | null; staffOwner: string | null };
    let scopes: string[] | null;
    let runAs: CallerIdentity;
    if (manager.kind === 'partner') {
      if (
        body.partnerKeyId !== undefined &&
        body.partnerKeyId !== manager.partnerKeyId
      ) {
        throw new RouteError(
          403,
          ErrorCode.Forbidden,
          'A partner key creates endpoints for itself only; leave partnerKeyId out.',
        );
      }
      owner = { partnerKeyId: manager.partnerKeyId, staffOwner: null };
      scopes = manager.scopes;
      runAs = partnerCaller(manager.partnerKeyId, scopes);
    } else if (body.partnerKeyId !== undefined) {
      owner = { partnerKeyId: body.partnerKeyId, staffOwner: null };
      scopes = await partnerKeyScopes(body.partnerKeyId);
      runAs = partnerCaller(body.partnerKeyId, scopes);
    } else {
      owner = { partnerKeyId: null, staffOwner: manager.subject };
      scopes = null;
      runAs = manager.caller;
    }

    let eventTypes: string[];
    if (body.subscription) {
      if (!options.prepareDocument) {
        throw new RouteError(
          503,
          ErrorCode.ServiceUnavailable,
          'This gateway cannot run subscription documents; register eventTypes instead.',
        );
      }
      // Checked as the endpoint's owner: fields it may not read are rejected
      // now, not at each delivery.
      const prepared = options.prepareDocument({
        query: body.subscription.query,
        variables: body.subscription.variables ?? null,
        operationName: body.subscription.operationName ?? null,
        caller: runAs,
        requestId: uuidv7(),
        logger,
      });
      if (!prepared.ok) {
        const [first] = prepared.errors;
        throw new RouteError(
          400,
          String(first?.extensions?.code ?? ErrorCode.BadUserInput),
          `Invalid subscription document: ${first?.message ?? 'no reason given'}`,
        );
      }
      eventTypes = [...prepared.types];
    } else {
      eventTypes = [...new Set(body.eventTypes)];
    }
    for (const type of eventTypes) {
      const entry = WEBHOOK_EVENT_TYPES[type];
      if (!entry) {
        throw new RouteError(
          400,
          ErrorCode.BadUserInput,
          `Unknown event type "${type}"; docs/events.md lists the types.`,
        );
      }
      if (scopes && entry.scope === null) {
        throw new RouteError(
          403,
          ErrorCode.Forbidden,
          `The event type "${type}" is for staff endpoints only; remove it from eventTypes, or register the endpoint as staff without partnerKeyId.`,
        );
      }
      if (scopes && !scopes.includes(entry.scope!)) {
        throw new RouteError(
          403,
          ErrorCode.Forbidden,
          `The event type "${type}" needs the ${entry.scope} scope, which the partner key does not have.`,
        );
      }
    }

    try {
      await checkWebhookUrl(body.url, urlGuardSettings(config));
    } catch (error) {
      if (!(error instanceof WebhookUrlError)) throw error;
      throw new RouteError(400, ErrorCode.BadUserInput, error.message);
    }

    const id = uuidv7();
    const secret = createWebhookSecret();
    const box = await webhookSecretBox(config);
    const [endpoint] = await db
      .insert(tables.webhookEndpoints)
      .values({
        id,
        ...owner,
        url: body.url,
        eventTypes,
        ...(body.subscription
          ? {
              subscriptionQuery: body.subscription.query,
              subscriptionVariables: {
                variables: body.subscription.variables ?? null,
                operationName: body.subscription.operationName ?? null,
              },
              subscriptionCaller: runAs,
            }
          : {}),
        secretEncrypted: box.encrypt(secret, secretContext(id)),
      })
      .returning(endpointColumns);
    logger.info(
      { endpointId: id, partnerKeyId: owner.partnerKeyId, eventTypes },
      'webhook endpoint created',
    );
    response.setHeader('cache-control', 'no-store');
    sendJson(response, 201, { ...endpoint, secret });
  }

  async function listAttempts(
    response: ServerResponse,
    endpointId: string,
    deliveryId: string,
  ) {
    const [delivery] = isUuid(deliveryId)
      ? await db
          .select({ id: tables.webhookDeliveries.id })
          .from(tables.webhookDeliveries)
          .where(
            and(
              eq(tables.webhookDeliveries.id, deliveryId),
              eq(tables.webhookDeliveries.endpointId, endpointId),
            ),
          )
      : [];
    if (!delivery) {
      throw new RouteError(
        404,
        ErrorCode.NotFound,
        `No delivery with the id "${deliveryId}" belongs to this endpoint.`,
      );
    }
    const attempts = await db
      .select({
        attempt: tables.webhookDeliveryAttempts.attempt,
        responseStatus: tables.webhookDeliveryAttempts.responseStatus,
        error: tables.webhookDeliveryAttempts.error,
        createdAt: tables.webhookDeliveryAttempts.createdAt,
      })
      .from(tables.webhookDeliveryAttempts)
      .where(eq(tables.webhookDeliveryAttempts.deliveryId, delivery.id))
      .orderBy(
        asc(tables.webhookDeliveryAttempts.createdAt),
        asc(tables.webhookDeliveryAttempts.id),
      );
    sendJson(response, 200, { attempts });
  }

  async function redeliver(
    response: ServerResponse,
    endpointId: string,
    deliveryId: string,
  ) {
    const [delivery] = isUuid(deliveryId)
      ? await db
          .update(tables.webhookDeliveries)
          .set({
            status: 'PENDING',
            attempts: 0,
            nextAttemptAt: new Date(),
            updatedAt: new Date(),
          })
          .where(
            and(
              eq(tables.webhookDeliveries.id, deliveryId),
              eq(tables.webhookDeliveries.endpointId, endpointId),
              // A delivery being sent keeps its lease.
              sql`(${tables.webhookDeliveries.leasedUntil} is null or ${tables.webhookDeliveries.leasedUntil} < now())`,
            ),
          )
          .returning(deliveryColumns)
      : [];
    if (!delivery) {
      throw new RouteError(
        404,
        ErrorCode.NotFound,
        `No delivery with the id "${deliveryId}" that is not being sent belongs to this endpoint.`,
      );
    }
    logger.info({ endpointId, deliveryId }, 'webhook redelivery requested');
    sendJson(response, 200, delivery);
  }

  /** Serves the request when its path is a webhook route; returns false otherwise. */
  return async function handleRequest(
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<boolean> {
    const url = request.url ?? '/';
    const queryStart = url.indexOf('?');
    const pathname = queryStart === -1 ? url : url.slice(0, queryStart);
    try {
      return await route(request, response, pathname);
    } catch (error) {
      if (error instanceof RouteError) {
        for (const [name, value] of Object.entries(error.headers)) {
          response.setHeader(name, value);
        }
        sendJson(response, error.status, {
          error: error.message,
          code: error.code,
        });
        return true;
      }
      logger.error(
        { error: summarizeError(error), path: pathname },
        'webhook route failed',
      );
      sendJson(response, 500, {
        error: 'Internal server error.',
        code: ErrorCode.InternalServerError,
      });
      return true;
    }
  };
}
