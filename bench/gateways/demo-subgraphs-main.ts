/**
 * Serves the four demo subgraphs (bench/gateways/demo-subgraphs.ts) in one
 * process over node:http, on BENCH_DEMO_BASE_PORT and the three ports
 * after it, in the order of DEMO_SUBGRAPH_NAMES. Each serves POST /graphql
 * and GET /ready. GET /requests on any of them returns the number of
 * GraphQL requests each subgraph has served, so the bench can count the
 * subgraph calls of a gateway's queries.
 *
 * Parsed and validated documents are cached by query text, because a
 * gateway sends the same few subgraph operations over and over.
 */
import './loopback-only.js';
import { createServer, type IncomingMessage } from 'node:http';
import {
  execute,
  parse,
  validate,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import {
  buildDemoSubgraphSchema,
  DEMO_SUBGRAPH_NAMES,
  type DemoSubgraphName,
} from './demo-subgraphs.js';

const basePort = Number(process.env.BENCH_DEMO_BASE_PORT);
if (!Number.isInteger(basePort) || basePort <= 0) {
  console.error('BENCH_DEMO_BASE_PORT must be a port number');
  process.exit(1);
}

const requestCounts: Record<DemoSubgraphName, number> = {
  accounts: 0,
  products: 0,
  inventory: 0,
  reviews: 0,
};

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function serve(name: DemoSubgraphName, schema: GraphQLSchema, port: number) {
  const documents = new Map<string, DocumentNode>();
  const server = createServer((request, response) => {
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      response.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      response.end(text);
    };
    if (request.method === 'GET' && request.url === '/ready') {
      send(200, { status: 'ready' });
      return;
    }
    if (request.method === 'GET' && request.url === '/requests') {
      send(200, requestCounts);
      return;
    }
    if (request.method !== 'POST' || !request.url?.startsWith('/graphql')) {
      send(404, { error: 'not found' });
      return;
    }
    requestCounts[name] += 1;
    void readBody(request).then(async (text) => {
      try {
        const { query, variables, operationName } = JSON.parse(text) as {
          query: string;
          variables?: Record<string, unknown>;
          operationName?: string;
        };
        let document = documents.get(query);
        if (!document) {
          const parsed = parse(query);
          const errors = validate(schema, parsed);
          if (errors.length > 0) {
            send(400, { errors });
            return;
          }
          document = parsed;
          documents.set(query, document);
        }
        send(
          200,
          await execute({
            schema,
            document,
            variableValues: variables,
            operationName,
          }),
        );
      } catch (error) {
        send(400, { errors: [{ message: (error as Error).message }] });
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, '127.0.0.1');
  return server;
}

const servers = DEMO_SUBGRAPH_NAMES.map((name, index) =>
  serve(name, buildDemoSubgraphSchema(name), basePort + index),
);
const stop = () => {
  for (const server of servers) server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// The IPC channel closes when the bench process ends in any way.
process.once('disconnect', stop);
