import type { SelectedOptionValue } from '../db/tables.js';

const MAX_HANDLE_LENGTH = 100;

/**
 * Makes a URL slug: lower case, letters and digits of any script kept,
 * accents removed, every other run of characters turned into one "-".
 * Returns "product" when nothing is left.
 */
export function slugify(text: string): string {
  const slug = text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .slice(0, MAX_HANDLE_LENGTH)
    .replace(/^-+|-+$/g, '');
  return slug === '' ? 'product' : slug;
}

/** Normalises a category path to "A > B": trimmed parts, empty parts dropped. */
export function normaliseCategoryPath(path: string): string {
  return path
    .split('>')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .join(' > ');
}

/** Drops empty strings and repeats, keeping the first occurrence's order. */
export function uniqueValues(values: Iterable<string>): string[] {
  const seen = new Set<string>();
  for (const value of values) {
    if (value !== '') seen.add(value);
  }
  return [...seen];
}

/**
 * Titles a variant by its option values joined with " / " ("Red / No").
 * An option the variant leaves open reads "Any <option>" ("Red / Any Size").
 * Without options the variant takes `fallback`, usually the product title.
 */
export function variantTitle(
  selectedOptions: SelectedOptionValue[],
  fallback: string,
): string {
  if (selectedOptions.length === 0) return fallback;
  return selectedOptions
    .map((option) => option.value ?? `Any ${option.name}`)
    .join(' / ');
}
