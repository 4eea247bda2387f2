import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { desc, eq, sql } from 'drizzle-orm';
import { uuidv7 } from '../../platform/ids.js';
import type { CallerIdentity } from '../caller.js';
import { tables, type GatewayDatabase } from '../db/database.js';
import {
  operationHash,
  operationNameOf,
  SafelistInputError,
  toSafelistedOperationView,
  type SafelistedOperationView,
} from '../safelist/store.js';
import { CredentialError } from './errors.js';
import { PARTNER_SCOPES, type Scope } from './scopes.js';

/**
 * A partner key is `cgk_`, 12 random characters that identify it, `_`, and
 * a secret of 32 random bytes, all in base64url: 60 characters. The part
 * before the secret is stored in clear to find the key's row. The whole key
 * is stored only as a SHA-256 hash. That suffices because the key is
 * random, and a slow password hash would only add cost to every request.
 */
export const PARTNER_KEY_MARKER = 'cgk_';
const PARTNER_KEY_PATTERN = /^cgk_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}$/;
const PREFIX_LENGTH = PARTNER_KEY_MARKER.length + 12;

/** Maximum number of verified keys kept in memory. */
const CACHE_SIZE = 10_000;
const MAX_NAME_LENGTH = 200;

type PartnerKeyRow = typeof tables.partnerKeys.$inferSelect;

/** A partner key as staff see it: never the key itself. */
export interface PartnerKeyView {
  id: string;
  name: string;
  keyPrefix: string;
  scopes: string[];
  expiresAt: string | null;
  revokedAt: string | null;
  createdBy: string | null;
  createdAt: string;
  /** Whether the key runs only its safelisted operations (gateway/safelist). */
  safelistMode: boolean;
}

export class PartnerKeyInputError extends Error {}

export function toPartnerKeyView(row: PartnerKeyRow): PartnerKeyView {
  return {
    id: row.id,
    name: row.name,
    keyPrefix: row.keyPrefix,
    scopes: row.scopes,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    safelistMode: row.safelistMode,
  };
}

function hashKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** Tells a partner key from a JWT in an Authorization header. */
export function looksLikePartnerKey(credential: string): boolean {
  return credential.startsWith(PARTNER_KEY_MARKER);
}

/**
 * Creates a partner key, with its safelist mode and the operations it may
 * run in that mode, in one transaction. Returns the key itself once; only
 * its hash is stored. Throws PartnerKeyInputError, and stores nothing, for
 * an empty name, an unknown scope or an expiry in the past. It does the
 * same for an operation document that the safelist routes would reject.
 */
export async function createPartnerKey(
  db: GatewayDatabase,
  input: {
    name: string;
    scopes: string[];
    expiresAt?: Date | null;
    createdBy?: string | null;
    origin?: 'operator' | 'development';
    /** Defaults to false, as for a key whose mode was never set. */
    safelistMode?: boolean;
    /** Documents to register, as `POST .../operations` would. */
    operations?: string[];
  },
): Promise<{
  key: string;
  view: PartnerKeyView;
  operations: SafelistedOperationView[];
}> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new PartnerKeyInputError(
      `name must be 1 to ${MAX_NAME_LENGTH} characters long.`,
    );
  }
  const unknown = input.scopes.filter(
    (scope) => !(PARTNER_SCOPES as readonly string[]).includes(scope),
  );
  if (unknown.length > 0) {
    throw new PartnerKeyInputError(
      `Unknown scopes: ${unknown.join(', ')}. Partner keys can hold ${PARTNER_SCOPES.join(', ')}.`,
    );
  }
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
    throw new PartnerKeyInputError('expiresAt must be in the future.');
  }
  // By hash: a document listed twice is registered once, as a second POST
  // of it would leave one registration.
  const operations = new Map<
    string,
    { document: string; operationName: string | null }
  >();
  for (const [index, document] of (input.operations ?? []).entries()) {
    try {
      const operationName = operationNameOf(document);
      operations.set(operationHash(document), { document, operationName });
    } catch (error) {
      if (!(error instanceof SafelistInputError)) throw error;
      // The message starts with "document", the field's name.
      throw new PartnerKeyInputError(`operations[${index}].${error.message}`);
    }
  }

  const prefix = PARTNER_KEY_MARKER + randomBytes(9).toString('base64url');
  const key = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return db.transaction(async (transaction) => {
    const [row] = await transaction
      .insert(tables.partnerKeys)
      .values({
        id: uuidv7(),
        name,
        keyPrefix: prefix,
        keyHash: hashKey(key).toString('hex'),
        scopes: [...new Set(input.scopes)],
        expiresAt: input.expiresAt ?? null,
        createdBy: input.createdBy ?? null,
        origin: input.origin ?? 'operator',
        safelistMode: input.safelistMode ?? false,
      })
      .returning();
    const registered =
      operations.size === 0
        ? []
        : await transaction
            .insert(tables.safelistedOperations)
            .values(
              [...operations].map(([hash, operation]) => ({
                id: uuidv7(),
                partnerKeyId: row!.id,
                hash,
                document: operation.document,
                operationName: operation.operationName,
                createdBy: input.createdBy ?? null,
              })),
            )
            .returning();
    return {
      key,
      view: toPartnerKeyView(row!),
      operations: registered.map(toSafelistedOperationView),
    };
  });
}

/** Revokes a key; a key revoked before keeps its first revocation time. */
export async function revokePartnerKey(
  db: GatewayDatabase,
  id: string,
): Promise<PartnerKeyView | undefined> {
  const [row] = await db
    .update(tables.partnerKeys)
    .set({ revokedAt: sql`coalesce(${tables.partnerKeys.revokedAt}, now())` })
    .where(eq(tables.partnerKeys.id, id))
    .returning();
  return row && toPartnerKeyView(row);
}

export async function listPartnerKeys(
  db: GatewayDatabase,
): Promise<PartnerKeyView[]> {
  const rows = await db
    .select()
    .from(tables.partnerKeys)
    .orderBy(desc(tables.partnerKeys.createdAt));
  return rows.map(toPartnerKeyView);
}

/**
 * Verifies partner keys against the database. A verified key's row is
 * kept in memory for `cacheMs`. So other gateway replicas reject a revoked
 * key at most `cacheMs` after the revocation, and the replica that revoked
 * it does at once. Expiry is checked on every request.
 */
export function createPartnerKeyVerifier(db: GatewayDatabase, cacheMs: number) {
  const cache = new Map<string, { row: PartnerKeyRow; loadedAtMs: number }>();

  async function load(key: string): Promise<PartnerKeyRow | undefined> {
    const now = Date.now();
    const actual = hashKey(key);
    // Keyed by the hash, so no key is kept in memory in clear.
    const cacheKey = actual.toString('base64');
    const cached = cache.get(cacheKey);
    if (cached && now - cached.loadedAtMs < cacheMs) return cached.row;

    const [row] = await db
      .select()
      .from(tables.partnerKeys)
      .where(eq(tables.partnerKeys.keyPrefix, key.slice(0, PREFIX_LENGTH)));
    if (!row) return undefined;
    const stored = Buffer.from(row.keyHash, 'hex');
    if (stored.length !== actual.length || !timingSafeEqual(stored, actual)) {
      return undefined;
    }
    if (cacheMs > 0) {
      if (cache.size >= CACHE_SIZE) cache.clear();
      cache.set(cacheKey, { row, loadedAtMs: now });
    }
    return row;
  }

  return {
    /** Returns the partner caller of `key`; throws CredentialError when it is unknown, revoked or expired. */
    async verify(key: string): Promise<CallerIdentity> {
      if (!PARTNER_KEY_PATTERN.test(key)) {
        throw new CredentialError('The API key is not valid.');
      }
      const row = await load(key);
      if (!row) throw new CredentialError('The API key is not valid.');
      if (row.revokedAt) {
        throw new CredentialError('The API key has been revoked.');
      }
      if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) {
        throw new CredentialError('The API key has expired.');
      }
      return {
        kind: 'partner',
        subject: row.id,
        scopes: row.scopes.filter((scope): scope is Scope =>
          (PARTNER_SCOPES as readonly string[]).includes(scope),
        ),
        roles: [],
      };
    },

    /** Drops a key from this replica's memory, after it was revoked here. */
    forget(id: string): void {
      for (const [key, entry] of cache) {
        if (entry.row.id === id) cache.delete(key);
      }
    },
  };
}
