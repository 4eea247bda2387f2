import { asc } from 'drizzle-orm';
import { toMoney } from '../../platform/money.js';
import {
  requirePermission,
  type Permission,
} from '../../platform/permissions.js';
import { marketplaceConnections } from './db/tables.js';
import type { Resolvers } from './generated/resolvers.js';

/** Either permission reads connections, their safety stock and sync errors. */
const LISTING_PERMISSIONS: readonly Permission[] = [
  'read_listings',
  'manage_listings',
];

export const resolvers: Resolvers = {
  Query: {
    marketplaceConnections: (_parent, _args, { db, caller }) => {
      requirePermission(caller, LISTING_PERMISSIONS);
      return db
        .select()
        .from(marketplaceConnections)
        .orderBy(
          asc(marketplaceConnections.createdAt),
          asc(marketplaceConnections.id),
        );
    },
    listing: (_parent, { id }, { loaders }) => loaders.listingById.load(id),
  },

  MarketplaceConnection: {
    safetyStock: (connection, _args, { caller }) => {
      requirePermission(caller, LISTING_PERMISSIONS);
      return connection.safetyStock;
    },
    createdAt: (connection) => connection.createdAt.toISOString(),
    updatedAt: (connection) => connection.updatedAt.toISOString(),
  },

  Listing: {
    lastError: (listing, _args, { caller }) => {
      requirePermission(caller, LISTING_PERMISSIONS);
      return listing.lastError;
    },
    __resolveReference: (reference, { loaders }) =>
      loaders.listingById.load(reference.id),
    marketplace: async (listing, _args, { loaders }) =>
      (await loaders.connectionById.load(listing.connectionId))!,
    price: (listing) =>
      listing.priceAmount === null || listing.currencyCode === null
        ? null
        : toMoney(listing.priceAmount, listing.currencyCode),
    lastSyncedAt: (listing) => listing.lastSyncedAt?.toISOString() ?? null,
    product: (listing) => ({ id: listing.productId }),
    variant: (listing) =>
      listing.variantId === null ? null : { id: listing.variantId },
    createdAt: (listing) => listing.createdAt.toISOString(),
    updatedAt: (listing) => listing.updatedAt.toISOString(),
  },

  // The catalog owns products and variants, so this service cannot tell
  // whether one exists. A reference is returned as it is, and its listings
  // are looked up by its ID.
  Product: {
    __resolveReference: (reference) => ({ id: reference.id }),
    listings: (product, _args, { loaders }) =>
      loaders.listingsByProductId.load(product.id),
  },

  Variant: {
    __resolveReference: (reference) => ({ id: reference.id }),
    listings: (variant, _args, { loaders }) =>
      loaders.listingsByVariantId.load(variant.id),
  },
};
