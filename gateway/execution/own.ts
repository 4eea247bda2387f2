/**
 * Property access for objects whose keys come from clients and subgraphs:
 * response names, which a client picks with aliases, and keys of subgraph
 * JSON. Inherited properties such as `constructor` or `__proto__` must
 * read as absent and be written as own properties, or a query could reach
 * and change Object.prototype.
 */
type JsonObject = Record<string, unknown>;

/** Returns the own property `key` of `object`, or undefined. */
export function ownValue(object: JsonObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/** Sets `key` on `object` as an own property, also where it would hit a setter. */
export function setOwn(object: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, {
      configurable: true,
      enumerable: true,
      value,
      writable: true,
    });
  } else {
    object[key] = value;
  }
}
