import { asc } from 'drizzle-orm';
import { toMoney } from '../../platform/money.js';
import {
  requirePermission,
  type Permission,
} from '../../platform/permissions.js';
import { catalogClientFor } from './catalog-client.js';
import {
  createConnection,
  setConnectionStatus,
  testConnection,
  updateConnection,
} from './connections.js';
import { marketplaceConnections } from './db/tables.js';
import type { Resolvers } from './generated/resolvers.js';
import { endListing, publishListings, updateListing } from './listings.js';
import { subscriptionResolvers } from './subscription-resolvers.js';

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

  Mutation: {
    marketplaceConnectionCreate: (
      _parent,
      { input },
      { db, config, caller },
    ) => {
      requirePermission(caller, 'manage_listings');
      return createConnection(db, config, input);
    },
    marketplaceConnectionUpdate: (
      _parent,
      { input },
      { db, config, caller },
    ) => {
      requirePermission(caller, 'manage_listings');
      return updateConnection(db, config, input);
    },
    marketplaceConnectionTest: (
      _parent,
      { id },
      { db, config, logger, caller },
    ) => {
      requirePermission(caller, 'manage_listings');
      return testConnection(db, config, logger, id);
    },
    marketplaceConnectionPause: (_parent, { id }, { db, caller }) => {
      requirePermission(caller, 'manage_listings');
      return setConnectionStatus(db, id, 'PAUSED');
    },
    marketplaceConnectionResume: (_parent, { id }, { db, caller }) => {
      requirePermission(caller, 'manage_listings');
      return setConnectionStatus(db, id, 'ACTIVE');
    },
    listingPublish: (_parent, { input }, { db, config, caller }) => {
      requirePermission(caller, 'manage_listings');
      return publishListings(db, config, catalogClientFor(db, config), input);
    },
    listingUpdate: (_parent, { input }, { db, config, caller }) => {
      requirePermission(caller, 'manage_listings');
      return updateListing(db, config, input);
    },
    listingEnd: (_parent, { id }, { db, caller }) => {
      requirePermission(caller, 'manage_listings');
      return endListing(db, id);
    },
  },

  Subscription: subscriptionResolvers,

  MarketplaceConnection: {
    safetyStock: (connection, _args, { caller }) => {
      requirePermission(caller, LISTING_PERMISSIONS);
      return connection.safetyStock;
    },
    // The credentials themselves are never read here: only whether they
    // are set and the hint stored beside them.
    credentials: (connection, _args, { caller }) => {
      requirePermission(caller, LISTING_PERMISSIONS);
      return {
        set: connection.credentialsEncrypted !== null,
        hint: connection.credentialsHint,
      };
    },
    settings: (connection, _args, { caller }) => {
      requirePermission(caller, LISTING_PERMISSIONS);
      return {
        marketplaceId: connection.settings.marketplaceId ?? null,
        fulfillmentPolicyId: connection.settings.fulfillmentPolicyId ?? null,
        paymentPolicyId: connection.settings.paymentPolicyId ?? null,
        returnPolicyId: connection.settings.returnPolicyId ?? null,
        merchantLocationKey: connection.settings.merchantLocationKey ?? null,
        categoryId: connection.settings.categoryId ?? null,
      };
    },
    priceRule: (connection, _args, { caller, config }) => {
      requirePermission(caller, LISTING_PERMISSIONS);
      return {
        adjustmentBasisPoints: connection.priceAdjustmentBasisPoints,
        fixedAdjustment: toMoney(
          connection.priceFixedAdjustment,
          config.SHOP_CURRENCY,
        ),
      };
    },
    untrackedQuantity: (connection, _args, { caller }) => {
      requirePermission(caller, LISTING_PERMISSIONS);
      return connection.untrackedQuantity;
    },
    lastTest: (connection, _args, { caller }) => {
      requirePermission(caller, LISTING_PERMISSIONS);
      if (connection.lastTestedAt === null) return null;
      return {
        ok: connection.lastTestOk === true,
        message: connection.lastTestMessage,
        testedAt: connection.lastTestedAt.toISOString(),
      };
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
    priceOverride: (listing, _args, { caller }) => {
      requirePermission(caller, LISTING_PERMISSIONS);
      return listing.priceOverrideAmount === null ||
        listing.priceOverrideCurrency === null
        ? null
        : toMoney(listing.priceOverrideAmount, listing.priceOverrideCurrency);
    },
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
