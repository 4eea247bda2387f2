/**
 * Money is stored as integer minor units (cents for USD, yen for JPY) and
 * shown as a decimal string with exactly the currency's minor digits. No
 * value passes through floating point.
 */

const supportedCurrencies = new Set(Intl.supportedValuesOf('currency'));

/**
 * ISO 4217 minor units of the currencies that do not use 2. ICU's data,
 * which `Intl.NumberFormat` reports, differs for some currencies (Node
 * 20.20 gives 0 for HUF and IQD), and stored minor units must not change
 * meaning with a Node upgrade, so the minor units ISO 4217 assigns are
 * kept here.
 */
const NON_DEFAULT_MINOR_DIGITS: Record<string, number> = {
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  CLF: 4,
  UYW: 4,
};

export interface Money {
  amount: string;
  currencyCode: string;
}

export function isCurrencyCode(code: string): boolean {
  return supportedCurrencies.has(code);
}

/** Returns the ISO 4217 minor digits of a currency (2 for USD, 0 for JPY). */
export function minorDigits(currencyCode: string): number {
  if (!isCurrencyCode(currencyCode)) {
    throw new RangeError(
      `Unknown currency code "${currencyCode}"; use an ISO 4217 code such as USD.`,
    );
  }
  return NON_DEFAULT_MINOR_DIGITS[currencyCode] ?? 2;
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
