import type { Config } from '../../platform/config.js';
import { parseDecimalToMinorUnits } from '../../platform/money.js';
import {
  createServiceClient,
  type ServiceClient,
} from '../../platform/service-client.js';
import { eventsUrlBeside } from '../../platform/event-stream-client.js';

/** Ids per `variantsForListing` request; the catalog accepts at most 500. */
const MAX_IDS_PER_REQUEST = 250;

/** A catalog variant as a listing shows it, with the price in minor units. */
export interface CatalogListingVariant {
  id: string;
  productId: string;
  sku: string;
  title: string;
  description: string;
  imageUrls: string[];
  brand: string | null;
  barcode: string | null;
  weightGrams: number | null;
  price: { amount: number; currencyCode: string } | null;
  /** Null when the variant does not track stock. */
  quantityAvailable: number | null;
  tracksInventory: boolean;
  inventoryPolicy: 'DENY' | 'CONTINUE';
  purchasable: boolean;
}

const VARIANTS_FOR_LISTING = /* GraphQL */ `
  query VariantsForListing($ids: [ID!]!, $productIds: [ID!]) {
    variantsForListing(ids: $ids, productIds: $productIds) {
      id
      productId
      sku
      title
      description
      imageUrls
      brand
      barcode
      weightGrams
      price {
        amount
        currencyCode
      }
      quantityAvailable
      tracksInventory
      inventoryPolicy
      purchasable
    }
  }
`;

type WireVariant = Omit<CatalogListingVariant, 'price'> & {
  price: { amount: string; currencyCode: string } | null;
};

/**
 * GraphQL URL of the catalog: CATALOG_URL, else
 * `http://<HOST>:<CATALOG_PORT>/graphql` with a wildcard HOST (0.0.0.0 or
 * ::) replaced by 127.0.0.1.
 */
export function catalogGraphqlUrl(config: Config): string {
  if (config.CATALOG_URL) return config.CATALOG_URL;
  const host =
    config.HOST === '0.0.0.0' || config.HOST === '::'
      ? '127.0.0.1'
      : config.HOST.includes(':')
        ? `[${config.HOST}]`
        : config.HOST;
  return `http://${host}:${config.CATALOG_PORT}/graphql`;
}

/** URL of the catalog's event stream: its GraphQL URL with `/graphql` replaced by `/events`. */
export function catalogEventsUrl(config: Config): string {
  return eventsUrlBeside(catalogGraphqlUrl(config));
}

/** Reads variants from the catalog's `variantsForListing`, signed as the marketplace service. */
export class CatalogListingClient {
  private readonly client: ServiceClient;

  constructor(config: Config) {
    this.client = createServiceClient({
      config,
      caller: 'marketplace',
      service: 'catalog',
      url: catalogGraphqlUrl(config),
    });
  }

  /**
   * Returns the variants with `variantIds` and every variant of
   * `productIds`; ids that match nothing are left out. Sends one request
   * per MAX_IDS_PER_REQUEST ids. Rejects with a ServiceRequestError when
   * the catalog fails.
   */
  async variants(
    variantIds: readonly string[],
    productIds: readonly string[] = [],
  ): Promise<CatalogListingVariant[]> {
    const result: CatalogListingVariant[] = [];
    const ids = [...new Set(variantIds)];
    const products = [...new Set(productIds)];
    for (
      let start = 0;
      start < Math.max(ids.length, products.length, 1);
      start += MAX_IDS_PER_REQUEST
    ) {
      const data = await this.client.request<{
        variantsForListing: WireVariant[];
      }>('VariantsForListing', VARIANTS_FOR_LISTING, {
        ids: ids.slice(start, start + MAX_IDS_PER_REQUEST),
        productIds: products.slice(start, start + MAX_IDS_PER_REQUEST),
      });
      for (const variant of data.variantsForListing) {
        result.push({ ...variant, price: toMinorUnits(variant.price) });
      }
    }
    return result;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

function toMinorUnits(
  price: WireVariant['price'],
): CatalogListingVariant['price'] {
  if (!price) return null;
  const parsed = parseDecimalToMinorUnits(price.amount, price.currencyCode);
  if ('error' in parsed) {
    throw new Error(`Invalid catalog price: ${parsed.error}.`);
  }
  return { amount: parsed.minor, currencyCode: price.currencyCode };
}

const clients = new WeakMap<object, CatalogListingClient>();

/**
 * Returns the catalog client of the marketplace service that owns `db`,
 * created on the first call. One process may run several marketplace
 * services (the test stacks), so clients are kept per database handle.
 */
export function catalogClientFor(
  db: object,
  config: Config,
): CatalogListingClient {
  let client = clients.get(db);
  if (!client) {
    client = new CatalogListingClient(config);
    clients.set(db, client);
  }
  return client;
}

/** Closes the catalog client of `db`; the next call creates a new one. */
export async function closeCatalogClient(db: object): Promise<void> {
  const client = clients.get(db);
  clients.delete(db);
  await client?.close();
}
