import { z } from 'zod';

/** The four domain services. Each owns one database and one HTTP port. */
export const SERVICE_NAMES = [
  'catalog',
  'orders',
  'shipments',
  'marketplace',
] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

const DEFAULT_PORTS: Record<ServiceName | 'gateway', number> = {
  gateway: 4000,
  catalog: 4001,
  orders: 4002,
  shipments: 4003,
  marketplace: 4004,
};

const port = z.coerce.number().int().min(0).max(65535);
const optionalUrl = z
  .string()
  .url()
  .optional()
  .or(z.literal('').transform(() => undefined));

const environmentSchema = z.object({
  HOST: z.string().default('127.0.0.1'),
  GATEWAY_PORT: port.default(DEFAULT_PORTS.gateway),
  CATALOG_PORT: port.default(DEFAULT_PORTS.catalog),
  ORDERS_PORT: port.default(DEFAULT_PORTS.orders),
  SHIPMENTS_PORT: port.default(DEFAULT_PORTS.shipments),
  MARKETPLACE_PORT: port.default(DEFAULT_PORTS.marketplace),
  DATABASE_URL: optionalUrl,
  CATALOG_DATABASE_URL: optionalUrl,
  ORDERS_DATABASE_URL: optionalUrl,
  SHIPMENTS_DATABASE_URL: optionalUrl,
  MARKETPLACE_DATABASE_URL: optionalUrl,
  DATABASE_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,40}$/, 'use lower-case letters, digits and _')
    .default('commerce'),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  EMBEDDED_PG_PORT: port.default(5433),
  DATA_DIR: z.string().default('.data'),
  SHOP_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/, 'use an ISO 4217 code such as USD')
    .default('USD'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
  SUPERGRAPH_PATH: z.string().default('schema/supergraph.graphql'),
  CATALOG_URL: optionalUrl,
  ORDERS_URL: optionalUrl,
  SHIPMENTS_URL: optionalUrl,
  MARKETPLACE_URL: optionalUrl,
  SUBGRAPH_TIMEOUT_MS: z.coerce.number().int().min(1).default(10_000),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  REQUEST_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1_048_576),
});

export type Config = z.infer<typeof environmentSchema>;

/**
 * Parses the environment once. Throws an error that lists every invalid
 * variable with its reason, so a misconfigured service stops before it binds.
 */
export function loadConfig(
  environment: NodeJS.ProcessEnv = process.env,
): Config {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `  ${issue.path.join('.')}: ${issue.message}`,
    );
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export function servicePort(config: Config, service: ServiceName): number {
  const ports: Record<ServiceName, number> = {
    catalog: config.CATALOG_PORT,
    orders: config.ORDERS_PORT,
    shipments: config.SHIPMENTS_PORT,
    marketplace: config.MARKETPLACE_PORT,
  };
  return ports[service];
}

/** Returns the GraphQL URL of a subgraph, or undefined for the supergraph's own. */
export function serviceUrlOverride(
  config: Config,
  service: ServiceName,
): string | undefined {
  const urls: Record<ServiceName, string | undefined> = {
    catalog: config.CATALOG_URL,
    orders: config.ORDERS_URL,
    shipments: config.SHIPMENTS_URL,
    marketplace: config.MARKETPLACE_URL,
  };
  return urls[service];
}
