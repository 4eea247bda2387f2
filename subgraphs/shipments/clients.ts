import type { Config, ServiceName } from '../../platform/config.js';
import { serviceUrlOverride, servicePort } from '../../platform/config.js';
import {
  createServiceClient,
  type ServiceClient,
} from '../../platform/service-client.js';
import type { Address } from './carriers/carrier.js';
import type { Weight } from './carriers/units.js';

/**
 * GraphQL URL of another subgraph as the shipments service calls it:
 * CATALOG_URL or ORDERS_URL, else `http://<HOST>:<port>/graphql`, with a
 * wildcard HOST (0.0.0.0 or ::) replaced by 127.0.0.1.
 */
export function subgraphGraphQLUrl(
  config: Config,
  service: ServiceName,
): string {
  const override = serviceUrlOverride(config, service);
  if (override) return override;
  const host =
    config.HOST === '0.0.0.0' || config.HOST === '::'
      ? '127.0.0.1'
      : config.HOST.includes(':')
        ? `[${config.HOST}]`
        : config.HOST;
  return `http://${host}:${servicePort(config, service)}/graphql`;
}

/** An order as `Query.orderForFulfillment` of the orders service returns it. */
export interface FulfillmentOrder {
  id: string;
  number: number;
  customerId: string | null;
  email: string;
  financialStatus: string;
  shippingAddress: Address | null;
  shippingMethodCode: string | null;
  lines: Array<{
    id: string;
    sku: string;
    variantId: string;
    title: string;
    quantity: number;
  }>;
}

/** What the shipments service reads from the orders service. */
export interface OrdersClient {
  /** The order, or null when the orders service has no order with that id. */
  orderForFulfillment(orderId: string): Promise<FulfillmentOrder | null>;
  close(): Promise<void>;
}

export interface StockCommitError {
  field: string[];
  message: string;
  code: string;
}

export type StockCommitResult =
  | { ok: true; status: 'COMMITTED' | 'UNCOMMITTED' }
  | { ok: false; errors: StockCommitError[] };

/** What the shipments service asks of the catalog. */
export interface CatalogClient {
  /** Sells `lines` of the order's reservation once per `commitKey`. */
  commitLines(
    orderId: string,
    commitKey: string,
    lines: Array<{ sku: string; quantity: number }>,
  ): Promise<StockCommitResult>;
  /** Puts the units of `commitKey` back into the order's reservation, once. */
  uncommitLines(orderId: string, commitKey: string): Promise<StockCommitResult>;
  /** Weights of variants by id; variants without a weight are left out. */
  variantWeights(variantIds: string[]): Promise<Map<string, Weight>>;
  close(): Promise<void>;
}

const ORDER_FOR_FULFILLMENT = `query OrderForFulfillment($id: ID!) {
  orderForFulfillment(id: $id) {
    id number customerId email financialStatus shippingMethodCode
    shippingAddress { name line1 line2 city region postalCode countryCode phone }
    lines { id sku variantId title quantity }
  }
}`;

const COMMIT_PAYLOAD = `commit { status } userErrors { field message code }`;

const COMMIT_LINES = `mutation StockReservationCommitLines($orderId: ID!, $commitKey: String!, $lines: [StockLineInput!]!) {
  stockReservationCommitLines(orderId: $orderId, commitKey: $commitKey, lines: $lines) { ${COMMIT_PAYLOAD} }
}`;

const UNCOMMIT_LINES = `mutation StockReservationUncommitLines($orderId: ID!, $commitKey: String!) {
  stockReservationUncommitLines(orderId: $orderId, commitKey: $commitKey) { ${COMMIT_PAYLOAD} }
}`;

const VARIANT_WEIGHTS = `query VariantWeights($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Variant { id weight { value unit } }
  }
}`;

interface CommitPayloadData {
  commit: { status: 'COMMITTED' | 'UNCOMMITTED' } | null;
  userErrors: StockCommitError[];
}

function commitResult(payload: CommitPayloadData): StockCommitResult {
  if (payload.userErrors.length > 0 || payload.commit === null) {
    return { ok: false, errors: payload.userErrors };
  }
  return { ok: true, status: payload.commit.status };
}

/** Calls the orders subgraph's service-only fields, signed as `shipments`. */
export class HttpOrdersClient implements OrdersClient {
  private readonly client: ServiceClient;

  constructor(config: Config) {
    this.client = createServiceClient({
      config,
      caller: 'shipments',
      service: 'orders',
      url: subgraphGraphQLUrl(config, 'orders'),
    });
  }

  async orderForFulfillment(orderId: string): Promise<FulfillmentOrder | null> {
    const data = await this.client.request<{
      orderForFulfillment: FulfillmentOrder | null;
    }>('OrderForFulfillment', ORDER_FOR_FULFILLMENT, { id: orderId });
    return data.orderForFulfillment;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** Calls the catalog subgraph's service-only fields, signed as `shipments`. */
export class HttpCatalogClient implements CatalogClient {
  private readonly client: ServiceClient;

  constructor(config: Config) {
    this.client = createServiceClient({
      config,
      caller: 'shipments',
      service: 'catalog',
      url: subgraphGraphQLUrl(config, 'catalog'),
    });
  }

  async commitLines(
    orderId: string,
    commitKey: string,
    lines: Array<{ sku: string; quantity: number }>,
  ): Promise<StockCommitResult> {
    const data = await this.client.request<{
      stockReservationCommitLines: CommitPayloadData;
    }>('StockReservationCommitLines', COMMIT_LINES, {
      orderId,
      commitKey,
      lines,
    });
    return commitResult(data.stockReservationCommitLines);
  }

  async uncommitLines(
    orderId: string,
    commitKey: string,
  ): Promise<StockCommitResult> {
    const data = await this.client.request<{
      stockReservationUncommitLines: CommitPayloadData;
    }>('StockReservationUncommitLines', UNCOMMIT_LINES, { orderId, commitKey });
    return commitResult(data.stockReservationUncommitLines);
  }

  async variantWeights(variantIds: string[]): Promise<Map<string, Weight>> {
    const weights = new Map<string, Weight>();
    if (variantIds.length === 0) return weights;
    const data = await this.client.request<{
      _entities: Array<{ id: string; weight: Weight | null } | null>;
    }>('VariantWeights', VARIANT_WEIGHTS, {
      representations: [...new Set(variantIds)].map((id) => ({
        __typename: 'Variant',
        id,
      })),
    });
    for (const variant of data._entities) {
      if (variant?.weight) weights.set(variant.id, variant.weight);
    }
    return weights;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
