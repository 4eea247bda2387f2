/**
 * Keys of entities that other services own. Resolvers receive them as
 * parents and return them, and the gateway resolves the other fields at the
 * owning service.
 */

/** A product of the catalog. */
export interface ProductReference {
  id: string;
}

/** A variant of the catalog. */
export interface VariantReference {
  id: string;
}
