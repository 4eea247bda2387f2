import {
  servicePort,
  serviceUrlOverride,
  type Config,
  type ServiceName,
} from '../../../platform/config.js';
import {
  createServiceClient,
  type ServiceClient,
} from '../../../platform/service-client.js';
import type { MarketplaceOrder } from '../adapters/adapter.js';
import type { ImportedLineValue } from './tables.js';
import { eventsUrlBeside } from '../../../platform/event-stream-client.js';

/**
 * GraphQL URL of another subgraph: its *_URL variable, else
 * `http://<HOST>:<port>/graphql`, with a wildcard HOST (0.0.0.0 or ::)
 * replaced by 127.0.0.1.
 */
export function subgraphUrl(config: Config, service: ServiceName): string {
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

/** URL of a subgraph's event stream: its GraphQL URL with `/graphql` replaced by `/events`. */
export function eventsUrl(config: Config, service: ServiceName): string {
  return eventsUrlBeside(subgraphUrl(config, service));
}

export interface ImportOutcome {
  orderId: string | null;
  orderNumber: number | null;
  created: boolean;
  needsAttention: boolean;
  lines: ImportedLineValue[];
  userErrors: { field: string[]; message: string; code: string }[];
}

const MARKETPLACE_ORDER_IMPORT = /* GraphQL */ `
  mutation MarketplaceOrderImport($input: MarketplaceOrderImportInput!) {
    marketplaceOrderImport(input: $input) {
      orderId
      orderNumber
      created
      needsAttention
      lines {
        externalLineId
        orderLineId
        sku
        quantity
      }
      userErrors {
        field
        message
        code
      }
    }
  }
`;

/** Records marketplace orders in the orders service, signed as the marketplace service. */
export class OrdersImportClient {
  private readonly client: ServiceClient;

  constructor(config: Config) {
    this.client = createServiceClient({
      config,
      caller: 'marketplace',
      service: 'orders',
      url: subgraphUrl(config, 'orders'),
    });
  }

  /**
   * Imports `order` of the connection; repeating it returns the first
   * import's order. Rejects with ServiceRequestError when the orders
   * service cannot be reached or fails.
   */
  async importOrder(
    connection: { id: string; name: string },
    order: MarketplaceOrder,
  ): Promise<ImportOutcome> {
    const data = await this.client.request<{
      marketplaceOrderImport: ImportOutcome;
    }>('MarketplaceOrderImport', MARKETPLACE_ORDER_IMPORT, {
      input: {
        channelId: connection.id,
        channel: connection.name,
        externalOrderId: order.externalOrderId,
        placedAt: order.placedAt,
        email: order.email,
        shippingAddress: order.shippingAddress,
        lines: order.lines.map((line) => ({
          externalLineId: line.externalLineId,
          sku: line.sku,
          quantity: line.quantity,
          unitPrice: line.unitPriceAmount,
        })),
        subtotal: order.subtotalAmount,
        shipping: order.shippingAmount,
        tax: order.taxAmount,
        total: order.totalAmount,
        currencyCode: order.currencyCode,
      },
    });
    return data.marketplaceOrderImport;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
