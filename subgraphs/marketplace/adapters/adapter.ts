/**
 * Interface the marketplace service uses for one marketplace account: publish
 * listings with price, content and quantity, set quantities, end listings,
 * read orders placed there, and report shipments back. Each marketplace
 * (the offline sandbox, eBay) implements it over its own published API.
 *
 * Amounts are integers in minor units of `currencyCode`. Every call is
 * safe to repeat: publishing the same SKU again updates the same listing,
 * and setting a quantity sets it rather than adding to it, so a retry after
 * a lost response changes nothing.
 */

export interface ListingContent {
  /** Shop's SKU, which marketplaces that key inventory by SKU use as theirs. */
  sku: string;
  title: string;
  /** Plain text or simple HTML, as the marketplace accepts. */
  description: string;
  imageUrls: string[];
  brand: string | null;
  /** GTIN (EAN/UPC/ISBN) when known. */
  gtin: string | null;
  /** Manufacturer part number when known. */
  mpn: string | null;
  condition: 'NEW' | 'USED' | 'REFURBISHED';
  /** Weight in grams, when known. */
  weightGrams: number | null;
  /** Item specifics by name, such as `{ Color: ['Red'] }`, when known. */
  aspects?: Record<string, string[]>;
}

export interface ListingPush extends ListingContent {
  price: { amount: number; currencyCode: string };
  /** Units to offer, never below 0. */
  quantity: number;
  /** Listing's id on the marketplace from an earlier publish, if any. */
  externalId: string | null;
  /**
   * Marketplace's category of this listing, when the shop maps one.
   * Otherwise the adapter uses the connection's default category, if any.
   */
  categoryId?: string | null;
}

export interface PublishedListing {
  /** Marketplace's id of the listing (offer id, item id). */
  externalId: string;
  /** Listing status: ACTIVE when live, PENDING while the marketplace reviews it. */
  status: 'ACTIVE' | 'PENDING';
}

export interface MarketplaceOrderLine {
  /** Marketplace's line id, needed to report the shipment of that line. */
  externalLineId: string;
  sku: string;
  quantity: number;
  /** Price of one unit as sold there. */
  unitPriceAmount: number;
  /**
   * Price of the whole line before discounts, when the marketplace reports
   * it. Equals unitPriceAmount × quantity unless the marketplace's own
   * total does not divide evenly.
   */
  totalAmount?: number;
}

export interface MarketplaceOrder {
  /** Marketplace's order id. An order is imported once per id. */
  externalOrderId: string;
  /** ISO 8601 time the buyer placed it. */
  placedAt: string;
  currencyCode: string;
  /** Buyer's email as the marketplace relays it (often an alias), or null. */
  email: string | null;
  shippingAddress: {
    name: string;
    line1: string;
    line2: string | null;
    city: string;
    region: string | null;
    postalCode: string | null;
    countryCode: string;
    phone: string | null;
  } | null;
  lines: MarketplaceOrderLine[];
  /** Amounts the buyer paid the marketplace, in minor units. */
  subtotalAmount: number;
  shippingAmount: number;
  taxAmount: number;
  totalAmount: number;
  /** False while the marketplace has not confirmed payment, and such orders wait. */
  paid: boolean;
}

export interface OrderPage {
  orders: MarketplaceOrder[];
  /**
   * Cursor to pass back to continue after these orders, or null when there
   * are no more now. On null, keep the cursor that was passed in and pass it again on
   * the next pass, which then returns orders placed or changed since. A
   * page may be empty with a non-null cursor. An order appears again when
   * it changes (for example when its payment is confirmed), and eBay pages
   * may repeat an order, so import by `externalOrderId`.
   */
  nextCursor: string | null;
}

export interface FulfillmentPush {
  externalOrderId: string;
  /** Lines shipped. An empty list means all of the order's lines. */
  lines: { externalLineId: string; quantity: number }[];
  carrier: string;
  trackingNumber: string;
  /** ISO 8601. */
  shippedAt: string;
}

/**
 * Raised when a call fails. `retryable` is true for network errors, 5xx
 * and rate limits (429), with `retryAfterMs` when the marketplace reported
 * when to try again. The message names the operation and the marketplace's
 * error, never credentials.
 */
export class MarketplaceError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

export interface MarketplaceAdapter {
  /** `SANDBOX` or `EBAY`, as stored on the connection. */
  readonly kind: string;
  /** Checks the credentials with a harmless call and throws MarketplaceError on failure. */
  testConnection(): Promise<void>;
  /** Creates or updates the listing of `push.sku` with price, content and quantity. */
  publish(push: ListingPush): Promise<PublishedListing>;
  /** Sets the offered quantity of a published listing. */
  setQuantity(sku: string, externalId: string, quantity: number): Promise<void>;
  /** Takes a listing down. Ending an ended listing succeeds. */
  end(sku: string, externalId: string): Promise<void>;
  /**
   * Fetches orders placed or changed since `cursor`, or from the start of the
   * account's window when `cursor` is null.
   */
  fetchOrders(cursor: string | null): Promise<OrderPage>;
  /** Reports a shipment of an order, with its tracking number. */
  pushFulfillment(push: FulfillmentPush): Promise<void>;
}
