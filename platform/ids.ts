import { randomBytes } from 'node:crypto';

/**
 * Generates a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random
 * bits. IDs sort by creation time, which keeps B-tree inserts local.
 */
export function uuidv7(now = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    hex.slice(12, 16),
    hex.slice(16, 20),
    hex.slice(20),
  ].join('-');
}

const UUID_PATTERN =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Checks the form of the IDs this graph issues: lower-case UUIDs. IDs are
 * opaque and compared exactly, so an upper-case copy is another, unknown ID.
 */
export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}
