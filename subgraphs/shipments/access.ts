import type { SubgraphCaller } from '../../platform/identity.js';
import {
  OrderGrantError,
  verifyOrderAccessGrant,
} from '../../platform/order-access-grants.js';
import type { Context } from './context.js';
import type { ShipmentRow } from './db/tables.js';
import type { OrderReference } from './references.js';

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
 * checks their `read_shipments` permission itself. `Order.shipments` also
 * shows an order's shipments to a caller with the orders service's grant
 * for that order (`orderShipmentsVisibleTo`).
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

/** Grant checks of one request by order id, so two fields verify once. */
const grantChecksOfRequest = new WeakMap<
  object,
  Map<string, Promise<boolean>>
>();

/**
 * Returns whether `order` carries a valid access grant of the orders
 * service (platform/order-access-grants.ts), so the caller may see every
 * shipment of it, as for a guest who looked the order up with its email.
 * A grant that is present but forged, expired or for another order is
 * logged and counts as none.
 */
export function hasOrderGrant(
  context: Pick<Context, 'config' | 'logger' | 'loaders'>,
  order: OrderReference,
): Promise<boolean> {
  const grant = order.accessGrant;
  if (!grant) return Promise.resolve(false);
  let checks = grantChecksOfRequest.get(context.loaders);
  if (!checks) {
    checks = new Map();
    grantChecksOfRequest.set(context.loaders, checks);
  }
  const key = `${order.id}\n${grant}`;
  let check = checks.get(key);
  if (!check) {
    check = verifyOrderAccessGrant(context.config, grant, order.id).then(
      () => true,
      (error: unknown) => {
        if (!(error instanceof OrderGrantError)) throw error;
        context.logger.warn(
          { orderId: order.id, reason: error.message },
          'order access grant rejected',
        );
        return false;
      },
    );
    checks.set(key, check);
  }
  return check;
}

/**
 * Returns the shipments of `order` that the caller may see: all of them
 * with a valid order grant, else those `canSeeShipment` allows.
 */
export async function orderShipmentsVisibleTo(
  context: Pick<Context, 'config' | 'logger' | 'loaders' | 'caller'>,
  order: OrderReference,
  shipments: readonly ShipmentRow[],
): Promise<ShipmentRow[]> {
  if (await hasOrderGrant(context, order)) return [...shipments];
  return visibleShipments(context.caller, shipments);
}
