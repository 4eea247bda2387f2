import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isProduction, type Config } from './config.js';

/**
 * Encryption at rest of secrets that services store, such as marketplace
 * and payment provider credentials. Values are encrypted with AES-256-GCM
 * and stored as `v1:<iv>:<tag>:<ciphertext>`, each part base64url. The
 * version prefix lets a later format or key be added without reading old
 * values wrongly.
 */

const VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
/** 96-bit IV, the size that GCM is specified for (NIST SP 800-38D). */
const IV_BYTES = 12;
const TAG_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** A stored secret that is malformed, tampered with or under another key. */
export class SecretDecryptionError extends Error {}

export interface SecretBox {
  /**
   * Encrypts `plaintext` with a fresh random IV. `context`, such as the
   * row id and column, is authenticated but not stored, so a value copied
   * to another row fails to decrypt there.
   */
  encrypt(plaintext: string, context?: string): string;
  /** Decrypts a value from `encrypt`; throws SecretDecryptionError. */
  decrypt(stored: string, context?: string): string;
}

/** Creates a SecretBox over a 32-byte key. */
export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== KEY_BYTES) {
    throw new Error(
      `The secrets encryption key must be ${KEY_BYTES} bytes, not ${key.length}.`,
    );
  }
  const secretKey = Buffer.from(key);

  return {
    encrypt(plaintext, context = '') {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALGORITHM, secretKey, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const ciphertext = Buffer.concat([
        cipher.update(plaintext, 'utf8'),
        cipher.final(),
      ]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv, tag, ciphertext]
        .map((part) =>
          typeof part === 'string' ? part : part.toString('base64url'),
        )
        .join(':');
    },

    decrypt(stored, context = '') {
      const parts = stored.split(':');
      if (parts.length !== 4 || parts[0] !== VERSION) {
        throw new SecretDecryptionError(
          `The stored secret is not in the ${VERSION}:<iv>:<tag>:<ciphertext> format.`,
        );
      }
      if (!parts.slice(1).every((part) => BASE64URL.test(part))) {
        throw new SecretDecryptionError(
          'The stored secret contains characters outside base64url.',
        );
      }
      const [iv, tag, ciphertext] = parts
        .slice(1)
        .map((part) => Buffer.from(part, 'base64url'));
      if (iv!.length !== IV_BYTES || tag!.length !== TAG_BYTES) {
        throw new SecretDecryptionError(
          `The stored secret has an IV of ${iv!.length} bytes or a tag of ${tag!.length} bytes; expected ${IV_BYTES} and ${TAG_BYTES}.`,
        );
      }
      const decipher = createDecipheriv(ALGORITHM, secretKey, iv!);
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag!);
      try {
        return Buffer.concat([
          decipher.update(ciphertext!),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        // GCM reports only that authentication failed, so the cause cannot
        // be narrowed further.
        throw new SecretDecryptionError(
          'The stored secret failed authentication: it was changed, or it was encrypted with another key or context.',
        );
      }
    },
  };
}

/**
 * Decodes SECRETS_ENCRYPTION_KEY (32 bytes in base64 or base64url). Throws
 * when the value is invalid.
 */
export function parseSecretsKey(value: string): Buffer {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw new Error('SECRETS_ENCRYPTION_KEY is not base64.');
  }
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new Error(
      `SECRETS_ENCRYPTION_KEY must encode ${KEY_BYTES} bytes, not ${key.length}. Create one with: openssl rand -base64 32`,
    );
  }
  return key;
}

/**
 * Returns the SecretBox of SECRETS_ENCRYPTION_KEY. Without the variable,
 * production mode throws, so a service that stores secrets stops at
 * start-up, and development mode returns undefined.
 */
export function loadSecretBox(config: Config): SecretBox | undefined {
  if (config.SECRETS_ENCRYPTION_KEY) {
    return createSecretBox(parseSecretsKey(config.SECRETS_ENCRYPTION_KEY));
  }
  if (isProduction(config)) {
    throw new Error(
      'SECRETS_ENCRYPTION_KEY is required in production mode: set it to 32 random bytes in base64 (openssl rand -base64 32).',
    );
  }
  return undefined;
}

/** Name of the development encryption key file under DATA_DIR. */
export const DEVELOPMENT_SECRETS_KEY_FILE = 'secrets-encryption-key';

const boxes = new Map<string, Promise<SecretBox>>();

/**
 * Returns the SecretBox of this process's stored secrets (marketplace
 * credentials, webhook secrets), one per key. SECRETS_ENCRYPTION_KEY is
 * used when set, and production mode requires it. In development without
 * it, a random key is generated once into `DATA_DIR/secrets-encryption-key`
 * (readable by its owner only), so every service of one data folder shares
 * it and stored secrets stay readable across restarts.
 */
export function resolveSecretBox(config: Config): Promise<SecretBox> {
  const cacheKey = config.SECRETS_ENCRYPTION_KEY ?? `file:${config.DATA_DIR}`;
  let box = boxes.get(cacheKey);
  if (!box) {
    box = loadBox(config);
    boxes.set(cacheKey, box);
    box.catch(() => boxes.delete(cacheKey));
  }
  return box;
}

async function loadBox(config: Config): Promise<SecretBox> {
  const configured = loadSecretBox(config);
  if (configured) return configured;
  const key = await loadOrCreateDevelopmentKey(config.DATA_DIR);
  return createSecretBox(parseSecretsKey(key));
}

/**
 * Reads the development key, or generates it when the file is missing. The
 * file is published with a hard link, which fails when it exists, so
 * processes that start together all end up with the same key.
 */
async function loadOrCreateDevelopmentKey(dataDir: string): Promise<string> {
  const file = path.resolve(dataDir, DEVELOPMENT_SECRETS_KEY_FILE);
  const existing = await readKeyFile(file);
  if (existing) return existing;
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, randomBytes(32).toString('base64') + '\n', {
    mode: 0o600,
  });
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temporary);
  }
  const stored = await readKeyFile(file);
  if (!stored) throw new Error(`Could not read ${file}.`);
  return stored;
}

async function readKeyFile(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
