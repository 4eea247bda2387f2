import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../platform/config.js';
import {
  createSecretBox,
  loadSecretBox,
  parseSecretsKey,
  type SecretBox,
} from '../../platform/secrets.js';

/** Name of the development encryption key file under DATA_DIR. */
export const DEVELOPMENT_SECRETS_KEY_FILE = 'secrets-encryption-key';

const boxes = new Map<string, Promise<SecretBox>>();

/**
 * Returns the SecretBox that encrypts marketplace credentials.
 * SECRETS_ENCRYPTION_KEY is used when set, and production mode requires it
 * (loadSecretBox throws). In development without it, a random key is
 * generated once into `DATA_DIR/secrets-encryption-key` (readable by its
 * owner only) and read from there afterwards, so stored credentials stay
 * readable across restarts.
 */
export function marketplaceSecretBox(config: Config): Promise<SecretBox> {
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

/** Context that binds encrypted credentials to their connection row. */
export function credentialsContext(connectionId: string): string {
  return `marketplace_connections:${connectionId}:credentials`;
}
