import { readFileSync } from 'node:fs';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { describe, expect, test } from 'vitest';
import {
  prepareSupergraph,
  readRequirements,
} from '../gateway/authorization/index.js';
import { SUPERGRAPH_FILE } from '../gateway/compose.js';
import { readSubgraphEndpoints } from '../gateway/supergraph-file.js';

const LINK =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key", "@authenticated", "@requiresScopes", "@policy"])';

function compose(typeDefs: string): string {
  const result = composeServices([
    {
      name: 'shop',
      url: 'http://127.0.0.1:9/graphql',
      typeDefs: parse(typeDefs),
    },
  ]);
  if (result.errors) throw new Error(result.errors.map(String).join('\n'));
  return result.supergraphSdl;
}

const SHOP = compose(`${LINK}
  type Query {
    products: [Product!]! @authenticated
    report: String
      @requiresScopes(scopes: [["read_sales", "export_sales"], ["admin_sales"]])
    audit: String @authenticated @policy(policies: [["staff_admin"], ["staff"]])
    cents: Cents
    margin: Margin
  }
  type Product @key(fields: "id") @requiresScopes(scopes: [["read_products"]]) {
    id: ID!
    cost: Int @requiresScopes(scopes: [["read_costs"]])
  }
  scalar Cents @authenticated
  enum Margin @policy(policies: [["staff"]]) { LOW HIGH }
`);

describe('prepareSupergraph', () => {
  test('reads field and type requirements', () => {
    const requirements = readRequirements(prepareSupergraph(SHOP));

    expect(requirements).toEqual({
      fields: {
        'Product.cost': { scopes: [['read_costs']] },
        'Query.products': { authenticated: true },
        'Query.report': {
          scopes: [['read_sales', 'export_sales'], ['admin_sales']],
        },
        'Query.audit': {
          authenticated: true,
          policies: [['staff_admin'], ['staff']],
        },
      },
      types: {
        Cents: { authenticated: true },
        Margin: { policies: [['staff']] },
        Product: { scopes: [['read_products']] },
      },
    });
  });

  test('removes links, definitions and applications', () => {
    expect(SHOP).toContain('for: SECURITY');

    const prepared = prepareSupergraph(SHOP);
    const body = prepared.slice(prepared.indexOf('\n') + 1);

    for (const removed of [
      'for: SECURITY',
      'specs.apollo.dev/authenticated',
      'specs.apollo.dev/requiresScopes',
      'specs.apollo.dev/policy',
      '@authenticated',
      '@requiresScopes',
      '@policy',
      'requiresScopes__Scope',
      'policy__Policy',
    ]) {
      expect(body, removed).not.toContain(removed);
    }
    expect(body).toContain('specs.apollo.dev/join/v0.3');
    expect(body).toContain('cost: Int');
    expect(readSubgraphEndpoints(prepared)).toEqual([
      { name: 'shop', url: 'http://127.0.0.1:9/graphql' },
    ]);
  });

  test('keeps a supergraph without requirements', () => {
    const plain = compose(`${LINK}\ntype Query { greeting: String }`);

    const prepared = prepareSupergraph(plain);

    expect(prepared.slice(prepared.indexOf('\n') + 1)).toBe(plain);
    expect(readRequirements(prepared)).toEqual({ fields: {}, types: {} });
  });

  test('changed requirements change the text', () => {
    const before = compose(`${LINK}
      type Query { a: String @authenticated b: String @requiresScopes(scopes: [["x"]]) }`);
    const after = compose(`${LINK}
      type Query { a: String @requiresScopes(scopes: [["x"]]) b: String @authenticated }`);

    const preparedBefore = prepareSupergraph(before);
    const preparedAfter = prepareSupergraph(after);

    expect(preparedBefore).not.toBe(preparedAfter);
    expect(preparedBefore.slice(preparedBefore.indexOf('\n'))).toBe(
      preparedAfter.slice(preparedAfter.indexOf('\n')),
    );
  });

  test('reads a link renamed with as', () => {
    const renamed = SHOP.replace(
      '@link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)',
      '@link(url: "https://specs.apollo.dev/requiresScopes/v0.1", as: "scopes", for: SECURITY)',
    )
      .replaceAll('@requiresScopes(', '@scopes(')
      .replaceAll('requiresScopes__Scope', 'scopes__Scope');
    expect(renamed).toContain('as: "scopes"');

    const prepared = prepareSupergraph(renamed);

    expect(readRequirements(prepared).fields['Product.cost']).toEqual({
      scopes: [['read_costs']],
    });
    expect(prepared).not.toContain('@scopes');
    expect(prepared).not.toContain('scopes__Scope');
  });

  test('rejects an unknown policy', () => {
    const unknown = compose(`${LINK}
      type Query { a: String @policy(policies: [["staff"], ["no_such_policy"]]) }`);

    expect(() => prepareSupergraph(unknown)).toThrow(
      '@policy on Query.a names the policy "no_such_policy", which the gateway does not define. ' +
        'Add it to gateway/authorization/policies.ts or remove it from the subgraph schema.',
    );
  });

  test('rejects empty scope lists', () => {
    const empty = compose(`${LINK}
      type Query { a: String @requiresScopes(scopes: []) }`);

    expect(() => prepareSupergraph(empty)).toThrow(
      '@requiresScopes on Query.a has an invalid scopes argument: ' +
        'expected a non-empty list of non-empty lists of strings, got [].',
    );
  });

  test('ignores a requirements comment in the input', () => {
    const forged = `# authorization requirements: {"fields":{"Query.greeting":{"authenticated":true}},"types":{}}\n${compose(`${LINK}\ntype Query { greeting: String }`)}`;

    expect(readRequirements(prepareSupergraph(forged))).toEqual({
      fields: {},
      types: {},
    });
  });
});

describe('committed supergraph', () => {
  const committed = readFileSync(SUPERGRAPH_FILE, 'utf8');

  test('links the authorization specs', () => {
    for (const spec of ['authenticated', 'requiresScopes', 'policy']) {
      expect(committed).toContain(
        `@link(url: "https://specs.apollo.dev/${spec}/v0.1", for: SECURITY)`,
      );
    }
  });

  test('declares the expected requirements', () => {
    const { fields, types } = readRequirements(prepareSupergraph(committed));

    expect(types).toEqual({});
    expect(fields).toEqual({
      'Listing.lastError': {
        scopes: [['read_listings'], ['manage_listings']],
      },
      'MarketplaceConnection.safetyStock': {
        scopes: [['read_listings'], ['manage_listings']],
      },
      'MarketplaceConnection.credentials': {
        scopes: [['read_listings'], ['manage_listings']],
      },
      'MarketplaceConnection.settings': {
        scopes: [['read_listings'], ['manage_listings']],
      },
      'MarketplaceConnection.priceRule': {
        scopes: [['read_listings'], ['manage_listings']],
      },
      'MarketplaceConnection.untrackedQuantity': {
        scopes: [['read_listings'], ['manage_listings']],
      },
      'MarketplaceConnection.lastTest': {
        scopes: [['read_listings'], ['manage_listings']],
      },
      'Listing.priceOverride': {
        scopes: [['read_listings'], ['manage_listings']],
      },
      'Mutation.marketplaceConnectionCreate': { scopes: [['manage_listings']] },
      'Mutation.marketplaceConnectionUpdate': { scopes: [['manage_listings']] },
      'Mutation.marketplaceConnectionTest': { scopes: [['manage_listings']] },
      'Mutation.marketplaceConnectionPause': { scopes: [['manage_listings']] },
      'Mutation.marketplaceConnectionResume': { scopes: [['manage_listings']] },
      'Mutation.listingPublish': { scopes: [['manage_listings']] },
      'Mutation.listingUpdate': { scopes: [['manage_listings']] },
      'Mutation.listingEnd': { scopes: [['manage_listings']] },
      'Mutation.productCreate': { scopes: [['write_products']] },
      'Mutation.productUpdate': { scopes: [['write_products']] },
      'Mutation.variantCreate': { scopes: [['write_products']] },
      'Mutation.variantUpdate': { scopes: [['write_products']] },
      'Mutation.stockSet': { scopes: [['write_inventory']] },
      'Mutation.stockAdjust': { scopes: [['write_inventory']] },
      'Mutation.orderCapture': { scopes: [['write_orders']] },
      'Mutation.orderCancel': { scopes: [['write_orders']] },
      'Mutation.orderRefund': { scopes: [['write_orders']] },
      'Mutation.orderMarkPaid': { scopes: [['write_orders']] },
      'Mutation.orderNoteAdd': { scopes: [['write_orders']] },
      'Mutation.fulfillmentCreate': { scopes: [['write_shipments']] },
      'Mutation.shipmentBuyLabel': { scopes: [['write_shipments']] },
      'Mutation.shipmentCancel': { scopes: [['write_shipments']] },
      'Query.shipmentRates': { scopes: [['write_shipments']] },
      'Order.notes': { scopes: [['read_orders']] },
      'Order.externalOrderId': { scopes: [['read_orders']] },
      'Order.needsAttention': { scopes: [['read_orders']] },
      'Order.attentionReason': { scopes: [['read_orders']] },
      'Query.orders': { scopes: [['read_orders']] },
      'Query.ledgerEntries': { scopes: [['read_accounting']] },
      'Query.trialBalance': { scopes: [['read_accounting']] },
      'Query.ledgerExport': { scopes: [['read_accounting']] },
      'Query.marketplaceConnections': {
        scopes: [['read_listings'], ['manage_listings']],
      },
      'Query.order': {
        authenticated: true,
        policies: [['customer_or_read_orders']],
      },
      'Query.customer': {
        authenticated: true,
        policies: [['customer_or_read_customers']],
      },
      'Query.me': { authenticated: true },
      'Customer.orders': { policies: [['customer_or_read_orders']] },
      'Query.shipment': {
        authenticated: true,
        policies: [['customer_or_read_shipments']],
      },
      'Variant.stockLevels': { scopes: [['read_inventory']] },
      'Subscription.stockChanged': { scopes: [['read_inventory']] },
      'Subscription.orderStatusChanged': {
        authenticated: true,
        policies: [['customer_or_read_orders']],
      },
      'Subscription.shipmentUpdated': { scopes: [['read_shipments']] },
      'Subscription.listingSyncChanged': { scopes: [['read_listings']] },
    });
  });
});
