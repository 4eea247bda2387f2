/**
 * Helpers for DataLoader batch functions, which must return one result per
 * key in key order, whatever order the database returned rows in.
 */

/** Lines rows up with the keys: one result per key, null when missing. */
export function byKey<TRow, TKey>(
  keys: readonly TKey[],
  rows: TRow[],
  keyOf: (row: TRow) => TKey,
): (TRow | null)[] {
  const found = new Map<TKey, TRow>();
  for (const row of rows) found.set(keyOf(row), row);
  return keys.map((key) => found.get(key) ?? null);
}

/** Groups rows by key in key order, with an empty list for a missing key. */
export function groupByKey<TRow, TKey>(
  keys: readonly TKey[],
  rows: TRow[],
  keyOf: (row: TRow) => TKey,
): TRow[][] {
  const groups = new Map<TKey, TRow[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  return keys.map((key) => groups.get(key) ?? []);
}
