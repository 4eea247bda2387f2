/**
 * Exact decimal arithmetic for weights and dimensions, which are stored in
 * `numeric(12, 4)` columns. Values never pass through floating point, so a
 * re-import compares the same text PostgreSQL returns ("1.5000").
 */

/** A decimal number: `units / 10^scale`. */
export interface ExactDecimal {
  units: bigint;
  scale: number;
}

/** Digits after the point in the catalog's numeric columns. */
export const STORED_SCALE = 4;
/** Digits before the point that `numeric(12, 4)` can hold. */
const STORED_INTEGER_DIGITS = 8;

/**
 * Parses a plain decimal such as "12", "-1.25" or ".5". Returns null for
 * anything else, including exponents and thousands separators.
 */
export function parseExactDecimal(text: string): ExactDecimal | null {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!match) return null;
  const whole = match[2] ?? '';
  const fraction = match[3] ?? '';
  if (whole === '' && fraction === '') return null;
  const units = BigInt(
    `${match[1] === '-' ? '-' : ''}${whole || '0'}${fraction}`,
  );
  return { units, scale: fraction.length };
}

/** Multiplies by `10^exponent`; a negative exponent divides without loss. */
export function shiftDecimal(
  value: ExactDecimal,
  exponent: number,
): ExactDecimal {
  if (exponent >= 0) {
    const reduced = Math.min(exponent, value.scale);
    return {
      units: value.units * 10n ** BigInt(exponent - reduced),
      scale: value.scale - reduced,
    };
  }
  return { units: value.units, scale: value.scale - exponent };
}

export function multiplyDecimal(
  value: ExactDecimal,
  factor: bigint,
): ExactDecimal {
  return { units: value.units * factor, scale: value.scale };
}

/**
 * Formats with exactly `scale` fraction digits, rounding half away from
 * zero as PostgreSQL does when it stores a numeric with more digits.
 */
export function formatExactDecimal(value: ExactDecimal, scale: number): string {
  let units = value.units;
  if (value.scale > scale) {
    const divisor = 10n ** BigInt(value.scale - scale);
    const negative = units < 0n;
    const magnitude = negative ? -units : units;
    let quotient = magnitude / divisor;
    if ((magnitude % divisor) * 2n >= divisor) quotient += 1n;
    units = negative ? -quotient : quotient;
  } else {
    units *= 10n ** BigInt(scale - value.scale);
  }
  const negative = units < 0n;
  const digits = (negative ? -units : units)
    .toString()
    .padStart(scale + 1, '0');
  const sign = negative && units !== 0n ? '-' : '';
  if (scale === 0) return sign + digits;
  return `${sign}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/**
 * Formats a value for a `numeric(12, 4)` column, or returns null when its
 * integer part has more digits than the column holds.
 */
export function formatStoredDecimal(value: ExactDecimal): string | null {
  const text = formatExactDecimal(value, STORED_SCALE);
  const integerDigits = text.replace('-', '').split('.')[0]!.length;
  return integerDigits > STORED_INTEGER_DIGITS ? null : text;
}
