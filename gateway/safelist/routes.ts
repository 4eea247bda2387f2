import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { ErrorCode, summarizeError } from '../../platform/errors.js';
import { sendJson } from '../../platform/http-server.js';
import {
  allowMethods,
  parseBody,
  readJsonBody,
  RouteError,
} from '../json-routes.js';
import { isUuid } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import type { CallerIdentity } from '../caller.js';
import { SafelistInputError, type SafelistStore } from './store.js';

/** Largest JSON body the safelist routes accept, in bytes. */
const BODY_LIMIT_BYTES = 256 * 1024;

/** `/admin/partner-keys/<id>/operations[/<hash>]` or `.../safelist`. */
const ROUTE_PATTERN =
  /^\/admin\/partner-keys\/([^/]+)\/(operations|safelist)(?:\/([^/]+))?$/;

const HASH_PATTERN = /^[0-9a-f]{64}$/;

/** Scope that changes a key's safelist, which the admin role has. */
const MANAGE_SCOPE = 'manage_partner_keys';

const registerBody = z.object({ document: z.string().min(1) });
const modeBody = z.object({ enabled: z.boolean() });

/**
 * Creates the handler of the safelist routes:
 *
 * - `GET /admin/partner-keys/<id>/operations` lists the operations
 *   registered for a key (any staff member);
 * - `POST /admin/partner-keys/<id>/operations` `{ document }` registers one
 *   and returns `{ hash, operationName, ... }`, 201 when new and 200 when it
 *   was registered already (admin);
 * - `DELETE /admin/partner-keys/<id>/operations/<hash>` deletes one (admin);
 * - `GET /admin/partner-keys/<id>/safelist` returns `{ id, safelistMode }`
 *   (any staff member), and `PUT` with `{ enabled }` sets it (admin).
 *
 * `authenticate` is the identity layer's, which throws GraphQL errors with
 * an HTTP status. The handler returns false for any other path.
 */
export function createSafelistRoutes(options: {
  store: SafelistStore;
  authenticate(request: IncomingMessage): Promise<CallerIdentity>;
  logger: Logger;
}) {
  const { store, logger } = options;

  async function route(
    request: IncomingMessage,
    response: ServerResponse,
    match: RegExpMatchArray,
  ): Promise<void> {
    const method = request.method ?? 'GET';
    const [, keyId, resource, hash] = match;
    if (resource === 'safelist') {
      if (hash !== undefined) throw notFound(`No route for ${match[0]}.`);
      allowMethods(method, ['GET', 'PUT']);
      if (method === 'GET') {
        await requireStaff(request);
        await requireKey(keyId!);
        const safelist = await store.load(keyId!);
        sendJson(response, 200, { id: keyId, safelistMode: safelist.enabled });
        return;
      }
      const caller = await requireStaff(request, MANAGE_SCOPE);
      const body = parseBody(
        modeBody,
        await readJsonBody(request, BODY_LIMIT_BYTES),
      );
      await requireKey(keyId!);
      await store.setMode(keyId!, body.enabled);
      logger.info(
        {
          partnerKeyId: keyId,
          staffId: caller.subject,
          safelistMode: body.enabled,
        },
        'partner key safelist mode set',
      );
      sendJson(response, 200, { id: keyId, safelistMode: body.enabled });
      return;
    }

    if (hash === undefined) {
      allowMethods(method, ['GET', 'POST']);
      if (method === 'GET') {
        await requireStaff(request);
        await requireKey(keyId!);
        sendJson(response, 200, { operations: await store.list(keyId!) });
        return;
      }
      const caller = await requireStaff(request, MANAGE_SCOPE);
      const body = parseBody(
        registerBody,
        await readJsonBody(request, BODY_LIMIT_BYTES),
      );
      await requireKey(keyId!);
      try {
        const { operation, created } = await store.register(
          keyId!,
          body.document,
          caller.subject,
        );
        if (created) {
          logger.info(
            {
              partnerKeyId: keyId,
              staffId: caller.subject,
              hash: operation.hash,
              operationName: operation.operationName,
            },
            'safelisted operation registered',
          );
        }
        sendJson(response, created ? 201 : 200, operation);
      } catch (error) {
        if (error instanceof SafelistInputError) {
          throw new RouteError(400, ErrorCode.BadUserInput, error.message);
        }
        throw error;
      }
      return;
    }

    allowMethods(method, ['DELETE']);
    const caller = await requireStaff(request, MANAGE_SCOPE);
    await requireKey(keyId!);
    if (!HASH_PATTERN.test(hash) || !(await store.remove(keyId!, hash))) {
      throw notFound(
        `No operation with the hash "${hash}" is registered for this partner key.`,
      );
    }
    logger.info(
      { partnerKeyId: keyId, staffId: caller.subject, hash },
      'safelisted operation deleted',
    );
    sendJson(response, 200, { hash, deleted: true });
  }

  async function requireStaff(
    request: IncomingMessage,
    scope?: string,
  ): Promise<CallerIdentity> {
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
    if (caller.kind !== 'staff') {
      throw new RouteError(
        caller.kind === 'anonymous' ? 401 : 403,
        caller.kind === 'anonymous'
          ? ErrorCode.Unauthenticated
          : ErrorCode.Forbidden,
        'This route is for staff: send "Authorization: Bearer <access token>" from POST /auth/staff/token.',
        caller.kind === 'anonymous' ? { 'www-authenticate': 'Bearer' } : {},
      );
    }
    if (scope && !caller.scopes.includes(scope)) {
      throw new RouteError(
        403,
        ErrorCode.Forbidden,
        `This route needs the ${scope} scope, which the admin role has.`,
      );
    }
    return caller;
  }

  async function requireKey(id: string): Promise<void> {
    if (isUuid(id) && (await store.keyExists(id))) return;
    throw notFound(`No partner key has the id "${id}".`);
  }

  /** Serves the request when its path is a safelist route; returns false otherwise. */
  return async function handleRequest(
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<boolean> {
    const url = request.url ?? '/';
    const queryStart = url.indexOf('?');
    const pathname = queryStart === -1 ? url : url.slice(0, queryStart);
    const match = ROUTE_PATTERN.exec(pathname);
    if (!match) return false;
    try {
      await route(request, response, match);
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
        'safelist route failed',
      );
      sendJson(response, 500, {
        error: 'Internal server error.',
        code: ErrorCode.InternalServerError,
      });
    }
    return true;
  };
}

function notFound(message: string): RouteError {
  return new RouteError(404, ErrorCode.NotFound, message);
}
