import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { ErrorCode } from '../platform/errors.js';

/**
 * Helpers of the gateway's JSON routes outside GraphQL (sign-in, partner
 * keys, safelists): errors with a status, method checks and bounded JSON
 * bodies checked by a zod schema.
 */

/** A response with an HTTP status other than 2xx, sent as `{ error, code }`. */
export class RouteError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Throws a 405 RouteError unless `method` is one of `allowed`. */
export function allowMethods(method: string, allowed: string[]): void {
  if (allowed.includes(method)) return;
  throw new RouteError(
    405,
    'METHOD_NOT_ALLOWED',
    `Use ${allowed.join(' or ')} on this route.`,
    { allow: allowed.join(', ') },
  );
}

/** Reads a JSON body of at most `limitBytes`, or throws a RouteError. */
export async function readJsonBody(
  request: IncomingMessage,
  limitBytes: number,
): Promise<unknown> {
  if (!request.headers['content-type']?.includes('json')) {
    throw new RouteError(
      415,
      ErrorCode.BadUserInput,
      'Send the body as JSON with "content-type: application/json".',
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) {
      throw new RouteError(
        413,
        ErrorCode.PayloadTooLarge,
        `The request body is larger than ${limitBytes} bytes.`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new RouteError(
      400,
      ErrorCode.BadUserInput,
      'The request body is not valid JSON.',
    );
  }
}

/** Checks a body against `schema`, or throws a 400 RouteError naming each problem. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map(
    (issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`,
  );
  throw new RouteError(
    400,
    ErrorCode.BadUserInput,
    `Invalid request body. ${problems.join('; ')}.`,
  );
}
