import type { ShipmentRow } from './db/tables.js';
import type { OrderFulfillmentStatus } from './generated/resolvers.js';

/** Units of one order line: ordered (in the snapshot) or carried by a shipment. */
export interface LineQuantity {
  orderLineId: string;
  quantity: number;
}

/**
 * Derives an order's fulfilment status from its shipments' lines against
 * the order's lines. Cancelled shipments never count, so an order with only
 * cancelled shipments is UNFULFILLED. It is FULFILLED when the other
 * shipments carry every unit of every line, and DELIVERED when it is
 * fulfilled and each of them is delivered; otherwise PARTIALLY_FULFILLED.
 *
 * `orderLines` is null for an order without a line snapshot, which only
 * shipments created before shipments recorded their lines have. Each such
 * shipment that is not cancelled counts as covering the whole order.
 */
export function fulfillmentStatusOf(
  shipments: ReadonlyArray<
    Pick<ShipmentRow, 'status'> & { lines?: readonly LineQuantity[] }
  >,
  orderLines: readonly LineQuantity[] | null = null,
): OrderFulfillmentStatus {
  const counted = shipments.filter(
    (shipment) => shipment.status !== 'CANCELLED',
  );
  if (counted.length === 0) return 'UNFULFILLED';
  const delivered = counted.every(
    (shipment) => shipment.status === 'DELIVERED',
  );
  if (orderLines === null) return delivered ? 'DELIVERED' : 'FULFILLED';

  const carried = new Map<string, number>();
  for (const shipment of counted) {
    for (const line of shipment.lines ?? []) {
      carried.set(
        line.orderLineId,
        (carried.get(line.orderLineId) ?? 0) + line.quantity,
      );
    }
  }
  const fulfilled = orderLines.every(
    (line) => (carried.get(line.orderLineId) ?? 0) >= line.quantity,
  );
  if (!fulfilled) return 'PARTIALLY_FULFILLED';
  return delivered ? 'DELIVERED' : 'FULFILLED';
}
