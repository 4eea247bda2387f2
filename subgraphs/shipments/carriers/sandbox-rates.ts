/**
 * Rate tables of the sandbox carrier: zones, services, weight brackets and
 * the simulated tracking timeline. DEFAULT_SANDBOX_RATES is used unless
 * SANDBOX_CARRIER_RATES_FILE names a JSON file of the same shape, which
 * replaces it whole. docs/shipping.md describes the format with an example.
 */

import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const ZONES = ['A', 'B', 'C', 'D'] as const;
export type Zone = (typeof ZONES)[number];

const countryCode = z
  .string()
  .regex(/^[A-Z]{2}$/, 'use an ISO 3166-1 alpha-2 code such as US');
const minorAmount = z.number().int().min(0).max(100_000_000);

const bracketSchema = z.object({
  /** Heaviest parcel of the bracket, in grams. */
  maxGrams: z.number().int().min(1),
  /** Price of a parcel in the bracket, in minor units of the shop currency. */
  amount: minorAmount,
});

const zoneRateSchema = z
  .object({
    /** Brackets by increasing maxGrams. */
    brackets: z.array(bracketSchema).min(1),
    /** Added per started kilogram above the last bracket, in minor units. */
    perKgAbove: minorAmount,
    /** Business days to delivery. */
    estimatedDays: z.number().int().min(0).max(365),
  })
  .superRefine((zone, context) => {
    for (let index = 1; index < zone.brackets.length; index += 1) {
      if (
        zone.brackets[index]!.maxGrams <= zone.brackets[index - 1]!.maxGrams
      ) {
        context.addIssue({
          code: 'custom',
          path: ['brackets', index, 'maxGrams'],
          message: `must be greater than the previous bracket's ${zone.brackets[index - 1]!.maxGrams}`,
        });
      }
    }
  });

const serviceSchema = z.object({
  /** Stable code, part of the rate id and of checkout method codes. */
  code: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'use lower-case letters, digits and -'),
  /** Name shown to customers, such as "Express". */
  name: z.string().min(1).max(80),
  /** Rates per zone; a zone left out means the service does not go there. */
  zones: z.partialRecord(z.enum(ZONES), zoneRateSchema),
});

export const sandboxRatesSchema = z
  .object({
    /** Carrier name shown to customers. */
    carrierName: z.string().min(1).max(80).default('Sandbox Post'),
    /**
     * Currency of the amounts. Unset: the amounts are minor units of
     * whatever currency the shop uses. Set: no rates for other currencies.
     */
    currencyCode: z
      .string()
      .regex(/^[A-Z]{3}$/, 'use an ISO 4217 code such as USD')
      .optional(),
    /**
     * Groups of countries that are zone C to each other, such as North
     * America or the European Economic Area.
     */
    countryGroups: z.array(z.array(countryCode).min(1)).default([]),
    services: z.array(serviceSchema).min(1),
    /** Seconds after the label until each simulated tracking step. */
    tracking: z
      .object({
        inTransitAfterSeconds: z.number().int().min(0),
        outForDeliveryAfterSeconds: z.number().int().min(0),
        deliveredAfterSeconds: z.number().int().min(0),
      })
      .refine(
        (steps) =>
          steps.inTransitAfterSeconds <= steps.outForDeliveryAfterSeconds &&
          steps.outForDeliveryAfterSeconds <= steps.deliveredAfterSeconds,
        'the steps must not go back in time: inTransitAfterSeconds <= outForDeliveryAfterSeconds <= deliveredAfterSeconds',
      )
      .default({
        inTransitAfterSeconds: 120,
        outForDeliveryAfterSeconds: 300,
        deliveredAfterSeconds: 600,
      }),
  })
  .superRefine((rates, context) => {
    const seen = new Set<string>();
    rates.services.forEach((service, index) => {
      if (seen.has(service.code)) {
        context.addIssue({
          code: 'custom',
          path: ['services', index, 'code'],
          message: `"${service.code}" is used by another service`,
        });
      }
      seen.add(service.code);
    });
  });

export type SandboxRates = z.output<typeof sandboxRatesSchema>;
export type SandboxRatesInput = z.input<typeof sandboxRatesSchema>;
export type SandboxZoneRate = z.output<typeof zoneRateSchema>;

/** Brackets shared by the default services: 0.5, 1, 2 and 5 kg. */
function brackets(amounts: [number, number, number, number]) {
  return [
    { maxGrams: 500, amount: amounts[0] },
    { maxGrams: 1000, amount: amounts[1] },
    { maxGrams: 2000, amount: amounts[2] },
    { maxGrams: 5000, amount: amounts[3] },
  ];
}

/**
 * The sandbox's default tables, in minor units of the shop currency
 * (cents for USD). Zone A is the origin's own region, B the rest of its
 * country, C its country group, D the rest of the world.
 */
export const DEFAULT_SANDBOX_RATES: SandboxRatesInput = {
  carrierName: 'Sandbox Post',
  countryGroups: [
    ['US', 'CA', 'MX'],
    // The European Economic Area, Switzerland and the United Kingdom.
    // prettier-ignore
    ['AT', 'BE', 'BG', 'CH', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR',
     'GB', 'GR', 'HR', 'HU', 'IE', 'IS', 'IT', 'LI', 'LT', 'LU', 'LV', 'MT',
     'NL', 'NO', 'PL', 'PT', 'RO', 'SE', 'SI', 'SK'],
  ],
  services: [
    {
      code: 'ground',
      name: 'Ground',
      zones: {
        A: {
          brackets: brackets([495, 695, 895, 1295]),
          perKgAbove: 150,
          estimatedDays: 2,
        },
        B: {
          brackets: brackets([695, 895, 1195, 1695]),
          perKgAbove: 250,
          estimatedDays: 4,
        },
        C: {
          brackets: brackets([1495, 1995, 2695, 3995]),
          perKgAbove: 600,
          estimatedDays: 7,
        },
        D: {
          brackets: brackets([2495, 3295, 4495, 6995]),
          perKgAbove: 1000,
          estimatedDays: 12,
        },
      },
    },
    {
      code: 'express',
      name: 'Express',
      zones: {
        A: {
          brackets: brackets([995, 1295, 1595, 2195]),
          perKgAbove: 300,
          estimatedDays: 1,
        },
        B: {
          brackets: brackets([1495, 1895, 2395, 3295]),
          perKgAbove: 450,
          estimatedDays: 2,
        },
        C: {
          brackets: brackets([2995, 3695, 4795, 6995]),
          perKgAbove: 1000,
          estimatedDays: 3,
        },
        D: {
          brackets: brackets([4495, 5695, 7495, 11995]),
          perKgAbove: 1800,
          estimatedDays: 5,
        },
      },
    },
  ],
};

/**
 * Validates a rate table and returns it with defaults applied. Throws an
 * error that lists every invalid field with its path, prefixed by `source`.
 */
export function parseSandboxRates(
  value: unknown,
  source: string,
): SandboxRates {
  const parsed = sandboxRatesSchema.safeParse(value);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) =>
        `  ${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`,
    );
    throw new Error(
      `Invalid sandbox carrier rates in ${source}:\n${lines.join('\n')}`,
    );
  }
  return parsed.data;
}

/**
 * Reads and validates the rate file at `path`, or returns the defaults when
 * `path` is undefined. Throws with the path and the reason when the file
 * cannot be read, is not JSON or does not match the format.
 */
export function loadSandboxRates(path: string | undefined): SandboxRates {
  if (path === undefined) {
    return parseSandboxRates(DEFAULT_SANDBOX_RATES, 'the default table');
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'read failed';
    throw new Error(
      `SANDBOX_CARRIER_RATES_FILE: cannot read ${path} (${code}); set it to a readable JSON rate file or unset it for the default table`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(
      `SANDBOX_CARRIER_RATES_FILE: ${path} is not valid JSON (${(error as Error).message})`,
    );
  }
  return parseSandboxRates(value, `SANDBOX_CARRIER_RATES_FILE ${path}`);
}

/**
 * Returns the price of a parcel in one zone: the amount of the first bracket
 * whose maxGrams it does not exceed, or above the last bracket, the last
 * bracket's amount plus perKgAbove per started kilogram over it.
 */
export function bracketPrice(
  zone: SandboxZoneRate,
  weightGrams: number,
): number {
  for (const bracket of zone.brackets) {
    if (weightGrams <= bracket.maxGrams) return bracket.amount;
  }
  const last = zone.brackets[zone.brackets.length - 1]!;
  const startedKg = Math.ceil((weightGrams - last.maxGrams) / 1000);
  return last.amount + startedKg * zone.perKgAbove;
}
