import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  afterAll,
  afterEach,
  beforeAll,
  describe,
  expect,
  it,
  vi,
} from 'vitest';
import type { GatewayDatabase } from '../gateway/db/database.js';
import { compareEventPositions } from '../platform/outbox.js';
import {
  passRetryDelayMs,
  startDeliveryWorker,
} from '../gateway/webhooks/worker.js';
import { signServiceIdentity } from '../platform/identity.js';
import { createLogger } from '../platform/logger.js';
import { identityHeaders, TEST_ADMIN } from './support/identity.js';
import { startTestStack, type TestStack } from './support/stack.js';
import { setStock } from './support/checkout.js';
import { createTrackedProduct, waitFor } from './support/webhooks.js';

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface WebhookBody {
  id: string;
  type: string;
  position: string;
  occurredAt: string;
  data: Record<string, any>;
}

/** Events per replay in this file, so a too-large range is cheap to build. */
const REPLAY_MAX_EVENTS = 3;
/** Attempts per delivery in this file. */
const MAX_ATTEMPTS = 5;

let stack: TestStack;
let receiver: Server;
let receiverOrigin: string;
const received: Received[] = [];
/** Statuses per path that the next requests take, one each. */
const plannedStatuses = new Map<string, number[]>();
/** Status per path once its planned statuses are used up; 200 if absent. */
const defaultStatuses = new Map<string, number>();

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = new URL(request.url ?? '/', 'http://receiver').pathname;
      received.push({
        path,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const status =
        plannedStatuses.get(path)?.shift() ?? defaultStatuses.get(path) ?? 200;
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
    WEBHOOK_RETRY_BASE_MS: '50',
    WEBHOOK_POLL_INTERVAL_MS: '50',
    WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    WEBHOOK_REPLAY_MAX_EVENTS: String(REPLAY_MAX_EVENTS),
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

async function request(
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${stack.gatewayOrigin}${path}`, {
    method,
    headers: {
      ...(headers ?? (await stack.staffHeaders('admin'))),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function createEndpoint(
  path: string,
  eventTypes: string[],
  headers?: Record<string, string>,
) {
  const created = await request(
    'POST',
    '/admin/webhooks',
    { url: `${receiverOrigin}${path}`, eventTypes },
    headers,
  );
  expect(created.status).toBe(201);
  return created.body as { id: string; secret: string };
}

async function createPartnerKey(name: string, scopes: string[]) {
  const created = await request('POST', '/admin/partner-keys', {
    name,
    scopes,
  });
  expect(created.status).toBe(201);
  const { id, key } = created.body as { id: string; key: string };
  return { id, headers: { authorization: `Bearer ${key}` } };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const receivedAt = (path: string) =>
  received.filter((entry) => entry.path === path);

const bodyOf = (entry: Received) => JSON.parse(entry.body) as WebhookBody;

/**
 * Verifies a delivery as docs/webhooks.md describes it for receivers: the
 * secret is `whsec_` and base64 key bytes, and `webhook-signature` contains
 * space-separated `v1,<base64 HMAC-SHA256>` values over
 * `<webhook-id>.<webhook-timestamp>.<raw body>`, of which one must match.
 * Timestamps more than 5 minutes away are rejected.
 */
function verifyAsReceiver(secret: string, entry: Received): boolean {
  const id = entry.headers['webhook-id'];
  const timestamp = entry.headers['webhook-timestamp'];
  const signatures = entry.headers['webhook-signature'];
  if (
    typeof id !== 'string' ||
    typeof timestamp !== 'string' ||
    typeof signatures !== 'string'
  ) {
    return false;
  }
  if (!/^\d+$/.test(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  if (!secret.startsWith('whsec_')) return false;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${id}.${timestamp}.${entry.body}`, 'utf8')
    .digest();
  return signatures.split(' ').some((signature) => {
    const comma = signature.indexOf(',');
    if (comma === -1 || signature.slice(0, comma) !== 'v1') return false;
    const candidate = Buffer.from(signature.slice(comma + 1), 'base64');
    return (
      candidate.length === expected.length &&
      timingSafeEqual(candidate, expected)
    );
  });
}

async function deliveriesOf(endpointId: string) {
  const listed = await request(
    'GET',
    `/admin/webhooks/${endpointId}/deliveries`,
  );
  expect(listed.status).toBe(200);
  return listed.body.deliveries as Array<{
    id: string;
    eventId: string;
    eventPosition: string;
    status: string;
    attempts: number;
    replayId: string | null;
  }>;
}

async function attemptStatuses(endpointId: string, deliveryId: string) {
  const listed = await request(
    'GET',
    `/admin/webhooks/${endpointId}/deliveries/${deliveryId}/attempts`,
  );
  expect(listed.status).toBe(200);
  return (listed.body.attempts as Array<{ responseStatus: number | null }>).map(
    (attempt) => attempt.responseStatus,
  );
}

describe('webhook delivery', () => {
  it('retries a failing receiver, then delivers in order', async () => {
    plannedStatuses.set('/ordered', [500, 500, 500]);
    const endpoint = await createEndpoint('/ordered', ['stock.changed']);
    const sku = await createTrackedProduct(stack, 'delivery');
    await setStock(stack, sku, 1);
    await setStock(stack, sku, 2);
    await setStock(stack, sku, 3);

    const requests = await waitFor(
      () => receivedAt('/ordered'),
      (list) => list.length >= 6,
    );
    await pause(300);
    expect(receivedAt('/ordered')).toHaveLength(6);
    const bodies = requests.map(bodyOf);
    expect(bodies.map((body) => body.data.onHand)).toEqual([1, 1, 1, 1, 2, 3]);
    const ids = bodies.map((body) => body.id);
    expect(new Set(ids.slice(0, 4)).size).toBe(1);

    // From the first success on, each event arrives once, in stream order.
    const afterSuccess = bodies.slice(3);
    expect(new Set(afterSuccess.map((body) => body.id)).size).toBe(3);
    expect(
      compareEventPositions(
        afterSuccess[0]!.position,
        afterSuccess[1]!.position,
      ),
    ).toBe(-1);
    expect(
      compareEventPositions(
        afterSuccess[1]!.position,
        afterSuccess[2]!.position,
      ),
    ).toBe(-1);

    const deliveries = await deliveriesOf(endpoint.id);
    const inStreamOrder = [...deliveries].reverse();
    expect(inStreamOrder.map((delivery) => delivery.eventId)).toEqual(
      afterSuccess.map((body) => body.id),
    );
    expect(inStreamOrder.map((delivery) => delivery.eventPosition)).toEqual(
      afterSuccess.map((body) => body.position),
    );
    expect(inStreamOrder.map((delivery) => delivery.status)).toEqual([
      'SUCCEEDED',
      'SUCCEEDED',
      'SUCCEEDED',
    ]);
    expect(await attemptStatuses(endpoint.id, inStreamOrder[0]!.id)).toEqual([
      500, 500, 500, 200,
    ]);
    expect(await attemptStatuses(endpoint.id, inStreamOrder[1]!.id)).toEqual([
      200,
    ]);
    expect(await attemptStatuses(endpoint.id, inStreamOrder[2]!.id)).toEqual([
      200,
    ]);
  });

  it('signs deliveries as docs/webhooks.md describes', async () => {
    plannedStatuses.set('/signed', [500]);
    const endpoint = await createEndpoint('/signed', ['stock.changed']);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const sku = await createTrackedProduct(stack, 'delivery');
    await setStock(stack, sku, 4);

    const requests = await waitFor(
      () => receivedAt('/signed'),
      (list) => list.length >= 2,
    );
    expect(requests).toHaveLength(2);
    for (const entry of requests) {
      expect(verifyAsReceiver(endpoint.secret, entry)).toBe(true);
      expect(entry.headers['content-type']).toBe('application/json');
      expect(bodyOf(entry).id).toBe(entry.headers['webhook-id']);
    }

    const entry = requests[1]!;
    const wrongSecret = `whsec_${randomBytes(32).toString('base64')}`;
    expect(verifyAsReceiver(wrongSecret, entry)).toBe(false);
    expect(
      verifyAsReceiver(endpoint.secret, { ...entry, body: `${entry.body} ` }),
    ).toBe(false);
    const timestamp = Number(entry.headers['webhook-timestamp']);
    expect(
      verifyAsReceiver(endpoint.secret, {
        ...entry,
        headers: {
          ...entry.headers,
          'webhook-timestamp': String(timestamp + 1),
        },
      }),
    ).toBe(false);
    expect(
      verifyAsReceiver(endpoint.secret, {
        ...entry,
        headers: { ...entry.headers, 'webhook-id': 'another-id' },
      }),
    ).toBe(false);
  });

  it('replays exactly the chosen range', async () => {
    const endpoint = await createEndpoint('/replay', ['stock.changed']);
    const sku = await createTrackedProduct(stack, 'delivery');
    for (const quantity of [1, 2, 3, 4, 5])
      await setStock(stack, sku, quantity);
    const original = (
      await waitFor(
        () => receivedAt('/replay'),
        (list) => list.length >= 5,
      )
    ).map(bodyOf);
    expect(original.map((body) => body.data.onHand)).toEqual([1, 2, 3, 4, 5]);
    const positions = original.map((body) => body.position);

    const replayed = await request(
      'POST',
      `/admin/webhooks/${endpoint.id}/replay`,
      { source: 'catalog', from: positions[0], to: positions[3] },
    );
    expect(replayed.status).toBe(202);
    expect(replayed.body).toMatchObject({
      endpointId: endpoint.id,
      source: 'catalog',
      from: positions[0],
      to: positions[3],
      enqueued: 3,
      firstPosition: positions[1],
      lastPosition: positions[3],
    });

    await waitFor(
      () => receivedAt('/replay'),
      (list) => list.length >= 8,
    );
    await pause(300);
    const all = receivedAt('/replay').map(bodyOf);
    expect(all.map((body) => body.id)).toEqual([
      ...original.map((body) => body.id),
      original[1]!.id,
      original[2]!.id,
      original[3]!.id,
    ]);
    expect(all.slice(5).map((body) => body.position)).toEqual(
      positions.slice(1, 4),
    );

    const deliveries = await deliveriesOf(endpoint.id);
    const replays = deliveries.filter(
      (delivery) => delivery.replayId === replayed.body.replayId,
    );
    expect(replays.map((delivery) => delivery.eventPosition)).toEqual(
      positions.slice(1, 4).reverse(),
    );
    expect(replays.map((delivery) => delivery.status)).toEqual([
      'SUCCEEDED',
      'SUCCEEDED',
      'SUCCEEDED',
    ]);
  });

  it('rejects invalid replay requests without writing', async () => {
    const endpoint = await createEndpoint('/replay-invalid', ['stock.changed']);
    const sku = await createTrackedProduct(stack, 'delivery');
    await setStock(stack, sku, 1);
    await setStock(stack, sku, 2);
    const [first, second] = (
      await waitFor(
        () => receivedAt('/replay-invalid'),
        (list) => list.length >= 2,
      )
    ).map(bodyOf);
    const replay = (body: unknown, headers?: Record<string, string>) =>
      request('POST', `/admin/webhooks/${endpoint.id}/replay`, body, headers);

    const cases: Array<[string, unknown, RegExp]> = [
      [
        'malformed from',
        { source: 'catalog', from: 'abc', to: second!.position },
        /Invalid from "abc".*"0\.0"/,
      ],
      [
        'malformed to',
        { source: 'catalog', from: first!.position, to: '12' },
        /Invalid to "12"/,
      ],
      [
        'from after to',
        { source: 'catalog', from: second!.position, to: first!.position },
        /must be before to/,
      ],
      [
        'unknown source',
        { source: 'billing', from: '0.0', to: second!.position },
        /Invalid source "billing".*catalog, orders, shipments, marketplace/,
      ],
      [
        'source without subscribed types',
        { source: 'orders', from: '0.0', to: second!.position },
        /no event type of the orders stream/,
      ],
      [
        'range past the end of the stream',
        { source: 'catalog', from: first!.position, to: '99999999999.1' },
        /Invalid to "99999999999\.1".*past the end/,
      ],
      [
        'too many events',
        { source: 'catalog', from: '0.0', to: second!.position },
        /more than 3 events.*Replay it in parts/,
      ],
      ['missing to', { source: 'catalog', from: '0.0' }, /to:/],
    ];
    for (const [name, body, message] of cases) {
      const response = await replay(body);
      expect(response.status, name).toBe(400);
      expect(response.body.code, name).toBe('BAD_USER_INPUT');
      expect(response.body.error, name).toMatch(message);
    }

    const partner = await createPartnerKey('Replay outsider', [
      'read_inventory',
    ]);
    const foreign = await replay(
      { source: 'catalog', from: first!.position, to: second!.position },
      partner.headers,
    );
    expect(foreign.status).toBe(404);
    expect(foreign.body.code).toBe('NOT_FOUND');

    await pause(200);
    expect(receivedAt('/replay-invalid')).toHaveLength(2);
    const deliveries = await deliveriesOf(endpoint.id);
    expect(deliveries).toHaveLength(2);
    expect(deliveries.every((delivery) => delivery.replayId === null)).toBe(
      true,
    );
  });

  it('limits partner keys to their own endpoints', async () => {
    const owner = await createPartnerKey('Webhook owner', ['read_inventory']);
    const other = await createPartnerKey('Webhook other', ['read_inventory']);
    const own = await createEndpoint(
      '/partner-own',
      ['stock.changed'],
      owner.headers,
    );
    const others = await createEndpoint(
      '/partner-other',
      ['stock.changed'],
      other.headers,
    );

    const listed = await request(
      'GET',
      '/admin/webhooks',
      undefined,
      owner.headers,
    );
    expect(listed.status).toBe(200);
    expect(listed.body.webhooks.map((hook: { id: string }) => hook.id)).toEqual(
      [own.id],
    );
    expect(listed.body.webhooks[0].partnerKeyId).toBe(owner.id);

    const staffList = await request('GET', '/admin/webhooks');
    const staffIds = staffList.body.webhooks.map(
      (hook: { id: string }) => hook.id,
    );
    expect(staffIds).toContain(own.id);
    expect(staffIds).toContain(others.id);

    const foreignRoutes: Array<[string, string, unknown]> = [
      ['GET', `/admin/webhooks/${others.id}/deliveries`, undefined],
      ['POST', `/admin/webhooks/${others.id}/enable`, undefined],
      [
        'POST',
        `/admin/webhooks/${others.id}/replay`,
        { source: 'catalog', from: '0.0', to: '1.1' },
      ],
      ['DELETE', `/admin/webhooks/${others.id}`, undefined],
    ];
    for (const [method, path, body] of foreignRoutes) {
      const response = await request(method, path, body, owner.headers);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.code, `${method} ${path}`).toBe('NOT_FOUND');
      expect(response.body.error, `${method} ${path}`).toContain(others.id);
    }
    const stillThere = await request('GET', '/admin/webhooks');
    expect(
      stillThere.body.webhooks.map((hook: { id: string }) => hook.id),
    ).toContain(others.id);

    const ordersType = await request(
      'POST',
      '/admin/webhooks',
      { url: `${receiverOrigin}/partner-orders`, eventTypes: ['order.paid'] },
      owner.headers,
    );
    expect(ordersType.status).toBe(403);
    expect(ordersType.body.code).toBe('FORBIDDEN');
    expect(ordersType.body.error).toContain('read_orders');

    const staffOnlyType = await request(
      'POST',
      '/admin/webhooks',
      {
        url: `${receiverOrigin}/partner-alerts`,
        eventTypes: ['webhook.endpoint_disabled'],
      },
      owner.headers,
    );
    expect(staffOnlyType.status).toBe(403);
    expect(staffOnlyType.body.code).toBe('FORBIDDEN');
    expect(staffOnlyType.body.error).toContain('staff endpoints only');

    const staffForPartner = await request('POST', '/admin/webhooks', {
      url: `${receiverOrigin}/partner-alerts`,
      eventTypes: ['webhook.endpoint_disabled'],
      partnerKeyId: owner.id,
    });
    expect(staffForPartner.status).toBe(403);
    expect(staffForPartner.body.code).toBe('FORBIDDEN');

    const forOther = await request(
      'POST',
      '/admin/webhooks',
      {
        url: `${receiverOrigin}/partner-own`,
        eventTypes: ['stock.changed'],
        partnerKeyId: other.id,
      },
      owner.headers,
    );
    expect(forOther.status).toBe(403);
    expect(forOther.body.code).toBe('FORBIDDEN');

    const afterRejections = await request(
      'GET',
      '/admin/webhooks',
      undefined,
      owner.headers,
    );
    expect(afterRejections.body.webhooks).toHaveLength(1);
  });

  it('notifies staff of a disabled endpoint and resumes it', async () => {
    const alerts = await createEndpoint('/staff-alerts', [
      'webhook.endpoint_disabled',
    ]);
    defaultStatuses.set('/dead', 500);
    const created = await request('POST', '/admin/webhooks', {
      url: `${receiverOrigin}/dead?token=private`,
      eventTypes: ['stock.changed'],
    });
    expect(created.status).toBe(201);
    const dead = created.body as { id: string; secret: string };
    const sku = await createTrackedProduct(stack, 'delivery');
    await setStock(stack, sku, 1);
    await setStock(stack, sku, 2);

    const [alert] = await waitFor(
      () => receivedAt('/staff-alerts'),
      (list) => list.length >= 1,
    );
    expect(alert).toBeDefined();
    expect(verifyAsReceiver(alerts.secret, alert!)).toBe(true);
    const event = bodyOf(alert!);
    expect(event.type).toBe('webhook.endpoint_disabled');
    expect(event.data).toEqual({
      endpointId: dead.id,
      partnerKeyId: null,
      url: `${receiverOrigin}/dead`,
      reason: 'HTTP 500',
      lastResponseStatus: 500,
      disabledAt: expect.any(String),
    });
    expect(Number.isNaN(Date.parse(event.data.disabledAt))).toBe(false);

    const deadRequests = receivedAt('/dead').map(bodyOf);
    expect(deadRequests).toHaveLength(MAX_ATTEMPTS);
    const failedId = deadRequests[0]!.id;
    expect(deadRequests.every((body) => body.id === failedId)).toBe(true);
    const endpoints = await request('GET', '/admin/webhooks');
    const listedEndpoint = endpoints.body.webhooks.find(
      (hook: { id: string }) => hook.id === dead.id,
    );
    expect(listedEndpoint.enabled).toBe(false);

    // The event is in the gateway's stream, which serves signed service
    // identities only: no identity is a 401, a staff identity a 403.
    const streamUrl = `${stack.gatewayOrigin}/events?types=webhook.endpoint_disabled`;
    const stream = await fetch(streamUrl, {
      headers: await signServiceIdentity(stack.config, 'test-reader'),
    });
    expect(stream.status).toBe(200);
    const page = (await stream.json()) as {
      events: Array<{ id: string; type: string; payload: unknown }>;
      next: string;
    };
    const streamed = page.events.find((entry) => entry.id === event.id);
    expect(streamed?.type).toBe('webhook.endpoint_disabled');
    expect(streamed?.payload).toEqual(event.data);
    const anonymous = await fetch(streamUrl);
    expect(anonymous.status).toBe(401);
    const staff = await fetch(streamUrl, {
      headers: await identityHeaders(stack.config, TEST_ADMIN),
    });
    expect(staff.status).toBe(403);
    expect(((await staff.json()) as { code: string }).code).toBe('FORBIDDEN');

    // Re-enabling sends the pending second event; the failed first stays failed.
    await pause(300);
    expect(receivedAt('/dead')).toHaveLength(MAX_ATTEMPTS);
    defaultStatuses.set('/dead', 200);
    const enabled = await request('POST', `/admin/webhooks/${dead.id}/enable`);
    expect(enabled.status).toBe(200);
    expect(enabled.body.enabled).toBe(true);
    await waitFor(
      () => receivedAt('/dead'),
      (list) => list.length >= MAX_ATTEMPTS + 1,
    );
    await pause(300);
    const resumed = receivedAt('/dead').slice(MAX_ATTEMPTS);
    expect(resumed).toHaveLength(1);
    expect(bodyOf(resumed[0]!).data.onHand).toBe(2);
    expect(verifyAsReceiver(dead.secret, resumed[0]!)).toBe(true);
    const deliveries = await deliveriesOf(dead.id);
    expect(deliveries.map((delivery) => delivery.status)).toEqual([
      'SUCCEEDED',
      'FAILED',
    ]);
    expect(receivedAt('/staff-alerts')).toHaveLength(1);

    // The gateway's own stream can be replayed like a subgraph's.
    const replayed = await request(
      'POST',
      `/admin/webhooks/${alerts.id}/replay`,
      { source: 'gateway', from: '0.0', to: event.position },
    );
    expect(replayed.status).toBe(202);
    expect(replayed.body.enqueued).toBe(1);
    const alertsAgain = await waitFor(
      () => receivedAt('/staff-alerts'),
      (list) => list.length >= 2,
    );
    expect(alertsAgain).toHaveLength(2);
    expect(bodyOf(alertsAgain[1]!)).toEqual(event);
    expect(verifyAsReceiver(alerts.secret, alertsAgain[1]!)).toBe(true);
  });
});

describe('webhook delivery worker', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('computes pass retry pauses', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 30].map(passRetryDelayMs)).toEqual([
      200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000,
    ]);
  });

  it('backs off after failed passes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const passTimes: number[] = [];
    // Passes 1 to 4, 7 and 8 fail as with an unreachable database.
    const failingPasses = new Set([1, 2, 3, 4, 7, 8]);
    const db = {
      async execute() {
        passTimes.push(Date.now());
        if (failingPasses.has(passTimes.length)) {
          throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        }
        return [];
      },
    } as unknown as GatewayDatabase;
    const worker = startDeliveryWorker({
      config: { ...stack.config, WEBHOOK_POLL_INTERVAL_MS: 1000 },
      logger: createLogger('test', 'silent'),
      db,
    });
    await vi.advanceTimersByTimeAsync(5_700);
    await worker.stop();

    const pauses = passTimes.slice(1).map((time, i) => time - passTimes[i]!);
    expect(pauses.slice(0, 8)).toEqual([
      200, 400, 800, 1600, 1000, 1000, 200, 400,
    ]);
  });
});
