import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ErrorCode, summarizeError } from '../../platform/errors.js';
import { sendJson } from '../../platform/http-server.js';
import {
  allowMethods,
  parseBody,
  readJsonBody,
  RouteError,
} from '../json-routes.js';
import type { IdentityKey } from '../../platform/identity-keys.js';
import { isUuid } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import type { CallerIdentity } from '../caller.js';
import type { GatewayDatabase } from '../db/database.js';
import { issueStaffAccessToken } from './access-tokens.js';
import { CredentialCheckUnavailableError, CredentialError } from './errors.js';
import {
  createPartnerKey,
  listPartnerKeys,
  PartnerKeyInputError,
  revokePartnerKey,
} from './partner-keys.js';
import {
  beginSignInAttempt,
  describeWait,
  recordSignInFailure,
  recordSignInSuccess,
  signInEmailHash,
  type SignInThrottleSettings,
} from '../../platform/sign-in-throttle.js';
import { tables } from '../db/database.js';
import { findStaffByPassword } from './staff-accounts.js';

/** Largest JSON body the identity routes accept, in bytes. */
const BODY_LIMIT_BYTES = 16 * 1024;
/**
 * Largest body of `POST /admin/partner-keys`, which may carry operation
 * documents; the same as a safelist route's.
 */
const CREATE_KEY_BODY_LIMIT_BYTES = 256 * 1024;
/** Maximum number of operations that one partner key creation may register. */
const MAX_INITIAL_OPERATIONS = 100;

const PARTNER_KEYS_PATH = '/admin/partner-keys';

export interface IdentityRoutesOptions {
  /** Absent when the gateway has no database. */
  db?: GatewayDatabase;
  signingKey: IdentityKey;
  staffTokenTtlSeconds: number;
  /** Throttling of staff sign-in per email address. */
  signInThrottle: SignInThrottleSettings;
  authenticate(request: IncomingMessage): Promise<CallerIdentity>;
  /** Called after a key is revoked, to drop it from the in-memory cache. */
  onPartnerKeyRevoked(id: string): void;
  logger: Logger;
}

const signInBody = z.object({
  email: z.string().max(320),
  password: z.string().max(1024),
});

const partnerKeyBody = z.object({
  name: z.string(),
  scopes: z.array(z.string()),
  expiresAt: z.iso.datetime({ offset: true }).nullish(),
  /** As `PUT /admin/partner-keys/<id>/safelist` `{ enabled }` would set it. */
  safelistMode: z.boolean().optional(),
  /** As `POST /admin/partner-keys/<id>/operations` would register each. */
  operations: z
    .array(z.object({ document: z.string().min(1) }))
    .max(MAX_INITIAL_OPERATIONS)
    .optional(),
});

/**
 * Creates the handler of the identity routes:
 *
 * - `POST /auth/staff/token` `{ email, password }` signs a staff member in
 *   and returns `{ accessToken, tokenType, expiresIn }`;
 * - `GET /auth/whoami` returns the caller of the request;
 * - `GET /admin/partner-keys` lists partner keys (any staff member);
 * - `POST /admin/partner-keys` `{ name, scopes, expiresAt?, safelistMode?,
 *   operations? }` creates one, with its safelist mode and first
 *   safelisted operations, and returns its key once (admin);
 * - `DELETE /admin/partner-keys/<id>` revokes one (admin).
 *
 * The handler returns false for any other path.
 */
export function createIdentityRoutes(options: IdentityRoutesOptions) {
  const { logger } = options;

  async function route(
    request: IncomingMessage,
    response: ServerResponse,
    pathname: string,
  ): Promise<boolean> {
    const method = request.method ?? 'GET';
    if (pathname === '/auth/staff/token') {
      allowMethods(method, ['POST']);
      await signIn(request, response);
      return true;
    }
    if (pathname === '/auth/whoami') {
      allowMethods(method, ['GET']);
      sendJson(response, 200, await callerOf(request));
      return true;
    }
    if (pathname === PARTNER_KEYS_PATH) {
      allowMethods(method, ['GET', 'POST']);
      if (method === 'GET') await listKeys(request, response);
      else await createKey(request, response);
      return true;
    }
    if (pathname.startsWith(`${PARTNER_KEYS_PATH}/`)) {
      allowMethods(method, ['DELETE']);
      await revokeKey(
        request,
        response,
        pathname.slice(PARTNER_KEYS_PATH.length + 1),
      );
      return true;
    }
    return false;
  }

  async function callerOf(request: IncomingMessage): Promise<CallerIdentity> {
    try {
      return await options.authenticate(request);
    } catch (error) {
      if (error instanceof CredentialError) {
        throw new RouteError(401, ErrorCode.Unauthenticated, error.message, {
          'www-authenticate': 'Bearer',
        });
      }
      // Dependency failures were logged where they happened; others are bugs.
      if (!(error instanceof CredentialCheckUnavailableError)) throw error;
      throw new RouteError(
        503,
        ErrorCode.ServiceUnavailable,
        'The credentials could not be checked right now; try again shortly.',
      );
    }
  }

  async function signIn(request: IncomingMessage, response: ServerResponse) {
    const db = requireDatabase();
    const body = parseBody(
      signInBody,
      await readJsonBody(request, BODY_LIMIT_BYTES),
    );
    // Throttled per address before the password is checked, for known and
    // unknown addresses alike, so a refusal tells nothing about the account.
    const emailHash = signInEmailHash(body.email);
    const table = tables.staffSignInAttempts;
    const attempt = await beginSignInAttempt(
      db,
      table,
      emailHash,
      options.signInThrottle,
    );
    if (!attempt.allowed) {
      logger.info('staff sign-in refused: too many failed attempts');
      throw new RouteError(
        429,
        ErrorCode.TooManyAttempts,
        `Too many failed sign-in attempts for this email address; try again in ${describeWait(attempt.retryAfterSeconds)}.`,
        { 'retry-after': String(attempt.retryAfterSeconds) },
      );
    }
    const account = await findStaffByPassword(db, body.email, body.password);
    if (!account) {
      await recordSignInFailure(db, table, emailHash, options.signInThrottle);
      logger.info('staff sign-in failed');
      // One message for an unknown email and a wrong password, so the
      // response does not tell which accounts exist.
      throw new RouteError(
        401,
        ErrorCode.Unauthenticated,
        'Invalid email or password.',
      );
    }
    await recordSignInSuccess(db, table, emailHash);
    const token = await issueStaffAccessToken(
      options.signingKey,
      account,
      options.staffTokenTtlSeconds,
    );
    logger.info({ staffId: account.id, role: account.role }, 'staff signed in');
    response.setHeader('cache-control', 'no-store');
    sendJson(response, 200, { ...token, tokenType: 'Bearer' });
  }

  async function requireStaff(
    request: IncomingMessage,
    scope?: string,
  ): Promise<CallerIdentity> {
    const caller = await callerOf(request);
    if (caller.kind !== 'staff') {
      throw new RouteError(
        caller.kind === 'anonymous' ? 401 : 403,
        caller.kind === 'anonymous'
          ? ErrorCode.Unauthenticated
          : ErrorCode.Forbidden,
        'This route is for staff: send "Authorization: Bearer <access token>" from POST /auth/staff/token.',
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

  async function listKeys(request: IncomingMessage, response: ServerResponse) {
    const db = requireDatabase();
    await requireStaff(request);
    sendJson(response, 200, { partnerKeys: await listPartnerKeys(db) });
  }

  async function createKey(request: IncomingMessage, response: ServerResponse) {
    const db = requireDatabase();
    const caller = await requireStaff(request, 'manage_partner_keys');
    const body = parseBody(
      partnerKeyBody,
      await readJsonBody(request, CREATE_KEY_BODY_LIMIT_BYTES),
    );
    try {
      const { key, view, operations } = await createPartnerKey(db, {
        name: body.name,
        scopes: body.scopes,
        expiresAt: body.expiresAt ? new Date(body.expiresAt) : null,
        createdBy: caller.subject,
        safelistMode: body.safelistMode,
        operations: body.operations?.map((operation) => operation.document),
      });
      logger.info(
        {
          partnerKeyId: view.id,
          staffId: caller.subject,
          scopes: view.scopes,
          safelistMode: view.safelistMode,
          operations: operations.length,
        },
        'partner key created',
      );
      response.setHeader('cache-control', 'no-store');
      sendJson(response, 201, { ...view, key, operations });
    } catch (error) {
      if (error instanceof PartnerKeyInputError) {
        throw new RouteError(400, ErrorCode.BadUserInput, error.message);
      }
      throw error;
    }
  }

  async function revokeKey(
    request: IncomingMessage,
    response: ServerResponse,
    id: string,
  ) {
    const db = requireDatabase();
    const caller = await requireStaff(request, 'manage_partner_keys');
    const view = isUuid(id) ? await revokePartnerKey(db, id) : undefined;
    if (!view) {
      throw new RouteError(
        404,
        ErrorCode.NotFound,
        `No partner key has the id "${id}".`,
      );
    }
    options.onPartnerKeyRevoked(view.id);
    logger.info(
      { partnerKeyId: view.id, staffId: caller.subject },
      'partner key revoked',
    );
    sendJson(response, 200, view);
  }

  function requireDatabase(): GatewayDatabase {
    if (options.db) return options.db;
    throw new RouteError(
      503,
      ErrorCode.ServiceUnavailable,
      'Staff accounts and partner keys need the gateway database; set DATABASE_URL or GATEWAY_DATABASE_URL.',
    );
  }

  /** Serves the request when its path is an identity route; returns false otherwise. */
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
      // summarizeError drops query parameters, such as an email address.
      logger.error(
        { error: summarizeError(error), path: pathname },
        'identity route failed',
      );
      sendJson(response, 500, {
        error: 'Internal server error.',
        code: ErrorCode.InternalServerError,
      });
      return true;
    }
  };
}
