/**
 * Exact conversion of the catalog's weights and lengths to the units
 * carriers bill in. The catalog stores a weight or length as a decimal
 * string with a unit (schema/catalog.graphql `Weight`, `Dimensions`). Every
 * factor here is a power-of-ten fraction, so a value is kept as an integer
 * count of 10^-scale grams (or millimetres) in BigInt and never passes
 * through floating point.
 *
 * Carriers bill every started unit, so results round up.
 */

export type WeightUnit = 'GRAMS' | 'KILOGRAMS' | 'POUNDS' | 'OUNCES';
export type LengthUnit = 'CENTIMETERS' | 'INCHES';

export interface Weight {
  /** Decimal string such as "2.5", as the catalog stores it. */
  value: string;
  unit: WeightUnit;
}

/** `units / 10^scale`, exactly. */
export interface ScaledDecimal {
  units: bigint;
  scale: number;
}

/**
 * Grams per unit as a scaled decimal. 1 lb = 0.45359237 kg and
 * 1 oz = 1/16 lb = 28.349523125 g exactly (the international avoirdupois
 * pound of 1959).
 */
const GRAMS_PER_UNIT: Record<WeightUnit, ScaledDecimal> = {
  GRAMS: { units: 1n, scale: 0 },
  KILOGRAMS: { units: 1000n, scale: 0 },
  POUNDS: { units: 45_359_237n, scale: 5 },
  OUNCES: { units: 28_349_523_125n, scale: 9 },
};

/** Millimetres per unit; 1 in = 25.4 mm exactly. */
const MILLIMETRES_PER_UNIT: Record<LengthUnit, ScaledDecimal> = {
  CENTIMETERS: { units: 10n, scale: 0 },
  INCHES: { units: 254n, scale: 1 },
};

/** Raised for a value that is not a non-negative decimal or has no known unit. */
export class UnitConversionError extends Error {}

/**
 * Parses a non-negative decimal string such as "2.5", "0.75" or "12" into
 * a scaled decimal. Rejects signs, exponents and empty strings.
 */
export function parseDecimal(text: string): ScaledDecimal {
  const match = /^(\d+)(?:\.(\d+))?$|^\.(\d+)$/.exec(text.trim());
  if (!match) {
    throw new UnitConversionError(
      `"${text}" is not a non-negative decimal such as 2.5`,
    );
  }
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? match[3] ?? '';
  return { units: BigInt(whole + fraction), scale: fraction.length };
}

/** Multiplies two scaled decimals exactly. */
export function multiplyScaled(
  a: ScaledDecimal,
  b: ScaledDecimal,
): ScaledDecimal {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

/** Adds two scaled decimals exactly, at the finer of the two scales. */
export function addScaled(a: ScaledDecimal, b: ScaledDecimal): ScaledDecimal {
  const scale = Math.max(a.scale, b.scale);
  return {
    units:
      a.units * 10n ** BigInt(scale - a.scale) +
      b.units * 10n ** BigInt(scale - b.scale),
    scale,
  };
}

/** Rounds a non-negative scaled decimal up to a whole number. */
export function ceilScaled(value: ScaledDecimal): bigint {
  const divisor = 10n ** BigInt(value.scale);
  return (value.units + divisor - 1n) / divisor;
}

/** Converts a bigint result to a number, rejecting values beyond 2^53. */
function toSafeNumber(value: bigint, text: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UnitConversionError(`"${text}" is too large`);
  }
  return Number(value);
}

/** Returns the weight in grams, exactly, as a scaled decimal. */
export function weightToExactGrams(weight: Weight): ScaledDecimal {
  const factor = GRAMS_PER_UNIT[weight.unit];
  if (factor === undefined) {
    throw new UnitConversionError(
      `"${String(weight.unit)}" is not a weight unit; use GRAMS, KILOGRAMS, POUNDS or OUNCES`,
    );
  }
  return multiplyScaled(parseDecimal(weight.value), factor);
}

/** Converts a catalog weight to whole grams, rounded up: 2.5 lb → 1134. */
export function weightToGrams(weight: Weight): number {
  return toSafeNumber(ceilScaled(weightToExactGrams(weight)), weight.value);
}

/** Converts a catalog length to whole millimetres, rounded up: 2.5 in → 64. */
export function lengthToMillimetres(value: string, unit: LengthUnit): number {
  const factor = MILLIMETRES_PER_UNIT[unit];
  if (factor === undefined) {
    throw new UnitConversionError(
      `"${String(unit)}" is not a length unit; use CENTIMETERS or INCHES`,
    );
  }
  return toSafeNumber(
    ceilScaled(multiplyScaled(parseDecimal(value), factor)),
    value,
  );
}

/**
 * Converts whole grams to ounces with `decimals` places, rounded up, as a
 * decimal string: 1134 g → "40.1" (40.0007... oz).
 */
export function gramsToOunces(grams: number, decimals = 1): string {
  // oz = g / 28.349523125 = g × 10^9 / 28349523125.
  return divideRoundingUp(
    BigInt(grams) * 10n ** 9n,
    GRAMS_PER_UNIT.OUNCES.units,
    decimals,
  );
}

/**
 * Converts whole millimetres to inches with `decimals` places, rounded up,
 * as a decimal string: 300 mm → "11.9" (11.811... in).
 */
export function millimetresToInches(millimetres: number, decimals = 1): string {
  // in = mm / 25.4 = mm × 10 / 254.
  return divideRoundingUp(BigInt(millimetres) * 10n, 254n, decimals);
}

/** `numerator / denominator` rounded up to `decimals` places, as a string. */
function divideRoundingUp(
  numerator: bigint,
  denominator: bigint,
  decimals: number,
): string {
  if (numerator < 0n) {
    throw new UnitConversionError('a weight or length cannot be negative');
  }
  const scaled = numerator * 10n ** BigInt(decimals);
  const quotient = (scaled + denominator - 1n) / denominator;
  if (decimals === 0) return quotient.toString();
  const text = quotient.toString().padStart(decimals + 1, '0');
  return `${text.slice(0, -decimals)}.${text.slice(-decimals)}`;
}
