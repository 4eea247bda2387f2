import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './support/stack.js';
import { subscribeSse, subscribeWs } from './support/subscriptions.js';

const prefix = `t${randomBytes(5).toString('hex')}`;
let stack: TestStack;

const STOCK = 'subscription { stockChanged { position sku } }';

async function admin(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${stack.gatewayOrigin}${path}`, {
    method,
    headers: {
      ...(await stack.staffHeaders('admin')),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

beforeAll(async () => {
  stack = await startTestStack({
    DATABASE_PREFIX: prefix,
    SUBSCRIPTION_REAUTHENTICATE_MS: '300',
    PARTNER_KEY_CACHE_MS: '0',
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('subscriptions of a revoked partner key', () => {
  it('end on both transports after the revocation', async () => {
    const created = await admin('POST', '/admin/partner-keys', {
      name: 'Revoked partner',
      scopes: ['read_inventory'],
    });
    expect(created.status).toBe(201);
    const key: string = created.body.key;

    const ws = subscribeWs(stack.gatewayUrl, STOCK, {}, { 'x-api-key': key });
    const sse = await subscribeSse(
      stack.gatewayUrl,
      STOCK,
      {},
      { 'x-api-key': key },
    );
    expect(sse.status).toBe(200);
    // Connected and checked at least once while the key is valid.
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(ws.errors).toEqual([]);

    const revoked = await admin(
      'DELETE',
      `/admin/partner-keys/${created.body.id}`,
    );
    expect(revoked.status).toBe(200);

    const closed = await ws.closeEvent;
    expect(closed.code).toBe(4401);
    await sse.ended;
    expect(sse.received.at(-1)?.errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
    await ws.close();
    await sse.close();
  }, 30_000);
});
