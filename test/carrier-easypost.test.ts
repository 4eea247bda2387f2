import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CarrierError,
  CarrierWebhookError,
  type Address,
  type CarrierEvent,
  type RateRequest,
} from '../subgraphs/shipments/carriers/carrier.js';
import {
  EasyPostCarrier,
  easyPostAmount,
  easyPostSignature,
  trackingStatusOf,
} from '../subgraphs/shipments/carriers/easypost.js';
import { createCarrier } from '../subgraphs/shipments/carriers/index.js';
import { loadConfig } from '../platform/config.js';
import { FakeEasyPost, fakeEasyPostPrice } from './support/fake-easypost.js';

const EVENT_BODY = readFileSync(
  new URL('./fixtures/easypost_tracker_updated_event.json', import.meta.url),
);
const EVENT_SIGNATURE =
  'hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db';

function address(name: string, region: string, countryCode = 'US'): Address {
  return {
    name,
    line1: '417 Montgomery Street',
    line2: 'Floor 5',
    city: 'San Francisco',
    region,
    postalCode: '94104',
    countryCode,
    phone: '4155550100',
  };
}

const rateRequest: RateRequest = {
  origin: address('Warehouse', 'IL'),
  destination: address('Customer', 'CA'),
  // 1134 g is 40.0007 oz, sent as 40.1 oz; 300 mm is 11.9 in.
  parcel: { weightGrams: 1134, lengthMm: 300, widthMm: 254, heightMm: 100 },
  currencyCode: 'USD',
};

const fake = new FakeEasyPost();
let carrier: EasyPostCarrier;

beforeAll(async () => {
  await fake.start();
  carrier = new EasyPostCarrier({
    apiBaseUrl: fake.url,
    apiKey: fake.apiKey,
    webhookSecret: fake.webhookSecret,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
  });
});

afterAll(() => fake.close());

beforeEach(() => {
  fake.requests.length = 0;
});

async function buyPriority() {
  const rates = await carrier.rates(rateRequest);
  const rate = rates.find((candidate) => candidate.service === 'Priority')!;
  const label = await carrier.buyLabel(
    { ...rateRequest, rate, reference: 'shp-1' },
    'label:shp-1',
  );
  return { rate, label };
}

describe('EasyPost rates', () => {
  it('creates a shipment in ounces and inches', async () => {
    const rates = await carrier.rates(rateRequest);
    const [request] = fake.requests;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe('/v2/shipments');
    expect(request!.headers.authorization).toBe(
      `Basic ${Buffer.from(`${fake.apiKey}:`).toString('base64')}`,
    );
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.body).toEqual({
      shipment: {
        to_address: {
          name: 'Customer',
          street1: '417 Montgomery Street',
          street2: 'Floor 5',
          city: 'San Francisco',
          state: 'CA',
          zip: '94104',
          country: 'US',
          phone: '4155550100',
        },
        from_address: expect.objectContaining({
          name: 'Warehouse',
          state: 'IL',
        }),
        parcel: { weight: 40.1, length: 11.9, width: 10, height: 4 },
        options: { currency: 'USD' },
      },
    });
    const shipmentId = fake.shipment(rates[0]!.carrierShipmentId!)!.id;
    expect(rates).toEqual(
      expect.arrayContaining([
        {
          rateId: expect.stringMatching(/^rate_/),
          carrierShipmentId: shipmentId,
          carrier: 'USPS',
          service: 'Priority',
          serviceCode: 'usps:priority',
          amount: fakeEasyPostPrice('Priority', 40.1),
          currencyCode: 'USD',
          estimatedDays: 2,
        },
      ]),
    );
    expect(rates).toHaveLength(3);
  });

  it('leaves out rates in other currencies', async () => {
    expect(
      await carrier.rates({ ...rateRequest, currencyCode: 'EUR' }),
    ).toEqual([]);
  });

  it('parses amounts and rounds finer fractions up', () => {
    expect(easyPostAmount('7.58', 'USD')).toBe(758);
    expect(easyPostAmount('7.5', 'USD')).toBe(750);
    expect(easyPostAmount('7', 'USD')).toBe(700);
    expect(easyPostAmount('7.581', 'USD')).toBe(759);
    expect(easyPostAmount('7.580', 'USD')).toBe(758);
    expect(easyPostAmount('1200', 'JPY')).toBe(1200);
    expect(() => easyPostAmount('-1', 'USD')).toThrow(CarrierError);
  });
});

describe('EasyPost labels', () => {
  it('buys the chosen rate', async () => {
    const { rate, label } = await buyPriority();
    const shipment = fake.shipment(rate.carrierShipmentId!)!;
    expect(label).toEqual({
      carrier: 'USPS',
      service: 'Priority',
      trackingNumber: shipment.tracking_code,
      trackingUrl: shipment.tracker!.public_url,
      labelUrl: shipment.postage_label!.label_url,
      carrierShipmentId: shipment.id,
      trackerId: shipment.tracker!.id,
      amount: rate.amount,
      currencyCode: 'USD',
    });
    const buy = fake.requests.find((request) => request.path.endsWith('/buy'));
    expect(buy!.body).toEqual({ rate: { id: rate.rateId } });
  });

  it('returns the first label when bought again', async () => {
    const { rate, label } = await buyPriority();
    fake.requests.length = 0;
    const again = await carrier.buyLabel(
      { ...rateRequest, rate, reference: 'shp-1' },
      'label:shp-1',
    );
    expect(again).toEqual(label);
    expect(fake.requests.map((request) => request.method)).toEqual([
      'POST',
      'GET',
    ]);
  });

  it('requires a rate with a shipment id', async () => {
    const [rate] = await carrier.rates(rateRequest);
    await expect(
      carrier.buyLabel(
        {
          ...rateRequest,
          rate: { ...rate!, carrierShipmentId: null },
          reference: 'shp-1',
        },
        'key',
      ),
    ).rejects.toThrow(/has no EasyPost shipment id/);
  });

  it('voids before the first scan only', async () => {
    const first = await buyPriority();
    expect(await carrier.voidLabel(first.label.carrierShipmentId)).toBe(true);
    const second = await buyPriority();
    fake.advanceTracker(second.label.trackingNumber, 'in_transit');
    expect(await carrier.voidLabel(second.label.carrierShipmentId)).toBe(false);
    const refund = fake.requests.at(-1)!;
    expect(refund.path).toBe(
      `/v2/shipments/${second.label.carrierShipmentId}/refund`,
    );
  });

  it('returns false for a shipment without postage', async () => {
    const [rate] = await carrier.rates(rateRequest);
    expect(await carrier.voidLabel(rate!.carrierShipmentId!)).toBe(false);
  });
});

describe('EasyPost tracking', () => {
  it('tracks a parcel as it advances', async () => {
    const { label } = await buyPriority();
    expect(
      (await carrier.track(label.trackingNumber, label.carrier)).status,
    ).toBe('PRE_TRANSIT');
    fake.advanceTracker(label.trackingNumber, 'in_transit', {
      message: 'Arrived at facility',
      city: 'ORLANDO',
      state: 'FL',
      zip: '32809',
      country: 'US',
    });
    fake.advanceTracker(label.trackingNumber, 'available_for_pickup');
    const update = await carrier.track(label.trackingNumber, label.carrier);
    expect(update).toMatchObject({
      trackingNumber: label.trackingNumber,
      carrier: 'USPS',
      status: 'OUT_FOR_DELIVERY',
      carrierStatus: 'available_for_pickup',
      trackingUrl: label.trackingUrl,
    });
    expect(update.details[0]).toMatchObject({
      status: 'IN_TRANSIT',
      carrierStatus: 'in_transit',
      message: 'Arrived at facility',
      location: 'ORLANDO, FL 32809, US',
    });
    const trackers = fake.requests.filter((r) => r.path === '/v2/trackers');
    expect(trackers.at(-1)!.body).toEqual({
      tracker: { tracking_code: label.trackingNumber, carrier: 'USPS' },
    });
    fake.advanceTracker(label.trackingNumber, 'delivered');
    const byId = await carrier.trackById(label.trackerId!);
    expect(byId.status).toBe('DELIVERED');
    expect(fake.requests.at(-1)!.method).toBe('GET');
  });

  it.each([
    ['pre_transit', 'PRE_TRANSIT'],
    ['unknown', 'PRE_TRANSIT'],
    ['in_transit', 'IN_TRANSIT'],
    ['out_for_delivery', 'OUT_FOR_DELIVERY'],
    ['available_for_pickup', 'OUT_FOR_DELIVERY'],
    ['delivered', 'DELIVERED'],
    ['return_to_sender', 'RETURNED'],
    ['failure', 'EXCEPTION'],
    ['cancelled', 'EXCEPTION'],
    ['error', 'EXCEPTION'],
    ['teleported', 'EXCEPTION'],
  ])('maps %s to %s', (easyPostStatus, status) => {
    expect(trackingStatusOf(easyPostStatus)).toBe(status);
  });
});

describe('EasyPost errors and retries', () => {
  it('retries 429 and 500 and then succeeds', async () => {
    fake.failNext(429, 1);
    expect(await carrier.rates(rateRequest)).toHaveLength(3);
    fake.failNext(500, 2);
    expect(await carrier.rates(rateRequest)).toHaveLength(3);
    expect(fake.requests).toHaveLength(5);
  });

  it('gives up after the retries', async () => {
    fake.failNext(503, 10);
    const error = await carrier.rates(rateRequest).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CarrierError);
    expect((error as CarrierError).retryable).toBe(true);
    expect((error as Error).message).toBe(
      'EasyPost rates failed: HTTP 503 INTERNAL_SERVER_ERROR: Try again later',
    );
    expect(fake.requests).toHaveLength(3);
    fake.failNext(503, 0);
  });

  it('does not retry a rejected API key', async () => {
    const wrongKey = 'EZTKwrongkey123';
    const other = new EasyPostCarrier({
      apiBaseUrl: fake.url,
      apiKey: wrongKey,
      webhookSecret: 'x',
      retryBaseDelayMs: 1,
    });
    const error = await other.rates(rateRequest).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CarrierError);
    expect((error as CarrierError).retryable).toBe(false);
    expect((error as Error).message).toContain('HTTP 401 APIKEY.REQUIRED');
    expect((error as Error).message).not.toContain(wrongKey);
    expect(fake.requests).toHaveLength(1);
  });

  it('reports field errors', async () => {
    const error = await carrier
      .track('', 'USPS')
      .catch((e: unknown) => e as Error);
    expect((error as Error).message).toBe(
      'EasyPost track failed: HTTP 422 PARAMETER.REQUIRED: Missing required parameter. (tracking_code: cannot be blank)',
    );
  });
});

describe('EasyPost webhooks', () => {
  const vectorCarrier = new EasyPostCarrier({
    apiBaseUrl: 'http://127.0.0.1:9',
    apiKey: 'EZTKunused',
    webhookSecret: 'sécret',
  });

  it('signs the published test vector', () => {
    expect(easyPostSignature(EVENT_BODY, 'sécret')).toBe(EVENT_SIGNATURE);
    // The composed and decomposed forms of é are one key after NFKD.
    expect(easyPostSignature(EVENT_BODY, 'se\u0301cret')).toBe(EVENT_SIGNATURE);
  });

  it('verifies and normalises the event', () => {
    const event = vectorCarrier.verifyWebhook(EVENT_BODY, {
      'x-hmac-signature': EVENT_SIGNATURE,
    });
    expect(event).toMatchObject({
      eventId: 'evt_1',
      type: 'tracker.updated',
      createdAt: '2024-08-02T19:26:52.000Z',
    });
    expect(event.tracking).toMatchObject({
      trackingNumber: '1',
      carrier: 'FedEx',
      status: 'IN_TRANSIT',
      carrierStatus: 'in_transit',
      updatedAt: '2024-08-02T19:26:51Z',
      trackingUrl: 'https://track.easypost.com/1',
    });
    expect(event.tracking!.details).toHaveLength(7);
    expect(event.tracking!.details[0]).toEqual({
      status: 'PRE_TRANSIT',
      carrierStatus: 'pre_transit',
      message: 'Shipment information sent to FedEx',
      location: '32837, US',
      occurredAt: '2024-07-31T15:00:00Z',
    });
    expect(event.tracking!.details[6]!.location).toBe('EDISON, NJ 08817, US');
  });

  it('rejects a bad signature', () => {
    const tampered = Buffer.from(
      EVENT_BODY.toString('utf8').replace('"in_transit"', '"delivered"'),
    );
    expect(() =>
      vectorCarrier.verifyWebhook(tampered, {
        'x-hmac-signature': EVENT_SIGNATURE,
      }),
    ).toThrow(CarrierWebhookError);
    expect(() =>
      vectorCarrier.verifyWebhook(EVENT_BODY, {
        'x-hmac-signature': easyPostSignature(EVENT_BODY, 'secret'),
      }),
    ).toThrow(/does not match/);
    expect(() =>
      vectorCarrier.verifyWebhook(EVENT_BODY, {
        'x-hmac-signature': 'hmac-sha256-hex=00',
      }),
    ).toThrow(CarrierWebhookError);
  });

  it('rejects a missing signature', () => {
    expect(() => vectorCarrier.verifyWebhook(EVENT_BODY, {})).toThrow(
      /X-Hmac-Signature header is missing/,
    );
  });

  it('accepts events the fake sends', async () => {
    const { label } = await buyPriority();
    fake.advanceTracker(label.trackingNumber, 'out_for_delivery');
    const received: (CarrierEvent | Error)[] = [];
    const server: Server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        try {
          received.push(
            carrier.verifyWebhook(Buffer.concat(chunks), request.headers),
          );
          response.writeHead(200).end();
        } catch (error) {
          received.push(error as Error);
          response.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/easypost`;
      expect(
        (await fake.sendTrackerUpdated(url, label.trackingNumber)).status,
      ).toBe(200);
      expect(
        (
          await fake.sendTrackerUpdated(url, label.trackingNumber, {
            secret: 'other',
          })
        ).status,
      ).toBe(400);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const event = received[0] as CarrierEvent;
    expect(event.type).toBe('tracker.updated');
    expect(event.tracking).toMatchObject({
      trackingNumber: label.trackingNumber,
      status: 'OUT_FOR_DELIVERY',
    });
    expect(received[1]).toBeInstanceOf(CarrierWebhookError);
  });
});

describe('EasyPost configuration', () => {
  it('requires both secrets', () => {
    expect(() => loadConfig({ CARRIER: 'easypost' })).toThrow(
      'EASYPOST_API_KEY, EASYPOST_WEBHOOK_SECRET: required when CARRIER=easypost',
    );
    expect(() =>
      loadConfig({ CARRIER: 'easypost', EASYPOST_API_KEY: 'EZTKkey' }),
    ).toThrow(/EASYPOST_WEBHOOK_SECRET: required when CARRIER=easypost/);
  });

  it('creates the adapter', () => {
    const config = loadConfig({
      CARRIER: 'easypost',
      EASYPOST_API_KEY: 'EZTKkey',
      EASYPOST_WEBHOOK_SECRET: 'secret',
    });
    const created = createCarrier(config);
    expect(created).toBeInstanceOf(EasyPostCarrier);
    expect(created.sendsWebhooks).toBe(true);
  });

  it('creates the sandbox by default', () => {
    const created = createCarrier(loadConfig({}));
    expect(created.name).toBe('sandbox');
  });
});
