import { createHash } from 'node:crypto';
import type { ApolloGateway } from '@apollo/gateway';
import { getVariableValues, print, type GraphQLSchema } from 'graphql';
import { ANONYMOUS_CALLER } from '../caller.js';
import type { GatewayContext } from '../context.js';
import { authorizeOperation } from './operation.js';
import { POLICIES } from './policies.js';
import {
  hasRequirements,
  type SupergraphRequirements,
} from './requirements.js';
import { readRequirements } from './supergraph.js';

type GatewayExecutor = ApolloGateway['executor'];
type GatewayRequestContext = Parameters<GatewayExecutor>[0];
type GatewayExecutionResult = Awaited<ReturnType<GatewayExecutor>>;

/** The part of ApolloGateway that Apollo Server uses. */
export type AuthorizingGateway = Pick<
  ApolloGateway,
  'load' | 'onSchemaLoadOrUpdate' | 'stop'
>;

/**
 * Wraps `gateway` so that every operation is authorized before it is
 * planned: fields the caller may not read are removed from the operation,
 * and an UNAUTHENTICATED or FORBIDDEN error is added at each of their paths.
 *
 * Why the executor and not a plugin: Apollo Server 5 gives plugins the
 * document as read-only, and executes through the executor that the gateway
 * returned from `load()`. That executor plans the operation in
 * `requestContext.document` and caches the plan under
 * `requestContext.queryHash` (with the operation name), @apollo/gateway
 * 2.14 `executor` in src/index.ts. So the filtered operation is handed over
 * with its printed text in `source` and the SHA-256 of that text in
 * `queryHash`. A plan is therefore cached under the text it was planned
 * from, and a plan made for one caller's filtered document is never used
 * for another caller's document.
 */
export function authorizeGateway(
  gateway: AuthorizingGateway,
): AuthorizingGateway {
  // The requirements of each API schema, read from the supergraph text that
  // the schema was built from. Apollo Server passes that same schema object
  // to the executor in `requestContext.schema`.
  const requirementsBySchema = new WeakMap<
    GraphQLSchema,
    SupergraphRequirements
  >();

  return {
    onSchemaLoadOrUpdate(callback) {
      return gateway.onSchemaLoadOrUpdate((schemaContext) => {
        requirementsBySchema.set(
          schemaContext.apiSchema,
          readRequirements(schemaContext.coreSupergraphSdl),
        );
        callback(schemaContext);
      });
    },
    async load(options) {
      const result = await gateway.load(options);
      const executor = result.executor;
      return {
        ...result,
        executor: (requestContext) =>
          executeAuthorized(requestContext, executor, requirementsBySchema),
      };
    },
    stop: () => gateway.stop(),
  };
}

async function executeAuthorized(
  requestContext: GatewayRequestContext,
  execute: GatewayExecutor,
  requirementsBySchema: WeakMap<GraphQLSchema, SupergraphRequirements>,
): Promise<GatewayExecutionResult> {
  const requirements = requirementsBySchema.get(requestContext.schema);
  if (!requirements) {
    // Fails closed. A missing entry is a bug, and Apollo Server masks the
    // message.
    throw new Error(
      'No authorization requirements are loaded for the schema of this request.',
    );
  }
  // Without an operation (several operations and no operationName), the
  // gateway responds with INVALID_GRAPHQL and plans nothing.
  const operation = requestContext.operation as
    GatewayRequestContext['operation'] | undefined;
  if (!hasRequirements(requirements) || !operation) {
    return execute(requestContext);
  }

  const { coerced, errors: variableErrors } = getVariableValues(
    requestContext.schema,
    operation.variableDefinitions ?? [],
    requestContext.request.variables ?? {},
  );
  if (variableErrors) return { errors: variableErrors };

  const context = requestContext.context as Partial<GatewayContext>;
  const result = authorizeOperation({
    schema: requestContext.schema,
    requirements,
    policies: POLICIES,
    caller: context.caller ?? ANONYMOUS_CALLER,
    document: requestContext.document,
    operation,
    variables: coerced,
  });
  if (result.kind === 'allowed') return execute(requestContext);

  context.logger?.debug(
    { errors: result.errors.map(({ message, path }) => ({ message, path })) },
    'authorization removed fields from the operation',
  );
  if (result.kind === 'denied') {
    // With no errors, @skip or @include excluded every removed root field,
    // and the operation selects nothing.
    return result.errors.length > 0
      ? { data: null, errors: result.errors }
      : { data: {} };
  }

  const source = print(result.document);
  const response = await execute({
    ...requestContext,
    request: { ...requestContext.request, query: source },
    document: result.document,
    source,
    queryHash: createHash('sha256').update(source).digest('hex'),
    operation: result.operation,
  });
  // Every removed field may have been skipped by @skip or @include.
  if (result.errors.length === 0) return response;
  return {
    ...response,
    errors: [...result.errors, ...(response.errors ?? [])],
  };
}
