import { createHmac, randomBytes } from 'node:crypto';

/**
 * Signatures of the Standard Webhooks scheme (https://www.standardwebhooks.com):
 * `webhook-signature: v1,<base64 HMAC-SHA256>` over
 * `<webhook-id>.<webhook-timestamp>.<body>`, keyed with the base64 part of
 * a `whsec_` secret.
 */

const SECRET_PREFIX = 'whsec_';

/** Creates a signing secret: `whsec_` and 32 random bytes in base64. */
export function createWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** Returns the `webhook-signature` value of one message. */
export function signWebhook(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): string {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  const digest = createHmac('sha256', key)
    .update(`${id}.${timestampSeconds}.${body}`)
    .digest('base64');
  return `v1,${digest}`;
}
