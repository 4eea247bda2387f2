/**
 * Entry point of one gateway process of the gateway comparison
 * (bench/gateways/compare.ts). BENCH_GATEWAY_KIND selects the gateway:
 *
 * - `ours`: startGateway from gateway/server.ts as shipped, configured from
 *   the environment like gateway/index.ts (GATEWAY_DEDUPLICATE_QUERIES
 *   included);
 * - `apollo`: a plain ApolloGateway in Apollo Server's standalone server;
 * - `hive`: @graphql-hive/gateway's runtime on node:http;
 * - `hive-router`: the same with @graphql-hive/router-runtime, the query
 *   planner of Hive Router (Rust, as a native addon).
 *
 * Each serves BENCH_GATEWAY_SUPERGRAPH on 127.0.0.1:BENCH_GATEWAY_PORT at
 * /graphql. The project's subgraphs reject requests without a signed
 * caller. So when IDENTITY_PRIVATE_KEY is set, the apollo and hive gateways
 * send each subgraph request the signed anonymous identity, as ours does
 * for an anonymous caller. They sign it again every 20 s, because it
 * expires after IDENTITY_TOKEN_TTL_SECONDS.
 */
import './loopback-only.js';
import { readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { loadConfig } from '../../platform/config.js';
import { IDENTITY_HEADER, signIdentity } from '../../platform/identity.js';
import { resolveIdentityKeys } from '../../platform/identity-keys.js';
import { createLogger } from '../../platform/logger.js';
import { stopOnSignals } from '../../platform/main.js';
import { ANONYMOUS_CALLER } from '../../gateway/caller.js';
import { startGateway } from '../../gateway/server.js';

const GATEWAY_KINDS = ['ours', 'apollo', 'hive', 'hive-router'] as const;
type GatewayKind = (typeof GATEWAY_KINDS)[number];

/** Interval at which the apollo and hive gateways re-sign the identity. */
const IDENTITY_REFRESH_MS = 20_000;

const kind = process.env.BENCH_GATEWAY_KIND as GatewayKind;
const supergraphPath = process.env.BENCH_GATEWAY_SUPERGRAPH ?? '';
const port = Number(process.env.BENCH_GATEWAY_PORT);
const config = loadConfig();
const logger = createLogger(`gateway-${kind}`, config.LOG_LEVEL);
if (!GATEWAY_KINDS.includes(kind) || !supergraphPath || !port) {
  logger.fatal(
    `BENCH_GATEWAY_KIND must be one of ${GATEWAY_KINDS.join(', ')}, with BENCH_GATEWAY_SUPERGRAPH and BENCH_GATEWAY_PORT set`,
  );
  process.exit(1);
}

/**
 * Returns a function that returns the current identity headers, or none
 * without IDENTITY_PRIVATE_KEY.
 */
async function anonymousIdentityHeaders(): Promise<
  () => Record<string, string>
> {
  if (!config.IDENTITY_PRIVATE_KEY) return () => ({});
  const { signingKey } = await resolveIdentityKeys(config, 'sign');
  const sign = async () => ({
    [IDENTITY_HEADER]: await signIdentity(signingKey!, ANONYMOUS_CALLER),
  });
  let headers = await sign();
  setInterval(() => {
    void sign().then((signed) => {
      headers = signed;
    });
  }, IDENTITY_REFRESH_MS).unref();
  return () => headers;
}

async function startApollo(): Promise<() => Promise<void>> {
  const identityHeaders = await anonymousIdentityHeaders();
  const gateway = new ApolloGateway({
    supergraphSdl: readFileSync(supergraphPath, 'utf8'),
    ...(config.IDENTITY_PRIVATE_KEY
      ? {
          buildService: ({ url }) =>
            new RemoteGraphQLDataSource({
              url,
              willSendRequest({ request }) {
                for (const [name, value] of Object.entries(identityHeaders()))
                  request.http?.headers.set(name, value);
              },
            }),
        }
      : {}),
  });
  const server = new ApolloServer({ gateway });
  await startStandaloneServer(server, {
    listen: { host: '127.0.0.1', port },
  });
  return () => server.stop();
}

/** The part of @graphql-hive/gateway's runtime that this process uses. */
interface HiveRuntime {
  (request: IncomingMessage, response: ServerResponse): void;
  dispose(): Promise<void> | void;
}

/**
 * Loads the Hive packages by a specifier that TypeScript does not resolve.
 * Their type declarations pull in `@types/node` 25 and the DOM's fetch
 * types (through @whatwg-node/fetch), which replace the global types that
 * the rest of the project checks against Node 20's.
 */
async function importUntyped(specifier: string): Promise<any> {
  return import(specifier);
}

async function startHive(withRouterRuntime: boolean) {
  const identityHeaders = await anonymousIdentityHeaders();
  const { createGatewayRuntime } = await importUntyped('@graphql-hive/gateway');
  const { unifiedGraphHandler } = withRouterRuntime
    ? await importUntyped('@graphql-hive/router-runtime')
    : { unifiedGraphHandler: undefined };
  const runtime: HiveRuntime = createGatewayRuntime({
    supergraph: readFileSync(supergraphPath, 'utf8'),
    // Hive Gateway shares identical subgraph requests in flight by
    // default; the comparison measures every gateway without it.
    transportEntries: {
      '*.http': { options: { deduplicateInflightRequests: false } },
    },
    ...(unifiedGraphHandler ? { unifiedGraphHandler } : {}),
    propagateHeaders: { fromClientToSubgraphs: () => identityHeaders() },
    logging: 'warn',
    graphiql: false,
    landingPage: false,
  });
  const server = createServer(runtime);
  await new Promise<void>((resolve) =>
    server.listen(port, '127.0.0.1', resolve),
  );
  return async () => {
    await new Promise((resolve) => server.close(resolve));
    await runtime.dispose();
  };
}

async function start(): Promise<() => Promise<void>> {
  switch (kind) {
    case 'ours': {
      const gateway = await startGateway({
        config,
        logger,
        supergraphPath,
        host: '127.0.0.1',
        port,
      });
      return () => gateway.close();
    }
    case 'apollo':
      return startApollo();
    case 'hive':
      return startHive(false);
    case 'hive-router':
      return startHive(true);
  }
}

try {
  const stop = await start();
  stopOnSignals(logger, stop);
  logger.info({ kind, port }, 'gateway listening');
} catch (error) {
  logger.fatal({ err: error }, 'gateway failed to start');
  process.exit(1);
}
