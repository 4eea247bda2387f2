import { describe, expect, it } from 'vitest';
import {
  gramsToOunces,
  lengthToMillimetres,
  millimetresToInches,
  UnitConversionError,
  weightToGrams,
  type WeightUnit,
} from '../subgraphs/shipments/carriers/units.js';

describe('weightToGrams', () => {
  it.each<[string, WeightUnit, number]>([
    ['2.5', 'POUNDS', 1134], // 1133.980925 g
    ['1', 'POUNDS', 454], // 453.59237 g
    ['16', 'OUNCES', 454], // exactly 1 lb
    ['1', 'OUNCES', 29], // 28.349523125 g
    ['0.1', 'OUNCES', 3], // 2.8349523125 g
    ['300', 'GRAMS', 300],
    ['300.0001', 'GRAMS', 301],
    ['0.75', 'KILOGRAMS', 750],
    ['1.2345', 'KILOGRAMS', 1235],
    ['0', 'POUNDS', 0],
    ['100', 'POUNDS', 45360], // 45359.237 g
    ['.5', 'KILOGRAMS', 500],
  ])('%s %s is %i g', (value, unit, grams) => {
    expect(weightToGrams({ value, unit })).toBe(grams);
  });

  it('stays exact where floating point is not', () => {
    // In doubles 4.03 × 1000 is 4030.0000000000005, which rounds up to 4031.
    expect(weightToGrams({ value: '4.03', unit: 'KILOGRAMS' })).toBe(4030);
    expect(weightToGrams({ value: '8.05', unit: 'KILOGRAMS' })).toBe(8050);
    // 10 lb is 4535.9237 g exactly.
    expect(weightToGrams({ value: '10', unit: 'POUNDS' })).toBe(4536);
  });

  it.each(['-1', '1e3', '', 'abc', '1.2.3', ' '])('rejects "%s"', (value) => {
    expect(() => weightToGrams({ value, unit: 'GRAMS' })).toThrow(
      UnitConversionError,
    );
  });

  it('rejects an unknown unit', () => {
    expect(() =>
      weightToGrams({ value: '1', unit: 'STONES' as WeightUnit }),
    ).toThrow(/not a weight unit/);
  });

  it('rejects values beyond a safe integer', () => {
    expect(() =>
      weightToGrams({ value: '99999999999999999999', unit: 'KILOGRAMS' }),
    ).toThrow(/too large/);
  });
});

describe('lengthToMillimetres', () => {
  it.each<[string, 'CENTIMETERS' | 'INCHES', number]>([
    ['1', 'INCHES', 26], // 25.4 mm
    ['2.5', 'INCHES', 64], // 63.5 mm
    ['10', 'INCHES', 254],
    ['12.7', 'CENTIMETERS', 127],
    ['12.75', 'CENTIMETERS', 128], // 127.5 mm
    ['30', 'CENTIMETERS', 300],
  ])('%s %s is %i mm', (value, unit, millimetres) => {
    expect(lengthToMillimetres(value, unit)).toBe(millimetres);
  });
});

describe('gramsToOunces and millimetresToInches', () => {
  it.each<[number, string]>([
    [1134, '40.1'], // 40.0007... oz
    [454, '16.1'], // 16.0144... oz
    [28, '1.0'], // 0.98767... oz
    [1, '0.1'],
    [0, '0.0'],
  ])('%i g is %s oz, rounded up', (grams, ounces) => {
    expect(gramsToOunces(grams)).toBe(ounces);
  });

  it.each<[number, string]>([
    [254, '10.0'],
    [300, '11.9'], // 11.811... in
    [1, '0.1'],
  ])('%i mm is %s in, rounded up', (millimetres, inches) => {
    expect(millimetresToInches(millimetres)).toBe(inches);
  });
});
