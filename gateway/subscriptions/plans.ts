import {
  buildOperationContext,
  executeQueryPlan,
  type GraphQLDataSource,
  type ServiceMap,
} from '@apollo/gateway';
import {
  operationFromDocument,
  Supergraph,
  type Schema,
} from '@apollo/federation-internals';
import {
  QueryPlanner,
  type FetchNode,
  type PlanNode,
  type QueryPlan,
} from '@apollo/query-planner';
import type { DocumentNode, GraphQLError, GraphQLSchema } from 'graphql';
import type { Logger } from '../../platform/logger.js';
import type { GatewayContext } from '../context.js';
import { readSubgraphEndpoints } from '../supergraph-file.js';

type GatewayRequestContext = Parameters<typeof executeQueryPlan>[2];
type OperationContext = Parameters<typeof executeQueryPlan>[3];

/** Number of subscription plans kept per supergraph, least recently used out. */
const PLAN_CACHE_SIZE = 500;

/**
 * A planned subscription operation. Each event runs `queryPlan`: the fetch
 * of the root field from the subgraph that defines it, then the entity
 * fetches of fields other subgraphs own, as the query planner laid them out.
 */
export interface PreparedSubscription {
  /** The operation text the plan was made from, sent as the request's query. */
  source: string;
  operationName: string | undefined;
  queryPlan: QueryPlan;
  operationContext: OperationContext;
  /** The subgraph whose root field the plan fetches first. */
  service: string;
}

/**
 * The parts of one supergraph that subscriptions need beside the API
 * schema the gateway validates against: a query planner and a data source
 * per subgraph. @apollo/gateway plans subscriptions but refuses to execute
 * them, so the gateway turns each plan's subscription node into a sequence
 * (root fetch, then the rest) and executes that for every event with
 * @apollo/gateway's own executor and result shaping.
 */
export class SubscriptionPlans {
  private built:
    | {
        planner: QueryPlanner;
        federationApiSchema: Schema;
        supergraphSchema: GraphQLSchema;
        serviceMap: ServiceMap;
      }
    | undefined;
  private readonly cache = new Map<string, PreparedSubscription>();

  constructor(
    private readonly coreSupergraphSdl: string,
    /** The API schema the gateway serves, built from the same supergraph. */
    readonly apiSchema: GraphQLSchema,
    private readonly createDataSource: (
      name: string,
      url: string,
    ) => GraphQLDataSource,
  ) {}

  /**
   * Returns the planner, schemas and data sources, built at the first
   * subscription rather than at every supergraph load. A gateway that
   * serves no subscriptions keeps no second copy of the supergraph.
   */
  private parts() {
    if (!this.built) {
      const supergraph = Supergraph.build(this.coreSupergraphSdl);
      const serviceMap = Object.create(null) as ServiceMap;
      for (const { name, url } of readSubgraphEndpoints(
        this.coreSupergraphSdl,
      )) {
        serviceMap[name] = this.createDataSource(name, url);
      }
      this.built = {
        planner: new QueryPlanner(supergraph),
        federationApiSchema: supergraph.apiSchema(),
        supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
        serviceMap,
      };
    }
    return this.built;
  }

  /**
   * Plans a validated subscription operation, or returns the plan made
   * earlier for the same text and operation name.
   */
  prepare(
    document: DocumentNode,
    source: string,
    operationName: string | undefined,
  ): PreparedSubscription {
    const key = `${operationName ?? ''}\n${source}`;
    const cached = this.cache.get(key);
    if (cached) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      return cached;
    }
    const { planner, federationApiSchema } = this.parts();
    const operation = operationFromDocument(federationApiSchema, document, {
      operationName,
    });
    const plan = planner.buildQueryPlan(operation);
    const node = plan.node;
    if (node?.kind !== 'Subscription') {
      throw new Error(
        `Expected a subscription plan, but the planner returned ${node?.kind ?? 'an empty plan'}.`,
      );
    }
    const nodes: PlanNode[] = [node.primary as FetchNode];
    if (node.rest) nodes.push(node.rest);
    const prepared: PreparedSubscription = {
      source,
      operationName,
      queryPlan: { kind: 'QueryPlan', node: { kind: 'Sequence', nodes } },
      operationContext: buildOperationContext({
        schema: this.apiSchema,
        operationDocument: document,
        operationName,
      }),
      service: node.primary.serviceName,
    };
    this.cache.set(key, prepared);
    if (this.cache.size > PLAN_CACHE_SIZE) {
      this.cache.delete(this.cache.keys().next().value!);
    }
    return prepared;
  }

  /**
   * Runs a prepared subscription for one event. `context` carries the
   * subscriber's signed identity and the event's position in
   * `subgraphHeaders`, which the data sources send to every subgraph.
   */
  async execute(
    prepared: PreparedSubscription,
    variables: Record<string, unknown>,
    context: GatewayContext,
    logger: Logger,
  ): Promise<{ data: unknown; errors: readonly GraphQLError[] }> {
    const requestContext = {
      request: {
        query: prepared.source,
        variables,
        operationName: prepared.operationName,
      },
      context,
      logger,
      metrics: {},
      cache: undefined,
      schema: this.apiSchema,
      operationName: prepared.operationName ?? null,
    } as unknown as GatewayRequestContext;
    const { serviceMap, supergraphSchema, federationApiSchema } = this.parts();
    const result = await executeQueryPlan(
      prepared.queryPlan,
      serviceMap,
      requestContext,
      prepared.operationContext,
      supergraphSchema,
      federationApiSchema,
    );
    return { data: result.data, errors: result.errors ?? [] };
  }
}
