import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Config } from '../../../platform/config.js';
import type { Database } from '../../../platform/database.js';
import { UserErrorCode, type UserError } from '../../../platform/errors.js';
import { isUuid, uuidv7 } from '../../../platform/ids.js';
import { appendEvents } from '../../../platform/outbox.js';
import * as tables from '../db/tables.js';
import type { ProductRow, VariantRow } from '../db/tables.js';
import type {
  ProductCreateInput,
  ProductOptionInput,
  ProductUpdateInput,
  VariantCreateInput,
  VariantFields,
  VariantUpdateInput,
} from '../generated/resolvers.js';
import {
  normaliseCategoryPath,
  slugify,
  variantTitle,
} from './catalog-values.js';
import { allocateHandle } from './handles.js';
import { InputChecker, LIST_LIMITS, MAX_VARIANTS } from './validation.js';

type CatalogDatabase = Database<typeof tables>;
type NewVariant = typeof tables.variants.$inferInsert;

export interface ProductResult {
  product: ProductRow | null;
  userErrors: UserError[];
}
export interface VariantResult {
  variant: VariantRow | null;
  userErrors: UserError[];
}

const UNIQUE_VIOLATION = '23505';

/** Maps a unique-index violation to the userError of the field it guards. */
function uniqueViolationError(
  error: unknown,
  field: string[],
): UserError | null {
  const cause =
    (error as { cause?: { code?: string; constraint_name?: string } }).cause ??
    error;
  const { code, constraint_name: constraint } = cause as {
    code?: string;
    constraint_name?: string;
  };
  if (code !== UNIQUE_VIOLATION) return null;
  if (constraint?.includes('handle')) {
    return {
      field: [...field.slice(0, 1), 'handle'],
      message: 'Handle is already taken.',
      code: UserErrorCode.Taken,
    };
  }
  if (constraint?.includes('sku')) {
    return {
      field,
      message: 'SKU is already taken by another variant.',
      code: UserErrorCode.Taken,
    };
  }
  return null;
}

function checkVariantFields(
  checker: InputChecker,
  field: string[],
  fields: VariantFields,
  productOptions: ProductOptionInput[],
  productTitle: string,
  config: Config,
): Omit<NewVariant, 'id' | 'productId' | 'position'> {
  const sku = checker.sku([...field, 'sku'], fields.sku);
  const selectedOptions = checker
    .selectedOptions(
      [...field, 'selectedOptions'],
      fields.selectedOptions ?? [],
      productOptions,
    )
    .map((option) => ({ name: option.name, value: option.value ?? null }));
  const title =
    fields.title?.trim() || variantTitle(selectedOptions, productTitle);
  return {
    sku,
    title,
    selectedOptions,
    priceAmount: fields.price
      ? (checker.money(
          [...field, 'price'],
          fields.price,
          config.SHOP_CURRENCY,
        ) ?? null)
      : null,
    compareAtAmount: fields.compareAtPrice
      ? (checker.money(
          [...field, 'compareAtPrice'],
          fields.compareAtPrice,
          config.SHOP_CURRENCY,
        ) ?? null)
      : null,
    currencyCode: config.SHOP_CURRENCY,
    tracksInventory: fields.tracksInventory ?? true,
    inventoryPolicy: fields.inventoryPolicy ?? 'DENY',
    requiresShipping:
      fields.requiresShipping ?? !(fields.downloadable ?? false),
    downloadable: fields.downloadable ?? false,
    weightValue: fields.weight
      ? checker.weight([...field, 'weight'], fields.weight)
      : null,
    weightUnit: fields.weight?.unit ?? null,
    barcode: fields.barcode ?? null,
  };
}

/**
 * Checks that new product options keep every option and value the
 * product's variants select, so no variant points at a removed value.
 */
async function checkOptionsStillCover(
  db: CatalogDatabase,
  checker: InputChecker,
  productId: string,
  options: ProductOptionInput[],
): Promise<void> {
  const variants = await db
    .select({
      sku: tables.variants.sku,
      selected: tables.variants.selectedOptions,
    })
    .from(tables.variants)
    .where(eq(tables.variants.productId, productId));
  for (const variant of variants) {
    for (const selected of variant.selected) {
      const option = options.find(
        (candidate) => candidate.name === selected.name,
      );
      const kept =
        option !== undefined &&
        (selected.value === null || option.values.includes(selected.value));
      if (!kept) {
        checker.fail(
          ['input', 'options'],
          `Variant "${variant.sku}" selects ${selected.name} ${selected.value ?? '(any)'}; keep that option value or change the variant first.`,
        );
        return;
      }
    }
  }
}

/** Identifies a combination of option values, whatever their order. */
function selectionKey(
  selected: { name: string; value: string | null }[],
): string {
  return JSON.stringify(
    [...selected]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((option) => [option.name, option.value]),
  );
}

/** Checks the free-text and list fields shared by create and update. */
function checkListFields(
  checker: InputChecker,
  input: {
    description?: string | null;
    categories?: string[] | null;
    tags?: string[] | null;
  },
): void {
  if (input.description != null) {
    checker.description(['input', 'description'], input.description);
  }
  if (input.categories != null) {
    checker.list(
      ['input', 'categories'],
      input.categories,
      LIST_LIMITS.categories,
    );
  }
  if (input.tags != null) {
    checker.list(['input', 'tags'], input.tags, LIST_LIMITS.tags);
  }
}

function normaliseCategories(categories: string[]): string[] {
  return [...new Set(categories.map(normaliseCategoryPath).filter(Boolean))];
}

/** Creates a product with its variants in one transaction. */
export async function createProduct(
  db: CatalogDatabase,
  config: Config,
  input: ProductCreateInput,
): Promise<ProductResult> {
  const checker = new InputChecker();
  const title = checker.title(['input', 'title'], input.title);
  const options = checker.options(['input', 'options'], input.options ?? []);
  const productType = input.productType ?? 'STANDARD';
  const variantInputs = input.variants ?? [];
  checkListFields(checker, input);
  if (variantInputs.length > MAX_VARIANTS) {
    checker.fail(
      ['input', 'variants'],
      `Too many variants: ${variantInputs.length}; use at most ${MAX_VARIANTS}.`,
    );
    return { product: null, userErrors: checker.errors };
  }
  if (productType === 'GROUPED' && variantInputs.length > 0) {
    checker.fail(
      ['input', 'variants'],
      'A grouped product has no variants of its own.',
    );
  }
  if (productType === 'EXTERNAL' && !input.externalUrl) {
    checker.fail(
      ['input', 'externalUrl'],
      'An external product needs an externalUrl.',
      UserErrorCode.Required,
    );
  }
  if (input.externalUrl)
    checker.url(['input', 'externalUrl'], input.externalUrl);
  if (input.handle != null) checker.handle(['input', 'handle'], input.handle);
  const images = checker.images(['input', 'images'], input.images ?? []);
  const variants = variantInputs.map((fields, index) =>
    checkVariantFields(
      checker,
      ['input', 'variants', String(index)],
      fields,
      options,
      title,
      config,
    ),
  );
  const seenSkus = new Set<string>();
  const seenSelections = new Set<string>();
  variants.forEach((variant, index) => {
    if (seenSkus.has(variant.sku)) {
      checker.fail(
        ['input', 'variants', String(index), 'sku'],
        `SKU "${variant.sku}" appears twice in this input.`,
      );
    }
    seenSkus.add(variant.sku);
    const selection = selectionKey(variant.selectedOptions ?? []);
    if (selection !== '[]' && seenSelections.has(selection)) {
      checker.fail(
        ['input', 'variants', String(index), 'selectedOptions'],
        `Another variant already has the options ${variant.title}; give each variant its own combination.`,
      );
    }
    seenSelections.add(selection);
  });
  if (!checker.ok) return { product: null, userErrors: checker.errors };

  // A handle made from the title can be taken by a concurrent create between
  // allocateHandle's read and the insert. A retry then adds a random
  // suffix, because racing creates would all pick the same next handle.
  for (let attempt = 1; ; attempt += 1) {
    const result = await insertProduct(db, input, {
      handle:
        input.handle ??
        (attempt === 1
          ? undefined
          : `${slugify(title)}-${randomBytes(3).toString('hex')}`),
      title,
      productType,
      options,
      images,
      variants,
    });
    if (
      'retry' in result &&
      input.handle == null &&
      attempt < HANDLE_ATTEMPTS
    ) {
      continue;
    }
    return 'retry' in result ? result.failure : result;
  }
}

const HANDLE_ATTEMPTS = 5;

async function insertProduct(
  db: CatalogDatabase,
  input: ProductCreateInput,
  checked: {
    /** Undefined: the first free handle made from the title. */
    handle: string | undefined;
    title: string;
    productType: NonNullable<ProductCreateInput['productType']>;
    options: ProductOptionInput[];
    images: { url: string; altText: string | null }[];
    variants: Omit<NewVariant, 'id' | 'productId' | 'position'>[];
  },
): Promise<ProductResult | { retry: true; failure: ProductResult }> {
  const { title, productType, options, images, variants } = checked;
  try {
    const product = await db.transaction(async (transaction) => {
      const handle =
        checked.handle ?? (await allocateHandle(transaction, slugify(title)));
      const [product] = await transaction
        .insert(tables.products)
        .values({
          id: uuidv7(),
          handle,
          title,
          description: input.description ?? '',
          summary: input.summary ?? null,
          status: input.status ?? 'DRAFT',
          productType,
          vendor: input.vendor ?? null,
          listed: input.listed ?? true,
          externalUrl: input.externalUrl ?? null,
          options,
          images,
          categories: normaliseCategories(input.categories ?? []),
          tags: input.tags ?? [],
        })
        .returning();
      if (variants.length > 0) {
        await transaction.insert(tables.variants).values(
          variants.map((variant, position) => ({
            ...variant,
            id: uuidv7(),
            productId: product!.id,
            position,
            purchasable: productType === 'STANDARD',
          })),
        );
      }
      await appendEvents(transaction, [
        {
          type: 'product.created',
          aggregateId: product!.id,
          payload: { productId: product!.id, handle },
        },
      ]);
      return product!;
    });
    return { product, userErrors: [] };
  } catch (error) {
    const known = uniqueViolationError(error, ['input', 'variants']);
    if (!known) throw error;
    const failure = { product: null, userErrors: [known] };
    return known.field.at(-1) === 'handle' ? { retry: true, failure } : failure;
  }
}

async function findProduct(
  db: CatalogDatabase,
  id: string,
): Promise<ProductRow | null> {
  if (!isUuid(id)) return null;
  const [row] = await db
    .select()
    .from(tables.products)
    .where(eq(tables.products.id, id));
  return row ?? null;
}

/** Updates the fields given in the input; absent fields keep their value. */
export async function updateProduct(
  db: CatalogDatabase,
  input: ProductUpdateInput,
): Promise<ProductResult> {
  const existing = await findProduct(db, input.id);
  if (!existing) {
    return {
      product: null,
      userErrors: [
        {
          field: ['input', 'id'],
          message: `Product ${input.id} was not found.`,
          code: UserErrorCode.NotFound,
        },
      ],
    };
  }
  const checker = new InputChecker();
  const changes: Partial<typeof tables.products.$inferInsert> = {};
  checkListFields(checker, input);
  if (input.title != null)
    changes.title = checker.title(['input', 'title'], input.title);
  if (input.handle != null)
    changes.handle = checker.handle(['input', 'handle'], input.handle);
  if (input.description != null) changes.description = input.description;
  if (input.summary !== undefined) changes.summary = input.summary;
  if (input.status != null) changes.status = input.status;
  if (input.vendor !== undefined) changes.vendor = input.vendor;
  if (input.listed != null) changes.listed = input.listed;
  if (input.externalUrl !== undefined) {
    if (input.externalUrl == null && existing.productType === 'EXTERNAL') {
      checker.fail(
        ['input', 'externalUrl'],
        'An external product needs an externalUrl; it cannot be removed.',
        UserErrorCode.Required,
      );
    }
    changes.externalUrl =
      input.externalUrl == null
        ? null
        : checker.url(['input', 'externalUrl'], input.externalUrl);
  }
  if (input.options != null) {
    changes.options = checker.options(['input', 'options'], input.options);
    await checkOptionsStillCover(db, checker, existing.id, changes.options);
  }
  if (input.images != null)
    changes.images = checker.images(['input', 'images'], input.images);
  if (input.categories != null)
    changes.categories = normaliseCategories(input.categories);
  if (input.tags != null) changes.tags = input.tags;
  if (!checker.ok) return { product: null, userErrors: checker.errors };

  try {
    const product = await db.transaction(async (transaction) => {
      const [product] = await transaction
        .update(tables.products)
        .set({ ...changes, updatedAt: new Date() })
        .where(eq(tables.products.id, existing.id))
        .returning();
      await appendEvents(transaction, [
        {
          type: 'product.updated',
          aggregateId: existing.id,
          payload: { productId: existing.id, fields: Object.keys(changes) },
        },
      ]);
      return product!;
    });
    return { product, userErrors: [] };
  } catch (error) {
    const known = uniqueViolationError(error, ['input']);
    if (known) return { product: null, userErrors: [known] };
    throw error;
  }
}

/** Adds a variant to a standard or external product. */
export async function createVariant(
  db: CatalogDatabase,
  config: Config,
  input: VariantCreateInput,
): Promise<VariantResult> {
  const product = await findProduct(db, input.productId);
  if (!product) {
    return {
      variant: null,
      userErrors: [
        {
          field: ['input', 'productId'],
          message: `Product ${input.productId} was not found.`,
          code: UserErrorCode.NotFound,
        },
      ],
    };
  }
  const checker = new InputChecker();
  if (product.productType === 'GROUPED') {
    checker.fail(
      ['input', 'productId'],
      'A grouped product has no variants of its own.',
    );
  }
  const fields = checkVariantFields(
    checker,
    ['input', 'variant'],
    input.variant,
    product.options,
    product.title,
    config,
  );
  if (!checker.ok) return { variant: null, userErrors: checker.errors };

  let rejection: UserError | undefined;
  try {
    const variant = await db.transaction(async (transaction) => {
      // Locking the product serialises variant creation per product, so
      // positions stay distinct and the checks below see every sibling.
      await transaction
        .select({ id: tables.products.id })
        .from(tables.products)
        .where(eq(tables.products.id, product.id))
        .for('update');
      const siblings = await transaction
        .select({
          id: tables.variants.id,
          title: tables.variants.title,
          selected: tables.variants.selectedOptions,
        })
        .from(tables.variants)
        .where(eq(tables.variants.productId, product.id));
      const selection = selectionKey(fields.selectedOptions ?? []);
      if (siblings.length >= MAX_VARIANTS) {
        rejection = {
          field: ['input', 'productId'],
          message: `The product has ${siblings.length} variants, the most allowed.`,
          code: UserErrorCode.Invalid,
        };
      } else if (
        selection !== '[]' &&
        siblings.some((sibling) => selectionKey(sibling.selected) === selection)
      ) {
        rejection = {
          field: ['input', 'variant', 'selectedOptions'],
          message: `Another variant already has the options ${fields.title}; give each variant its own combination.`,
          code: UserErrorCode.Taken,
        };
      }
      if (rejection) return null;
      const [variant] = await transaction
        .insert(tables.variants)
        .values({
          ...fields,
          id: uuidv7(),
          productId: product.id,
          position: siblings.length,
          purchasable: product.productType === 'STANDARD',
        })
        .returning();
      await appendEvents(transaction, [
        {
          type: 'product.updated',
          aggregateId: product.id,
          payload: { productId: product.id, variantIds: [variant!.id] },
        },
      ]);
      return variant!;
    });
    if (rejection) return { variant: null, userErrors: [rejection] };
    return { variant, userErrors: [] };
  } catch (error) {
    const known = uniqueViolationError(error, ['input', 'variant', 'sku']);
    if (known) return { variant: null, userErrors: [known] };
    throw error;
  }
}

/** Updates the fields given in the input; `compareAtPrice: null` clears it. */
export async function updateVariant(
  db: CatalogDatabase,
  config: Config,
  input: VariantUpdateInput,
): Promise<VariantResult> {
  const [existing] = isUuid(input.id)
    ? await db
        .select()
        .from(tables.variants)
        .where(eq(tables.variants.id, input.id))
    : [];
  if (!existing) {
    return {
      variant: null,
      userErrors: [
        {
          field: ['input', 'id'],
          message: `Variant ${input.id} was not found.`,
          code: UserErrorCode.NotFound,
        },
      ],
    };
  }
  const [product] = await db
    .select()
    .from(tables.products)
    .where(eq(tables.products.id, existing.productId));
  const checker = new InputChecker();
  const changes: Partial<NewVariant> = {};
  if (input.sku != null) changes.sku = checker.sku(['input', 'sku'], input.sku);
  if (input.title != null)
    changes.title = checker.title(['input', 'title'], input.title);
  if (input.selectedOptions != null) {
    changes.selectedOptions = checker
      .selectedOptions(
        ['input', 'selectedOptions'],
        input.selectedOptions,
        product!.options,
      )
      .map((option) => ({ name: option.name, value: option.value ?? null }));
  }
  const changesPrice =
    input.price !== undefined || input.compareAtPrice !== undefined;
  if (changesPrice && existing.currencyCode !== config.SHOP_CURRENCY) {
    checker.fail(
      ['input', 'price'],
      `Variant prices are in ${existing.currencyCode}, not the shop currency ${config.SHOP_CURRENCY}; re-import the product in ${config.SHOP_CURRENCY} to change them.`,
    );
  }
  if (input.price !== undefined) {
    changes.priceAmount =
      input.price === null
        ? null
        : checker.money(['input', 'price'], input.price, config.SHOP_CURRENCY);
  }
  if (input.compareAtPrice !== undefined) {
    changes.compareAtAmount =
      input.compareAtPrice === null
        ? null
        : checker.money(
            ['input', 'compareAtPrice'],
            input.compareAtPrice,
            config.SHOP_CURRENCY,
          );
  }
  if (input.tracksInventory != null)
    changes.tracksInventory = input.tracksInventory;
  if (input.inventoryPolicy != null)
    changes.inventoryPolicy = input.inventoryPolicy;
  if (input.requiresShipping != null)
    changes.requiresShipping = input.requiresShipping;
  if (input.downloadable != null) changes.downloadable = input.downloadable;
  if (input.weight !== undefined) {
    changes.weightValue =
      input.weight === null
        ? null
        : checker.weight(['input', 'weight'], input.weight);
    changes.weightUnit = input.weight?.unit ?? null;
  }
  if (input.barcode !== undefined) changes.barcode = input.barcode;
  if (!checker.ok) return { variant: null, userErrors: checker.errors };

  try {
    const variant = await db.transaction(async (transaction) => {
      const [variant] = await transaction
        .update(tables.variants)
        .set({ ...changes, updatedAt: new Date() })
        .where(eq(tables.variants.id, existing.id))
        .returning();
      await appendEvents(transaction, [
        {
          type: 'product.updated',
          aggregateId: existing.productId,
          payload: {
            productId: existing.productId,
            variantIds: [existing.id],
            fields: Object.keys(changes),
          },
        },
      ]);
      return variant!;
    });
    return { variant, userErrors: [] };
  } catch (error) {
    const known = uniqueViolationError(error, ['input', 'sku']);
    if (known) return { variant: null, userErrors: [known] };
    throw error;
  }
}
