import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { eq, sql } from 'drizzle-orm';
import type { Config } from '../../../platform/config.js';
import type { Database } from '../../../platform/database.js';
import {
  startEventConsumer,
  type EventConsumer,
} from '../../../platform/event-consumer.js';
import { sendJson, type RouteHandler } from '../../../platform/http-server.js';
import type { Logger } from '../../../platform/logger.js';
import {
  createServiceClient,
  type ServiceClient,
} from '../../../platform/service-client.js';
import * as tables from '../db/tables.js';
import { eventsUrl, subgraphUrl } from '../orders/clients.js';
import { buildGoogleFeed, type FeedProduct } from './google-feed.js';

type MarketplaceDatabase = Database<typeof tables>;

export const GOOGLE_FEED_PATH = '/feeds/google.xml';
const FEED_NAME = 'google';
/** Catalog events after which the feed is built again. */
export const FEED_EVENT_TYPES = [
  'product.created',
  'product.updated',
  'stock.changed',
];
/** Products per catalog page; the catalog serves at most 250. */
const PAGE_SIZE = 100;

const FEED_PRODUCTS = /* GraphQL */ `
  query GoogleFeedProducts($first: Int!, $after: String) {
    products(first: $first, after: $after) {
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        handle
        title
        description
        vendor
        productType
        categories
        images {
          url
        }
        options {
          name
        }
        variants {
          sku
          title
          selectedOptions {
            name
            value
          }
          price {
            amount
            currencyCode
          }
          availableForSale
          quantityAvailable
          inventoryPolicy
          weight {
            value
            unit
          }
          barcode
          image {
            url
          }
        }
      }
    }
  }
`;

interface FeedDocument {
  /** The `feed_states` generation the document was built from. */
  generation: number;
  xml: string;
  etag: string;
  lastModified: Date;
}

/**
 * Reads every listed, active product of the catalog through its public
 * `products` query, page by page, signed as the marketplace service.
 */
async function readCatalogProducts(
  client: ServiceClient,
): Promise<FeedProduct[]> {
  const products: FeedProduct[] = [];
  let after: string | null = null;
  for (;;) {
    const data: {
      products: {
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
        nodes: FeedProduct[];
      };
    } = await client.request('GoogleFeedProducts', FEED_PRODUCTS, {
      first: PAGE_SIZE,
      after,
    });
    products.push(...data.products.nodes);
    if (
      !data.products.pageInfo.hasNextPage ||
      !data.products.pageInfo.endCursor
    ) {
      return products;
    }
    after = data.products.pageInfo.endCursor;
  }
}

/** Increments the feed's generation, so every replica builds it again. */
export async function markFeedStale(
  executor: Pick<MarketplaceDatabase, 'execute'>,
): Promise<void> {
  await executor.execute(sql`
    insert into feed_states (name, generation, changed_at)
    values (${FEED_NAME}, 1, now())
    on conflict (name) do update
      set generation = feed_states.generation + 1, changed_at = now()`);
}

async function currentGeneration(db: MarketplaceDatabase): Promise<number> {
  const [row] = await db
    .select({ generation: tables.feedStates.generation })
    .from(tables.feedStates)
    .where(eq(tables.feedStates.name, FEED_NAME));
  return row?.generation ?? 0;
}

/** True when the request's validators match the document, so 304 applies. */
function notModified(
  request: IncomingMessage,
  document: FeedDocument,
): boolean {
  const ifNoneMatch = request.headers['if-none-match'];
  if (typeof ifNoneMatch === 'string') {
    return ifNoneMatch
      .split(',')
      .map((tag) => tag.trim().replace(/^W\//, ''))
      .some((tag) => tag === document.etag || tag === '*');
  }
  const ifModifiedSince = request.headers['if-modified-since'];
  if (typeof ifModifiedSince === 'string') {
    const since = Date.parse(ifModifiedSince);
    // HTTP dates have whole seconds.
    return (
      !Number.isNaN(since) &&
      Math.floor(document.lastModified.getTime() / 1000) * 1000 <= since
    );
  }
  return false;
}

export interface GoogleFeed {
  route: RouteHandler;
  stop(): Promise<void>;
}

/**
 * Serves the Google Merchant Center feed at GOOGLE_FEED_PATH, without
 * identity, because Merchant Center fetches it anonymously.
 *
 * The document is cached per process and built again when the catalog
 * changed: a consumer of the catalog's product and stock events increments
 * the feed's generation in the database, and a request that finds a newer
 * generation than its cached document's builds the document again before
 * answering (one build at a time). Responses carry an ETag (SHA-256 of the
 * document) and Last-Modified (when the content last changed), and answer
 * conditional requests with 304. While the catalog cannot be reached, the
 * last document is served; without one the route answers 503.
 */
export function startGoogleFeed(options: {
  db: MarketplaceDatabase;
  config: Config;
  logger: Logger;
}): GoogleFeed {
  const { db, config } = options;
  const logger = options.logger.child({ component: 'google-feed' });
  const catalog = createServiceClient({
    config,
    caller: 'marketplace',
    service: 'catalog',
    url: subgraphUrl(config, 'catalog'),
  });
  let cached: FeedDocument | null = null;
  let building: Promise<FeedDocument> | null = null;

  async function build(generation: number): Promise<FeedDocument> {
    const baseUrl = config.STOREFRONT_BASE_URL!.replace(/\/+$/, '');
    const products = await readCatalogProducts(catalog);
    const feed = buildGoogleFeed(products, {
      storefrontBaseUrl: baseUrl,
      shopName: new URL(baseUrl).host,
      defaultBrand: config.FEED_DEFAULT_BRAND?.trim() || null,
      now: new Date(),
    });
    const etag = `"${createHash('sha256').update(feed.xml).digest('base64url')}"`;
    const lastModified =
      cached && cached.etag === etag ? cached.lastModified : new Date();
    logger.info(
      { items: feed.items, skipped: feed.skipped, generation },
      'google feed built',
    );
    return { generation, xml: feed.xml, etag, lastModified };
  }

  async function documentFor(generation: number): Promise<FeedDocument> {
    if (cached && cached.generation >= generation) return cached;
    if (!building) {
      building = build(generation).finally(() => {
        building = null;
      });
      building.then(
        (document) => {
          if (!cached || cached.generation <= document.generation) {
            cached = document;
          }
        },
        () => {},
      );
    }
    const document = await building;
    // A build that started before this generation is followed by another.
    return document.generation >= generation
      ? document
      : documentFor(generation);
  }

  const route: RouteHandler = async (
    request: IncomingMessage,
    response: ServerResponse,
  ) => {
    if (!config.STOREFRONT_BASE_URL) {
      sendJson(response, 503, {
        error:
          'The Google feed needs STOREFRONT_BASE_URL, the storefront address its product links start with; set it and restart the marketplace service.',
        code: 'SERVICE_UNAVAILABLE',
      });
      return;
    }
    let document: FeedDocument;
    try {
      document = await documentFor(await currentGeneration(db));
    } catch (error) {
      logger.warn({ err: error }, 'building the google feed failed');
      if (!cached) {
        sendJson(response, 503, {
          error:
            'The Google feed could not be built because the catalog could not be read; try again later.',
          code: 'SERVICE_UNAVAILABLE',
        });
        return;
      }
      document = cached;
    }
    response.setHeader('etag', document.etag);
    response.setHeader('last-modified', document.lastModified.toUTCString());
    response.setHeader('cache-control', 'no-cache');
    if (notModified(request, document)) {
      response.statusCode = 304;
      response.end();
      return;
    }
    response.statusCode = 200;
    response.setHeader('content-type', 'application/xml; charset=utf-8');
    response.setHeader(
      'content-length',
      String(Buffer.byteLength(document.xml)),
    );
    response.end(request.method === 'HEAD' ? undefined : document.xml);
  };

  const consumer: EventConsumer = startEventConsumer({
    name: 'marketplace.google-feed',
    caller: 'marketplace',
    source: { service: 'catalog', url: eventsUrl(config, 'catalog') },
    types: FEED_EVENT_TYPES,
    db,
    config,
    logger,
    handle: async (events, transaction) => {
      if (events.length > 0) await markFeedStale(transaction);
    },
  });

  return {
    route,
    async stop() {
      await consumer.stop();
      await catalog.close();
    },
  };
}
