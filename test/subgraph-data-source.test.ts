import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types.js';
import { createServer, type Server } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SubgraphDataSource,
  SubgraphUnavailableError,
} from '../gateway/subgraph-data-source.js';
import { createLogger } from '../platform/logger.js';

// A subgraph address where something other than an HTTP server responds:
// the client must report the subgraph as unavailable, not fail with an
// internal error.

describe('subgraph data source', () => {
  let server: Server;
  let port: number;
  const dispatcher = new Agent();

  beforeAll(async () => {
    server = createServer((socket) => {
      socket.once('data', () => socket.end('SSH-2.0-OpenSSH_9.2\r\n\r\n'));
    });
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await dispatcher.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reports a response that is not HTTP as SUBGRAPH_UNAVAILABLE', async () => {
    const source = new SubgraphDataSource({
      name: 'inventory',
      url: `http://127.0.0.1:${port}/graphql`,
      dispatcher,
      timeoutMs: 5_000,
      logger: createLogger('subgraph-data-source-test', 'silent'),
    });
    const failure = await source
      .process({
        kind: GraphQLDataSourceRequestKind.HEALTH_CHECK,
        request: { query: '{ __typename }' },
        context: {},
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );

    expect(failure).toBeInstanceOf(SubgraphUnavailableError);
    expect((failure as SubgraphUnavailableError).message).toBe(
      'Could not reach the inventory subgraph: network error.',
    );
    expect((failure as SubgraphUnavailableError).extensions).toEqual({
      code: 'SUBGRAPH_UNAVAILABLE',
      serviceName: 'inventory',
    });
  });
});
