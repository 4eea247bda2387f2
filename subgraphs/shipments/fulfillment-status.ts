import type { ShipmentRow } from './db/tables.js';
import type { OrderFulfillmentStatus } from './generated/resolvers.js';

/**
 * Derives an order's fulfilment status from its shipments. Cancelled
 * shipments never count, so an order with only cancelled shipments is
 * UNFULFILLED. It is DELIVERED when every other shipment is delivered.
 *
 * TODO: PARTIALLY_FULFILLED is never returned yet, because shipments do not
 * record which order lines they carry. Until they do, any shipment that is
 * not cancelled counts as covering the whole order.
 */
export function fulfillmentStatusOf(
  shipments: readonly Pick<ShipmentRow, 'status'>[],
): OrderFulfillmentStatus {
  const counted = shipments.filter(
    (shipment) => shipment.status !== 'CANCELLED',
  );
  if (counted.length === 0) return 'UNFULFILLED';
  if (counted.every((shipment) => shipment.status === 'DELIVERED')) {
    return 'DELIVERED';
  }
  return 'FULFILLED';
}
