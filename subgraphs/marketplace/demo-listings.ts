import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../../platform/database.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import { parseDecimalToMinorUnits } from '../../platform/money.js';
import * as tables from './db/tables.js';
import { recordListingChanges } from './sync/tasks.js';

type MarketplaceDatabase = Database<typeof tables>;
type NewListing = typeof tables.listings.$inferInsert;

export interface SeedDemoListingsOptions {
  db: MarketplaceDatabase;
  /** GraphQL endpoint of the catalog, such as `http://127.0.0.1:4001/graphql`. */
  catalogUrl: string;
  logger: Logger;
  /** Time limit of each catalog request in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Products requested per catalog page, at most 250. Default 100. */
  pageSize?: number;
  /**
   * Returns extra headers for each catalog request, such as a signed
   * service identity (`signServiceIdentity` in platform/identity.ts), which
   * the catalog subgraph requires. Called before every request, because
   * such identities expire within a minute.
   */
  requestHeaders?: () => Promise<Record<string, string>>;
}

export const DEMO_CONNECTION_NAME = 'Sandbox marketplace';

const CATALOG_VARIANTS_QUERY = /* GraphQL */ `
  query DemoListingVariants($first: Int!, $after: String) {
    products(first: $first, after: $after) {
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        variants {
          id
          sku
          price {
            amount
            currencyCode
          }
          quantityAvailable
        }
      }
    }
  }
`;

const catalogVariant = z.object({
  id: z.string(),
  sku: z.string(),
  price: z.object({ amount: z.string(), currencyCode: z.string() }).nullable(),
  quantityAvailable: z.number().int().nullable(),
});

const catalogPage = z.object({
  data: z.object({
    products: z.object({
      pageInfo: z.object({
        hasNextPage: z.boolean(),
        endCursor: z.string().nullable(),
      }),
      nodes: z.array(
        z.object({ id: z.string(), variants: z.array(catalogVariant) }),
      ),
    }),
  }),
});

export interface CatalogVariant extends z.infer<typeof catalogVariant> {
  productId: string;
}

// The advisory lock serialises seeders that start together (replicas or a
// second `npm start`), so only one of them creates the connection.
const SEED_LOCK_KEY = 'marketplace:seed-demo-listings';

/**
 * Creates the demo data of a fresh marketplace: one SANDBOX connection named
 * "Sandbox marketplace" and one listing per catalog variant, read from the
 * catalog's GraphQL endpoint. Does nothing when any connection exists, so a
 * second run creates nothing. Returns the number of listings created.
 *
 * A listing takes the variant's price and is ACTIVE; a variant without a
 * price gets a DRAFT listing without one. The quantity is the variant's
 * `quantityAvailable`, or 0 when the catalog does not track its stock,
 * because a marketplace needs a finite quantity and 0 cannot oversell.
 */
export async function seedDemoListings(
  options: SeedDemoListingsOptions,
): Promise<{ created: number }> {
  const { db, logger } = options;
  if (await hasAnyConnection(db)) {
    logger.info('marketplace has a connection already; demo listings skipped');
    return { created: 0 };
  }

  // The catalog is read before the transaction starts, so no transaction
  // stays open while waiting on HTTP.
  const variants = await fetchCatalogVariants(options);

  const created = await db.transaction(async (transaction) => {
    await transaction.execute(
      sql`select pg_advisory_xact_lock(hashtext(${SEED_LOCK_KEY}))`,
    );
    if (await hasAnyConnection(transaction)) return null;

    const connectionId = uuidv7();
    await transaction.insert(tables.marketplaceConnections).values({
      id: connectionId,
      name: DEMO_CONNECTION_NAME,
      kind: 'SANDBOX',
    });
    const listings = variants.map((variant) =>
      toDemoListing(connectionId, variant, new Date()),
    );
    // Chunks keep each statement well under PostgreSQL's limit of 65 535
    // bind parameters.
    for (let start = 0; start < listings.length; start += 1000) {
      await transaction
        .insert(tables.listings)
        .values(listings.slice(start, start + 1000));
    }
    // Each listing priced in the catalog is published to the sandbox by
    // the sync worker, which takes its external id from the sandbox.
    await recordListingChanges(transaction, {
      where: sql`l.connection_id = ${connectionId} and l.status = 'ACTIVE'`,
      change: 'publish',
      publish: true,
    });
    return listings.length;
  });

  if (created === null) {
    logger.info(
      'another process seeded the marketplace; demo listings skipped',
    );
    return { created: 0 };
  }
  logger.info({ listings: created }, 'demo marketplace listings created');
  return { created };
}

async function hasAnyConnection(
  db: Pick<MarketplaceDatabase, 'select'>,
): Promise<boolean> {
  const rows = await db
    .select({ id: tables.marketplaceConnections.id })
    .from(tables.marketplaceConnections)
    .limit(1);
  return rows.length > 0;
}

/** Builds the listing of one catalog variant on the demo connection. */
export function toDemoListing(
  connectionId: string,
  variant: CatalogVariant,
  now: Date,
): NewListing {
  const id = uuidv7();
  const base = {
    id,
    connectionId,
    productId: variant.productId,
    variantId: variant.id,
    quantity: Math.max(0, variant.quantityAvailable ?? 0),
  };
  if (!variant.price) return { ...base, status: 'DRAFT' };

  const parsed = parseDecimalToMinorUnits(
    variant.price.amount,
    variant.price.currencyCode,
  );
  if ('error' in parsed) {
    throw new Error(
      `Invalid catalog price of variant ${variant.sku}: ${parsed.error}.`,
    );
  }
  // The sandbox marketplace runs in this process and publishes at once, so
  // a seeded listing is live with an external ID from the start.
  return {
    ...base,
    status: 'ACTIVE',
    externalId: `sandbox-${id}`,
    priceAmount: parsed.minor,
    currencyCode: variant.price.currencyCode,
    lastSyncedAt: now,
  };
}

/** Reads every variant of every catalog product, page by page. */
export async function fetchCatalogVariants(
  options: Pick<
    SeedDemoListingsOptions,
    'catalogUrl' | 'timeoutMs' | 'pageSize' | 'requestHeaders'
  >,
): Promise<CatalogVariant[]> {
  const variants: CatalogVariant[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await fetchCatalogPage(options, after);
    for (const product of page.nodes) {
      for (const variant of product.variants) {
        variants.push({ ...variant, productId: product.id });
      }
    }
    if (!page.pageInfo.hasNextPage) return variants;
    if (!page.pageInfo.endCursor) {
      throw new Error(
        `Catalog at ${options.catalogUrl} reported a next page without an endCursor.`,
      );
    }
    after = page.pageInfo.endCursor;
  }
}

async function fetchCatalogPage(
  options: Pick<
    SeedDemoListingsOptions,
    'catalogUrl' | 'timeoutMs' | 'pageSize' | 'requestHeaders'
  >,
  after: string | null,
) {
  const response = await fetch(options.catalogUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(await options.requestHeaders?.()),
    },
    body: JSON.stringify({
      query: CATALOG_VARIANTS_QUERY,
      variables: { first: options.pageSize ?? 100, after },
    }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(
      `Catalog request to ${options.catalogUrl} failed with HTTP ${response.status}: ${text.slice(0, 500)}`,
    );
  }
  let body: { errors?: { message: string }[] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(
      `Catalog response from ${options.catalogUrl} is not JSON: ${text.slice(0, 200)}`,
    );
  }
  if (body.errors?.length) {
    const messages = body.errors.map((error) => error.message).join('; ');
    throw new Error(
      `Catalog request to ${options.catalogUrl} returned errors: ${messages}`,
    );
  }
  const parsed = catalogPage.safeParse(body);
  if (!parsed.success) {
    throw new Error(
      `Catalog response from ${options.catalogUrl} has an unexpected shape: ${parsed.error.message}`,
    );
  }
  return parsed.data.data.products;
}
