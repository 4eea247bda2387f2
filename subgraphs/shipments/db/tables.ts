import {
  index,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

export { outboxEvents } from '../../../platform/outbox.js';

export const shipmentStatus = pgEnum('shipment_status', [
  'PENDING',
  'LABEL_CREATED',
  'IN_TRANSIT',
  'OUT_FOR_DELIVERY',
  'DELIVERED',
  'RETURNED',
  'FAILED',
  'CANCELLED',
]);

/**
 * A parcel sent for one order. `orderId` names an order in the orders
 * service's database, so it has no foreign key.
 *
 * `customerId` is the order's customer, copied when the shipment is
 * created, so this service can limit a customer to their own shipments
 * without asking the orders service on every read. The orders service
 * sets an order's customer when the order is created and has no operation
 * that changes it, so the copy does not go stale. It is null for a guest
 * order, and such a shipment is visible to no customer (see access.ts).
 * NOTE: no code in this repository creates shipments yet. Whatever creates
 * them must copy the order's customer id, or customers see none of them.
 */
export const shipments = pgTable(
  'shipments',
  {
    id: uuid('id').primaryKey(),
    orderId: uuid('order_id').notNull(),
    customerId: uuid('customer_id'),
    status: shipmentStatus('status').notNull().default('PENDING'),
    carrier: text('carrier'),
    service: text('service'),
    trackingNumber: text('tracking_number'),
    trackingUrl: text('tracking_url'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
  },
  (table) => [
    index('shipments_order_idx').on(table.orderId, table.createdAt),
    index('shipments_customer_idx').on(table.customerId),
    index('shipments_tracking_number_idx').on(
      table.carrier,
      table.trackingNumber,
    ),
  ],
);

/** Carrier scans of a shipment, as the carrier reported them. */
export const trackingEvents = pgTable(
  'tracking_events',
  {
    id: uuid('id').primaryKey(),
    shipmentId: uuid('shipment_id')
      .notNull()
      .references(() => shipments.id, { onDelete: 'cascade' }),
    status: shipmentStatus('status').notNull(),
    message: text('message'),
    location: text('location'),
    occurredAt: timestamp('occurred_at', {
      withTimezone: true,
      mode: 'date',
    }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
  },
  (table) => [
    index('tracking_events_shipment_idx').on(
      table.shipmentId,
      table.occurredAt,
    ),
  ],
);

export type ShipmentRow = typeof shipments.$inferSelect;
export type TrackingEventRow = typeof trackingEvents.$inferSelect;
