import { like, or, eq } from 'drizzle-orm';
import type { Database } from '../../../platform/database.js';
import * as tables from '../db/tables.js';

export const HANDLE_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** Turns a title into a URL slug: "Awesome V-Neck T-Shirt" → "awesome-v-neck-t-shirt". */
export function slugify(text: string): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 100)
    .replace(/-+$/, '');
  return slug || 'product';
}

/**
 * Returns `base`, or `base-2`, `base-3`, … when taken. The unique index
 * on products.handle still guards against a concurrent writer taking the
 * same handle between this check and the insert.
 */
export async function findFreeHandle(
  db: Pick<Database<typeof tables>, 'select'>,
  base: string,
): Promise<string> {
  const rows = await db
    .select({ handle: tables.products.handle })
    .from(tables.products)
    .where(
      or(
        eq(tables.products.handle, base),
        like(tables.products.handle, `${base}-%`),
      ),
    );
  const taken = new Set(rows.map((row) => row.handle));
  if (!taken.has(base)) return base;
  for (let suffix = 2; ; suffix += 1) {
    const candidate = `${base}-${suffix}`;
    if (!taken.has(candidate)) return candidate;
  }
}
