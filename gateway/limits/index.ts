import type { ApolloServerPlugin, GraphQLRequest } from '@apollo/server';
import type {
  DocumentNode,
  GraphQLError,
  GraphQLSchema,
  OperationDefinitionNode,
} from 'graphql';
import type { Config } from '../../platform/config.js';
import type { GatewayContext } from '../context.js';
import { buildCostModel, type CostModel } from './cost-model.js';
import { limitExceededError, type LimitName } from './errors.js';
import { measureOperation } from './operation-shape.js';
import { computeQueryCost } from './query-cost.js';
import { createRejectionLog } from './rejection-log.js';
import { readOperationLimits, type OperationLimits } from './settings.js';
import { countTokens } from './tokens.js';

/**
 * `extensions.cost` of a response, in the shape of Shopify's GraphQL APIs.
 * `actualQueryCost` is null because the cost of the response is not
 * measured. The rate limiter (gateway/rate-limit) sets `throttleStatus`,
 * which stays null when no rate limit applies to the caller.
 */
export interface CostExtension {
  requestedQueryCost: number;
  actualQueryCost: number | null;
  throttleStatus: ThrottleStatus | null;
}

/** The caller's rate-limit bucket after the request, in cost points. */
export interface ThrottleStatus {
  maximumAvailable: number;
  currentlyAvailable: number;
  /** Points per second that flow back into the bucket. */
  restoreRate: number;
}

const costsByRequest = new WeakMap<GraphQLRequest, CostExtension>();

/**
 * Returns the cost that the limits plugin computed for a request in
 * `didResolveOperation`, or undefined when it computed none. The response
 * reports the same object, so changes to `throttleStatus` reach the client.
 */
export function findOperationCost(
  request: GraphQLRequest,
): CostExtension | undefined {
  return costsByRequest.get(request);
}

/** A limit that an operation exceeded. */
interface Rejection {
  limit: LimitName;
  value: number | null;
  maximum: number;
}

/**
 * Rejects operations over the depth, alias, root-field, directive, token
 * and cost limits before any subgraph is called. With OPERATION_REPORT_COST
 * set, the response of every operation within the other limits carries its
 * cost in `extensions.cost`, rejected for its cost or not.
 *
 * Tokens are counted in `didResolveSource`, before parsing, with a lexer
 * pass that stops after `maxTokens`. Apollo Server responds to an error thrown
 * from that hook with HTTP 500, so the parser stops the request instead:
 * gateway/server.ts passes the same limit as graphql-js's `maxTokens`
 * parse option. Then `willSendResponse` replaces the parser's syntax error
 * with MAX_TOKENS_EXCEEDED. The other limits are checked in
 * `didResolveOperation`, after validation and before planning.
 */
export function createOperationLimitsPlugin(
  config: Config,
): ApolloServerPlugin<GatewayContext> {
  const limits = readOperationLimits(config);
  const logRejection = createRejectionLog();

  // @apollo/gateway removes @cost and @listSize from the API schema it
  // serves, so the cost model is built from each supergraph as it loads.
  const costModels = new WeakMap<GraphQLSchema, CostModel>();
  let latestCostModel: CostModel | undefined;
  const findCostModel = (schema: GraphQLSchema): CostModel => {
    const model = costModels.get(schema) ?? latestCostModel;
    if (!model) throw new Error('No supergraph has been loaded yet.');
    return model;
  };

  return {
    async serverWillStart() {
      return {
        schemaDidLoadOrUpdate({ apiSchema, coreSupergraphSdl }) {
          if (!coreSupergraphSdl) {
            throw new Error(
              'The operation limits plugin needs a gateway: no supergraph SDL came with the schema.',
            );
          }
          latestCostModel = buildCostModel(coreSupergraphSdl);
          costModels.set(apiSchema, latestCostModel);
        },
      };
    },

    async requestDidStart() {
      let tooManyTokens: GraphQLError | undefined;
      let cost: CostExtension | undefined;

      return {
        async didResolveSource({ source, contextValue, request }) {
          const tokens = countTokens(source, limits.maxTokens);
          if (tokens <= limits.maxTokens) return;
          const rejection = {
            limit: 'tokens' as const,
            value: null,
            maximum: limits.maxTokens,
          };
          logRejection(contextValue.logger, {
            ...rejection,
            operationName: request.operationName ?? null,
          });
          tooManyTokens = limitExceededError('tokens', null, limits.maxTokens);
        },

        async didResolveOperation(requestContext) {
          if (tooManyTokens) throw tooManyTokens;
          // Without a matching operation the request fails at execution,
          // before any subgraph is called.
          const { document, operation } = requestContext;
          if (!operation) return;

          let rejection = checkShape(document, operation, limits);
          if (!rejection) {
            const requestedQueryCost = computeQueryCost(
              findCostModel(requestContext.schema),
              document,
              operation,
              {
                defaultListSize: limits.defaultListSize,
                variables: requestContext.request.variables,
              },
            );
            cost = {
              requestedQueryCost,
              actualQueryCost: null,
              throttleStatus: null,
            };
            costsByRequest.set(requestContext.request, cost);
            if (requestedQueryCost > limits.maxCost) {
              rejection = {
                limit: 'cost',
                value: requestedQueryCost,
                maximum: limits.maxCost,
              };
            }
          }
          if (!rejection) return;

          logRejection(requestContext.contextValue.logger, {
            ...rejection,
            operationName: requestContext.operationName,
          });
          throw limitExceededError(
            rejection.limit,
            rejection.value,
            rejection.maximum,
          );
        },

        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const result = response.body.singleResult;

          // The parser stopped at the token limit with a syntax error.
          // Without its `maxTokens` option, parsing or validation may fail
          // first, but the client must shorten the document either way.
          if (tooManyTokens) {
            const { http: _http, ...extensions } = tooManyTokens.extensions;
            response.body.singleResult = {
              errors: [{ message: tooManyTokens.message, extensions }],
            };
            response.http.status = 400;
            return;
          }
          if (cost && limits.reportCost) {
            result.extensions = { ...result.extensions, cost };
          }
        },
      };
    },
  };
}

/**
 * Returns the first shape limit the operation exceeds, in the order
 * aliases, root fields, directives, depth.
 */
function checkShape(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  limits: OperationLimits,
): Rejection | undefined {
  const shape = measureOperation(document, operation);
  const checks: Array<[LimitName, number, number]> = [
    ['aliases', shape.aliases, limits.maxAliases],
    ['rootFields', shape.rootFields, limits.maxRootFields],
    ['directives', shape.directives, limits.maxDirectives],
    ['depth', shape.depth, limits.maxDepth],
  ];
  for (const [limit, value, maximum] of checks) {
    if (value > maximum) return { limit, value, maximum };
  }
  return undefined;
}

/**
 * Checks the shape limits (aliases, root fields, directives, depth) of an
 * operation served outside Apollo Server, such as a subscription, and
 * returns the error for the first one exceeded.
 */
export function checkOperationShape(
  config: Config,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): GraphQLError | undefined {
  const rejection = checkShape(
    document,
    operation,
    readOperationLimits(config),
  );
  return (
    rejection &&
    limitExceededError(rejection.limit, rejection.value, rejection.maximum)
  );
}
