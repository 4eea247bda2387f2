import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkWebhookUrl,
  guardedLookup,
  WebhookUrlError,
} from '../gateway/webhooks/url-guard.js';
import { startTestStack, type TestStack } from './support/stack.js';
import { setStock } from './support/checkout.js';
import { createTrackedProduct, waitFor } from './support/webhooks.js';

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

let stack: TestStack;
let receiver: Server;
let receiverOrigin: string;
const received: Received[] = [];
/** Response status per path; each request takes the next one, then 200. */
const plannedStatuses = new Map<string, number[]>();

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      received.push({
        path,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const status = plannedStatuses.get(path)?.shift() ?? 200;
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) =>
    receiver.listen(0, '127.0.0.1', resolve),
  );
  receiverOrigin = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  stack = await startTestStack({
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    WEBHOOK_RETRY_BASE_MS: '100',
    WEBHOOK_POLL_INTERVAL_MS: '50',
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

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

async function createEndpoint(path: string, eventTypes: string[]) {
  const created = await admin('POST', '/admin/webhooks', {
    url: `${receiverOrigin}${path}`,
    eventTypes,
  });
  expect(created.status).toBe(201);
  return created.body as { id: string; secret: string };
}

const receivedAt = (path: string) =>
  received.filter((request) => request.path === path);

function verifySignature(secret: string, request: Received): boolean {
  const id = request.headers['webhook-id'] as string;
  const timestamp = request.headers['webhook-timestamp'] as string;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${id}.${timestamp}.${request.body}`)
    .digest('base64');
  const signatures = (request.headers['webhook-signature'] as string).split(
    ' ',
  );
  return signatures.includes(`v1,${expected}`);
}

describe('webhooks', () => {
  it('delivers a stock change with a valid signature', async () => {
    const endpoint = await createEndpoint('/stock', ['stock.changed']);
    const sku = await createTrackedProduct(stack, 'webhook');
    await setStock(stack, sku, 7);

    const requests = await waitFor(
      () => receivedAt('/stock'),
      (list) => list.length > 0,
    );
    expect(requests).toHaveLength(1);
    const request = requests[0]!;
    expect(verifySignature(endpoint.secret, request)).toBe(true);
    expect(verifySignature(endpoint.secret, { ...request, body: '{}' })).toBe(
      false,
    );
    const body = JSON.parse(request.body);
    expect(body.type).toBe('stock.changed');
    expect(body.id).toBe(request.headers['webhook-id']);
    expect(body.data.sku).toBe(sku);
    expect(body.data.onHand).toBe(7);
    expect(typeof body.position).toBe('string');
    expect(Number.isNaN(Date.parse(body.occurredAt))).toBe(false);
    const age =
      Date.now() / 1000 - Number(request.headers['webhook-timestamp']);
    expect(Math.abs(age)).toBeLessThan(60);

    const listed = await admin('GET', '/admin/webhooks');
    expect(listed.status).toBe(200);
    const shown = listed.body.webhooks.find(
      (webhook: { id: string }) => webhook.id === endpoint.id,
    );
    expect(shown.url).toBe(`${receiverOrigin}/stock`);
    expect(shown).not.toHaveProperty('secret');
    expect(JSON.stringify(listed.body)).not.toContain(endpoint.secret);
  });

  it('retries a failing receiver in order, then redelivers', async () => {
    plannedStatuses.set('/flaky', [500, 503]);
    const endpoint = await createEndpoint('/flaky', ['stock.changed']);
    const sku = await createTrackedProduct(stack, 'webhook');
    await setStock(stack, sku, 1);
    await setStock(stack, sku, 2);

    const requests = await waitFor(
      () => receivedAt('/flaky'),
      (list) => list.length >= 4,
    );
    const onHand = requests.map(
      (request) => JSON.parse(request.body).data.onHand,
    );
    expect(onHand).toEqual([1, 1, 1, 2]);
    const ids = requests.map((request) => request.headers['webhook-id']);
    expect(ids[1]).toBe(ids[0]);
    expect(ids[2]).toBe(ids[0]);
    expect(ids[3]).not.toBe(ids[0]);
    for (const request of requests) {
      expect(verifySignature(endpoint.secret, request)).toBe(true);
    }

    // The worker records a result after the receiver has responded.
    const listed = await waitFor(
      () => admin('GET', `/admin/webhooks/${endpoint.id}/deliveries`),
      (list) =>
        list.body.deliveries?.every(
          (delivery: { status: string }) => delivery.status === 'SUCCEEDED',
        ),
    );
    expect(listed.status).toBe(200);
    const [second, first] = listed.body.deliveries;
    expect(first.eventId).toBe(ids[0]);
    expect(first.status).toBe('SUCCEEDED');
    expect(first.attempts).toBe(3);
    expect(first.lastResponseStatus).toBe(200);
    expect(second.status).toBe('SUCCEEDED');
    expect(second.attempts).toBe(1);

    const redelivered = await admin(
      'POST',
      `/admin/webhooks/${endpoint.id}/deliveries/${first.id}/redeliver`,
    );
    expect(redelivered.status).toBe(200);
    const again = await waitFor(
      () => receivedAt('/flaky'),
      (list) => list.length >= 5,
    );
    expect(again).toHaveLength(5);
    expect(again[4]!.headers['webhook-id']).toBe(ids[0]);
    expect(verifySignature(endpoint.secret, again[4]!)).toBe(true);
  });

  it('deletes an endpoint', async () => {
    const endpoint = await createEndpoint('/deleted', ['stock.changed']);
    const deleted = await admin('DELETE', `/admin/webhooks/${endpoint.id}`);
    expect(deleted.status).toBe(200);
    const again = await admin('DELETE', `/admin/webhooks/${endpoint.id}`);
    expect(again.status).toBe(404);
  });

  it('rejects unknown event types', async () => {
    const created = await admin('POST', '/admin/webhooks', {
      url: `${receiverOrigin}/unknown`,
      eventTypes: ['stock.exploded'],
    });
    expect(created.status).toBe(400);
    expect(created.body.error).toContain('stock.exploded');
  });

  it('rejects anonymous callers', async () => {
    const response = await fetch(`${stack.gatewayOrigin}/admin/webhooks`);
    expect(response.status).toBe(401);
  });
});

describe('webhook URL guard', () => {
  const strict = { allowHttp: true, allowLoopback: false };

  it.each([
    ['private', 'http://10.0.0.1/hook'],
    ['metadata', 'http://169.254.169.254/latest/meta-data'],
    ['IPv6 loopback', 'http://[::1]:8080/hook'],
    ['IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]/hook'],
    ['loopback', 'http://127.0.0.1:9/hook'],
  ])('rejects a %s address', async (_kind, url) => {
    await expect(checkWebhookUrl(url, strict)).rejects.toThrow(WebhookUrlError);
  });

  it('rejects a host name resolving to loopback', async () => {
    const resolve = async () => ['127.0.0.1'];
    await expect(
      checkWebhookUrl('https://receiver.example/hook', { ...strict, resolve }),
    ).rejects.toThrow(/loopback address 127\.0\.0\.1/);
    await expect(
      checkWebhookUrl('http://localhost/hook', strict),
    ).rejects.toThrow(WebhookUrlError);
  });

  it('rejects loopback at connection time', async () => {
    const lookup = guardedLookup({ allowLoopback: false });
    const error = await new Promise<Error | null>((resolve) =>
      lookup('localhost', { all: true }, (failure) => resolve(failure)),
    );
    expect(error).toBeInstanceOf(WebhookUrlError);
  });

  it('accepts loopback only with the setting', async () => {
    const url = await checkWebhookUrl('http://127.0.0.1:9/hook', {
      allowHttp: true,
      allowLoopback: true,
    });
    expect(url.hostname).toBe('127.0.0.1');
    await expect(
      checkWebhookUrl('http://10.0.0.1/hook', {
        allowHttp: true,
        allowLoopback: true,
      }),
    ).rejects.toThrow(WebhookUrlError);
  });

  it('requires https without allowHttp', async () => {
    await expect(
      checkWebhookUrl('http://receiver.example/hook', {
        allowHttp: false,
        allowLoopback: false,
        resolve: async () => ['93.184.215.14'],
      }),
    ).rejects.toThrow(/must use https:/);
  });

  it('rejects private addresses through the admin route', async () => {
    for (const url of [
      'http://10.0.0.1/hook',
      'http://169.254.169.254/latest/meta-data',
    ]) {
      const created = await admin('POST', '/admin/webhooks', {
        url,
        eventTypes: ['stock.changed'],
      });
      expect(created.status).toBe(400);
      expect(created.body.error).toMatch(/not allowed/);
    }
  });
});
