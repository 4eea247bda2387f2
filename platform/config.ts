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

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value));

const operationLimit = z.coerce.number().int().min(1);
/** Cost points a bucket holds when full; 0 turns the limit off. */
const rateLimitCapacity = z.coerce.number().int().min(0);
/** Cost points per second that flow back into a bucket. */
const rateLimitRestoreRate = z.coerce.number().positive();

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
  GATEWAY_DATABASE_URL: optionalUrl,
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
  // GET /metrics on the gateway and every subgraph (see
  // docs/observability.md). With METRICS_TOKEN set, scrapes must send it as
  // a bearer token.
  METRICS_ENABLED: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  METRICS_TOKEN: optionalString,
  // OpenTelemetry traces over OTLP/HTTP (see docs/observability.md). Unset
  // endpoint: tracing is off. The service name defaults to the service's
  // own (gateway, catalog, ...). The ratio samples new traces, and a
  // request with a `traceparent` keeps the caller's sampling decision.
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_SERVICE_NAME: optionalString,
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  SUPERGRAPH_PATH: z.string().default('schema/supergraph.graphql'),
  CATALOG_URL: optionalUrl,
  ORDERS_URL: optionalUrl,
  SHIPMENTS_URL: optionalUrl,
  MARKETPLACE_URL: optionalUrl,
  SUBGRAPH_TIMEOUT_MS: z.coerce.number().int().min(1).default(10_000),
  // Gateway: identical subgraph queries in flight at the same time share
  // one request (see docs/gateway.md).
  GATEWAY_DEDUPLICATE_QUERIES: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  // Gateway: `gateway` runs query plans on the gateway's own executor,
  // `apollo` on @apollo/gateway's (see docs/gateway.md).
  GATEWAY_PLAN_EXECUTOR: z.enum(['gateway', 'apollo']).default('gateway'),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  // Catalog stock reservations held for checkouts (see docs/configuration.md).
  STOCK_RESERVATION_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(86_400)
    .default(900),
  STOCK_RESERVATION_SWEEP_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(10)
    .max(3_600_000)
    .default(5_000),
  REQUEST_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1_048_576),
  // Operation limits of the gateway, sized for a storefront. The reasons
  // for each default are in docs/gateway.md.
  OPERATION_MAX_DEPTH: operationLimit.default(15),
  OPERATION_MAX_ALIASES: operationLimit.default(30),
  OPERATION_MAX_ROOT_FIELDS: operationLimit.default(20),
  OPERATION_MAX_DIRECTIVES: operationLimit.default(50),
  OPERATION_MAX_TOKENS: operationLimit.default(5_000),
  OPERATION_MAX_COST: operationLimit.default(10_000),
  OPERATION_DEFAULT_LIST_SIZE: operationLimit.default(5),
  OPERATION_REPORT_COST: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  NODE_ENV: optionalString,
  APP_ENV: z
    .enum(['development', 'production'])
    .optional()
    .or(z.literal('').transform(() => undefined)),
  IDENTITY_PRIVATE_KEY: optionalString,
  IDENTITY_PUBLIC_KEY: optionalString,
  STAFF_TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(86_400)
    .default(900),
  PARTNER_KEY_CACHE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(5_000),
  STAFF_IDP_JWKS_URL: optionalUrl,
  STAFF_IDP_ISSUER: optionalString,
  STAFF_IDP_AUDIENCE: optionalString,
  STAFF_IDP_ROLES_CLAIM: z.string().min(1).default('roles'),
  CUSTOMER_TOKEN_PRIVATE_KEY: optionalString,
  CUSTOMER_TOKEN_PUBLIC_KEY: optionalString,
  CUSTOMER_TOKEN_JWKS_URL: optionalUrl,
  CUSTOMER_TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(3_600)
    .default(900),
  CUSTOMER_REFRESH_TOKEN_TTL_DAYS: z.coerce
    .number()
    .int()
    .min(1)
    .max(365)
    .default(30),
  // Sign-in throttling of customers and staff, per email address (see
  // docs/identity.md).
  SIGN_IN_MAX_FAILED_ATTEMPTS: z.coerce.number().int().min(1).default(5),
  SIGN_IN_WINDOW_SECONDS: z.coerce.number().int().min(1).default(900),
  SIGN_IN_LOCKOUT_SECONDS: z.coerce.number().int().min(1).default(900),
  SAFELIST_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  APQ_CACHE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(32 * 1024 * 1024),
  CORS_ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((value, context) => {
      const origins = value
        .split(',')
        .map((origin) => origin.trim())
        .filter((origin) => origin !== '');
      for (const origin of origins) {
        if (!isOrigin(origin)) {
          context.addIssue({
            code: 'custom',
            message: `"${origin}" is not an origin such as https://shop.example.com (scheme, host and optional port, no path or wildcard)`,
          });
        }
      }
      return origins;
    }),
  SECRETS_ENCRYPTION_KEY: optionalString,
  // Rate limits of the gateway: a token bucket of query cost per caller.
  // The reasons for each default are in docs/gateway.md.
  RATE_LIMIT_STORE: z.enum(['postgres', 'redis', 'off']).default('postgres'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  RATE_LIMIT_KEY_PREFIX: z.string().default('rate-limit:'),
  RATE_LIMIT_ANONYMOUS_CAPACITY: rateLimitCapacity.default(50_000),
  RATE_LIMIT_ANONYMOUS_RESTORE_RATE: rateLimitRestoreRate.default(10_000),
  RATE_LIMIT_CUSTOMER_CAPACITY: rateLimitCapacity.default(50_000),
  RATE_LIMIT_CUSTOMER_RESTORE_RATE: rateLimitRestoreRate.default(10_000),
  RATE_LIMIT_PARTNER_CAPACITY: rateLimitCapacity.default(20_000),
  RATE_LIMIT_PARTNER_RESTORE_RATE: rateLimitRestoreRate.default(2_000),
  RATE_LIMIT_STAFF_CAPACITY: rateLimitCapacity.default(0),
  RATE_LIMIT_STAFF_RESTORE_RATE: rateLimitRestoreRate.default(1_000),
  RATE_LIMIT_TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).default(0),
  // Payments of the orders service (see docs/payments.md). The sandbox takes
  // no money; stripe requires both Stripe secrets (checked in loadConfig).
  PAYMENT_PROVIDER: z.enum(['sandbox', 'stripe']).default('sandbox'),
  STRIPE_API_BASE_URL: z.string().url().default('https://api.stripe.com'),
  STRIPE_SECRET_KEY: optionalString,
  STRIPE_WEBHOOK_SECRET: optionalString,
  SANDBOX_WEBHOOK_SECRET: optionalString.transform(
    (value) => value ?? 'whsec_sandbox_development',
  ),
  // Production mode refuses the sandbox, which takes no money, unless this
  // is true (a public demo); see platform/production-checks.ts.
  ALLOW_SANDBOX_PAYMENTS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  PAYMENT_CAPTURE: z.enum(['automatic', 'manual']).default('automatic'),
  // Checkout prices and background reconciliation of the orders service
  // (see docs/checkout.md). Amounts are decimals in SHOP_CURRENCY, checked
  // against its minor digits when the orders service starts.
  CHECKOUT_TAX_RATE_PERCENT: z
    .string()
    .regex(
      /^\d{1,3}(\.\d{1,6})?$/,
      'use a decimal percentage such as 8.25 (at most 6 decimal places)',
    )
    .refine((value) => Number(value) <= 100, 'use at most 100')
    .default('0'),
  SHIPPING_FLAT_RATE: z
    .string()
    .regex(/^\d{1,8}(\.\d{1,4})?$/, 'use a decimal amount such as 5.00')
    .default('5.00'),
  SHIPPING_FREE_OVER: optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,8}(\.\d{1,4})?$/, 'use a decimal amount such as 50.00')
      .optional(),
  ),
  CHECKOUT_RECONCILE_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_600_000)
    .default(30_000),
  // Carriers of the shipments service (see docs/shipping.md). The sandbox is
  // offline; easypost requires both EasyPost secrets (checked in loadConfig).
  CARRIER: z.enum(['sandbox', 'easypost']).default('sandbox'),
  EASYPOST_API_BASE_URL: z.string().url().default('https://api.easypost.com'),
  EASYPOST_API_KEY: optionalString,
  EASYPOST_WEBHOOK_SECRET: optionalString,
  // eBay connections of the marketplace service (see docs/marketplaces.md):
  // base URLs of the Sell APIs and of the OAuth token endpoint.
  EBAY_API_BASE_URL: z.string().url().default('https://api.ebay.com'),
  EBAY_AUTH_BASE_URL: z.string().url().default('https://api.ebay.com'),
  SANDBOX_CARRIER_RATES_FILE: optionalString,
  TRACKING_URL_BASE: optionalUrl,
  SHIPPING_DEFAULT_ITEM_WEIGHT_GRAMS: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(500),
  SHIPPING_ORIGIN_NAME: z.string().min(1).default('Commerce Graph Warehouse'),
  SHIPPING_ORIGIN_LINE1: z.string().min(1).default('100 Main Street'),
  SHIPPING_ORIGIN_LINE2: optionalString,
  SHIPPING_ORIGIN_CITY: z.string().min(1).default('Springfield'),
  // Unset: the development default; empty: the address has none.
  SHIPPING_ORIGIN_REGION: z
    .string()
    .default('IL')
    .transform((value) => (value === '' ? undefined : value)),
  SHIPPING_ORIGIN_POSTAL_CODE: z
    .string()
    .default('62701')
    .transform((value) => (value === '' ? undefined : value)),
  SHIPPING_ORIGIN_COUNTRY: z
    .string()
    .regex(/^[A-Z]{2}$/, 'use an ISO 3166-1 alpha-2 code such as US')
    .default('US'),
  SHIPPING_ORIGIN_PHONE: optionalString,
  // Tracking of shipments whose carrier sends no webhooks, and retries of
  // their stock calls to the catalog (see docs/fulfillment.md); 0 turns
  // the background pass off.
  TRACKING_POLL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(86_400_000)
    .default(60_000),
  // Marketplace orders and fulfilments (see docs/marketplaces.md): how
  // often each ACTIVE connection is asked for new orders and failed
  // imports and shipment reports are retried; 0 turns the pass off.
  MARKETPLACE_ORDER_POLL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(86_400_000)
    .default(60_000),
  // Origin (and optional path) of the storefront; product links in the
  // Google Merchant Center feed are `<STOREFRONT_BASE_URL>/products/<handle>`.
  STOREFRONT_BASE_URL: optionalUrl,
  // Brand given in the feed for products without a vendor, such as the
  // shop's own label; unset leaves such products without a brand.
  FEED_DEFAULT_BRAND: optionalString,
  // Subscriptions through the gateway (see docs/subscriptions.md). Open
  // subscriptions per WebSocket connection, and per caller (customer, staff
  // member or partner key) across every gateway replica that shares the
  // gateway database.
  SUBSCRIPTIONS_MAX_PER_CONNECTION: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(100),
  SUBSCRIPTIONS_MAX_PER_CALLER: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(2_000),
  // How often in ms the gateway checks again the credentials of an open
  // subscription connection, so a revoked key or an expired token ends it.
  SUBSCRIPTION_REAUTHENTICATE_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(3_600_000)
    .default(60_000),
  // Events waiting to be sent to one subscriber before the gateway counts
  // it as too slow and closes its connection.
  SUBSCRIPTION_BUFFER_EVENTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(1_000),
  // Webhook deliveries from the gateway (see docs/webhooks.md). Attempts per
  // delivery, including the first; the pause after attempt n is
  // WEBHOOK_RETRY_BASE_MS * 2^(n-1), so the defaults spread 8 attempts
  // over about 4.2 hours.
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
  WEBHOOK_RETRY_BASE_MS: z.coerce
    .number()
    .int()
    .min(1)
    .max(86_400_000)
    .default(120_000),
  // Time in ms that one webhook request may take before it counts as failed.
  WEBHOOK_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1)
    .max(60_000)
    .default(10_000),
  // How often in ms the delivery worker looks for due deliveries.
  WEBHOOK_POLL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(10)
    .max(60_000)
    .default(1_000),
  // Maximum events one webhook replay (POST /admin/webhooks/<id>/replay)
  // sends; a larger range is rejected and has to be replayed in parts.
  WEBHOOK_REPLAY_MAX_EVENTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(10_000),
  // Development only: lets webhook URLs resolve to loopback addresses, such
  // as a receiver on 127.0.0.1. Production mode ignores it.
  WEBHOOK_ALLOW_LOOPBACK: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
});

/** True for `scheme://host[:port]` exactly as browsers send it in `Origin`. */
function isOrigin(value: string): boolean {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

const IDP_VARIABLES = [
  'STAFF_IDP_JWKS_URL',
  'STAFF_IDP_ISSUER',
  'STAFF_IDP_AUDIENCE',
] as const;

const STRIPE_VARIABLES = [
  'STRIPE_SECRET_KEY',
  'STRIPE_WEBHOOK_SECRET',
] as const;

const EASYPOST_VARIABLES = [
  'EASYPOST_API_KEY',
  'EASYPOST_WEBHOOK_SECRET',
] as const;

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
  const config = parsed.data;
  const idpSet = IDP_VARIABLES.filter((name) => config[name] !== undefined);
  if (idpSet.length > 0 && idpSet.length < IDP_VARIABLES.length) {
    const missing = IDP_VARIABLES.filter((name) => !idpSet.includes(name));
    throw new Error(
      `Invalid configuration:\n  ${missing.join(', ')}: required when ${idpSet.join(', ')} is set`,
    );
  }
  if (config.PAYMENT_PROVIDER === 'stripe') {
    const missing = STRIPE_VARIABLES.filter(
      (name) => config[name] === undefined,
    );
    if (missing.length > 0) {
      throw new Error(
        `Invalid configuration:\n  ${missing.join(', ')}: required when PAYMENT_PROVIDER=stripe`,
      );
    }
  }
  if (config.CARRIER === 'easypost') {
    const missing = EASYPOST_VARIABLES.filter(
      (name) => config[name] === undefined,
    );
    if (missing.length > 0) {
      throw new Error(
        `Invalid configuration:\n  ${missing.join(', ')}: required when CARRIER=easypost`,
      );
    }
  }
  return config;
}

/**
 * Production mode: APP_ENV=production, or NODE_ENV=production when APP_ENV
 * is unset. It requires configured identity keys and creates no
 * development accounts.
 */
export function isProduction(
  config: Pick<Config, 'APP_ENV' | 'NODE_ENV'>,
): boolean {
  return (config.APP_ENV ?? config.NODE_ENV) === 'production';
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
