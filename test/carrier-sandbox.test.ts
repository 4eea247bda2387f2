import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Address } from '../subgraphs/shipments/carriers/carrier.js';
import { createCarrier } from '../subgraphs/shipments/carriers/index.js';
import {
  isSandboxTrackingNumber,
  luhnCheckDigit,
  SandboxCarrier,
  sandboxZone,
} from '../subgraphs/shipments/carriers/sandbox.js';
import { renderSandboxLabelPdf } from '../subgraphs/shipments/carriers/sandbox-label.js';
import {
  DEFAULT_SANDBOX_RATES,
  loadSandboxRates,
} from '../subgraphs/shipments/carriers/sandbox-rates.js';
import { loadConfig } from '../platform/config.js';

function address(countryCode: string, region: string | null): Address {
  return {
    name: 'Zoë Müller',
    line1: '5 Rue (Haute)',
    line2: null,
    city: 'Lyon',
    region,
    postalCode: '69001',
    countryCode,
    phone: null,
  };
}

const origin = address('US', 'IL');
const labelTime = new Date('2025-03-01T10:00:00Z');

function carrier(now = labelTime) {
  return new SandboxCarrier({
    rates: loadSandboxRates(undefined),
    labelBaseUrl: 'http://127.0.0.1:4003/',
    trackingUrlBase: 'https://shop.example.com/tracking',
    now: () => now,
  });
}

function rateRequest(destination: Address, weightGrams = 1434) {
  return {
    origin,
    destination,
    parcel: { weightGrams, lengthMm: null, widthMm: null, heightMm: null },
    currencyCode: 'USD',
  };
}

describe('sandboxZone', () => {
  const groups = [['US', 'CA', 'MX']];
  it.each<[Address, string]>([
    [address('US', 'IL'), 'A'],
    [address('US', ' il '), 'A'],
    [address('US', 'NY'), 'B'],
    [address('US', null), 'B'],
    [address('CA', 'ON'), 'C'],
    [address('FR', null), 'D'],
  ])('%j is zone %s', (destination, zone) => {
    expect(sandboxZone(origin, destination, groups)).toBe(zone);
  });
});

describe('sandbox rates', () => {
  it('offers each service of the zone', async () => {
    const rates = await carrier().rates(rateRequest(address('FR', null)));
    expect(rates).toEqual([
      {
        rateId: 'sandbox:zone-d:ground',
        carrierShipmentId: null,
        carrier: 'Sandbox Post',
        service: 'Ground',
        serviceCode: 'ground',
        amount: 4495,
        currencyCode: 'USD',
        estimatedDays: 12,
      },
      {
        rateId: 'sandbox:zone-d:express',
        carrierShipmentId: null,
        carrier: 'Sandbox Post',
        service: 'Express',
        serviceCode: 'express',
        amount: 7495,
        currencyCode: 'USD',
        estimatedDays: 5,
      },
    ]);
  });

  it('prices bracket edges', async () => {
    const sandbox = carrier();
    const ground = async (grams: number) =>
      (await sandbox.rates(rateRequest(address('US', 'IL'), grams)))[0]!.amount;
    expect(await ground(1)).toBe(495);
    expect(await ground(500)).toBe(495);
    expect(await ground(501)).toBe(695);
    expect(await ground(5000)).toBe(1295);
    expect(await ground(5001)).toBe(1445);
    expect(await ground(6000)).toBe(1445);
    expect(await ground(6001)).toBe(1595);
  });

  it('rejects a parcel without weight', async () => {
    await expect(
      carrier().rates(rateRequest(address('US', 'IL'), 0)),
    ).rejects.toThrow(/at least 1/);
  });
});

describe('sandbox rate file', () => {
  const folder = mkdtempSync(join(tmpdir(), 'sandbox-rates-'));

  it('replaces the default table', async () => {
    const path = join(folder, 'rates.json');
    writeFileSync(
      path,
      JSON.stringify({
        carrierName: 'Local Courier',
        currencyCode: 'EUR',
        services: [
          {
            code: 'bike',
            name: 'Bike',
            zones: {
              A: {
                brackets: [{ maxGrams: 3000, amount: 700 }],
                perKgAbove: 100,
                estimatedDays: 0,
              },
            },
          },
        ],
      }),
    );
    const sandbox = createCarrier(
      loadConfig({ SANDBOX_CARRIER_RATES_FILE: path }),
    );
    const local = {
      ...rateRequest(address('US', 'IL'), 3500),
      currencyCode: 'EUR',
    };
    expect(await sandbox.rates(local)).toEqual([
      expect.objectContaining({ rateId: 'sandbox:zone-a:bike', amount: 800 }),
    ]);
    expect(
      await sandbox.rates({ ...local, destination: address('US', 'NY') }),
    ).toEqual([]);
    expect(await sandbox.rates({ ...local, currencyCode: 'USD' })).toEqual([]);
  });

  it('names every invalid field', () => {
    const path = join(folder, 'invalid.json');
    writeFileSync(
      path,
      JSON.stringify({
        countryGroups: [['usa']],
        services: [
          {
            code: 'Ground',
            name: 'Ground',
            zones: {
              A: {
                brackets: [
                  { maxGrams: 1000, amount: 100 },
                  { maxGrams: 500, amount: 150 },
                ],
                perKgAbove: 10,
                estimatedDays: 1,
              },
              B: {
                brackets: [{ maxGrams: 1000, amount: 1.5 }],
                perKgAbove: 10,
                estimatedDays: 1,
              },
            },
          },
        ],
      }),
    );
    let message = '';
    try {
      loadSandboxRates(path);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(`SANDBOX_CARRIER_RATES_FILE ${path}`);
    expect(message).toContain('countryGroups.0.0');
    expect(message).toContain('services.0.code');
    expect(message).toContain('services.0.zones.B.brackets.0.amount');
    expect(message).toContain('services.0.zones.A.brackets.1.maxGrams');
  });

  it('reports a missing file and bad JSON', () => {
    expect(() => loadSandboxRates(join(folder, 'missing.json'))).toThrow(
      /cannot read .*missing\.json \(ENOENT\)/,
    );
    const path = join(folder, 'broken.json');
    writeFileSync(path, '{ services: ');
    expect(() => loadSandboxRates(path)).toThrow(/is not valid JSON/);
  });

  it('validates the default table', () => {
    expect(() => loadSandboxRates(undefined)).not.toThrow();
    expect(DEFAULT_SANDBOX_RATES.services).toHaveLength(2);
  });
});

describe('sandbox labels', () => {
  const destination = address('US', 'NY');

  async function buy(key: string) {
    const sandbox = carrier();
    const [rate] = await sandbox.rates(rateRequest(destination));
    return sandbox.buyLabel(
      { ...rateRequest(destination), rate: rate!, reference: 'shp-1' },
      key,
    );
  }

  it('derives the label from the key', async () => {
    const first = await buy('label:shp-1');
    const again = await buy('label:shp-1');
    const other = await buy('label:shp-2');
    expect(again).toEqual(first);
    expect(other.trackingNumber).not.toBe(first.trackingNumber);
    expect(other.carrierShipmentId).not.toBe(first.carrierShipmentId);
    expect(first).toMatchObject({
      carrier: 'Sandbox Post',
      service: 'Ground',
      amount: 1195,
      currencyCode: 'USD',
      trackerId: null,
    });
    expect(isSandboxTrackingNumber(first.trackingNumber)).toBe(true);
    expect(first.labelUrl).toBe(
      `http://127.0.0.1:4003/labels/${first.carrierShipmentId}.pdf`,
    );
    expect(first.trackingUrl).toBe(
      `https://shop.example.com/tracking/${first.trackingNumber}`,
    );
  });

  it('rejects a rate of another zone', async () => {
    const sandbox = carrier();
    const [rate] = await sandbox.rates(rateRequest(address('FR', null)));
    await expect(
      sandbox.buyLabel(
        { ...rateRequest(destination), rate: rate!, reference: 'shp-1' },
        'key',
      ),
    ).rejects.toThrow(/not offered/);
  });

  it('checks the tracking number digit', () => {
    expect(luhnCheckDigit('7992739871')).toBe(3);
    expect(isSandboxTrackingNumber('SBX123')).toBe(false);
    const digits = '12345678901';
    const valid = `SBX${digits}${luhnCheckDigit(digits)}`;
    expect(isSandboxTrackingNumber(valid)).toBe(true);
    const typo = `SBX${digits}${(luhnCheckDigit(digits) + 1) % 10}`;
    expect(isSandboxTrackingNumber(typo)).toBe(false);
  });

  it('voids only before the simulated pickup', async () => {
    const label = await buy('label:void');
    const at = (seconds: number) =>
      carrier(new Date(labelTime.getTime() + seconds * 1000));
    expect(await at(119).voidLabel(label.carrierShipmentId, labelTime)).toBe(
      true,
    );
    expect(await at(120).voidLabel(label.carrierShipmentId, labelTime)).toBe(
      false,
    );
    await expect(carrier().voidLabel('shp_other')).rejects.toThrow(
      /not a sandbox shipment id/,
    );
  });

  it('renders a valid PDF', () => {
    const pdf = renderSandboxLabelPdf({
      trackingNumber: 'SBX123456789015',
      carrier: 'Sandbox Post',
      service: 'Ground',
      reference: 'shp-1',
      from: origin,
      to: address('FR', null),
    });
    const text = pdf.toString('latin1');
    expect(text.startsWith('%PDF-1.4\n')).toBe(true);
    expect(text.endsWith('%%EOF\n')).toBe(true);
    expect(text).toContain('(Tracking SBX123456789015) Tj');
    // Accents are dropped and parentheses escaped.
    expect(text).toContain('(Zoe Muller) Tj');
    expect(text).toContain('(5 Rue \\(Haute\\)) Tj');
    // startxref points at the xref table, whose entries point at objects.
    const startxref = Number(/startxref\n(\d+)\n/.exec(text)![1]);
    expect(text.slice(startxref, startxref + 4)).toBe('xref');
    const entries = text
      .slice(startxref)
      .split('\n')
      .slice(3, 8)
      .map((line) => Number(line.slice(0, 10)));
    entries.forEach((offset, index) => {
      expect(text.slice(offset, offset + 7)).toBe(`${index + 1} 0 obj`);
    });
    const length = Number(/\/Length (\d+)/.exec(text)![1]);
    const streamStart = text.indexOf('stream\n') + 'stream\n'.length;
    expect(text.slice(streamStart + length, streamStart + length + 10)).toBe(
      '\nendstream',
    );
  });
});

describe('sandbox tracking', () => {
  const trackingNumber = `SBX12345678901${luhnCheckDigit('12345678901')}`;
  const at = (seconds: number) =>
    carrier(new Date(labelTime.getTime() + seconds * 1000));

  it.each<[number, string, number]>([
    [0, 'PRE_TRANSIT', 1],
    [119, 'PRE_TRANSIT', 1],
    [120, 'IN_TRANSIT', 2],
    [300, 'OUT_FOR_DELIVERY', 3],
    [599, 'OUT_FOR_DELIVERY', 3],
    [600, 'DELIVERED', 4],
    [86_400, 'DELIVERED', 4],
  ])('after %i s is %s', async (seconds, status, detailCount) => {
    const update = await at(seconds).track(
      trackingNumber,
      'Sandbox Post',
      labelTime.toISOString(),
    );
    expect(update.status).toBe(status);
    expect(update.details).toHaveLength(detailCount);
    expect(update.updatedAt).toBe(
      update.details[update.details.length - 1]!.occurredAt,
    );
  });

  it('reports each step at its time', async () => {
    const update = await at(1000).track(trackingNumber, 'x', labelTime);
    expect(
      update.details.map((detail) => [detail.carrierStatus, detail.occurredAt]),
    ).toEqual([
      ['pre_transit', '2025-03-01T10:00:00.000Z'],
      ['in_transit', '2025-03-01T10:02:00.000Z'],
      ['out_for_delivery', '2025-03-01T10:05:00.000Z'],
      ['delivered', '2025-03-01T10:10:00.000Z'],
    ]);
  });

  it('stays pre-transit without the label time', async () => {
    const update = await at(1000).track(trackingNumber, 'x');
    expect(update.status).toBe('PRE_TRANSIT');
  });

  it('rejects other tracking numbers', async () => {
    await expect(carrier().track('1Z999', 'UPS', labelTime)).rejects.toThrow(
      /not a sandbox tracking number/,
    );
  });

  it('sends no webhooks', () => {
    const sandbox = carrier();
    expect(sandbox.sendsWebhooks).toBe(false);
    expect(() => sandbox.verifyWebhook()).toThrow(/no webhooks/);
  });
});
