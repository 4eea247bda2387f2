/**
 * Keys of entities that other services own. Resolvers receive them as
 * parents and return them, and the gateway resolves the other fields at the
 * owning service.
 */

/** An order of the orders service. */
export interface OrderReference {
  id: string;
  /**
   * The orders service's grant for this caller to read the order, which
   * the gateway sends for the fields that require it; null or absent when
   * orders issued none.
   */
  accessGrant?: string | null;
}
