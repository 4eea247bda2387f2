import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { uuidv7 } from '../../../platform/ids.js';
import { appendEvents } from '../../../platform/outbox.js';
import * as tables from '../db/tables.js';
import type { ProductRow, VariantRow } from '../db/tables.js';
import {
  InputChecker,
  LIST_LIMITS,
  MAX_VARIANTS,
} from '../services/validation.js';
import {
  changeOnHand,
  MAX_ON_HAND,
  type CatalogTransaction,
} from '../services/stock.js';
import { allocateHandle } from '../services/handles.js';
import { changedKeys } from './value-equality.js';
import type {
  ChangeCounts,
  ProductDraft,
  ProductFields,
  VariantDraft,
} from './types.js';

/** A product that cannot be written as the file describes it. */
export class ProductWriteError extends Error {
  override name = 'ProductWriteError';

  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

export interface WriteSettings {
  currency: string;
  /** The default location, where imported on-hand quantities go. */
  locationId: string;
  /** Names the file in the note of each stock adjustment. */
  sourceName: string;
}

export interface WriteOutcome {
  product: keyof ChangeCounts;
  variants: ChangeCounts;
  stockAdjustments: number;
}

interface VariantChanges {
  created: string[];
  updated: string[];
  unchanged: number;
  /** IDs of the draft's variants, stored or new. */
  idBySku: Map<string, string>;
}

/**
 * Applies the rules the admin mutations apply (title, SKU, description and
 * list limits), so an imported product can later be edited through the API.
 * Throws a ProductWriteError with the first offending line.
 */
function checkDraftAgainstCatalogRules(draft: ProductDraft): void {
  const checker = new InputChecker();
  checker.title(['title'], draft.fields.title);
  checker.description(['description'], draft.fields.description);
  checker.list(['categories'], draft.fields.categories, LIST_LIMITS.categories);
  checker.list(['tags'], draft.fields.tags, LIST_LIMITS.tags);
  if (!checker.ok) {
    throw new ProductWriteError(draft.line, checker.errors[0]!.message);
  }
  if (draft.variants.length > MAX_VARIANTS) {
    throw new ProductWriteError(
      draft.line,
      `Too many variants: ${draft.variants.length}; use at most ${MAX_VARIANTS}.`,
    );
  }
  for (const variant of draft.variants) {
    checker.sku(['sku'], variant.fields.sku);
    if (!checker.ok) {
      throw new ProductWriteError(variant.line, checker.errors[0]!.message);
    }
  }
}

/**
 * Creates or updates one product with its variants, group members and
 * stock inside `transaction`. Only fields that differ are written, so an
 * unchanged product keeps its `updated_at` and gets no event. A created or
 * changed product appends `product.created` or `product.updated`. Throws
 * ProductWriteError for a conflict with data already in the catalog.
 */
export async function writeProductDraft(
  transaction: CatalogTransaction,
  draft: ProductDraft,
  settings: WriteSettings,
): Promise<WriteOutcome> {
  checkDraftAgainstCatalogRules(draft);
  const [existing] = await transaction
    .select()
    .from(tables.products)
    .where(eq(tables.products.sourceRef, draft.sourceRef))
    .for('update');
  const product = existing ?? (await insertProduct(transaction, draft));
  const changedFields = existing ? changedKeys(existing, draft.fields) : [];

  const variantChanges = await writeVariants(
    transaction,
    product,
    draft,
    settings,
  );
  const stockAdjustments = await writeStock(
    transaction,
    draft,
    variantChanges,
    settings,
  );
  const membersChanged = await writeGroupMembers(transaction, product, draft);

  const changed =
    changedFields.length > 0 ||
    variantChanges.created.length > 0 ||
    variantChanges.updated.length > 0 ||
    membersChanged;
  if (existing && changed) {
    await updateProduct(transaction, existing, draft.fields, changedFields);
  }
  if (!existing || changed) {
    await appendProductEvent(transaction, {
      product,
      draft,
      created: !existing,
      changedFields,
      variantChanges,
      membersChanged,
    });
  }

  let productChange: keyof ChangeCounts = 'unchanged';
  if (!existing) {
    productChange = 'created';
  } else if (changed) {
    productChange = 'updated';
  }
  return {
    product: productChange,
    variants: {
      created: variantChanges.created.length,
      updated: variantChanges.updated.length,
      unchanged: variantChanges.unchanged,
    },
    stockAdjustments,
  };
}

async function insertProduct(
  transaction: CatalogTransaction,
  draft: ProductDraft,
): Promise<ProductRow> {
  const handle = await allocateHandle(transaction, draft.handleBase);
  const [row] = await transaction
    .insert(tables.products)
    .values({
      id: uuidv7(),
      handle,
      sourceRef: draft.sourceRef,
      ...draft.fields,
    })
    .returning();
  return row!;
}

/**
 * Writes the changed fields and moves `updated_at`. It moves as well when
 * only variants or group members changed, since they are part of the
 * product a storefront shows.
 */
async function updateProduct(
  transaction: CatalogTransaction,
  existing: ProductRow,
  fields: ProductFields,
  changedFields: Array<keyof ProductFields>,
): Promise<void> {
  const values: Partial<ProductFields> = {};
  for (const key of changedFields) {
    Object.assign(values, { [key]: fields[key] });
  }
  await transaction
    .update(tables.products)
    .set({ ...values, updatedAt: sql`now()` })
    .where(eq(tables.products.id, existing.id));
}

/**
 * Matches the draft's variants to stored ones by SKU. A SKU that belongs
 * to another product is a conflict: moving the variant would take it, and
 * its stock and order history, away from that product.
 */
async function writeVariants(
  transaction: CatalogTransaction,
  product: ProductRow,
  draft: ProductDraft,
  settings: WriteSettings,
): Promise<VariantChanges> {
  const changes: VariantChanges = {
    created: [],
    updated: [],
    unchanged: 0,
    idBySku: new Map(),
  };
  if (draft.variants.length === 0) return changes;

  const skus = draft.variants.map((variant) => variant.fields.sku);
  const stored = await transaction
    .select()
    .from(tables.variants)
    .where(inArray(tables.variants.sku, skus))
    .for('update');
  const bySku = new Map(stored.map((row) => [row.sku, row]));

  const inserts: Array<typeof tables.variants.$inferInsert> = [];
  for (const variant of draft.variants) {
    const desired = { ...variant.fields, currencyCode: settings.currency };
    const row = bySku.get(variant.fields.sku);
    if (row === undefined) {
      const id = uuidv7();
      changes.idBySku.set(desired.sku, id);
      inserts.push({ id, productId: product.id, ...desired });
      changes.created.push(desired.sku);
      continue;
    }
    if (row.productId !== product.id) {
      await rejectForeignSku(transaction, row, variant);
    }
    changes.idBySku.set(desired.sku, row.id);
    const changedFields = changedKeys(row, desired);
    if (changedFields.length === 0) {
      changes.unchanged += 1;
      continue;
    }
    const values: Partial<VariantRow> = {};
    for (const key of changedFields) {
      Object.assign(values, { [key]: desired[key] });
    }
    await transaction
      .update(tables.variants)
      .set({ ...values, updatedAt: sql`now()` })
      .where(eq(tables.variants.id, row.id));
    changes.updated.push(desired.sku);
  }
  if (inserts.length > 0) {
    await transaction.insert(tables.variants).values(inserts);
  }
  return changes;
}

async function rejectForeignSku(
  transaction: CatalogTransaction,
  row: VariantRow,
  variant: VariantDraft,
): Promise<never> {
  const [owner] = await transaction
    .select({ handle: tables.products.handle })
    .from(tables.products)
    .where(eq(tables.products.id, row.productId));
  throw new ProductWriteError(
    variant.line,
    `SKU "${row.sku}" already belongs to the product with handle "${owner?.handle}"; ` +
      'change the SKU in the file or remove that variant first.',
  );
}

/**
 * Sets on-hand at the default location through `changeOnHand`, which
 * records the adjustment and a `stock.changed` event. A quantity equal to
 * the stored one (0 when no stock row exists) writes nothing.
 */
async function writeStock(
  transaction: CatalogTransaction,
  draft: ProductDraft,
  variantChanges: VariantChanges,
  settings: WriteSettings,
): Promise<number> {
  const { idBySku, created: createdSkus } = variantChanges;
  const counted = draft.variants.flatMap((variant) =>
    variant.onHand === null
      ? []
      : [
          {
            variantId: idBySku.get(variant.fields.sku)!,
            sku: variant.fields.sku,
            onHand: variant.onHand,
            line: variant.line,
          },
        ],
  );
  if (counted.length === 0) return 0;

  // Variants created by this import have no stock row yet.
  const created = new Set(createdSkus);
  const stored = counted.filter((variant) => !created.has(variant.sku));
  const levels =
    stored.length === 0
      ? []
      : await transaction
          .select({
            variantId: tables.stockLevels.variantId,
            onHand: tables.stockLevels.onHand,
          })
          .from(tables.stockLevels)
          .where(
            and(
              eq(tables.stockLevels.locationId, settings.locationId),
              inArray(
                tables.stockLevels.variantId,
                stored.map((variant) => variant.variantId),
              ),
            ),
          );
  const onHandByVariant = new Map(
    levels.map((level) => [level.variantId, level.onHand]),
  );

  let adjustments = 0;
  for (const variant of counted) {
    const current = onHandByVariant.get(variant.variantId) ?? 0;
    if (current === variant.onHand) continue;
    const result = await changeOnHand(transaction, {
      variantId: variant.variantId,
      sku: variant.sku,
      locationId: settings.locationId,
      reason: 'IMPORT',
      quantity: variant.onHand,
      note: `Catalog import of ${settings.sourceName}, line ${variant.line}`,
    });
    if (!result.ok) {
      throw new ProductWriteError(
        variant.line,
        `Stock ${variant.onHand} of SKU "${variant.sku}" is out of range; use a whole number from 0 to ${MAX_ON_HAND}.`,
      );
    }
    adjustments += 1;
  }
  return adjustments;
}

/**
 * Replaces the members of a grouped product when they differ from the
 * file. Every member must already be in the catalog; grouped products are
 * written after all others so that members from the same file exist.
 */
async function writeGroupMembers(
  transaction: CatalogTransaction,
  product: ProductRow,
  draft: ProductDraft,
): Promise<boolean> {
  if (draft.fields.productType !== 'GROUPED') return false;

  const refs = draft.members.map((member) => member.sourceRef);
  const found =
    refs.length === 0
      ? []
      : await transaction
          .select({
            id: tables.products.id,
            sourceRef: tables.products.sourceRef,
          })
          .from(tables.products)
          .where(inArray(tables.products.sourceRef, refs));
  const idByRef = new Map(found.map((row) => [row.sourceRef, row.id]));
  const missing = draft.members.filter(
    (member) => !idByRef.has(member.sourceRef),
  );
  if (missing.length > 0) {
    const labels = missing.map((member) => `"${member.label}"`).join(', ');
    throw new ProductWriteError(
      draft.line,
      `Grouped products: ${labels} not found; a member must be a valid ` +
        'product in the file or already imported.',
    );
  }
  const memberIds = refs.map((ref) => idByRef.get(ref)!);

  const current = await transaction
    .select({ memberId: tables.productGroupMembers.memberId })
    .from(tables.productGroupMembers)
    .where(eq(tables.productGroupMembers.groupId, product.id))
    .orderBy(asc(tables.productGroupMembers.position));
  const same =
    current.length === memberIds.length &&
    current.every((row, index) => row.memberId === memberIds[index]);
  if (same) return false;

  await transaction
    .delete(tables.productGroupMembers)
    .where(eq(tables.productGroupMembers.groupId, product.id));
  if (memberIds.length > 0) {
    await transaction.insert(tables.productGroupMembers).values(
      memberIds.map((memberId, position) => ({
        groupId: product.id,
        memberId,
        position,
      })),
    );
  }
  return true;
}

async function appendProductEvent(
  transaction: CatalogTransaction,
  change: {
    product: ProductRow;
    draft: ProductDraft;
    created: boolean;
    changedFields: string[];
    variantChanges: VariantChanges;
    membersChanged: boolean;
  },
): Promise<void> {
  const { product, draft } = change;
  const common = {
    productId: product.id,
    handle: product.handle,
    sourceRef: draft.sourceRef,
    title: draft.fields.title,
    status: draft.fields.status,
    productType: draft.fields.productType,
    listed: draft.fields.listed,
  };
  const payload = change.created
    ? {
        ...common,
        variantSkus: draft.variants.map((variant) => variant.fields.sku),
      }
    : {
        ...common,
        changedFields: change.changedFields,
        variantsCreated: change.variantChanges.created,
        variantsUpdated: change.variantChanges.updated,
        groupMembersChanged: change.membersChanged,
      };
  await appendEvents(transaction, [
    {
      type: change.created ? 'product.created' : 'product.updated',
      aggregateId: product.id,
      payload,
    },
  ]);
}
