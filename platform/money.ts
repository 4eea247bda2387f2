/**
 * Money is stored as integer minor units (cents for USD, yen for JPY) and
 * shown as a decimal string with exactly the currency's minor digits. No
 * value passes through floating point.
 */

const supportedCurrencies = new Set(Intl.supportedValuesOf('currency'));
const minorDigitsCache = new Map<string, number>();

export interface Money {
  amount: string;
  currencyCode: string;
}

export function isCurrencyCode(code: string): boolean {
  return supportedCurrencies.has(code);
}

/** Returns the ISO 4217 minor digits of a currency (2 for USD, 0 for JPY). */
export function minorDigits(currencyCode: string): number {
  let digits = minorDigitsCache.get(currencyCode);
  if (digits === undefined) {
    if (!isCurrencyCode(currencyCode)) {
      throw new RangeError(
        `Unknown currency code "${currencyCode}"; use an ISO 4217 code such as USD.`,
      );
    }
    digits = new Intl.NumberFormat('en', {
      style: 'currency',
      currency: currencyCode,
    }).resolvedOptions().maximumFractionDigits!;
    minorDigitsCache.set(currencyCode, digits);
  }
  return digits;
}

/** Formats minor units as a decimal string: 4200 USD → "42.00". */
export function formatMinorUnits(minor: number, currencyCode: string): string {
  if (!Number.isSafeInteger(minor)) {
    throw new RangeError(`Money amount ${minor} is not a safe integer.`);
  }
  const digits = minorDigits(currencyCode);
  const sign = minor < 0 ? '-' : '';
  const text = String(Math.abs(minor)).padStart(digits + 1, '0');
  if (digits === 0) return sign + text;
  return `${sign}${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

export function toMoney(minor: number, currencyCode: string): Money {
  return { amount: formatMinorUnits(minor, currencyCode), currencyCode };
}

/**
 * Parses a decimal string into minor units: "42" or "42.0" or "42.00" → 4200
 * for USD. Returns an error message instead of a number when the text is not
 * a plain decimal or has more fraction digits than the currency allows.
 */
export function parseDecimalToMinorUnits(
  text: string,
  currencyCode: string,
): { minor: number } | { error: string } {
  const trimmed = text.trim();
  const match = /^(-?)(\d+)(?:\.(\d*))?$|^(-?)\.(\d+)$/.exec(trimmed);
  if (!match) {
    return { error: `"${text}" is not a decimal amount such as 42.00` };
  }
  const sign = match[1] ?? match[4] ?? '';
  const whole = match[2] ?? '0';
  const fraction = (match[3] ?? match[5] ?? '').replace(/0+$/, '');
  const digits = minorDigits(currencyCode);
  if (fraction.length > digits) {
    return {
      error: `"${text}" has more than ${digits} decimal places, the most ${currencyCode} allows`,
    };
  }
  const minor = Number(sign + whole + fraction.padEnd(digits, '0'));
  if (!Number.isSafeInteger(minor)) {
    return { error: `"${text}" is too large` };
  }
  return { minor: minor === 0 ? 0 : minor };
}
