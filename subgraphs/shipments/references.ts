/**
 * Keys of entities that other services own. Resolvers receive them as
 * parents and return them, and the gateway resolves the other fields at the
 * owning service.
 */

/** An order of the orders service. */
export interface OrderReference {
  id: string;
}
