import type { SelectedOptionValue } from '../db/tables.js';

/** Maximum handle length. */
export const MAX_HANDLE_LENGTH = 100;
/** Maximum length of a slug made from a title, leaving room for a "-2" style suffix. */
const MAX_SLUG_LENGTH = 90;

/** Lower-cases, removes accents and turns runs of other characters into "-". */
function toSlugCharacters(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '-');
}

/**
 * Makes a URL slug of at most 90 characters: lower case, letters and digits
 * of any script kept, accents removed, every other run of characters turned
 * into one "-". Returns "product" when nothing is left.
 */
export function slugify(text: string): string {
  const slug = toSlugCharacters(text)
    .slice(0, MAX_SLUG_LENGTH)
    .replace(/^-+|-+$/g, '');
  return slug === '' ? 'product' : slug;
}

/** Checks that a handle is in slug form and at most MAX_HANDLE_LENGTH long. */
export function isValidHandle(handle: string): boolean {
  return (
    handle.length > 0 &&
    handle.length <= MAX_HANDLE_LENGTH &&
    toSlugCharacters(handle) === handle &&
    !handle.startsWith('-') &&
    !handle.endsWith('-')
  );
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
