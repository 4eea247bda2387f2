/**
 * Compares stored column values with imported ones. jsonb does not keep
 * the key order of objects, so objects are equal when their keys and
 * values are; arrays must match in order.
 */
export function isSameValue(stored: unknown, desired: unknown): boolean {
  if (stored === desired) return true;
  if (Array.isArray(stored) && Array.isArray(desired)) {
    return (
      stored.length === desired.length &&
      stored.every((item, index) => isSameValue(item, desired[index]))
    );
  }
  if (isPlainObject(stored) && isPlainObject(desired)) {
    const storedKeys = Object.keys(stored);
    const desiredKeys = Object.keys(desired);
    return (
      storedKeys.length === desiredKeys.length &&
      desiredKeys.every((key) => isSameValue(stored[key], desired[key]))
    );
  }
  return false;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype
  );
}

/** Returns the keys of `desired` whose values differ from `stored`. */
export function changedKeys<TDesired extends object>(
  stored: Partial<Record<keyof TDesired, unknown>>,
  desired: TDesired,
): Array<keyof TDesired> {
  return (Object.keys(desired) as Array<keyof TDesired>).filter(
    (key) => !isSameValue(stored[key], desired[key]),
  );
}
