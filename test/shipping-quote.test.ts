import { describe, expect, it, vi } from 'vitest';
import {
  CarrierError,
  type Address,
  type Carrier,
} from '../subgraphs/shipments/carriers/carrier.js';
import {
  parcelWeightGrams,
  quoteShipping,
  shippingSettings,
  type QuoteItem,
  type ShippingSettings,
} from '../subgraphs/shipments/carriers/quote.js';
import { SandboxCarrier } from '../subgraphs/shipments/carriers/sandbox.js';
import { loadSandboxRates } from '../subgraphs/shipments/carriers/sandbox-rates.js';
import { loadConfig } from '../platform/config.js';

function address(countryCode: string, region: string | null): Address {
  return {
    name: 'Customer',
    line1: '1 Test Street',
    line2: null,
    city: 'Testville',
    region,
    postalCode: '00000',
    countryCode,
    phone: null,
  };
}

const origin = address('US', 'IL');
const sandbox = new SandboxCarrier({
  rates: loadSandboxRates(undefined),
  labelBaseUrl: 'http://127.0.0.1:4003',
});
const settings: ShippingSettings = {
  flatRate: 500,
  freeOver: 10_000,
  defaultItemWeightGrams: 500,
};

// 2.5 lb is 1133.980925 g; with 300 g the parcel is 1433.980925 g, billed as
// 1434 g, which falls in the default table's 1–2 kg bracket.
const items: QuoteItem[] = [
  {
    sku: 'hoodie',
    quantity: 1,
    weight: { value: '2.5', unit: 'POUNDS' },
    requiresShipping: true,
  },
  {
    sku: 'cap',
    quantity: 1,
    weight: { value: '300', unit: 'GRAMS' },
    requiresShipping: true,
  },
];

function request(destination: Address, subtotalAmount = 4_200) {
  return {
    items,
    origin,
    destination,
    currencyCode: 'USD',
    subtotalAmount,
  };
}

describe('parcelWeightGrams', () => {
  it('sums exactly and rounds up once', () => {
    expect(parcelWeightGrams(items, 500)).toBe(1434);
  });

  it('multiplies by quantity before rounding', () => {
    // 3 × 1 oz = 85.048569375 g → 86 g (rounding each item would give 87).
    const ounces: QuoteItem[] = [
      {
        sku: 'sticker',
        quantity: 3,
        weight: { value: '1', unit: 'OUNCES' },
        requiresShipping: true,
      },
    ];
    expect(parcelWeightGrams(ounces, 500)).toBe(86);
  });

  it('counts the default weight for items without one', () => {
    const unknown: QuoteItem[] = [
      { sku: 'mystery', quantity: 2, weight: null, requiresShipping: true },
    ];
    expect(parcelWeightGrams(unknown, 500)).toBe(1000);
    expect(parcelWeightGrams(unknown, 750)).toBe(1500);
  });

  it('ignores items that do not ship', () => {
    const mixed: QuoteItem[] = [
      ...items,
      {
        sku: 'ebook',
        quantity: 1,
        weight: { value: '9', unit: 'KILOGRAMS' },
        requiresShipping: false,
      },
    ];
    expect(parcelWeightGrams(mixed, 500)).toBe(1434);
  });

  it('returns null when nothing ships', () => {
    const digital: QuoteItem[] = [
      { sku: 'ebook', quantity: 1, weight: null, requiresShipping: false },
    ];
    expect(parcelWeightGrams(digital, 500)).toBeNull();
  });

  it('bills a weightless parcel as 1 g', () => {
    const weightless: QuoteItem[] = [
      {
        sku: 'card',
        quantity: 1,
        weight: { value: '0', unit: 'GRAMS' },
        requiresShipping: true,
      },
    ];
    expect(parcelWeightGrams(weightless, 500)).toBe(1);
  });
});

describe('quoteShipping', () => {
  it('prices zone B from the rate table', async () => {
    // Illinois to New York: same country, other region, zone B.
    // Default table, zone B, 1001–2000 g: Ground 11.95, Express 23.95.
    const methods = await quoteShipping(
      request(address('US', 'NY')),
      [sandbox],
      settings,
    );
    expect(methods).toEqual([
      {
        code: 'flat',
        carrier: 'Flat rate',
        service: 'Standard',
        amount: 500,
        currencyCode: 'USD',
        estimatedDays: null,
        rateId: 'flat',
        carrierShipmentId: null,
      },
      {
        code: 'sandbox:ground',
        carrier: 'Sandbox Post',
        service: 'Ground',
        amount: 1195,
        currencyCode: 'USD',
        estimatedDays: 4,
        rateId: 'sandbox:zone-b:ground',
        carrierShipmentId: null,
      },
      {
        code: 'sandbox:express',
        carrier: 'Sandbox Post',
        service: 'Express',
        amount: 2395,
        currencyCode: 'USD',
        estimatedDays: 2,
        rateId: 'sandbox:zone-b:express',
        carrierShipmentId: null,
      },
    ]);
  });

  it('prices zone D from the rate table', async () => {
    // US to Japan: no shared country group, zone D, 1001–2000 g:
    // Ground 44.95, Express 74.95.
    const methods = await quoteShipping(
      request(address('JP', null)),
      [sandbox],
      { ...settings, flatRate: null },
    );
    expect(
      methods.map((method) => [method.code, method.amount, method.rateId]),
    ).toEqual([
      ['sandbox:ground', 4495, 'sandbox:zone-d:ground'],
      ['sandbox:express', 7495, 'sandbox:zone-d:express'],
    ]);
    expect(methods.map((method) => method.estimatedDays)).toEqual([12, 5]);
  });

  it('keeps method codes stable across zones', async () => {
    const local = await quoteShipping(
      request(address('US', 'il')),
      [sandbox],
      settings,
    );
    const abroad = await quoteShipping(
      request(address('CA', 'ON')),
      [sandbox],
      settings,
    );
    expect(local.map((method) => method.code).sort()).toEqual(
      abroad.map((method) => method.code).sort(),
    );
    // Zone A (Illinois, any case) and zone C (Canada, North America group).
    expect(local.find((m) => m.code === 'sandbox:ground')!.amount).toBe(895);
    expect(abroad.find((m) => m.code === 'sandbox:ground')!.amount).toBe(2695);
  });

  it('charges per started kg above the last bracket', async () => {
    // 7.2 kg in zone A: 12.95 for 5 kg plus 3 started kg × 1.50.
    const heavy: QuoteItem[] = [
      {
        sku: 'anvil',
        quantity: 1,
        weight: { value: '7.2', unit: 'KILOGRAMS' },
        requiresShipping: true,
      },
    ];
    const methods = await quoteShipping(
      { ...request(address('US', 'IL')), items: heavy },
      [sandbox],
      settings,
    );
    expect(methods.find((m) => m.code === 'sandbox:ground')!.amount).toBe(1745);
  });

  it('makes the cheapest method free over the threshold', async () => {
    const methods = await quoteShipping(
      request(address('US', 'NY'), 10_000),
      [sandbox],
      settings,
    );
    expect(methods.map((method) => [method.code, method.amount])).toEqual([
      ['flat', 0],
      ['sandbox:ground', 1195],
      ['sandbox:express', 2395],
    ]);
  });

  it('makes the cheapest carrier rate free without a flat rate', async () => {
    const methods = await quoteShipping(
      request(address('US', 'NY'), 10_000),
      [sandbox],
      { ...settings, flatRate: null },
    );
    expect(methods.map((method) => [method.code, method.amount])).toEqual([
      ['sandbox:ground', 0],
      ['sandbox:express', 2395],
    ]);
  });

  it('charges below the threshold', async () => {
    const methods = await quoteShipping(
      request(address('US', 'NY'), 9_999),
      [sandbox],
      settings,
    );
    expect(methods[0]).toMatchObject({ code: 'flat', amount: 500 });
  });

  it('returns no methods for digital-only items', async () => {
    const rates = vi.spyOn(sandbox, 'rates');
    const methods = await quoteShipping(
      {
        ...request(address('US', 'NY')),
        items: [
          { sku: 'ebook', quantity: 1, weight: null, requiresShipping: false },
        ],
      },
      [sandbox],
      settings,
    );
    expect(methods).toEqual([]);
    expect(rates).not.toHaveBeenCalled();
    rates.mockRestore();
  });

  it('prices unknown weights at the default', async () => {
    const unknown: QuoteItem[] = [
      { sku: 'mystery', quantity: 1, weight: null, requiresShipping: true },
    ];
    const defaultWeight = await quoteShipping(
      { ...request(address('US', 'NY')), items: unknown },
      [sandbox],
      settings,
    );
    // 500 g: zone B ground, first bracket.
    expect(defaultWeight.find((m) => m.code === 'sandbox:ground')!.amount).toBe(
      695,
    );
    const heavierDefault = await quoteShipping(
      { ...request(address('US', 'NY')), items: unknown },
      [sandbox],
      { ...settings, defaultItemWeightGrams: 1200 },
    );
    expect(
      heavierDefault.find((m) => m.code === 'sandbox:ground')!.amount,
    ).toBe(1195);
  });

  it('leaves out a failing carrier while others remain', async () => {
    const failing: Carrier = {
      ...sandbox,
      name: 'broken',
      sendsWebhooks: false,
      rates: () => Promise.reject(new CarrierError('down', true)),
      buyLabel: sandbox.buyLabel.bind(sandbox),
      voidLabel: sandbox.voidLabel.bind(sandbox),
      track: sandbox.track.bind(sandbox),
      verifyWebhook: sandbox.verifyWebhook.bind(sandbox),
    };
    const reported: string[] = [];
    const methods = await quoteShipping(
      request(address('US', 'NY')),
      [failing, sandbox],
      { ...settings, onCarrierError: (name) => reported.push(name) },
    );
    expect(methods.map((method) => method.code)).toContain('sandbox:ground');
    expect(reported).toEqual(['broken']);
    await expect(
      quoteShipping(request(address('US', 'NY')), [failing], {
        ...settings,
        flatRate: null,
      }),
    ).rejects.toThrow('down');
  });
});

describe('shippingSettings', () => {
  it('parses the configured amounts in minor units', () => {
    const config = loadConfig({
      SHIPPING_FLAT_RATE: '4.99',
      SHIPPING_FREE_OVER: '100',
      SHIPPING_DEFAULT_ITEM_WEIGHT_GRAMS: '750',
    });
    expect(shippingSettings(config)).toEqual({
      flatRate: 499,
      freeOver: 10_000,
      defaultItemWeightGrams: 750,
    });
  });

  it('defaults to 500 g and no free shipping', () => {
    expect(shippingSettings(loadConfig({}))).toEqual({
      flatRate: 500,
      freeOver: null,
      defaultItemWeightGrams: 500,
    });
  });

  it('rejects more decimals than the currency has', () => {
    const config = loadConfig({
      SHOP_CURRENCY: 'JPY',
      SHIPPING_FLAT_RATE: '5.5',
    });
    expect(() => shippingSettings(config)).toThrow(/SHIPPING_FLAT_RATE/);
  });
});
