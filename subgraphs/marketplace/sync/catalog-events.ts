import { sql } from 'drizzle-orm';
import type { StreamEvent } from '../../../platform/event-consumer.js';
import { isUuid } from '../../../platform/ids.js';
import type { Logger } from '../../../platform/logger.js';
import { recordListingChanges } from './tasks.js';

type Executor = Parameters<typeof recordListingChanges>[0];

/** Catalog event types that change what a listing shows. */
export const CATALOG_EVENT_TYPES = [
  'stock.changed',
  'product.created',
  'product.updated',
];

function uuidArray(ids: Iterable<string>) {
  return sql`${`{${[...ids].join(',')}}`}::uuid[]`;
}

function stringField(payload: unknown, field: string): string | null {
  const value = (payload as Record<string, unknown> | null)?.[field];
  return typeof value === 'string' && isUuid(value) ? value : null;
}

/**
 * Records a sync task for every listing a batch of catalog events affects,
 * in the consumer's transaction:
 *
 * - `stock.changed` (payload `variantId`): the variant's listings need a
 *   new quantity.
 * - `product.updated` with `variantIds`: those variants' listings need a
 *   full publish, because a variant change can touch price, SKU, barcode,
 *   weight or image.
 * - `product.updated` without `variantIds` (product fields, or an import):
 *   every listing of the product needs a full publish.
 * - `product.created` only matters for products already listed, which an
 *   import can update under the same id; it is handled as an update.
 *
 * Events without a usable id are skipped with a warning. Running a batch
 * again only raises task versions, so redelivery is harmless.
 */
export async function recordCatalogEvents(
  events: StreamEvent[],
  transaction: Executor,
  logger: Logger,
): Promise<void> {
  const stockVariants = new Set<string>();
  const contentVariants = new Set<string>();
  const contentProducts = new Set<string>();
  for (const event of events) {
    if (event.type === 'stock.changed') {
      const variantId = stringField(event.payload, 'variantId');
      if (variantId) stockVariants.add(variantId);
      else logSkipped(logger, event);
      continue;
    }
    const productId = stringField(event.payload, 'productId');
    const variantIds = (event.payload as { variantIds?: unknown } | null)
      ?.variantIds;
    if (Array.isArray(variantIds) && variantIds.length > 0) {
      for (const id of variantIds) {
        if (typeof id === 'string' && isUuid(id)) contentVariants.add(id);
      }
    } else if (productId) {
      contentProducts.add(productId);
    } else {
      logSkipped(logger, event);
    }
  }

  if (contentVariants.size > 0 || contentProducts.size > 0) {
    await recordListingChanges(transaction, {
      where: sql`l.variant_id = any(${uuidArray(contentVariants)})
                 or l.product_id = any(${uuidArray(contentProducts)})`,
      change: 'content',
      publish: true,
    });
  }
  if (stockVariants.size > 0) {
    await recordListingChanges(transaction, {
      where: sql`l.variant_id = any(${uuidArray(stockVariants)})`,
      change: 'stock',
      publish: false,
    });
  }
}

function logSkipped(logger: Logger, event: StreamEvent) {
  logger.warn(
    { eventId: event.id, type: event.type, position: event.position },
    'catalog event without a usable product or variant id skipped',
  );
}
