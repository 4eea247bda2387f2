import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, SERVICE_NAMES } from '../platform/config.js';
import { createLogger } from '../platform/logger.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import {
  committedSupergraphPath,
  postGraphQL,
  startTestStack,
  type TestStack,
} from './support/stack.js';

const ALLOWED_ORIGIN = 'https://shop.example.com';
const OTHER_ORIGIN = 'https://evil.example.net';

let stack: TestStack;
/** A gateway in production mode over the stack's subgraphs. */
let gateway: RunningGateway;
let gatewayUrl: string;

beforeAll(async () => {
  // Only the gateway runs in production mode, because the subgraphs would
  // need production keys of their own.
  stack = await startTestStack();
  const config = loadConfig({
    ...process.env,
    ...Object.fromEntries(
      Object.entries(stack.config).map(([name, value]) => [
        name,
        Array.isArray(value) ? value.join(',') : String(value ?? ''),
      ]),
    ),
    APP_ENV: 'production',
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    CORS_ALLOWED_ORIGINS: `${ALLOWED_ORIGIN}, https://admin.example.com`,
  });
  gateway = await startGateway({
    config,
    logger: createLogger('test', config.LOG_LEVEL),
    supergraphPath: committedSupergraphPath,
    subgraphUrls: Object.fromEntries(
      SERVICE_NAMES.map((name) => [name, stack.subgraphs[name].url]),
    ),
    host: '127.0.0.1',
    port: 0,
  });
  gatewayUrl = gateway.url;
});

afterAll(async () => {
  await gateway?.close();
  await stack?.close();
});

function query(document: string, variables?: Record<string, unknown>) {
  return postGraphQL<Record<string, any>>(gatewayUrl, document, variables);
}

describe('production mode schema hiding', () => {
  it('rejects introspection', async () => {
    const result = await query('{ __schema { types { name } } }');

    expect(result.status).toBe(400);
    expect(result.data).toBeUndefined();
    expect(result.errors![0]!.extensions!.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
    expect(result.errors![0]!.message).toMatch(/introspection/i);
  });

  it('rejects __type lookups', async () => {
    const result = await query('{ __type(name: "Product") { name } }');

    expect(result.status).toBe(400);
    expect(result.errors![0]!.extensions!.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
  });

  it('omits suggestions from validation errors', async () => {
    const result = await query('{ products(first: 1) { nodes { titel } } }');

    expect(result.status).toBe(400);
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.message).toBe(
      'Cannot query field "titel" on type "Product".',
    );
    expect(JSON.stringify(result)).not.toContain('Did you mean');
  });

  it('omits suggestions from variable errors', async () => {
    const result = await query(
      'query ($first: Int) { products(first: $first) { nodes { id } } }',
      { frist: 1, first: 'one' },
    );

    expect(result.status).toBe(400);
    expect(JSON.stringify(result)).not.toContain('Did you mean');
  });
});

describe('CSRF prevention', () => {
  it('rejects a simple POST without a preflight header', async () => {
    const response = await fetch(gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    const body = (await response.json()) as any;

    expect(response.status).toBe(400);
    expect(body.errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('rejects a GET without a preflight header', async () => {
    const response = await fetch(
      `${gatewayUrl}?query=${encodeURIComponent('{ __typename }')}`,
    );

    expect(response.status).toBe(400);
  });

  it('accepts a JSON POST', async () => {
    const result = await query('{ __typename }');

    expect(result.status).toBe(200);
    expect(result.data).toEqual({ __typename: 'Query' });
  });
});

describe('CORS allowlist', () => {
  async function preflight(origin: string) {
    return fetch(gatewayUrl, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
      },
    });
  }

  it('answers a preflight from a listed origin', async () => {
    const response = await preflight(ALLOWED_ORIGIN);

    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(
      ALLOWED_ORIGIN,
    );
    expect(response.headers.get('access-control-allow-methods')).toContain(
      'POST',
    );
    const allowedHeaders = response.headers.get('access-control-allow-headers');
    expect(allowedHeaders).toContain('content-type');
    expect(allowedHeaders).toContain('authorization');
    expect(response.headers.get('vary')).toContain('Origin');
  });

  it('rejects a preflight from another origin', async () => {
    const response = await preflight(OTHER_ORIGIN);

    expect(response.status).toBe(403);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('access-control-allow-methods')).toBeNull();
  });

  it('allows a listed origin to read responses', async () => {
    const result = await fetch(gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: ALLOWED_ORIGIN },
      body: JSON.stringify({ query: '{ __typename }' }),
    });

    expect(result.status).toBe(200);
    expect(result.headers.get('access-control-allow-origin')).toBe(
      ALLOWED_ORIGIN,
    );
    expect(result.headers.get('access-control-expose-headers')).toBe(
      'x-request-id',
    );
  });

  it('sends no allow header to another origin', async () => {
    const result = await fetch(gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: OTHER_ORIGIN },
      body: JSON.stringify({ query: '{ __typename }' }),
    });

    expect(result.status).toBe(200);
    expect(result.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('allows no origin by default', () => {
    expect(loadConfig({}).CORS_ALLOWED_ORIGINS).toEqual([]);
  });

  it('rejects wildcards and paths in the variable', () => {
    expect(() => loadConfig({ CORS_ALLOWED_ORIGINS: '*' })).toThrow(
      /CORS_ALLOWED_ORIGINS/,
    );
    expect(() =>
      loadConfig({ CORS_ALLOWED_ORIGINS: 'https://shop.example.com/' }),
    ).toThrow(/not an origin/);
  });
});
