/**
 * Stripe's webhook signature scheme, also used by the sandbox provider.
 *
 * The sender puts `t=<unix seconds>,v1=<hex signature>` in a header, where
 * the signature is HMAC-SHA256, keyed with the endpoint secret, of
 * `<t>.<raw body>`. A header may carry several `v1` entries (Stripe sends
 * one per active secret while a secret is being rolled); one match is
 * enough. Other schemes such as `v0` are ignored. The timestamp bounds
 * replays: a request signed more than the tolerance before or after the
 * receiver's clock is rejected.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { WebhookVerificationError } from './provider.js';

/** Stripe's recommended tolerance between the signed time and now. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const SIGNATURE_SCHEME = 'v1';

/** Computes the hex HMAC-SHA256 of `<timestamp>.<payload>`. */
export function computeSignature(
  payload: Buffer | string,
  secret: string,
  timestamp: number,
): string {
  return createHmac('sha256', secret)
    .update(`${timestamp}.`)
    .update(payload)
    .digest('hex');
}

/**
 * Builds a signature header value for `payload`, with one `v1` entry per
 * secret. Used by fakes, tests and the sandbox provider.
 */
export function sign(
  payload: Buffer | string,
  secret: string | readonly string[],
  timestamp: number = Math.floor(Date.now() / 1000),
): string {
  const secrets = typeof secret === 'string' ? [secret] : secret;
  const entries = secrets.map(
    (key) => `${SIGNATURE_SCHEME}=${computeSignature(payload, key, timestamp)}`,
  );
  return [`t=${timestamp}`, ...entries].join(',');
}

export interface VerifyOptions {
  /** Maximum distance between the signed time and now, in seconds. */
  toleranceSeconds?: number;
  /** The current time in unix seconds; defaults to the system clock. */
  now?: number;
}

/**
 * Verifies a signature header against the raw request body and returns the
 * signed timestamp. Any of several `secrets` may match, so a receiver can
 * accept both the old and the new secret while rolling its secret. Throws
 * WebhookVerificationError naming the check that failed; the message never
 * contains a secret or a computed signature.
 */
export function verify(
  payload: Buffer | string,
  header: string | undefined,
  secrets: string | readonly string[],
  options: VerifyOptions = {},
): number {
  if (header === undefined || header.trim() === '') {
    throw new WebhookVerificationError('Missing webhook signature header');
  }
  const { timestamp, signatures } = parseHeader(header);
  if (timestamp === undefined) {
    throw new WebhookVerificationError(
      'Invalid webhook signature header: no valid t= timestamp',
    );
  }
  if (signatures.length === 0) {
    throw new WebhookVerificationError(
      `Invalid webhook signature header: no ${SIGNATURE_SCHEME} signature`,
    );
  }

  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > tolerance) {
    throw new WebhookVerificationError(
      `Webhook timestamp ${timestamp} is outside the tolerance of ${tolerance} s (now ${now})`,
    );
  }

  const keys = typeof secrets === 'string' ? [secrets] : secrets;
  // Every candidate is compared in constant time and without an early exit,
  // so the time taken does not reveal which entry came close.
  let matched = false;
  for (const key of keys) {
    const expected = Buffer.from(
      computeSignature(payload, key, timestamp),
      'hex',
    );
    for (const signature of signatures) {
      if (
        signature.length === expected.length &&
        timingSafeEqual(signature, expected)
      ) {
        matched = true;
      }
    }
  }
  if (!matched) {
    throw new WebhookVerificationError(
      'Webhook signature mismatch: no v1 signature matches the body with the configured secret',
    );
  }
  return timestamp;
}

function parseHeader(header: string): {
  timestamp: number | undefined;
  signatures: Buffer[];
} {
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const element of header.split(',')) {
    const separator = element.indexOf('=');
    if (separator < 0) continue;
    const name = element.slice(0, separator).trim();
    const value = element.slice(separator + 1).trim();
    if (name === 't' && /^\d{1,12}$/.test(value)) {
      timestamp = Number(value);
    } else if (name === SIGNATURE_SCHEME && /^[0-9a-fA-F]{64}$/.test(value)) {
      signatures.push(Buffer.from(value, 'hex'));
    }
  }
  return { timestamp, signatures };
}

/** Reads a header case-insensitively; of a repeated header, the first value. */
export function headerValue(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}
