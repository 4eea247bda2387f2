/**
 * What the orders service asks of the catalog's stock: prices of checkout
 * lines and reservations held for an order. The catalog owns stock, so
 * orders never touches it directly; these calls go over HTTP to the
 * catalog subgraph with a signed service identity.
 *
 * Every call that changes stock is idempotent by order id: repeating it
 * after a timeout or a crash has the effect of one call.
 */

export interface StockLineInput {
  sku: string;
  /** At least 1. Lines with the same SKU are summed by the catalog. */
  quantity: number;
}

/** A checkout line as the catalog prices it now. */
export interface PricedLine {
  sku: string;
  variantId: string;
  quantity: number;
  /** Minor units of `currencyCode`. */
  unitPriceAmount: number;
  currencyCode: string;
  /** Product title, then the variant title when the product has options. */
  title: string;
  requiresShipping: boolean;
  /** Units available to sell now; null when stock is not tracked. */
  quantityAvailable: number | null;
  /**
   * Weight of one unit, `value` a decimal string as the catalog stores it;
   * null or absent when the variant has none.
   */
  weight?: LineWeight | null;
}

export interface LineWeight {
  value: string;
  unit: 'GRAMS' | 'KILOGRAMS' | 'POUNDS' | 'OUNCES';
}

export type LineProblemCode =
  /** Less is available than the lines ask for; `available` gives how many. */
  | 'OUT_OF_STOCK'
  | 'UNKNOWN_SKU'
  /** The variant cannot be bought here (an external or inactive product). */
  | 'NOT_PURCHASABLE'
  /** The variant has no price. */
  | 'NO_PRICE';

export interface LineProblem {
  sku: string;
  code: LineProblemCode;
  message: string;
  /** For OUT_OF_STOCK: units available across all locations. */
  available?: number;
}

export type PriceLinesResult =
  { ok: true; lines: PricedLine[] } | { ok: false; problems: LineProblem[] };

export type ReservationStatus = 'ACTIVE' | 'COMMITTED' | 'RELEASED' | 'EXPIRED';

export interface Reservation {
  orderId: string;
  status: ReservationStatus;
  /** ISO 8601; null once confirmed, when it is held until commit or release. */
  expiresAt: string | null;
  /** Lines as priced when the reservation was made, one per SKU. */
  lines: PricedLine[];
}

export type ReserveResult =
  | { ok: true; reservation: Reservation }
  | { ok: false; problems: LineProblem[] };

export type ReservationStateErrorCode =
  | 'RESERVATION_EXPIRED'
  | 'RESERVATION_RELEASED'
  | 'RESERVATION_COMMITTED'
  | 'RESERVATION_CONFIRMED';

/**
 * Rejection of confirm, commit or release when the reservation's status
 * does not allow the call: confirming or committing an expired or released
 * reservation, or releasing a committed one. `reservation` is its state now.
 */
export class ReservationStateError extends Error {
  override readonly name = 'ReservationStateError';

  constructor(
    message: string,
    readonly code: ReservationStateErrorCode,
    readonly reservation: Reservation,
  ) {
    super(message);
  }
}

/**
 * Calls fail with ReservationStateError as described on each method, and
 * with an error naming the catalog and the operation when the catalog
 * cannot be reached or rejects the request (ServiceRequestError of
 * platform/service-client.ts in the HTTP client). After a failure that
 * leaves it unknown whether the catalog acted, repeat the call: every call
 * is idempotent by order id.
 */
export interface StockClient {
  /** Prices lines without reserving anything (checkout display). */
  priceLines(lines: StockLineInput[]): Promise<PriceLinesResult>;
  /**
   * Reserves every line for `orderId` at once, or nothing. Repeating the
   * call for an order with an active or committed reservation returns that
   * reservation unchanged; after a release or expiry it reserves anew.
   * `orderId` is the order's id, a lower-case UUID; `ttlSeconds` (1 to
   * 86400) overrides the catalog's STOCK_RESERVATION_TTL_SECONDS.
   */
  reserve(
    orderId: string,
    lines: StockLineInput[],
    options?: { ttlSeconds?: number },
  ): Promise<ReserveResult>;
  /**
   * Removes the expiry: the stock stays held until commit or release.
   * Resolves to null when the order has no reservation. Rejects with
   * ReservationStateError (RESERVATION_EXPIRED, RESERVATION_RELEASED) when
   * the reservation expired, even if the expiry sweep has not reached it
   * yet, or was released.
   */
  confirm(orderId: string): Promise<Reservation | null>;
  /**
   * Takes the reserved units off on-hand stock (on fulfilment). Resolves
   * to null when the order has no reservation; rejects like `confirm` for
   * an expired or released reservation.
   */
  commit(orderId: string): Promise<Reservation | null>;
  /**
   * Returns the reserved units to available stock. Resolves to null when
   * the order has no reservation; rejects with ReservationStateError
   * (RESERVATION_COMMITTED) for a committed one. A confirmed reservation
   * holds the stock of a written order: it is released only with
   * `force: true`, which only a caller that cancelled the order sends, and
   * otherwise rejected with RESERVATION_CONFIRMED and left as it is.
   */
  release(
    orderId: string,
    options?: { force?: boolean },
  ): Promise<Reservation | null>;
}
