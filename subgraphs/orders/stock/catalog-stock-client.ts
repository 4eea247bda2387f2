import type { Config } from '../../../platform/config.js';
import { parseDecimalToMinorUnits } from '../../../platform/money.js';
import {
  createServiceClient,
  ServiceRequestError,
  type ServiceClient,
} from '../../../platform/service-client.js';
import {
  ReservationStateError,
  type LineProblem,
  type LineProblemCode,
  type LineWeight,
  type PricedLine,
  type PriceLinesResult,
  type Reservation,
  type ReservationStateErrorCode,
  type ReservationStatus,
  type ReserveResult,
  type StockClient,
  type StockLineInput,
} from './stock-client.js';

/**
 * GraphQL URL of the catalog subgraph as the orders service calls it:
 * CATALOG_URL, else `http://<HOST>:<CATALOG_PORT>/graphql`, with a
 * wildcard HOST (0.0.0.0 or ::) replaced by 127.0.0.1.
 */
export function catalogGraphQLUrl(config: Config): string {
  if (config.CATALOG_URL) return config.CATALOG_URL;
  const host =
    config.HOST === '0.0.0.0' || config.HOST === '::'
      ? '127.0.0.1'
      : config.HOST.includes(':')
        ? `[${config.HOST}]`
        : config.HOST;
  return `http://${host}:${config.CATALOG_PORT}/graphql`;
}

const PRICED_LINE_FIELDS = `
  sku variantId quantity unitPrice { amount currencyCode } title
  requiresShipping quantityAvailable weight { value unit }`;
const PROBLEM_FIELDS = 'sku code message available';
const RESERVATION_FIELDS = `orderId status expiresAt lines { ${PRICED_LINE_FIELDS} }`;

const CHECKOUT_LINES = `query CheckoutLines($lines: [StockLineInput!]!) {
  checkoutLines(lines: $lines) {
    lines { ${PRICED_LINE_FIELDS} }
    problems { ${PROBLEM_FIELDS} }
  }
}`;

const STOCK_RESERVE = `mutation StockReserve($orderId: ID!, $lines: [StockLineInput!]!, $ttlSeconds: Int) {
  stockReserve(orderId: $orderId, lines: $lines, ttlSeconds: $ttlSeconds) {
    reservation { ${RESERVATION_FIELDS} }
    problems { ${PROBLEM_FIELDS} }
  }
}`;

/** Confirm, commit and release share one payload; `field` names the mutation. */
function reservationMutation(operation: string, field: string): string {
  return `mutation ${operation}($orderId: ID!) {
  ${field}(orderId: $orderId) {
    reservation { ${RESERVATION_FIELDS} }
    userErrors { field message code }
  }
}`;
}

const STOCK_RESERVATION_RELEASE = `mutation StockReservationRelease($orderId: ID!, $force: Boolean) {
  stockReservationRelease(orderId: $orderId, force: $force) {
    reservation { ${RESERVATION_FIELDS} }
    userErrors { field message code }
  }
}`;

interface PricedLineData {
  sku: string;
  variantId: string;
  quantity: number;
  unitPrice: { amount: string; currencyCode: string };
  title: string;
  requiresShipping: boolean;
  quantityAvailable: number | null;
  weight?: LineWeight | null;
}

interface ProblemData {
  sku: string;
  code: LineProblemCode;
  message: string;
  available: number | null;
}

interface ReservationData {
  orderId: string;
  status: ReservationStatus;
  expiresAt: string | null;
  lines: PricedLineData[];
}

interface ReservationPayloadData {
  reservation: ReservationData | null;
  userErrors: Array<{ field: string[]; message: string; code: string }>;
}

/**
 * The StockClient of the orders service: calls the catalog subgraph's
 * service-only fields over HTTP, signed as the `orders` service.
 */
export class CatalogStockClient implements StockClient {
  private readonly client: ServiceClient;

  constructor(
    config: Config,
    options: { url?: string; timeoutMs?: number } = {},
  ) {
    this.client = createServiceClient({
      config,
      caller: 'orders',
      service: 'catalog',
      url: options.url ?? catalogGraphQLUrl(config),
      timeoutMs: options.timeoutMs,
    });
  }

  async priceLines(lines: StockLineInput[]): Promise<PriceLinesResult> {
    const data = await this.client.request<{
      checkoutLines: { lines: PricedLineData[]; problems: ProblemData[] };
    }>('CheckoutLines', CHECKOUT_LINES, { lines: lineInputs(lines) });
    const { problems, lines: priced } = data.checkoutLines;
    if (problems.length > 0) {
      return { ok: false, problems: problems.map(lineProblem) };
    }
    return {
      ok: true,
      lines: priced.map((line) => pricedLine(line, 'CheckoutLines')),
    };
  }

  async reserve(
    orderId: string,
    lines: StockLineInput[],
    options: { ttlSeconds?: number } = {},
  ): Promise<ReserveResult> {
    const data = await this.client.request<{
      stockReserve: {
        reservation: ReservationData | null;
        problems: ProblemData[];
      };
    }>('StockReserve', STOCK_RESERVE, {
      orderId,
      lines: lineInputs(lines),
      ttlSeconds: options.ttlSeconds ?? null,
    });
    const { reservation, problems } = data.stockReserve;
    if (problems.length > 0 || reservation === null) {
      return { ok: false, problems: problems.map(lineProblem) };
    }
    return {
      ok: true,
      reservation: toReservation(reservation, 'StockReserve'),
    };
  }

  confirm(orderId: string): Promise<Reservation | null> {
    return this.changeReservation(
      'StockReservationConfirm',
      'stockReservationConfirm',
      orderId,
    );
  }

  commit(orderId: string): Promise<Reservation | null> {
    return this.changeReservation(
      'StockReservationCommit',
      'stockReservationCommit',
      orderId,
    );
  }

  release(
    orderId: string,
    options: { force?: boolean } = {},
  ): Promise<Reservation | null> {
    return this.changeReservation(
      'StockReservationRelease',
      'stockReservationRelease',
      orderId,
      STOCK_RESERVATION_RELEASE,
      { force: options.force ?? false },
    );
  }

  /** Closes the connection pool to the catalog. */
  close(): Promise<void> {
    return this.client.close();
  }

  private async changeReservation(
    operation: string,
    field: string,
    orderId: string,
    document = reservationMutation(operation, field),
    variables: Record<string, unknown> = {},
  ): Promise<Reservation | null> {
    const data = await this.client.request<
      Record<string, ReservationPayloadData>
    >(operation, document, { ...variables, orderId });
    const payload = data[field]!;
    const reservation =
      payload.reservation === null
        ? null
        : toReservation(payload.reservation, operation);
    const [userError] = payload.userErrors;
    if (userError) {
      if (reservation === null) {
        throw new ServiceRequestError(
          `catalog request ${operation} failed: ${userError.code}: ${userError.message}`,
          'catalog',
          operation,
          'graphql',
          userError.code,
        );
      }
      throw new ReservationStateError(
        userError.message,
        userError.code as ReservationStateErrorCode,
        reservation,
      );
    }
    return reservation;
  }
}

function lineInputs(lines: StockLineInput[]): StockLineInput[] {
  return lines.map((line) => ({ sku: line.sku, quantity: line.quantity }));
}

function lineProblem(problem: ProblemData): LineProblem {
  return {
    sku: problem.sku,
    code: problem.code,
    message: problem.message,
    ...(problem.available === null ? {} : { available: problem.available }),
  };
}

/** Converts the catalog's decimal price into minor units, never through a float. */
function pricedLine(line: PricedLineData, operation: string): PricedLine {
  const parsed = parseDecimalToMinorUnits(
    line.unitPrice.amount,
    line.unitPrice.currencyCode,
  );
  if ('error' in parsed) {
    throw new ServiceRequestError(
      `catalog request ${operation} returned an invalid price for SKU "${line.sku}": ${parsed.error}.`,
      'catalog',
      operation,
      'invalid_response',
    );
  }
  return {
    sku: line.sku,
    variantId: line.variantId,
    quantity: line.quantity,
    unitPriceAmount: parsed.minor,
    currencyCode: line.unitPrice.currencyCode,
    title: line.title,
    requiresShipping: line.requiresShipping,
    quantityAvailable: line.quantityAvailable,
    weight: line.weight ?? null,
  };
}

function toReservation(data: ReservationData, operation: string): Reservation {
  return {
    orderId: data.orderId,
    status: data.status,
    expiresAt: data.expiresAt,
    lines: data.lines.map((line) => pricedLine(line, operation)),
  };
}
