import { and, asc, eq, gt, sql, type SQL } from 'drizzle-orm';
import type { Database } from '../../../platform/database.js';
import {
  parsePageArguments,
  toConnection,
} from '../../../platform/pagination.js';
import { badUserInput } from '../../../platform/errors.js';
import { isUuid } from '../../../platform/ids.js';
import * as tables from '../db/tables.js';
import { normaliseCategoryPath } from './catalog-values.js';
import type { ProductRow } from '../db/tables.js';

type CatalogDatabase = Database<typeof tables>;

export interface ProductFilter {
  search?: string | null;
  category?: string | null;
  availableForSale?: boolean | null;
}

const MAX_SEARCH_LENGTH = 200;

function escapeLikePattern(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

/**
 * SQL that is true when some variant of the product in `productId` can be
 * sold: it has a price, is purchasable, and has stock available, does not
 * track stock, or allows backorders.
 */
function hasSellableVariant(productId: SQL): SQL {
  return sql`exists (
    select 1 from ${tables.variants} v
     where v.product_id = ${productId}
       and v.purchasable and v.price_amount is not null
       and (not v.tracks_inventory or v.inventory_policy = 'CONTINUE'
            or (select coalesce(sum(s.on_hand - s.reserved), 0)
                  from ${tables.stockLevels} s where s.variant_id = v.id) > 0))`;
}

/** SQL twin of the `Product.availableForSale` resolver. */
const productAvailableForSale = sql`(
  (${tables.products.productType} = 'STANDARD'
     and ${hasSellableVariant(sql`${tables.products.id}`)})
  or (${tables.products.productType} = 'GROUPED' and exists (
     select 1 from ${tables.productGroupMembers} m
       join ${tables.products} member on member.id = m.member_id
      where m.group_id = ${tables.products.id}
        and member.status = 'ACTIVE' and member.product_type = 'STANDARD'
        and ${hasSellableVariant(sql`member.id`)})))`;

function filterConditions(filter: ProductFilter | null | undefined): SQL[] {
  const conditions: SQL[] = [];
  const search = filter?.search?.trim();
  if (search) {
    if (search.length > MAX_SEARCH_LENGTH) {
      throw badUserInput(
        `Invalid filter.search: ${search.length} characters; use at most ${MAX_SEARCH_LENGTH}.`,
        'filter',
      );
    }
    for (const word of search.split(/\s+/)) {
      const pattern = `%${escapeLikePattern(word)}%`;
      conditions.push(sql`(
        ${tables.products.title} ilike ${pattern}
        or ${tables.products.description} ilike ${pattern}
        or array_to_string(${tables.products.tags}, ' ') ilike ${pattern}
        or exists (select 1 from ${tables.variants} v
                    where v.product_id = ${tables.products.id}
                      and v.sku ilike ${pattern}))`);
    }
  }
  if (filter?.category != null) {
    const category = normaliseCategoryPath(filter.category).toLowerCase();
    if (!category) {
      throw badUserInput(
        'Invalid filter.category: it is empty. Pass a path such as "Clothing > Hoodies".',
        'filter',
      );
    }
    const below = `${escapeLikePattern(category)} > %`;
    conditions.push(sql`exists (
      select 1 from unnest(${tables.products.categories}) as c(path)
       where lower(c.path) = ${category} or lower(c.path) like ${below})`);
  }
  if (filter?.availableForSale != null) {
    conditions.push(
      filter.availableForSale
        ? productAvailableForSale
        : sql`not ${productAvailableForSale}`,
    );
  }
  return conditions;
}

/**
 * Lists active, listed products in creation order (IDs are UUIDv7, so ID
 * order is creation order) as a Relay connection.
 */
export async function listProducts(
  db: CatalogDatabase,
  args: {
    first?: number | null;
    after?: string | null;
    filter?: ProductFilter | null;
  },
) {
  const { first, after } = parsePageArguments(args);
  if (after !== null && !isUuid(after)) {
    throw badUserInput(
      'Invalid after cursor. Pass an endCursor returned by products.',
      'after',
    );
  }
  const conditions = [
    eq(tables.products.status, 'ACTIVE'),
    eq(tables.products.listed, true),
    ...filterConditions(args.filter),
  ];
  if (after) conditions.push(gt(tables.products.id, after));
  const rows: ProductRow[] = await db
    .select()
    .from(tables.products)
    .where(and(...conditions))
    .orderBy(asc(tables.products.id))
    .limit(first + 1);
  return toConnection(rows, first, after !== null, (row) => row.id);
}
