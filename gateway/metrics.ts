import type {
  GraphQLDataSource,
  GraphQLDataSourceProcessOptions,
} from '@apollo/gateway';
import type { ApolloServerPlugin } from '@apollo/server';
import type { QueryPlan, QueryPlanCache } from '@apollo/query-planner';
import {
  InMemoryLRUCache,
  type KeyValueCacheSetOptions,
} from '@apollo/utils.keyvaluecache';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import {
  createMetricsRegistry,
  createRequestMetricsPlugin,
  RequestMetrics,
} from '../platform/metrics.js';
import type { GatewayContext } from './context.js';
import { SubgraphUnavailableError } from './subgraph-data-source.js';

/**
 * Size of the query plan cache in bytes of JSON, the default of
 * @apollo/gateway 2.14 (30 MiB when fetch nodes carry no document).
 */
const QUERY_PLAN_CACHE_MAX_BYTES = 30 * 1024 * 1024;

/** Kind of subgraph fetch failure, the `reason` label of `subgraph_fetch_errors_total`. */
export type SubgraphFetchFailure =
  'timeout' | 'unreachable' | 'http_status' | 'graphql_error' | 'other';

/**
 * The gateway's Prometheus metrics: requests, subgraph fetches, the query
 * plan cache, open subscriptions and the default process metrics.
 */
export class GatewayMetrics {
  readonly registry: Registry = createMetricsRegistry();
  readonly requests = new RequestMetrics(this.registry);
  /** Passed to ApolloGateway as `queryPlannerConfig.cache`. */
  readonly queryPlanCache: QueryPlanCache;
  private readonly fetchDuration: Histogram<'subgraph'>;
  private readonly fetchErrors: Counter<'subgraph' | 'reason'>;
  /** Subgraphs that each request's plan fetched from, keyed by its context. */
  private readonly subgraphsByRequest = new WeakMap<object, Set<string>>();
  private readonly planCacheHits: Counter;
  private readonly planCacheMisses: Counter;

  constructor() {
    this.fetchDuration = new Histogram({
      name: 'subgraph_fetch_duration_seconds',
      help: 'Time of one gateway request to a subgraph, response body included, in seconds.',
      labelNames: ['subgraph'],
      registers: [this.registry],
    });
    this.fetchErrors = new Counter({
      name: 'subgraph_fetch_errors_total',
      help: 'Failed subgraph requests by reason: timeout, unreachable, http_status, graphql_error or other.',
      labelNames: ['subgraph', 'reason'],
      registers: [this.registry],
    });
    const hits = (this.planCacheHits = new Counter({
      name: 'query_plan_cache_hits_total',
      help: 'Operations whose query plan came from the query plan cache.',
      registers: [this.registry],
    }));
    const misses = (this.planCacheMisses = new Counter({
      name: 'query_plan_cache_misses_total',
      help: 'Operations whose query plan was not cached and was built.',
      registers: [this.registry],
    }));
    this.queryPlanCache = new CountingQueryPlanCache(
      new InMemoryLRUCache<QueryPlan>({
        maxSize: QUERY_PLAN_CACHE_MAX_BYTES,
        sizeCalculation: (plan) =>
          Buffer.byteLength(JSON.stringify(plan), 'utf8'),
      }),
      () => hits.inc(),
      () => misses.inc(),
    );
  }

  /** Counts one lookup in the gateway's cache of planned operations. */
  countPlanLookup(hit: boolean): void {
    if (hit) this.planCacheHits.inc();
    else this.planCacheMisses.inc();
  }

  /** Registers `graphql_subscriptions_open`, read from `openCount` at each scrape. */
  observeSubscriptions(openCount: () => number): void {
    new Gauge({
      name: 'graphql_subscriptions_open',
      help: 'Subscriptions open in this gateway process, over graphql-ws and SSE.',
      registers: [this.registry],
      collect() {
        this.set(openCount());
      },
    });
  }

  /**
   * Returns `source` with each fetch timed and each failure counted under
   * `subgraph`. Fetches made for a client request are also recorded for
   * that request's log line (see `subgraphsCalled`).
   */
  instrumentDataSource(
    subgraph: string,
    source: GraphQLDataSource<GatewayContext>,
  ): GraphQLDataSource<GatewayContext> {
    return {
      process: async (options) => {
        this.recordSubgraphCall(options, subgraph);
        const startedAt = performance.now();
        try {
          const response = await source.process(options);
          if (response.errors && response.errors.length > 0) {
            this.fetchErrors.inc({ subgraph, reason: 'graphql_error' });
          }
          return response;
        } catch (error) {
          this.fetchErrors.inc({ subgraph, reason: failureOf(error) });
          throw error;
        } finally {
          this.fetchDuration.observe(
            { subgraph },
            (performance.now() - startedAt) / 1000,
          );
        }
      },
    };
  }

  /** Returns the sorted names of the subgraphs a request fetched from. */
  subgraphsCalled(context: GatewayContext): string[] {
    return [...(this.subgraphsByRequest.get(context) ?? [])].sort();
  }

  /**
   * Creates the plugin that counts each GraphQL request and logs one info
   * line per request with its id, operation name, duration, outcome, error
   * codes and the subgraphs it called.
   */
  requestPlugin(): ApolloServerPlugin<GatewayContext> {
    return createRequestMetricsPlugin<GatewayContext>(
      this.requests,
      (context, request) => {
        context.logger.info(
          { ...request, subgraphs: this.subgraphsCalled(context) },
          'graphql request completed',
        );
      },
    );
  }

  private recordSubgraphCall(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
    subgraph: string,
  ): void {
    if (!('incomingRequestContext' in options)) return;
    const context = options.incomingRequestContext.context;
    let called = this.subgraphsByRequest.get(context);
    if (!called) {
      called = new Set();
      this.subgraphsByRequest.set(context, called);
    }
    called.add(subgraph);
  }
}

/** Returns the `reason` label of an error thrown by a subgraph fetch. */
export function failureOf(error: unknown): SubgraphFetchFailure {
  if (!(error instanceof SubgraphUnavailableError)) return 'other';
  if (error.reason.startsWith('HTTP ')) return 'http_status';
  if (error.reason.startsWith('timed out')) return 'timeout';
  return 'unreachable';
}

/**
 * A query plan cache that counts lookups. @apollo/gateway 2.14 calls `get`
 * once per operation that passed validation, before it plans, and `set`
 * after planning a miss, so each `get` is one real hit or miss. A
 * supergraph reload calls `clear`, so the operations after it miss.
 */
class CountingQueryPlanCache implements QueryPlanCache {
  constructor(
    private readonly cache: InMemoryLRUCache<QueryPlan>,
    private readonly onHit: () => void,
    private readonly onMiss: () => void,
  ) {}

  async get(key: string): Promise<QueryPlan | undefined> {
    const plan = await this.cache.get(key);
    if (plan === undefined) this.onMiss();
    else this.onHit();
    return plan;
  }

  set(
    key: string,
    plan: QueryPlan,
    options?: KeyValueCacheSetOptions,
  ): Promise<void> {
    return this.cache.set(key, plan, options);
  }

  delete(key: string): Promise<boolean> {
    return this.cache.delete(key);
  }

  clear(): void {
    this.cache.clear();
  }
}
