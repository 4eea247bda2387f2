import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * scrypt cost of new hashes: N = 2^17, r = 8, p = 1, which is the minimum
 * that OWASP's Password Storage Cheat Sheet gives for scrypt. One hash
 * needs 128 MiB (128 × N × r bytes) and took about 0.4 s on a 2-core
 * development machine. Stored hashes carry their own parameters, so these
 * can be raised without invalidating existing passwords.
 */
const COST_LOG2 = 17;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/** Passwords longer than this are rejected before hashing, to bound the work. */
export const MAX_PASSWORD_LENGTH = 1024;
export const MIN_PASSWORD_LENGTH = 12;

/**
 * Hashes running at once. Each uses 128 MiB, so a burst of sign-ins
 * queues here instead of exhausting memory.
 */
const MAX_CONCURRENT_HASHES = 2;
let running = 0;
const waiting: Array<() => void> = [];

interface ScryptParameters {
  costLog2: number;
  blockSize: number;
  parallelism: number;
}

async function deriveKey(
  password: string,
  salt: Buffer,
  length: number,
  parameters: ScryptParameters,
): Promise<Buffer> {
  // A finishing hash hands its slot to the next waiter directly.
  if (running < MAX_CONCURRENT_HASHES) {
    running += 1;
  } else {
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
  try {
    const N = 2 ** parameters.costLog2;
    const r = parameters.blockSize;
    return await new Promise<Buffer>((resolve, reject) => {
      scrypt(
        password.normalize('NFC'),
        salt,
        length,
        { N, r, p: parameters.parallelism, maxmem: 2 * 128 * N * r },
        (error, key) => (error ? reject(error) : resolve(key)),
      );
    });
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  }
}

/** Returns `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`, salt and hash in base64url. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const parameters = {
    costLog2: COST_LOG2,
    blockSize: BLOCK_SIZE,
    parallelism: PARALLELISM,
  };
  const hash = await deriveKey(password, salt, HASH_BYTES, parameters);
  return [
    'scrypt',
    COST_LOG2,
    BLOCK_SIZE,
    PARALLELISM,
    salt.toString('base64url'),
    hash.toString('base64url'),
  ].join('$');
}

/**
 * Checks a password against a stored hash in constant time. A hash in an
 * unknown format fails the check instead of throwing.
 */
export async function verifyPassword(
  password: string,
  stored: string,
): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [costLog2, blockSize, parallelism] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  const valid =
    Number.isInteger(costLog2) &&
    costLog2! >= 10 &&
    costLog2! <= 20 &&
    Number.isInteger(blockSize) &&
    blockSize! >= 1 &&
    blockSize! <= 32 &&
    Number.isInteger(parallelism) &&
    parallelism! >= 1 &&
    parallelism! <= 16 &&
    expected.length >= 16;
  if (!valid) return false;
  const actual = await deriveKey(password, salt, expected.length, {
    costLog2: costLog2!,
    blockSize: blockSize!,
    parallelism: parallelism!,
  });
  return timingSafeEqual(actual, expected);
}

/**
 * A hash of a random password, compared against when an email is unknown,
 * so that a failed sign-in takes as long whether or not the account exists.
 */
let decoyHash: Promise<string> | undefined;
export function passwordDecoyHash(): Promise<string> {
  decoyHash ??= hashPassword(randomBytes(16).toString('base64url'));
  return decoyHash;
}
