import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceDatabaseUrl } from '../platform/database.js';
import { startTestStack, type TestStack } from './support/stack.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
  // The catalog's products table disappears under the running subgraph, so
  // its resolvers fail with a database error that names the relation.
  const sql = postgres(serviceDatabaseUrl(stack.config, 'catalog'), {
    max: 1,
    onnotice: () => {},
  });
  try {
    await sql`alter table products rename to products_moved`;
  } finally {
    await sql.end();
  }
});

afterAll(async () => {
  await stack?.close();
});

describe('masked database errors', () => {
  it('show the request id through the gateway', async () => {
    const requestId = 'masked-error-test-1';
    const response = await fetch(stack.gatewayUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-request-id': requestId,
      },
      body: JSON.stringify({
        query: '{ products(first: 1) { nodes { id } } }',
      }),
    });
    const text = await response.text();
    const body = JSON.parse(text);

    expect(response.headers.get('x-request-id')).toBe(requestId);
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].message).toBe(
      `Internal server error (request id ${requestId})`,
    );
    expect(body.errors[0].extensions.code).toBe('INTERNAL_SERVER_ERROR');
    expect(body.errors[0].extensions.requestId).toBe(requestId);
    expect(body.errors[0].extensions.serviceName).toBe('catalog');
    expect(text).not.toMatch(/select|relation|products_moved|postgres/i);
  });

  it('show the request id at the subgraph', async () => {
    const result = await stack.querySubgraph(
      'catalog',
      '{ products(first: 1) { nodes { id } } }',
    );

    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.message).toMatch(
      /^Internal server error \(request id [0-9a-f-]{36}\)$/,
    );
    expect(result.errors![0]!.extensions!.requestId).toBe(
      /\(request id (.+)\)/.exec(result.errors![0]!.message)![1],
    );
    expect(JSON.stringify(result)).not.toMatch(/select|relation/i);
  });
});
