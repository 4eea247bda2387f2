import {
  buildOperationContext,
  type ApolloGateway,
  type GraphQLDataSource,
  type ServiceMap,
} from '@apollo/gateway';
import {
  operationFromDocument,
  type Operation,
  type Schema,
} from '@apollo/federation-internals';
import {
  prettyFormatQueryPlan,
  type PlanNode,
  type QueryPlan,
  type QueryPlanner,
} from '@apollo/query-planner';
import {
  getVariableValues,
  Kind,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { Logger } from '../../platform/logger.js';
import { executePlan } from './plan-executor.js';
import { ResultShaper } from './result-shaping.js';

type GatewayExecutor = ApolloGateway['executor'];
type GatewayRequestContext = Parameters<GatewayExecutor>[0];
type GatewayExecutionResult = Awaited<ReturnType<GatewayExecutor>>;

/** The part of ApolloGateway that Apollo Server and the authorization wrapper use. */
export type ExecutingGateway = Pick<
  ApolloGateway,
  'load' | 'onSchemaLoadOrUpdate' | 'stop'
>;

/** Request headers by which @apollo/gateway returns the query plan outside production. */
const QUERY_PLAN_HEADER = 'Apollo-Query-Plan-Experimental';
const QUERY_PLAN_FORMAT_HEADER = 'Apollo-Query-Plan-Experimental-Format';

/** Approximate size of the planned operations kept per supergraph. */
const PLAN_CACHE_MAX_BYTES = 30 * 1024 * 1024;
/** The most recently used operations planned again for a new supergraph. */
const WARM_OPERATIONS = 200;

/**
 * The fields of ApolloGateway that hold what it built for the current
 * supergraph. They are private in its type declarations, so they are read
 * by name, and `supergraphParts` checks that they are there: a release of
 * @apollo/gateway that renames them fails at startup, not per request.
 */
interface ApolloGatewayParts {
  queryPlanner: QueryPlanner;
  apiSchema: Schema;
  supergraphSchema: GraphQLSchema;
  serviceMap: Record<string, { dataSource: GraphQLDataSource }>;
}

/** The parts of one supergraph that the executor needs, and its planned operations. */
interface SupergraphRuntime {
  planner: QueryPlanner;
  federationApiSchema: Schema;
  supergraphSchema: GraphQLSchema;
  serviceMap: ServiceMap;
  plans: PlanCache;
}

/** One operation planned for one supergraph, ready to execute. */
interface PlannedOperation {
  document: DocumentNode;
  operationName: string | undefined;
  plan: QueryPlan;
  operation: Operation;
  shaper: ResultShaper;
  operationDefinition: OperationDefinitionNode;
  size: number;
}

/** Planned operations by query hash and operation name, least recently used out. */
class PlanCache {
  private readonly entries = new Map<string, PlannedOperation | null>();
  private bytes = 0;

  get(key: string): PlannedOperation | null | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  /** `null` records an operation that @apollo/gateway executes instead. */
  set(key: string, entry: PlannedOperation | null): void {
    const previous = this.entries.get(key);
    if (previous !== undefined) this.bytes -= sizeOf(key, previous);
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.bytes += sizeOf(key, entry);
    while (this.bytes > PLAN_CACHE_MAX_BYTES && this.entries.size > 1) {
      const [oldestKey, oldest] = this.entries.entries().next().value!;
      this.entries.delete(oldestKey);
      this.bytes -= sizeOf(oldestKey, oldest);
    }
  }

  /** Returns the most recently used planned operations, newest first. */
  recent(limit: number): [string, PlannedOperation][] {
    const recent: [string, PlannedOperation][] = [];
    for (const [key, entry] of [...this.entries].reverse()) {
      if (recent.length >= limit) break;
      if (entry) recent.push([key, entry]);
    }
    return recent;
  }
}

/** Estimated bytes of one cache entry; a `null` entry costs its key. */
function sizeOf(key: string, entry: PlannedOperation | null): number {
  return key.length + (entry?.size ?? 0);
}

function supergraphParts(gateway: ApolloGateway): ApolloGatewayParts {
  const parts = gateway as unknown as Partial<ApolloGatewayParts>;
  if (
    !parts.queryPlanner ||
    !parts.apiSchema ||
    !parts.supergraphSchema ||
    !parts.serviceMap
  ) {
    throw new Error(
      'This version of @apollo/gateway does not keep queryPlanner, apiSchema, supergraphSchema and serviceMap where the gateway reads them; pin @apollo/gateway 2.14.',
    );
  }
  return parts as ApolloGatewayParts;
}

function containsDefer(
  node: PlanNode | QueryPlan['node'] | undefined,
): boolean {
  if (!node) return false;
  switch (node.kind) {
    case 'Defer':
    case 'Subscription':
      return true;
    case 'Sequence':
    case 'Parallel':
      return node.nodes.some(containsDefer);
    case 'Flatten':
      return containsDefer(node.node);
    case 'Condition':
      return containsDefer(node.ifClause) || containsDefer(node.elseClause);
    default:
      return false;
  }
}

/**
 * Wraps `gateway` so that queries and mutations run on the gateway's own
 * plan executor (gateway/execution/plan-executor.ts) with the plans of
 * @apollo/gateway's query planner. Planned operations are cached per
 * supergraph, and when a new supergraph loads, the most recently used
 * ones are planned again for it in the background, so that the first
 * requests after a reload do not wait for the planner. Operations with
 * @defer, and anything the executor cannot plan, go to @apollo/gateway's
 * own executor.
 */
export function executeWithPlanExecutor(
  gateway: ApolloGateway,
  options: {
    logger: Logger;
    countPlanLookup?: (hit: boolean) => void;
  },
): ExecutingGateway {
  const runtimes = new WeakMap<GraphQLSchema, SupergraphRuntime>();
  const exposeQueryPlan = process.env.NODE_ENV !== 'production';
  let current: SupergraphRuntime | undefined;

  const plan = (
    runtime: SupergraphRuntime,
    apiSchema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | undefined,
  ): PlannedOperation | null => {
    const operation = operationFromDocument(
      runtime.federationApiSchema,
      document,
      { operationName },
    );
    const queryPlan = runtime.planner.buildQueryPlan(operation);
    if (containsDefer(queryPlan.node)) return null;
    // The operation as @apollo/gateway's executeQueryPlan rebuilds it for
    // result shaping: the selected operation and its fragments, not
    // validated again.
    const context = buildOperationContext({
      schema: apiSchema,
      operationDocument: document,
      operationName,
    });
    const shaping = operationFromDocument(
      runtime.federationApiSchema,
      {
        kind: Kind.DOCUMENT,
        definitions: [context.operation, ...Object.values(context.fragments)],
      },
      { validate: false },
    );
    return {
      document,
      operationName,
      plan: queryPlan,
      operation: shaping,
      shaper: new ResultShaper(shaping),
      operationDefinition: context.operation,
      // An estimate: for variants of the deep query of the bench, the
      // documents and the two operations took about 5 times the plan's
      // JSON text in heap, before the shaper cached anything.
      size: JSON.stringify(queryPlan).length * 8,
    };
  };

  const warm = (
    from: SupergraphRuntime,
    to: SupergraphRuntime,
    apiSchema: GraphQLSchema,
  ) => {
    const pending = from.plans.recent(WARM_OPERATIONS);
    let planned = 0;
    const next = () => {
      // Stops when yet another supergraph replaced this one.
      if (current !== to) return;
      const item = pending.shift();
      if (!item) {
        options.logger.info(
          { operations: planned },
          'planned recent operations for the new supergraph',
        );
        return;
      }
      const [key, entry] = item;
      if (to.plans.get(key) === undefined) {
        try {
          to.plans.set(
            key,
            plan(to, apiSchema, entry.document, entry.operationName),
          );
          planned += 1;
        } catch {
          // The operation no longer fits the new supergraph; Apollo Server
          // rejects it in validation before it reaches the executor.
        }
      }
      setImmediate(next);
    };
    setImmediate(next);
  };

  return {
    onSchemaLoadOrUpdate(callback) {
      return gateway.onSchemaLoadOrUpdate((schemaContext) => {
        const parts = supergraphParts(gateway);
        const serviceMap = Object.create(null) as ServiceMap;
        for (const [name, { dataSource }] of Object.entries(parts.serviceMap)) {
          serviceMap[name] = dataSource;
        }
        const runtime: SupergraphRuntime = {
          planner: parts.queryPlanner,
          federationApiSchema: parts.apiSchema,
          supergraphSchema: parts.supergraphSchema,
          serviceMap,
          plans: new PlanCache(),
        };
        const previous = current;
        runtimes.set(schemaContext.apiSchema, runtime);
        current = runtime;
        if (previous) warm(previous, runtime, schemaContext.apiSchema);
        callback(schemaContext);
      });
    },
    async load(loadOptions) {
      const result = await gateway.load(loadOptions);
      const fallback = result.executor;
      const executor = async (
        requestContext: GatewayRequestContext,
      ): Promise<GatewayExecutionResult> => {
        const runtime = runtimes.get(requestContext.schema);
        const operationType = (
          requestContext.operation as OperationDefinitionNode | undefined
        )?.operation;
        if (!runtime || !operationType || operationType === 'subscription') {
          return fallback(requestContext);
        }
        const operationName = requestContext.request.operationName ?? undefined;
        const key = `${requestContext.queryHash}\n${operationName ?? ''}`;
        let planned = runtime.plans.get(key);
        if (planned === undefined) {
          try {
            planned = plan(
              runtime,
              requestContext.schema,
              requestContext.document,
              operationName,
            );
          } catch {
            // @apollo/gateway reports planning errors its own way. The
            // operation is remembered so that it is not planned twice per
            // request.
            planned = null;
          }
          runtime.plans.set(key, planned);
          // Operations that @apollo/gateway executes are counted by its
          // own plan cache.
          if (planned) options.countPlanLookup?.(false);
        } else if (planned) {
          options.countPlanLookup?.(true);
        }
        if (!planned) return fallback(requestContext);

        const variableDefinitions =
          planned.operationDefinition.variableDefinitions;
        if (variableDefinitions?.length) {
          const { errors } = getVariableValues(
            requestContext.schema,
            variableDefinitions,
            requestContext.request.variables ?? {},
          );
          if (errors) return { errors };
        }
        const response = (await executePlan({
          plan: planned.plan,
          shaper: planned.shaper,
          variableDefinitions: planned.operation.variableDefinitions,
          operationDefinition: planned.operationDefinition,
          apiSchema: requestContext.schema,
          supergraphSchema: runtime.supergraphSchema,
          serviceMap: runtime.serviceMap,
          requestContext: requestContext as never,
        })) as GatewayExecutionResult;
        // As @apollo/gateway outside production: the plan in the response
        // when the request has the query plan header.
        const headers = requestContext.request.http?.headers;
        if (exposeQueryPlan && headers?.get(QUERY_PLAN_HEADER)) {
          const format = headers.has(QUERY_PLAN_FORMAT_HEADER)
            ? headers.get(QUERY_PLAN_FORMAT_HEADER)
            : 'prettified';
          response.extensions = {
            __queryPlanExperimental:
              format === 'prettified'
                ? (planned.plan.node && prettyFormatQueryPlan(planned.plan)) ||
                  true
                : format === 'internal'
                  ? planned.plan
                  : true,
          };
        }
        return response;
      };
      return { ...result, executor };
    },
    stop: () => gateway.stop(),
  };
}
