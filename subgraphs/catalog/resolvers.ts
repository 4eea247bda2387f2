import { asc } from 'drizzle-orm';
import { badUserInput } from '../../platform/errors.js';
import { isUuid } from '../../platform/ids.js';
import { requirePermission } from '../../platform/permissions.js';
import { toMoney } from '../../platform/money.js';
import * as tables from './db/tables.js';
import type { ProductRow, VariantRow } from './db/tables.js';
import type { Resolvers } from './generated/resolvers.js';
import type { Loaders } from './loaders.js';
import {
  requireServiceCaller,
  reservationMutationResolvers,
  reservationQueryResolvers,
} from './reservation-resolvers.js';
import {
  isVariantAvailable,
  quantityAvailable,
} from './services/availability.js';
import {
  createProduct,
  createVariant,
  updateProduct,
  updateVariant,
} from './services/products.js';
import {
  adjustStock,
  setStock,
  type StockResult,
} from './services/stock-admin.js';
import { readListingVariants } from './services/listing-variants.js';
import { listProducts } from './services/storefront.js';
import { subscriptionResolvers } from './subscription-resolvers.js';

/** Storefront lookups see active products only, listed or not. */
function visibleToStorefront(product: ProductRow | null): ProductRow | null {
  return product?.status === 'ACTIVE' ? product : null;
}

async function loadVariantProduct(
  loaders: Loaders,
  variant: VariantRow,
): Promise<ProductRow> {
  const product = await loaders.productById.load(variant.productId);
  if (!product)
    throw new Error(
      `Variant ${variant.id} has no product ${variant.productId}.`,
    );
  return product;
}

async function isProductAvailable(
  loaders: Loaders,
  product: ProductRow,
): Promise<boolean> {
  if (product.status !== 'ACTIVE') return false;
  if (product.productType === 'GROUPED') {
    const memberIds = await loaders.groupMemberIdsByGroupId.load(product.id);
    const members = await loaders.productById.loadMany(memberIds);
    const checks = await Promise.all(
      members.map((member) =>
        member &&
        !(member instanceof Error) &&
        member.productType === 'STANDARD'
          ? isProductAvailable(loaders, member)
          : false,
      ),
    );
    return checks.some(Boolean);
  }
  const variants = await loaders.variantsByProductId.load(product.id);
  const levels = await loaders.stockLevelsByVariantId.loadMany(
    variants.map((variant) => variant.id),
  );
  return variants.some((variant, index) => {
    const variantLevels = levels[index];
    return (
      !(variantLevels instanceof Error) &&
      isVariantAvailable(product, variant, variantLevels ?? [])
    );
  });
}

function stockPayload(result: StockResult) {
  const level = result.change?.stockLevel;
  return {
    variant: result.variant,
    stockLevel: level ?? null,
    adjustment: result.change?.adjustment ?? null,
    userErrors: result.userErrors,
  };
}

function requireOneKey(
  name: string,
  args: Record<string, unknown>,
  keys: string[],
): void {
  const given = keys.filter((key) => args[key] != null);
  if (given.length !== 1) {
    throw badUserInput(
      `${name} takes exactly one of ${keys.join(', ')}; got ${given.length}.`,
    );
  }
}

export const resolvers: Resolvers = {
  Query: {
    products: async (_parent, args, { db, loaders }) => {
      const connection = await listProducts(db, args);
      for (const product of connection.nodes)
        loaders.productById.prime(product.id, product);
      return connection;
    },
    product: async (_parent, args, { loaders }) => {
      requireOneKey('product', args, ['handle', 'id']);
      if (args.id != null) {
        return isUuid(args.id)
          ? visibleToStorefront(await loaders.productById.load(args.id))
          : null;
      }
      return visibleToStorefront(
        await loaders.productByHandle.load(args.handle!),
      );
    },
    variant: async (_parent, args, { loaders }) => {
      requireOneKey('variant', args, ['sku', 'id']);
      const variant =
        args.id != null
          ? isUuid(args.id)
            ? await loaders.variantById.load(args.id)
            : null
          : await loaders.variantBySku.load(args.sku!);
      if (!variant) return null;
      const product = await loaders.productById.load(variant.productId);
      return visibleToStorefront(product) ? variant : null;
    },
    locations: (_parent, _args, { db }) =>
      db.select().from(tables.locations).orderBy(asc(tables.locations.code)),
    ...reservationQueryResolvers,
    variantsForListing: async (
      _parent,
      { ids, productIds },
      { db, caller },
    ) => {
      requireServiceCaller(caller, 'variantsForListing');
      const variants = await readListingVariants(db, ids, productIds ?? []);
      return variants.map(({ priceAmount, currencyCode, ...variant }) => ({
        ...variant,
        price: priceAmount === null ? null : toMoney(priceAmount, currencyCode),
      }));
    },
  },

  Mutation: {
    productCreate: (_parent, { input }, { db, config, caller }) => {
      requirePermission(caller, 'write_products');
      return createProduct(db, config, input);
    },
    productUpdate: (_parent, { input }, { db, caller }) => {
      requirePermission(caller, 'write_products');
      return updateProduct(db, input);
    },
    variantCreate: (_parent, { input }, { db, config, caller }) => {
      requirePermission(caller, 'write_products');
      return createVariant(db, config, input);
    },
    variantUpdate: (_parent, { input }, { db, config, caller }) => {
      requirePermission(caller, 'write_products');
      return updateVariant(db, config, input);
    },
    stockSet: async (_parent, { input }, { db, caller }) => {
      requirePermission(caller, 'write_inventory');
      return stockPayload(await setStock(db, input));
    },
    stockAdjust: async (_parent, { input }, { db, caller }) => {
      requirePermission(caller, 'write_inventory');
      return stockPayload(await adjustStock(db, input));
    },
    ...reservationMutationResolvers,
  },

  Subscription: subscriptionResolvers,

  Product: {
    // Entity references resolve whatever the status, so an order line can
    // still show a product that was archived after the purchase.
    __resolveReference: (reference, { loaders }) =>
      isUuid(reference.id) ? loaders.productById.load(reference.id) : null,
    createdAt: (product) => product.createdAt.toISOString(),
    updatedAt: (product) => product.updatedAt.toISOString(),
    variants: (product, _args, { loaders }) =>
      loaders.variantsByProductId.load(product.id),
    images: (product) => product.images,
    options: (product) => product.options,
    groupedProducts: async (product, _args, { loaders }) => {
      if (product.productType !== 'GROUPED') return [];
      const ids = await loaders.groupMemberIdsByGroupId.load(product.id);
      const members = await loaders.productById.loadMany(ids);
      return members.filter(
        (member): member is ProductRow =>
          member !== null &&
          !(member instanceof Error) &&
          member.status === 'ACTIVE',
      );
    },
    priceRange: async (product, _args, { loaders }) => {
      const prices = (
        await loaders.variantsByProductId.load(product.id)
      ).filter((variant) => variant.priceAmount !== null);
      if (prices.length === 0) return null;
      const sorted = prices.sort((a, b) => a.priceAmount! - b.priceAmount!);
      const cheapest = sorted[0]!;
      const dearest = sorted.at(-1)!;
      return {
        minVariantPrice: toMoney(cheapest.priceAmount!, cheapest.currencyCode),
        maxVariantPrice: toMoney(dearest.priceAmount!, dearest.currencyCode),
      };
    },
    availableForSale: (product, _args, { loaders }) =>
      isProductAvailable(loaders, product),
  },

  Variant: {
    // A malformed representation resolves to null rather than failing the
    // whole _entities batch it came in.
    __resolveReference: (reference, { loaders }) => {
      const { id, sku } = reference as { id?: unknown; sku?: unknown };
      if (typeof id === 'string') {
        return isUuid(id) ? loaders.variantById.load(id) : null;
      }
      return typeof sku === 'string' ? loaders.variantBySku.load(sku) : null;
    },
    product: (variant, _args, { loaders }) =>
      loadVariantProduct(loaders, variant),
    price: (variant) =>
      variant.priceAmount === null
        ? null
        : toMoney(variant.priceAmount, variant.currencyCode),
    compareAtPrice: (variant) =>
      variant.compareAtAmount === null
        ? null
        : toMoney(variant.compareAtAmount, variant.currencyCode),
    availableForSale: async (variant, _args, { loaders }) => {
      const product = await loadVariantProduct(loaders, variant);
      const levels = await loaders.stockLevelsByVariantId.load(variant.id);
      return isVariantAvailable(product, variant, levels);
    },
    quantityAvailable: async (variant, _args, { loaders }) =>
      quantityAvailable(
        variant,
        await loaders.stockLevelsByVariantId.load(variant.id),
      ),
    selectedOptions: (variant) => variant.selectedOptions,
    weight: (variant) =>
      variant.weightValue !== null && variant.weightUnit !== null
        ? { value: trimDecimal(variant.weightValue), unit: variant.weightUnit }
        : null,
    dimensions: (variant) =>
      variant.dimensionUnit === null
        ? null
        : {
            length:
              variant.length === null ? null : trimDecimal(variant.length),
            width: variant.width === null ? null : trimDecimal(variant.width),
            height:
              variant.height === null ? null : trimDecimal(variant.height),
            unit: variant.dimensionUnit,
          },
    image: (variant) =>
      variant.imageUrl ? { url: variant.imageUrl, altText: null } : null,
    stockLevels: (variant, _args, { loaders, caller }) => {
      requirePermission(caller, 'read_inventory');
      return loaders.stockLevelsByVariantId.load(variant.id);
    },
  },

  StockLevel: {
    location: async (level, _args, { loaders }) => {
      const location = await loaders.locationById.load(level.locationId);
      if (!location)
        throw new Error(
          `Stock level refers to missing location ${level.locationId}.`,
        );
      return location;
    },
    available: (level) => level.onHand - level.reserved,
  },

  StockAdjustment: {
    createdAt: (adjustment) => adjustment.createdAt.toISOString(),
  },
};

/** Drops trailing fraction zeros of a numeric column: "1.5000" → "1.5", "2.0000" → "2". */
function trimDecimal(value: string): string {
  return value.includes('.') ? value.replace(/\.?0+$/, '') : value;
}
