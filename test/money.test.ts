import { describe, expect, it } from 'vitest';
import {
  formatMinorUnits,
  minorDigits,
  parseDecimalToMinorUnits,
} from '../platform/money.js';

describe('minorDigits', () => {
  it.each([
    ['USD', 2],
    ['EUR', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['KWD', 3],
    ['IQD', 3],
    ['HUF', 2],
  ])('%s has %i', (code, digits) => {
    expect(minorDigits(code)).toBe(digits);
  });

  it('rejects an unknown code', () => {
    expect(() => minorDigits('ABC')).toThrow(
      'Unknown currency code "ABC"; use an ISO 4217 code such as USD.',
    );
  });
});

describe('formatMinorUnits', () => {
  it.each([
    [4200, 'USD', '42.00'],
    [5, 'USD', '0.05'],
    [-1999, 'USD', '-19.99'],
    [15000, 'JPY', '15000'],
    [1234, 'KWD', '1.234'],
    [0, 'USD', '0.00'],
  ])('formats %i %s as %s', (minor, code, text) => {
    expect(formatMinorUnits(minor, code)).toBe(text);
  });

  it('rejects an unsafe integer', () => {
    expect(() => formatMinorUnits(2 ** 53, 'USD')).toThrow(
      'Money amount 9007199254740992 is not a safe integer.',
    );
  });
});

describe('parseDecimalToMinorUnits', () => {
  it.each([
    ['42', 'USD', 4200],
    ['42.5', 'USD', 4250],
    ['42.50', 'USD', 4250],
    [' 42.00 ', 'USD', 4200],
    ['.99', 'USD', 99],
    ['-0', 'USD', 0],
    ['15000', 'JPY', 15000],
    ['0.10', 'USD', 10],
    ['11.05', 'USD', 1105],
  ])('parses "%s" %s as %i', (text, code, minor) => {
    expect(parseDecimalToMinorUnits(text, code)).toEqual({ minor });
  });

  it.each([
    ['1e3', 'USD', '"1e3" is not a decimal amount such as 42.00'],
    ['0x10', 'USD', '"0x10" is not a decimal amount such as 42.00'],
    ['NaN', 'USD', '"NaN" is not a decimal amount such as 42.00'],
    ['', 'USD', '"" is not a decimal amount such as 42.00'],
    [
      '1.234',
      'USD',
      '"1.234" has more than 2 decimal places, the most USD allows',
    ],
    ['1.5', 'JPY', '"1.5" has more than 0 decimal places, the most JPY allows'],
    ['99999999999999999', 'USD', '"99999999999999999" is too large'],
  ])('rejects "%s" %s', (text, code, error) => {
    expect(parseDecimalToMinorUnits(text, code)).toEqual({ error });
  });
});
