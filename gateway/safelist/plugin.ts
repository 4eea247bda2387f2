import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { ErrorCode } from '../../platform/errors.js';
import type { GatewayContext } from '../context.js';
import { operationHash, type SafelistStore } from './store.js';

/**
 * Stands in for a rejected operation so that Apollo Server parses and
 * validates a trivial document, never the rejected text.
 */
const PLACEHOLDER_DOCUMENT = '{ __typename }';

/**
 * Enforces safelist mode of partner keys. For a partner key in safelist
 * mode, a request runs only when its operation is registered for the key:
 * either it sends `extensions.persistedQuery.sha256Hash` of a registered
 * document and no query, or a query whose SHA-256 is registered. Anything
 * else is rejected with HTTP 403 and OPERATION_NOT_IN_SAFELIST, before
 * execution, so no subgraph is called. Other callers are not affected.
 *
 * Apollo Server 5 responds to an error thrown in `requestDidStart` with HTTP
 * 500, so the decision is made there and the error is thrown in
 * `didResolveOperation`, which keeps the error's status. A registered
 * hash-only request gets the registered document as its query, and its
 * persisted query extension is removed, so the document does not go into
 * the APQ cache that other callers can read by hash.
 */
export function createSafelistPlugin(
  store: SafelistStore,
): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ request, contextValue }) {
      const { caller } = contextValue;
      if (caller.kind !== 'partner' || !caller.subject) return;
      const safelist = await store.load(caller.subject);
      if (!safelist.enabled) return;

      const persistedQuery = request.extensions?.persistedQuery as
        { sha256Hash?: unknown } | undefined;
      const hash = request.query
        ? operationHash(request.query)
        : typeof persistedQuery?.sha256Hash === 'string'
          ? persistedQuery.sha256Hash
          : undefined;
      const document =
        hash === undefined ? undefined : safelist.documents.get(hash);
      if (request.extensions) delete request.extensions.persistedQuery;
      if (document !== undefined) {
        request.query = document;
        return;
      }

      contextValue.logger.info(
        { partnerKeyId: caller.subject, hash },
        'operation rejected: not in the safelist of the partner key',
      );
      request.query = PLACEHOLDER_DOCUMENT;
      request.operationName = undefined;
      request.variables = undefined;
      return {
        async didResolveOperation() {
          throw new GraphQLError(
            'This partner key runs only registered operations, and this operation is not registered for it. Send extensions.persistedQuery.sha256Hash of a registered operation, or ask the shop to register the document.',
            {
              extensions: {
                code: ErrorCode.OperationNotInSafelist,
                http: { status: 403 },
              },
            },
          );
        },
      };
    },
  };
}
