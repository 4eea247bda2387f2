import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_NAMES } from '../platform/config.js';
import {
  createSubgraphAuthenticator,
  IDENTITY_HEADER,
  signIdentity,
  signServiceIdentity,
} from '../platform/identity.js';
import {
  parsePrivateKey,
  parsePublicKeys,
  type IdentityKey,
} from '../platform/identity-keys.js';
import { createLogger } from '../platform/logger.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import { identityHeaders, TEST_ADMIN } from './support/identity.js';
import {
  committedSupergraphPath,
  postGraphQL,
  startTestStack,
  type TestStack,
} from './support/stack.js';

const PRODUCTS = '{ products(first: 1) { nodes { id } } }';

let stack: TestStack;
let signingKey: IdentityKey;
let catalogUrl: string;

/**
 * An HTTP proxy in front of the catalog subgraph that records the headers
 * of every request it forwards, to see what the gateway sends.
 */
interface RecordingProxy {
  url: string;
  headers: IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const headers: IncomingHttpHeaders[] = [];
  const server = http.createServer(async (request, response) => {
    headers.push(request.headers);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const forwarded = await fetch(target, {
      method: request.method,
      headers: Object.fromEntries(
        Object.entries(request.headers).filter(
          ([name]) => !['host', 'connection', 'content-length'].includes(name),
        ),
      ) as Record<string, string>,
      body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
    });
    response.writeHead(forwarded.status, {
      'content-type': forwarded.headers.get('content-type') ?? 'text/plain',
    });
    response.end(Buffer.from(await forwarded.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    headers,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

beforeAll(async () => {
  stack = await startTestStack();
  signingKey = await parsePrivateKey(stack.config.IDENTITY_PRIVATE_KEY!);
  catalogUrl = stack.subgraphs.catalog.url;
});

afterAll(async () => {
  await stack?.close();
});

function expectUnauthenticated(result: {
  status: number;
  data?: unknown;
  errors?: Array<{ extensions?: Record<string, any> }>;
}) {
  expect(result.status).toBe(401);
  expect(result.data).toBeUndefined();
  expect(result.errors).toHaveLength(1);
  expect(result.errors![0]!.extensions?.code).toBe('UNAUTHENTICATED');
}

describe('subgraph identity check', () => {
  it('rejects a request without identity', async () => {
    const result = await postGraphQL(catalogUrl, PRODUCTS);

    expectUnauthenticated(result);
    expect(result.errors![0]!.message).toContain(IDENTITY_HEADER);
  });

  it('rejects every subgraph without identity', async () => {
    for (const name of SERVICE_NAMES) {
      const result = await postGraphQL(
        stack.subgraphs[name].url,
        '{ __typename }',
      );
      expectUnauthenticated(result);
    }
  });

  it('rejects a hand-written header', async () => {
    const unsigned = [
      JSON.stringify(TEST_ADMIN),
      // An unsecured JWT (alg none) claiming to be an admin.
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
        JSON.stringify({ kind: 'staff', sub: 'x', scope: '', roles: [] }),
      ).toString('base64url')}.`,
    ];
    for (const value of unsigned) {
      const result = await postGraphQL(catalogUrl, PRODUCTS, undefined, {
        [IDENTITY_HEADER]: value,
      });
      expectUnauthenticated(result);
    }
  });

  it('rejects an identity signed by another key', async () => {
    const other = await parsePrivateKey(
      generateKeyPairSync('ed25519')
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString(),
    );
    // Once with the other key's own id, once posing as the gateway's key.
    for (const key of [other, { ...other, keyId: signingKey.keyId }]) {
      const result = await postGraphQL(catalogUrl, PRODUCTS, undefined, {
        [IDENTITY_HEADER]: await signIdentity(key, TEST_ADMIN),
      });
      expectUnauthenticated(result);
    }
  });

  it('rejects an expired identity', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({
      kind: 'staff',
      scope: '',
      roles: ['admin'],
    })
      .setProtectedHeader({
        alg: signingKey.algorithm,
        typ: 'commerce-identity+jwt',
        kid: signingKey.keyId,
      })
      .setIssuer('commerce-graph')
      .setAudience('commerce-subgraphs')
      .setSubject(TEST_ADMIN.subject!)
      .setIssuedAt(now - 90)
      .setExpirationTime(now - 30)
      .sign(signingKey.key);

    const result = await postGraphQL(catalogUrl, PRODUCTS, undefined, {
      [IDENTITY_HEADER]: expired,
    });

    expectUnauthenticated(result);
    expect(result.errors![0]!.message).toContain('expired');
  });

  it('rejects an identity valid for longer than a minute', async () => {
    const longLived = await signIdentity(signingKey, TEST_ADMIN, 3600);

    const result = await postGraphQL(catalogUrl, PRODUCTS, undefined, {
      [IDENTITY_HEADER]: longLived,
    });

    expectUnauthenticated(result);
  });

  it('rejects a staff access token as identity', async () => {
    const headers = await stack.staffHeaders('admin');
    const accessToken = headers.authorization!.slice('Bearer '.length);

    const result = await postGraphQL(catalogUrl, PRODUCTS, undefined, {
      [IDENTITY_HEADER]: accessToken,
    });

    expectUnauthenticated(result);
  });

  it('accepts a signed identity', async () => {
    const result = await postGraphQL(
      catalogUrl,
      PRODUCTS,
      undefined,
      await identityHeaders(stack.config),
    );

    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
  });

  it('accepts a signed service identity', async () => {
    const result = await postGraphQL(
      catalogUrl,
      PRODUCTS,
      undefined,
      await signServiceIdentity(stack.config, 'marketplace'),
    );

    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
  });

  it('keeps health and readiness open', async () => {
    for (const name of SERVICE_NAMES) {
      const origin = new URL(stack.subgraphs[name].url).origin;
      expect((await fetch(`${origin}/health`)).status).toBe(200);
      expect((await fetch(`${origin}/ready`)).status).toBe(200);
    }
  });
});

describe('subgraph caller', () => {
  it('is the verified caller of the header', async () => {
    const authenticator = await createSubgraphAuthenticator(stack.config);
    const partner = {
      kind: 'partner' as const,
      subject: 'key-1',
      scopes: ['read_orders', 'read_products'],
      roles: [],
    };
    const request = {
      headers: { [IDENTITY_HEADER]: await signIdentity(signingKey, partner) },
    } as unknown as http.IncomingMessage;

    expect(await authenticator.authenticate(request)).toEqual(partner);
  });

  it('has no subject when anonymous', async () => {
    const authenticator = await createSubgraphAuthenticator(stack.config);
    const anonymous = {
      kind: 'anonymous' as const,
      subject: null,
      scopes: [],
      roles: [],
    };
    const request = {
      headers: { [IDENTITY_HEADER]: await signIdentity(signingKey, anonymous) },
    } as unknown as http.IncomingMessage;

    expect(await authenticator.authenticate(request)).toEqual(anonymous);
  });
});

describe('gateway identity header', () => {
  let proxy: RecordingProxy;
  let gateway: RunningGateway;
  let publicKeys: IdentityKey[];

  beforeAll(async () => {
    proxy = await startRecordingProxy(catalogUrl);
    gateway = await startGateway({
      config: stack.config,
      logger: createLogger('test', stack.config.LOG_LEVEL),
      supergraphPath: committedSupergraphPath,
      subgraphUrls: {
        ...Object.fromEntries(
          SERVICE_NAMES.map((name) => [name, stack.subgraphs[name].url]),
        ),
        catalog: proxy.url,
      },
      host: '127.0.0.1',
      port: 0,
    });
    publicKeys = await parsePublicKeys(stack.config.IDENTITY_PUBLIC_KEY!);
  });

  afterAll(async () => {
    await gateway?.close();
    await proxy?.close();
  });

  /** Sends PRODUCTS through the gateway; returns the identity claims catalog received. */
  async function forwardedClaims(headers: Record<string, string> = {}) {
    proxy.headers.length = 0;
    const result = await postGraphQL(gateway.url, PRODUCTS, undefined, headers);
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
    expect(proxy.headers).toHaveLength(1);
    const token = proxy.headers[0]![IDENTITY_HEADER] as string;
    expect(decodeProtectedHeader(token)).toMatchObject({
      alg: 'EdDSA',
      typ: 'commerce-identity+jwt',
      kid: publicKeys[0]!.keyId,
    });
    const { payload } = await jwtVerify(token, publicKeys[0]!.key, {
      audience: 'commerce-subgraphs',
      issuer: 'commerce-graph',
    });
    return payload;
  }

  it('publishes its public key as a JWK Set', async () => {
    const response = await fetch(
      `${new URL(gateway.url).origin}/.well-known/jwks.json`,
    );
    const body = (await response.json()) as {
      keys: Array<Record<string, string>>;
    };

    expect(response.status).toBe(200);
    expect(body.keys).toHaveLength(1);
    expect(body.keys[0]).toMatchObject({
      kty: 'OKP',
      crv: 'Ed25519',
      kid: publicKeys[0]!.keyId,
      alg: 'EdDSA',
    });
    expect(body.keys[0]).not.toHaveProperty('d');
  });

  it('signs anonymous callers', async () => {
    const claims = await forwardedClaims();

    expect(claims.kind).toBe('anonymous');
    expect(claims.sub).toBeUndefined();
    expect(claims.scope).toBe('');
    expect(claims.roles).toEqual([]);
    expect(claims.exp! - claims.iat!).toBe(60);
  });

  it('signs staff callers with their role', async () => {
    const claims = await forwardedClaims(await stack.staffHeaders('support'));

    expect(claims.kind).toBe('staff');
    expect(typeof claims.sub).toBe('string');
    expect(claims.roles).toEqual(['support']);
    const scopes = (claims.scope as string).split(' ');
    expect(scopes).toContain('read_orders');
    expect(scopes.every((scope) => scope.startsWith('read_'))).toBe(true);
  });

  it('signs partner callers with their scopes', async () => {
    const created = await fetch(
      `${new URL(gateway.url).origin}/admin/partner-keys`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(await stack.staffHeaders('admin')),
        },
        body: JSON.stringify({
          name: 'Forwarding test',
          scopes: ['read_products', 'read_orders'],
        }),
      },
    );
    expect(created.status).toBe(201);
    const { id, key } = (await created.json()) as { id: string; key: string };

    const claims = await forwardedClaims({ 'x-api-key': key });

    expect(claims.kind).toBe('partner');
    expect(claims.sub).toBe(id);
    expect(claims.scope).toBe('read_products read_orders');
    expect(claims.roles).toEqual([]);
  });
});
