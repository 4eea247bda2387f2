import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createIdentityVerifier,
  IdentityTokenError,
  signIdentity,
} from '../platform/identity.js';
import {
  generateIdentityKeyPair,
  loadOrCreateDevelopmentKeys,
  parsePrivateKey,
  parsePublicKeys,
  publicKeyOf,
} from '../platform/identity-keys.js';
import { hashPassword, verifyPassword } from '../platform/passwords.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders)
    rmSync(folder, { recursive: true, force: true });
});

describe('identity key parsing', () => {
  it('reads Ed25519 and P-256 keys as PEM and JWK', async () => {
    const ed25519 = generateIdentityKeyPair();
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const p256Jwk = JSON.stringify(p256.privateKey.export({ format: 'jwk' }));

    const fromPem = await parsePrivateKey(ed25519.privateKey);
    const fromJwk = await parsePrivateKey(p256Jwk);
    const [publicFromPem] = await parsePublicKeys(ed25519.publicKey);

    expect(fromPem.algorithm).toBe('EdDSA');
    expect(fromJwk.algorithm).toBe('ES256');
    expect(publicFromPem!.keyId).toBe(fromPem.keyId);
  });

  it('reads a PEM with escaped line breaks', async () => {
    const { privateKey } = generateIdentityKeyPair();

    const key = await parsePrivateKey(privateKey.replaceAll('\n', '\\n'));

    expect(key.algorithm).toBe('EdDSA');
  });

  it('reads a JWK Set of several public keys', async () => {
    const first = await parsePrivateKey(generateIdentityKeyPair().privateKey);
    const second = await parsePrivateKey(generateIdentityKeyPair().privateKey);
    const jwks = JSON.stringify({
      keys: [first, second]
        .map((key) => (key.key as any).export({ format: 'jwk' }))
        .map(({ d: _d, ...publicJwk }: Record<string, string>) => publicJwk),
    });

    const keys = await parsePublicKeys(jwks);

    expect(keys.map((key) => key.keyId)).toEqual([first.keyId, second.keyId]);
  });

  it('rejects a private key given as public key', async () => {
    const { privateKey } = generateIdentityKeyPair();

    await expect(parsePublicKeys(privateKey)).rejects.toThrow(
      /contains a private key/,
    );
  });

  it('rejects RSA keys and garbage without echoing them', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    const garbage = 'not-a-key-secret-material';

    await expect(parsePrivateKey(rsa)).rejects.toThrow(
      /IDENTITY_PRIVATE_KEY must be an Ed25519 or P-256 key, not rsa/,
    );
    const error = await parsePrivateKey(garbage).catch((caught) => caught);
    expect(error.message).toMatch(/IDENTITY_PRIVATE_KEY is not a valid/);
    expect(error.message).not.toContain(garbage);
  });
});

describe('development key pair', () => {
  it('is created once and shared by concurrent processes', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'identity-dev-keys-'));
    folders.push(dataDir);

    const pairs = await Promise.all(
      Array.from({ length: 5 }, () => loadOrCreateDevelopmentKeys(dataDir)),
    );
    const later = await loadOrCreateDevelopmentKeys(dataDir);

    for (const pair of pairs) {
      expect(pair.privateKey).toBe(later.privateKey);
    }
    expect(statSync(later.path).mode & 0o777).toBe(0o600);
  });
});

describe('identity tokens', () => {
  const caller = {
    kind: 'staff' as const,
    subject: 'staff-1',
    scopes: ['read_orders'],
    roles: ['support'],
  };

  it('round-trips a caller', async () => {
    const key = await parsePrivateKey(generateIdentityKeyPair().privateKey);
    const verify = createIdentityVerifier([await publicKeyOf(key)]);

    expect(await verify(await signIdentity(key, caller))).toEqual(caller);
  });

  it('rejects a token whose claims were changed', async () => {
    const key = await parsePrivateKey(generateIdentityKeyPair().privateKey);
    const verify = createIdentityVerifier([await publicKeyOf(key)]);
    const [header, payload, signature] = (
      await signIdentity(key, caller)
    ).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const changed = Buffer.from(
      JSON.stringify({ ...claims, roles: ['admin'] }),
    ).toString('base64url');

    await expect(
      verify(`${header}.${changed}.${signature}`),
    ).rejects.toBeInstanceOf(IdentityTokenError);
  });

  it('accepts tokens of every listed key', async () => {
    const oldKey = await parsePrivateKey(generateIdentityKeyPair().privateKey);
    const newKey = await parsePrivateKey(generateIdentityKeyPair().privateKey);
    const verify = createIdentityVerifier([
      await publicKeyOf(oldKey),
      await publicKeyOf(newKey),
    ]);

    expect(await verify(await signIdentity(oldKey, caller))).toEqual(caller);
    expect(await verify(await signIdentity(newKey, caller))).toEqual(caller);
  });
});

describe('staff passwords', () => {
  it('hashes with scrypt and a salt of its own', async () => {
    const first = await hashPassword('correct horse battery staple');
    const second = await hashPassword('correct horse battery staple');

    expect(first).toMatch(
      /^scrypt\$17\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/,
    );
    expect(first).not.toBe(second);
    expect(await verifyPassword('correct horse battery staple', first)).toBe(
      true,
    );
    expect(await verifyPassword('correct horse battery stapler', first)).toBe(
      false,
    );
  });

  it('fails hashes of an unknown format', async () => {
    expect(await verifyPassword('secret', 'plain:secret')).toBe(false);
    expect(await verifyPassword('secret', 'scrypt$40$8$1$AAAA$AAAA')).toBe(
      false,
    );
  });
});
