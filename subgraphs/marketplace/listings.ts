import { eq, inArray, sql } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import type { Database } from '../../platform/database.js';
import {
  userError,
  UserErrorCode,
  type UserError,
} from '../../platform/errors.js';
import { isUuid, uuidv7 } from '../../platform/ids.js';
import type { CatalogListingClient } from './catalog-client.js';
import { parseShopMoney } from './connections.js';
import * as tables from './db/tables.js';
import type { ListingRow } from './db/tables.js';
import type {
  ListingPublishInput,
  ListingUpdateInput,
} from './generated/resolvers.js';
import { recordListingChanges } from './sync/tasks.js';

type MarketplaceDatabase = Database<typeof tables>;

/** Maximum number of variants one listingPublish lists. */
export const MAX_PUBLISH_VARIANTS = 250;

export interface ListingPayload {
  listing: ListingRow | null;
  userErrors: UserError[];
}

function listingNotFound(id: string, field: string[]): UserError {
  return userError(field, `No listing has id "${id}".`, UserErrorCode.NotFound);
}

/**
 * Creates a DRAFT listing per variant that has none on the connection,
 * publishes the existing ones again (an ENDED one becomes DRAFT), and
 * records a publish task for each. The catalog is read before the
 * transaction, so unknown variants are rejected and no transaction waits
 * on HTTP.
 */
export async function publishListings(
  db: MarketplaceDatabase,
  config: Config,
  catalog: Pick<CatalogListingClient, 'variants'>,
  input: ListingPublishInput,
): Promise<{ listings: ListingRow[]; userErrors: UserError[] }> {
  const errors: UserError[] = [];
  const variantIds = input.variantIds ?? null;
  const productId = input.productId ?? null;
  if ((variantIds === null) === (productId === null)) {
    errors.push(
      userError(
        ['input', 'variantIds'],
        'Give either variantIds or productId, not both and not neither.',
        UserErrorCode.Invalid,
      ),
    );
  }
  if (variantIds !== null) {
    if (variantIds.length === 0 || variantIds.length > MAX_PUBLISH_VARIANTS) {
      errors.push(
        userError(
          ['input', 'variantIds'],
          `Give from 1 to ${MAX_PUBLISH_VARIANTS} variant ids.`,
          UserErrorCode.Invalid,
        ),
      );
    }
    variantIds.forEach((id, index) => {
      if (!isUuid(id)) {
        errors.push(
          userError(
            ['input', 'variantIds', String(index)],
            `No variant has id "${id}".`,
            UserErrorCode.NotFound,
          ),
        );
      }
    });
  }
  if (productId !== null && !isUuid(productId)) {
    errors.push(
      userError(
        ['input', 'productId'],
        `No product has id "${productId}".`,
        UserErrorCode.NotFound,
      ),
    );
  }
  const override = input.priceOverride
    ? parseShopMoney(
        input.priceOverride,
        config,
        ['input', 'priceOverride'],
        errors,
        { signed: false },
      )
    : undefined;
  const connection = isUuid(input.connectionId)
    ? (
        await db
          .select()
          .from(tables.marketplaceConnections)
          .where(eq(tables.marketplaceConnections.id, input.connectionId))
      )[0]
    : undefined;
  if (!connection) {
    errors.push(
      userError(
        ['input', 'connectionId'],
        `No marketplace connection has id "${input.connectionId}".`,
        UserErrorCode.NotFound,
      ),
    );
  }
  if (errors.length > 0) return { listings: [], userErrors: errors };

  const variants = await catalog.variants(
    variantIds ?? [],
    productId ? [productId] : [],
  );
  if (variantIds) {
    const found = new Set(variants.map((variant) => variant.id));
    variantIds.forEach((id, index) => {
      if (!found.has(id)) {
        errors.push(
          userError(
            ['input', 'variantIds', String(index)],
            `No variant has id "${id}".`,
            UserErrorCode.NotFound,
          ),
        );
      }
    });
  } else if (variants.length === 0) {
    errors.push(
      userError(
        ['input', 'productId'],
        `No product with variants has id "${productId}".`,
        UserErrorCode.NotFound,
      ),
    );
  }
  if (variants.length > MAX_PUBLISH_VARIANTS) {
    errors.push(
      userError(
        ['input', 'productId'],
        `The product has ${variants.length} variants; list at most ${MAX_PUBLISH_VARIANTS} at once with variantIds.`,
        UserErrorCode.Invalid,
      ),
    );
  }
  if (errors.length > 0) return { listings: [], userErrors: errors };

  const listings = await db.transaction(async (transaction) => {
    const now = new Date();
    const rows = await transaction
      .insert(tables.listings)
      .values(
        variants.map((variant) => ({
          id: uuidv7(),
          connectionId: connection!.id,
          productId: variant.productId,
          variantId: variant.id,
          sku: variant.sku,
          status: 'DRAFT' as const,
          priceOverrideAmount: override?.amount ?? null,
          priceOverrideCurrency: override?.currencyCode ?? null,
        })),
      )
      .onConflictDoUpdate({
        target: [tables.listings.connectionId, tables.listings.variantId],
        set: {
          status: sql`case when ${tables.listings.status} = 'ENDED'
                           then 'DRAFT'::listing_status
                           else ${tables.listings.status} end`,
          ...(override
            ? {
                priceOverrideAmount: override.amount,
                priceOverrideCurrency: override.currencyCode,
              }
            : {}),
          updatedAt: now,
        },
      })
      .returning();
    await recordListingChanges(transaction, {
      where: inArray(
        sql`l.id`,
        rows.map((row) => row.id),
      ),
      change: 'publish',
      publish: true,
      scope: 'all',
    });
    return rows;
  });
  const order = new Map(variants.map((variant, index) => [variant.id, index]));
  listings.sort(
    (left, right) => order.get(left.variantId!)! - order.get(right.variantId!)!,
  );
  return { listings, userErrors: [] };
}

/** Sets or clears a listing's price override and records a publish task. */
export async function updateListing(
  db: MarketplaceDatabase,
  config: Config,
  input: ListingUpdateInput,
): Promise<ListingPayload> {
  const errors: UserError[] = [];
  const clear = input.clearPriceOverride === true;
  if (clear === Boolean(input.priceOverride)) {
    errors.push(
      userError(
        ['input', 'priceOverride'],
        'Give either priceOverride or clearPriceOverride: true.',
        UserErrorCode.Invalid,
      ),
    );
  }
  const override = input.priceOverride
    ? parseShopMoney(
        input.priceOverride,
        config,
        ['input', 'priceOverride'],
        errors,
        { signed: false },
      )
    : undefined;
  if (!isUuid(input.id))
    errors.push(listingNotFound(input.id, ['input', 'id']));
  if (errors.length > 0) return { listing: null, userErrors: errors };

  return db.transaction(async (transaction) => {
    const [listing] = await transaction
      .update(tables.listings)
      .set({
        priceOverrideAmount: override?.amount ?? null,
        priceOverrideCurrency: override?.currencyCode ?? null,
        updatedAt: new Date(),
      })
      .where(eq(tables.listings.id, input.id))
      .returning();
    if (!listing) {
      return {
        listing: null,
        userErrors: [listingNotFound(input.id, ['input', 'id'])],
      };
    }
    await recordListingChanges(transaction, {
      where: sql`l.id = ${listing.id}`,
      change: 'price',
      publish: true,
    });
    return { listing, userErrors: [] };
  });
}

/** Ends a listing, and records a task that takes it down on the marketplace. */
export async function endListing(
  db: MarketplaceDatabase,
  id: string,
): Promise<ListingPayload> {
  if (!isUuid(id))
    return { listing: null, userErrors: [listingNotFound(id, ['id'])] };
  return db.transaction(async (transaction) => {
    const [existing] = await transaction
      .select()
      .from(tables.listings)
      .where(eq(tables.listings.id, id))
      .for('update');
    if (!existing) {
      return { listing: null, userErrors: [listingNotFound(id, ['id'])] };
    }
    if (existing.status === 'ENDED')
      return { listing: existing, userErrors: [] };
    const [listing] = await transaction
      .update(tables.listings)
      .set({ status: 'ENDED', updatedAt: new Date() })
      .where(eq(tables.listings.id, id))
      .returning();
    // A task even without an external id: a publish may be in flight, and
    // the worker takes down whatever it published.
    await recordListingChanges(transaction, {
      where: sql`l.id = ${id}`,
      change: 'end',
      publish: false,
      scope: 'all',
    });
    return { listing: listing!, userErrors: [] };
  });
}
