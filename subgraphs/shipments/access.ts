import type { SubgraphCaller } from '../../platform/identity.js';
import type { ShipmentRow } from './db/tables.js';

/**
 * Returns whether `caller` may see `shipment`. This is the rule the orders
 * service applies to orders (subgraphs/orders/access.ts), keyed by the
 * order's customer that each shipment stores in `customerId`.
 *
 * A customer sees only the shipments of their own orders; any other
 * shipment reads as not found, so a customer cannot tell whether another
 * customer's shipment id exists. A guest order's shipments have no
 * customer and are visible to no customer. Anonymous callers see nothing.
 * Staff, partners and services see every shipment: the gateway's `@policy`
 * requirements decide which fields they may select, and `Query.shipment`
 * checks their `read_shipments` permission itself.
 */
export function canSeeShipment(
  caller: SubgraphCaller,
  shipment: Pick<ShipmentRow, 'customerId'>,
): boolean {
  switch (caller.kind) {
    case 'customer':
      return (
        shipment.customerId !== null && shipment.customerId === caller.subject
      );
    case 'anonymous':
      return false;
    default:
      return true;
  }
}

/** Returns `shipment` when `caller` may see it, else null, as if it did not exist. */
export function visibleShipment(
  caller: SubgraphCaller,
  shipment: ShipmentRow | null | undefined,
): ShipmentRow | null {
  if (!shipment) return null;
  return canSeeShipment(caller, shipment) ? shipment : null;
}

/** Returns the shipments of `shipments` that `caller` may see, in order. */
export function visibleShipments(
  caller: SubgraphCaller,
  shipments: readonly ShipmentRow[],
): ShipmentRow[] {
  return shipments.filter((shipment) => canSeeShipment(caller, shipment));
}
