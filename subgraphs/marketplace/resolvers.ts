import { asc } from 'drizzle-orm';
import { toMoney } from '../../platform/money.js';
import { marketplaceConnections } from './db/tables.js';
import type { Resolvers } from './generated/resolvers.js';

export const resolvers: Resolvers = {
  Query: {
    marketplaceConnections: (_parent, _args, { db }) =>
      db
        .select()
        .from(marketplaceConnections)
        .orderBy(
          asc(marketplaceConnections.createdAt),
          asc(marketplaceConnections.id),
        ),
    listing: (_parent, { id }, { loaders }) => loaders.listingById.load(id),
  },

  MarketplaceConnection: {
    createdAt: (connection) => connection.createdAt.toISOString(),
    updatedAt: (connection) => connection.updatedAt.toISOString(),
  },

  Listing: {
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
