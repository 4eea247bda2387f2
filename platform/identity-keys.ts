import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { isProduction, type Config } from './config.js';

/** JWS algorithms of identity keys: Ed25519 keys sign EdDSA, P-256 keys ES256. */
export type IdentityAlgorithm = 'EdDSA' | 'ES256';

/** One parsed key of the identity key pair. */
export interface IdentityKey {
  key: KeyObject;
  algorithm: IdentityAlgorithm;
  /** RFC 7638 thumbprint of the public key, sent as the JWS `kid`. */
  keyId: string;
}

/** The keys a process uses for signed identities. */
export interface IdentityKeys {
  /** Present only for processes that sign (the gateway and service callers). */
  signingKey?: IdentityKey;
  /** Public keys that signed identities are verified against. */
  verificationKeys: IdentityKey[];
  /** `development` when the keys come from the file under DATA_DIR. */
  source: 'configured' | 'development';
}

/** Name of the development key pair file under DATA_DIR. */
export const DEVELOPMENT_KEYS_FILE = 'identity-keys.json';

/**
 * Returns the key text of an environment variable. Environment files often
 * carry a PEM on one line with `\n` escapes, so those are turned back into
 * line breaks.
 */
function keyText(value: string): string {
  return value.includes('-----BEGIN') ? value.replace(/\\n/g, '\n') : value;
}

function algorithmOf(key: KeyObject, variable: string): IdentityAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (
    key.asymmetricKeyType === 'ec' &&
    key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
  ) {
    return 'ES256';
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  throw new Error(
    `${variable} must be an Ed25519 or P-256 key, not ${key.asymmetricKeyType}${curve ? ` ${curve}` : ''}.`,
  );
}

async function toIdentityKey(
  key: KeyObject,
  variable: string,
): Promise<IdentityKey> {
  const algorithm = algorithmOf(key, variable);
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return {
    key,
    algorithm,
    keyId: await calculateJwkThumbprint(publicKey.export({ format: 'jwk' })),
  };
}

/**
 * Parses a private key given as PEM (PKCS #8 or SEC 1) or as a JWK in JSON.
 * Error messages name the variable and never contain the key.
 */
export async function parsePrivateKey(
  value: string,
  variable = 'IDENTITY_PRIVATE_KEY',
): Promise<IdentityKey> {
  const text = keyText(value).trim();
  let key: KeyObject;
  try {
    key = text.startsWith('{')
      ? createPrivateKey({ key: JSON.parse(text), format: 'jwk' })
      : createPrivateKey(text);
  } catch (error) {
    throw new Error(
      `${variable} is not a valid private key in PEM or JWK form (${(error as Error).message}).`,
    );
  }
  return toIdentityKey(key, variable);
}

/**
 * Parses public keys given as PEM (one or more SPKI blocks), as a JWK, or
 * as a JWK Set in JSON. Several keys let subgraphs accept the old and the
 * new gateway key while the gateway's key is being replaced.
 */
export async function parsePublicKeys(
  value: string,
  variable = 'IDENTITY_PUBLIC_KEY',
): Promise<IdentityKey[]> {
  const text = keyText(value).trim();
  let keys: KeyObject[];
  try {
    keys = text.startsWith('{')
      ? parseJwkPublicKeys(JSON.parse(text), variable)
      : parsePemPublicKeys(text, variable);
  } catch (error) {
    throw new Error(
      `${variable} is not a valid public key in PEM, JWK or JWK Set form (${(error as Error).message}).`,
    );
  }
  if (keys.length === 0) throw new Error(`${variable} contains no key.`);
  return Promise.all(keys.map((key) => toIdentityKey(key, variable)));
}

function parsePemPublicKeys(text: string, variable: string): KeyObject[] {
  const blocks =
    text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no PEM block found');
  return blocks.map((block) => {
    if (block.includes('PRIVATE KEY')) {
      throw new Error(
        `${variable} contains a private key; give it the public key only`,
      );
    }
    return createPublicKey(block);
  });
}

function parseJwkPublicKeys(json: unknown, variable: string): KeyObject[] {
  const jwks =
    typeof json === 'object' && json !== null && 'keys' in json
      ? (json as { keys: unknown }).keys
      : [json];
  if (!Array.isArray(jwks)) throw new Error('"keys" is not an array');
  return jwks.map((jwk: Record<string, unknown>) => {
    if ('d' in jwk) {
      throw new Error(
        `${variable} contains a private key; give it the public key only`,
      );
    }
    return createPublicKey({ key: jwk as never, format: 'jwk' });
  });
}

/** Returns the public half of a private identity key. */
export async function publicKeyOf(
  signingKey: IdentityKey,
): Promise<IdentityKey> {
  return { ...signingKey, key: createPublicKey(signingKey.key) };
}

/** Returns the public half of a private identity key as SPKI PEM. */
export function publicKeyPem(signingKey: IdentityKey): string {
  return createPublicKey(signingKey.key)
    .export({ format: 'pem', type: 'spki' })
    .toString();
}

/** Generates an Ed25519 key pair as PEM: PKCS #8 private, SPKI public. */
export function generateIdentityKeyPair(): {
  privateKey: string;
  publicKey: string;
} {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/**
 * Reads a development key pair from `DATA_DIR/<fileName>`
 * (`identity-keys.json` by default), or generates it when the file is
 * missing. The file is readable by its owner
 * only. It is published with a hard link, which fails when the file
 * exists, so processes that start together all end up with the same pair.
 */
export async function loadOrCreateDevelopmentKeys(
  dataDir: string,
  fileName = DEVELOPMENT_KEYS_FILE,
): Promise<{
  privateKey: string;
  publicKey: string;
  path: string;
}> {
  const file = path.resolve(dataDir, fileName);
  const existing = await readDevelopmentKeys(file);
  if (existing) return { ...existing, path: file };

  await mkdir(path.dirname(file), { recursive: true });
  const pair = generateIdentityKeyPair();
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, JSON.stringify(pair, null, 2) + '\n', {
    mode: 0o600,
  });
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temporary);
  }
  const stored = await readDevelopmentKeys(file);
  if (!stored) throw new Error(`Could not read ${file}.`);
  return { ...stored, path: file };
}

export async function readDevelopmentKeys(
  file: string,
): Promise<{ privateKey: string; publicKey: string } | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as {
    privateKey?: unknown;
    publicKey?: unknown;
  };
  if (
    typeof parsed.privateKey !== 'string' ||
    typeof parsed.publicKey !== 'string'
  ) {
    throw new Error(
      `${file} is not a key pair file; delete it to generate a new pair.`,
    );
  }
  return { privateKey: parsed.privateKey, publicKey: parsed.publicKey };
}

/**
 * Returns the identity keys of a process from its configuration.
 *
 * `sign` (the gateway, service callers) needs IDENTITY_PRIVATE_KEY and
 * verifies with its public half plus any IDENTITY_PUBLIC_KEY. `verify`
 * (subgraphs) needs IDENTITY_PUBLIC_KEY, or derives it from
 * IDENTITY_PRIVATE_KEY. In development, a process with neither uses the
 * key pair under DATA_DIR. Production mode rejects missing keys and the
 * development pair.
 */
export async function resolveIdentityKeys(
  config: Config,
  purpose: 'sign' | 'verify',
): Promise<IdentityKeys> {
  const production = isProduction(config);
  const privateText = config.IDENTITY_PRIVATE_KEY;
  const publicText = config.IDENTITY_PUBLIC_KEY;

  if (!privateText && (purpose === 'sign' || !publicText)) {
    if (production) {
      const needed =
        purpose === 'sign'
          ? 'IDENTITY_PRIVATE_KEY'
          : 'IDENTITY_PUBLIC_KEY (or IDENTITY_PRIVATE_KEY)';
      throw new Error(
        `${needed} is required in production mode; see docs/identity.md for how to generate the key pair.`,
      );
    }
    if (publicText) {
      throw new Error(
        'IDENTITY_PUBLIC_KEY is set but IDENTITY_PRIVATE_KEY is not; a process that signs identities needs the private key too.',
      );
    }
    const development = await loadOrCreateDevelopmentKeys(config.DATA_DIR);
    const signingKey = await parsePrivateKey(development.privateKey);
    return {
      signingKey: purpose === 'sign' ? signingKey : undefined,
      verificationKeys: [await publicKeyOf(signingKey)],
      source: 'development',
    };
  }

  const signingKey = privateText
    ? await parsePrivateKey(privateText)
    : undefined;
  const verificationKeys = publicText ? await parsePublicKeys(publicText) : [];
  if (
    signingKey &&
    !verificationKeys.some((key) => key.keyId === signingKey.keyId)
  ) {
    verificationKeys.push(await publicKeyOf(signingKey));
  }
  if (production) {
    await rejectDevelopmentKeys(config, [
      ...verificationKeys.map((key) => key.keyId),
    ]);
  }
  return {
    signingKey: purpose === 'sign' ? signingKey : undefined,
    verificationKeys,
    source: 'configured',
  };
}

/**
 * Throws when a configured key is the development pair from DATA_DIR,
 * whose private key sits unencrypted on disk.
 */
async function rejectDevelopmentKeys(
  config: Config,
  keyIds: string[],
): Promise<void> {
  const file = path.resolve(config.DATA_DIR, DEVELOPMENT_KEYS_FILE);
  const development = await readDevelopmentKeys(file).catch(() => undefined);
  if (!development) return;
  const [developmentKey] = await parsePublicKeys(development.publicKey);
  if (keyIds.includes(developmentKey!.keyId)) {
    throw new Error(
      `The configured identity key is the development key pair from ${file}; production mode needs a key pair of its own.`,
    );
  }
}
