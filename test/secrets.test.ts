import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../platform/config.js';
import {
  createSecretBox,
  loadSecretBox,
  parseSecretsKey,
  SecretDecryptionError,
} from '../platform/secrets.js';

const key = randomBytes(32);
const box = createSecretBox(key);

/** Replaces part `index` (1 iv, 2 tag, 3 ciphertext) with a changed copy. */
function tamper(stored: string, index: number): string {
  const parts = stored.split(':');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  parts[index] = bytes.toString('base64url');
  return parts.join(':');
}

describe('secret box', () => {
  it('round-trips a secret', () => {
    const stored = box.encrypt('sk_live_51H8xyz', 'connection:1:apiKey');

    expect(stored).toMatch(
      /^v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$/,
    );
    expect(stored).not.toContain('sk_live');
    expect(box.decrypt(stored, 'connection:1:apiKey')).toBe('sk_live_51H8xyz');
  });

  it('round-trips empty and non-ASCII text', () => {
    expect(box.decrypt(box.encrypt(''))).toBe('');
    expect(box.decrypt(box.encrypt('pässwörd ✓'))).toBe('pässwörd ✓');
  });

  it('uses a fresh IV for each value', () => {
    expect(box.encrypt('same')).not.toBe(box.encrypt('same'));
  });

  it.each([
    ['iv', 1],
    ['tag', 2],
    ['ciphertext', 3],
  ])('detects a changed %s', (_part, index) => {
    const stored = box.encrypt('secret value');

    expect(() => box.decrypt(tamper(stored, index))).toThrow(
      SecretDecryptionError,
    );
  });

  it('rejects another context', () => {
    const stored = box.encrypt('secret value', 'row-1');

    expect(() => box.decrypt(stored, 'row-2')).toThrow(/failed authentication/);
  });

  it('rejects another key', () => {
    const stored = box.encrypt('secret value');
    const other = createSecretBox(randomBytes(32));

    expect(() => other.decrypt(stored)).toThrow(SecretDecryptionError);
  });

  it('rejects malformed values', () => {
    const stored = box.encrypt('secret value');

    expect(() => box.decrypt('secret value')).toThrow(/format/);
    expect(() => box.decrypt(stored.replace(/^v1/, 'v2'))).toThrow(/format/);
    expect(() => box.decrypt(stored.replace(/:[^:]+$/, ':%%%'))).toThrow(
      /base64url/,
    );
    const [version, , tag, ciphertext] = stored.split(':');
    expect(() => box.decrypt(`${version}:AAAA:${tag}:${ciphertext}`)).toThrow(
      /IV of 3 bytes/,
    );
  });
});

describe('secrets key', () => {
  it('parses 32 bytes of base64', () => {
    expect(parseSecretsKey(key.toString('base64'))).toEqual(key);
    expect(parseSecretsKey(key.toString('base64url'))).toEqual(key);
  });

  it('rejects keys of another length', () => {
    expect(() => parseSecretsKey(randomBytes(16).toString('base64'))).toThrow(
      /32 bytes, not 16/,
    );
    expect(() => createSecretBox(randomBytes(31))).toThrow(/32 bytes/);
  });

  it('is required in production mode', () => {
    expect(() => loadSecretBox(loadConfig({ APP_ENV: 'production' }))).toThrow(
      /SECRETS_ENCRYPTION_KEY is required in production mode/,
    );
  });

  it('is optional in development mode', () => {
    expect(loadSecretBox(loadConfig({}))).toBeUndefined();
  });

  it('loads a box that decrypts its own values', () => {
    const loaded = loadSecretBox(
      loadConfig({
        APP_ENV: 'production',
        SECRETS_ENCRYPTION_KEY: key.toString('base64'),
      }),
    );

    expect(loaded!.decrypt(box.encrypt('shared'))).toBe('shared');
  });
});
