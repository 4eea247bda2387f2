import { eq, inArray, like, or } from 'drizzle-orm';
import * as tables from '../db/tables.js';
import type { CatalogTransaction } from './stock.js';

/** Suffixes tried through the handle index before scanning for more. */
const INDEXED_CANDIDATES = 20;

/**
 * Returns `base` when no product has that handle, otherwise the first free
 * `base-2`, `base-3`, …. A product created concurrently with the same
 * handle makes the insert fail on the unique index rather than share it.
 */
export async function allocateHandle(
  transaction: CatalogTransaction,
  base: string,
): Promise<string> {
  const candidates = [base];
  for (let suffix = 2; suffix <= INDEXED_CANDIDATES; suffix += 1) {
    candidates.push(`${base}-${suffix}`);
  }
  const usedCandidates = await takenHandles(
    transaction,
    inArray(tables.products.handle, candidates),
  );
  const free = candidates.find((candidate) => !usedCandidates.has(candidate));
  if (free !== undefined) return free;

  // LIKE with the default collation cannot use the handle index, so the
  // scan runs only for a base with more than INDEXED_CANDIDATES products.
  // Handles come from `slugify`, which leaves no LIKE wildcards in them.
  const usedHandles = await takenHandles(
    transaction,
    or(
      eq(tables.products.handle, base),
      like(tables.products.handle, `${base}-%`),
    ),
  );
  let suffix = 2;
  while (usedHandles.has(`${base}-${suffix}`)) suffix += 1;
  return `${base}-${suffix}`;
}

async function takenHandles(
  transaction: CatalogTransaction,
  condition: ReturnType<typeof inArray> | ReturnType<typeof or>,
): Promise<Set<string>> {
  const rows = await transaction
    .select({ handle: tables.products.handle })
    .from(tables.products)
    .where(condition);
  return new Set(rows.map((row) => row.handle));
}
