import type { IncomingMessage } from 'node:http';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { ErrorCode } from '../../platform/errors.js';
import type { CallerIdentity } from '../caller.js';
import type { IdentityLayer } from '../identity/index.js';

/**
 * Header that carries a caller as JSON, such as
 * `{"kind":"staff","subject":"s1","scopes":["write_products"],"roles":["admin"]}`,
 * when `startGateway` runs with `acceptTestCallerHeader`.
 */
export const TEST_CALLER_HEADER = 'x-test-caller';

const callerSchema = z.strictObject({
  kind: z.enum(['anonymous', 'customer', 'staff', 'partner']),
  subject: z.string().nullable(),
  scopes: z.array(z.string()),
  roles: z.array(z.string()),
});

/**
 * Returns a copy of the identity layer `identity`, a plain object, whose
 * `authenticate` takes the caller from the `x-test-caller` header when a
 * request has one, and calls `identity.authenticate` otherwise.
 *
 * For tests only: anyone who can reach a gateway built this way can claim
 * any identity. `startGateway` uses it only when its caller passes
 * `acceptTestCallerHeader: true`, and no configuration variable or flag
 * sets it.
 */
export function acceptTestCallerHeader<T extends IdentityLayer>(
  identity: T,
): T {
  return {
    ...identity,
    authenticate: async (request: IncomingMessage) =>
      readTestCaller(request) ?? identity.authenticate(request),
  };
}

function readTestCaller(request: IncomingMessage): CallerIdentity | undefined {
  const header = request.headers[TEST_CALLER_HEADER];
  if (header === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Array.isArray(header) ? (header[0] ?? '') : header);
  } catch {
    value = undefined;
  }
  const parsed = callerSchema.safeParse(value);
  if (!parsed.success) {
    throw new GraphQLError(
      `Invalid ${TEST_CALLER_HEADER} header: expected a JSON caller with kind, subject, scopes and roles.`,
      {
        extensions: {
          code: ErrorCode.Unauthenticated,
          http: { status: 401 },
        },
      },
    );
  }
  return parsed.data;
}
