import { sql } from 'drizzle-orm';
import {
  bigint,
  check,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

import type { Rate, RateRequest } from '../carriers/carrier.js';

export { outboxEvents } from '../../../platform/outbox.js';

/** A carrier's rates for one parcel and the request that produced them. */
export interface RateQuote {
  request: RateRequest;
  rates: Rate[];
}

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
 * `fulfillmentCreate` copies it from the order.
 *
 * `carrierProvider` is the integration that bought the label (`sandbox`,
 * `easypost`), `carrier` the carrier it names (such as `USPS`). Tracking
 * webhooks find a shipment by provider and tracking number.
 * `latestEventAt` is the time of the newest tracking event stored, which
 * decides the status, so events arriving out of order never move it back.
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
    /** Staff's key of the `fulfillmentCreate` call; a retry with it returns this shipment. */
    idempotencyKey: text('idempotency_key'),
    carrierProvider: text('carrier_provider'),
    /** The carrier's shipment id of the rates and the label, needed to void it. */
    carrierShipmentId: text('carrier_shipment_id'),
    trackerId: text('tracker_id'),
    /**
     * The last rate quote: the request sent to the carrier and the rates it
     * returned (amounts in minor units). Buying a label needs both, because
     * a carrier's rate ids are valid only for the quote that made them.
     */
    rateQuote: jsonb('rate_quote').$type<RateQuote>(),
    /** The rate the label was bought for. */
    rateId: text('rate_id'),
    labelUrl: text('label_url'),
    /** What the label cost, in minor units of `labelCurrencyCode`. */
    labelCostAmount: bigint('label_cost_amount', { mode: 'number' }),
    labelCurrencyCode: text('label_currency_code'),
    labelCreatedAt: timestamp('label_created_at', {
      withTimezone: true,
      mode: 'date',
    }),
    /** Business days to delivery that the chosen rate estimated. */
    estimatedDeliveryDays: integer('estimated_delivery_days'),
    estimatedDeliveryAt: timestamp('estimated_delivery_at', {
      withTimezone: true,
      mode: 'date',
    }),
    latestEventAt: timestamp('latest_event_at', {
      withTimezone: true,
      mode: 'date',
    }),
    /** When the catalog confirmed the commit of this shipment's stock. */
    stockCommittedAt: timestamp('stock_committed_at', {
      withTimezone: true,
      mode: 'date',
    }),
    /** When the catalog confirmed the stock of a cancelled shipment put back. */
    stockUncommittedAt: timestamp('stock_uncommitted_at', {
      withTimezone: true,
      mode: 'date',
    }),
    /** When the tracking poller last asked the carrier. */
    polledAt: timestamp('polled_at', { withTimezone: true, mode: 'date' }),
    cancelledAt: timestamp('cancelled_at', {
      withTimezone: true,
      mode: 'date',
    }),
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
    index('shipments_provider_tracking_idx').on(
      table.carrierProvider,
      table.trackingNumber,
    ),
    uniqueIndex('shipments_idempotency_idx').on(
      table.orderId,
      table.idempotencyKey,
    ),
  ],
);

/**
 * Order lines a shipment carries. `orderLineId`, `sku` and `variantId`
 * name rows of the orders and catalog databases, so they have no foreign
 * keys.
 */
export const shipmentLines = pgTable(
  'shipment_lines',
  {
    shipmentId: uuid('shipment_id')
      .notNull()
      .references(() => shipments.id, { onDelete: 'cascade' }),
    orderLineId: uuid('order_line_id').notNull(),
    sku: text('sku').notNull(),
    variantId: uuid('variant_id').notNull(),
    quantity: integer('quantity').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.shipmentId, table.orderLineId] }),
    check('shipment_lines_quantity_positive', sql`${table.quantity} > 0`),
  ],
);

/** One order line as the orders service reported it at the first fulfilment. */
export interface OrderLineSnapshot {
  orderLineId: string;
  sku: string;
  variantId: string;
  title: string;
  quantity: number;
}

/**
 * An order's lines, copied from the orders service at its first
 * fulfilment. Order lines never change after purchase, so the fulfilment
 * status is computed from this copy without asking the orders service
 * again. The row is also what concurrent fulfilments of one order lock.
 */
export const orderSnapshots = pgTable('order_snapshots', {
  orderId: uuid('order_id').primaryKey(),
  orderNumber: integer('order_number').notNull(),
  lines: jsonb('lines').$type<OrderLineSnapshot[]>().notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .defaultNow(),
});

/** Carrier webhook events applied, so a redelivered event changes nothing. */
export const carrierWebhookEvents = pgTable(
  'carrier_webhook_events',
  {
    carrier: text('carrier').notNull(),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.carrier, table.eventId] })],
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
    /** The carrier's own status string, such as `in_transit`; null for events of this service. */
    carrierStatus: text('carrier_status'),
    /**
     * Time, carrier status and message of the scan, which identify it
     * across deliveries; each one is stored once per shipment.
     */
    dedupeKey: text('dedupe_key'),
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
    uniqueIndex('tracking_events_dedupe_idx').on(
      table.shipmentId,
      table.dedupeKey,
    ),
  ],
);

export type ShipmentRow = typeof shipments.$inferSelect;
export type TrackingEventRow = typeof trackingEvents.$inferSelect;
export type ShipmentLineRow = typeof shipmentLines.$inferSelect;
export type OrderSnapshotRow = typeof orderSnapshots.$inferSelect;
