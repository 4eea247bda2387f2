import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  execute,
  parse,
  validate,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';

/** The GraphQL request body that a gateway sends to a subgraph. */
export interface SubgraphRequest {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
}

/** Function that changes a subgraph response after execution, to imitate a faulty subgraph. */
export type ResponseRewrite = (
  result: ExecutionResult,
  request: SubgraphRequest,
) => ExecutionResult;

/** A subgraph schema served over HTTP, with counters of what it received. */
export interface ServedSubgraph {
  name: string;
  /** URL of the GraphQL endpoint, on 127.0.0.1. */
  url: string;
  /** GraphQL requests received since the last `resetCounters`. */
  requests: number;
  /**
   * Number of entity representations in each request since the last
   * `resetCounters`, 0 for requests without them. A request that combines
   * several entity fetches carries one `representations<N>` variable per
   * fetch, and they are added up.
   */
  representationsPerRequest: number[];
  /** Rewrite applied to each response, when set. */
  rewriteResponse: ResponseRewrite | undefined;
  /** HTTP status that GraphQL requests get unexecuted, with a text body, when set. */
  failWithStatus: number | undefined;
  resetCounters(): void;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Serves `schema` at POST /graphql on 127.0.0.1 and a free port. Requests
 * are executed with graphql-js, so a resolver error reaches the gateway
 * with the extensions the resolver gave it and no `code` otherwise.
 */
export async function serveSubgraph(
  name: string,
  schema: GraphQLSchema,
): Promise<ServedSubgraph> {
  const server = createServer((request, response) => {
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      response.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      response.end(text);
    };
    if (request.method !== 'POST' || !request.url?.startsWith('/graphql')) {
      send(404, { errors: [{ message: `Not found: ${request.url}` }] });
      return;
    }
    void readBody(request).then(async (text) => {
      try {
        const body = JSON.parse(text) as SubgraphRequest;
        served.requests += 1;
        let representations = 0;
        for (const [name, value] of Object.entries(body.variables ?? {})) {
          if (name.startsWith('representations') && Array.isArray(value)) {
            representations += value.length;
          }
        }
        served.representationsPerRequest.push(representations);
        if (served.failWithStatus !== undefined) {
          response.writeHead(served.failWithStatus, {
            'content-type': 'text/plain',
          });
          response.end('subgraph unavailable');
          return;
        }
        const document = parse(body.query);
        const validationErrors = validate(schema, document);
        if (validationErrors.length > 0) {
          send(400, { errors: validationErrors });
          return;
        }
        const result = await execute({
          schema,
          document,
          variableValues: body.variables,
          operationName: body.operationName,
        });
        send(200, served.rewriteResponse?.(result, body) ?? result);
      } catch (error) {
        send(400, { errors: [{ message: (error as Error).message }] });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const served: ServedSubgraph = {
    name,
    url: `http://127.0.0.1:${port}/graphql`,
    requests: 0,
    representationsPerRequest: [],
    rewriteResponse: undefined,
    failWithStatus: undefined,
    resetCounters() {
      served.requests = 0;
      served.representationsPerRequest = [];
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
  return served;
}

/** Serves each schema of `schemas` with `serveSubgraph`, keyed by subgraph name. */
export async function serveSubgraphs<Name extends string>(
  schemas: Record<Name, GraphQLSchema>,
): Promise<Record<Name, ServedSubgraph>> {
  const served = {} as Record<Name, ServedSubgraph>;
  for (const name of Object.keys(schemas) as Name[]) {
    served[name] = await serveSubgraph(name, schemas[name]);
  }
  return served;
}
