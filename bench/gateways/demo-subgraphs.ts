/**
 * Four small subgraphs in the shape of the classic federation demo
 * (accounts, products, inventory, reviews) over fixed in-memory data, for
 * the deep-query workload of the gateway comparison. They are cheap to
 * serve, so the gateway rather than the subgraphs sets the pace.
 */
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { parse, type DocumentNode } from 'graphql';

export const DEMO_SUBGRAPH_NAMES = [
  'accounts',
  'products',
  'inventory',
  'reviews',
] as const;
export type DemoSubgraphName = (typeof DEMO_SUBGRAPH_NAMES)[number];

interface User {
  id: string;
  name: string;
  username: string;
}
interface Product {
  upc: string;
  name: string;
  price: number;
  weight: number;
}
interface Review {
  id: string;
  body: string;
  authorId: string;
  upc: string;
}

const USERS: User[] = Array.from({ length: 5 }, (_, index) => ({
  id: String(index + 1),
  name: `User ${index + 1}`,
  username: `user${index + 1}`,
}));
const PRODUCTS: Product[] = Array.from({ length: 10 }, (_, index) => ({
  upc: String(index + 1),
  name: `Product ${index + 1}`,
  price: 100 + index * 150,
  weight: 10 + index * 7,
}));
/** 30 reviews: each user wrote 6 and each product has 3. */
const REVIEWS: Review[] = Array.from({ length: 30 }, (_, index) => ({
  id: String(index + 1),
  body: `Review ${index + 1}`,
  authorId: USERS[index % USERS.length]!.id,
  upc: PRODUCTS[index % PRODUCTS.length]!.upc,
}));
/** Stock per product: every third product is out of stock. */
const IN_STOCK = new Map(
  PRODUCTS.map((product, index) => [product.upc, index % 3 !== 0]),
);

const LINK =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])';

const SDL: Record<DemoSubgraphName, string> = {
  accounts: `${LINK}
type Query { me: User users: [User!]! }
type User @key(fields: "id") { id: ID! name: String username: String }`,
  products: `${LINK}
type Query { topProducts(first: Int = 5): [Product!]! }
type Product @key(fields: "upc") { upc: String! name: String price: Int weight: Int }`,
  inventory: `${LINK}
type Product @key(fields: "upc") {
  upc: String!
  price: Int @external
  weight: Int @external
  inStock: Boolean
  shippingEstimate: Int @requires(fields: "price weight")
}`,
  reviews: `${LINK}
type Review @key(fields: "id") { id: ID! body: String author: User product: Product }
type User @key(fields: "id") { id: ID! reviews: [Review!]! }
type Product @key(fields: "upc") { upc: String! reviews: [Review!]! }`,
};

const userById = (id: string) => USERS.find((user) => user.id === id);
const productByUpc = (upc: string) =>
  PRODUCTS.find((product) => product.upc === upc);

const RESOLVERS: Record<DemoSubgraphName, GraphQLResolverMap<unknown>> = {
  accounts: {
    Query: { me: () => USERS[0], users: () => USERS },
    User: {
      __resolveReference: (reference: { id: string }) => userById(reference.id),
    },
  },
  products: {
    Query: {
      topProducts: (_: unknown, args: { first: number }) =>
        PRODUCTS.slice(0, args.first),
    },
    Product: {
      __resolveReference: (reference: { upc: string }) =>
        productByUpc(reference.upc),
    },
  },
  inventory: {
    Product: {
      __resolveReference: (reference: Product) => reference,
      inStock: (product: Product) => IN_STOCK.get(product.upc) ?? false,
      // Free shipping above 1000, otherwise half the weight.
      shippingEstimate: (product: Product) =>
        product.price > 1000 ? 0 : Math.round(product.weight / 2),
    },
  },
  reviews: {
    Review: {
      __resolveReference: (reference: { id: string }) =>
        REVIEWS.find((review) => review.id === reference.id),
      author: (review: Review) => ({ __typename: 'User', id: review.authorId }),
      product: (review: Review) => ({ __typename: 'Product', upc: review.upc }),
    },
    User: {
      reviews: (user: { id: string }) =>
        REVIEWS.filter((review) => review.authorId === user.id),
    },
    Product: {
      reviews: (product: { upc: string }) =>
        REVIEWS.filter((review) => review.upc === product.upc),
    },
  },
};

function typeDefs(name: DemoSubgraphName): DocumentNode {
  return parse(SDL[name]);
}

/** Builds the executable schema of one demo subgraph. */
export function buildDemoSubgraphSchema(name: DemoSubgraphName) {
  return buildSubgraphSchema({
    typeDefs: typeDefs(name),
    resolvers: RESOLVERS[name],
  });
}

/**
 * Composes the four demo subgraphs, served at `urlOf(name)`, into a
 * supergraph SDL with @apollo/composition.
 */
export function composeDemoSupergraph(
  urlOf: (name: DemoSubgraphName) => string,
): string {
  const result = composeServices(
    DEMO_SUBGRAPH_NAMES.map((name) => ({
      name,
      typeDefs: typeDefs(name),
      url: urlOf(name),
    })),
  );
  if (result.errors) {
    throw new Error(
      `Composition of the demo subgraphs failed: ${result.errors.map((error) => error.message).join('; ')}`,
    );
  }
  return result.supergraphSdl;
}

/**
 * The deep query. It nests users → reviews → product → reviews → author →
 * reviews → product, and topProducts → reviews → author → reviews →
 * product → reviews → author. It selects inStock and shippingEstimate
 * along the way, and shippingEstimate requires price and weight from the
 * products subgraph.
 */
export const DEEP_QUERY = `query DeepReviews {
  users {
    id name username
    reviews {
      id body
      product {
        upc name price inStock shippingEstimate
        reviews {
          id body
          author {
            id name username
            reviews { id body product { upc name inStock shippingEstimate } }
          }
        }
      }
    }
  }
  topProducts(first: 5) {
    upc name price weight inStock shippingEstimate
    reviews {
      id body
      author {
        id username
        reviews {
          id
          product {
            upc name inStock shippingEstimate
            reviews { id author { id name } }
          }
        }
      }
    }
  }
}`;
