import { createHash } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { isUuid, uuidv7 } from '../../platform/ids.js';
import { tables, type GatewayDatabase } from '../db/database.js';
import { BoundedCache } from '../hardening/bounded-cache.js';

/** Maximum number of partner keys whose safelist is kept in memory. */
const CACHE_MAX_KEYS = 1_000;

/** An operation registered for a partner key, as staff see it. */
export interface SafelistedOperationView {
  hash: string;
  operationName: string | null;
  document: string;
  createdBy: string | null;
  createdAt: string;
}

/** The safelist state of one partner key. */
export interface PartnerSafelist {
  /** False when the key is not in safelist mode or does not exist. */
  enabled: boolean;
  /** Registered documents by hex SHA-256. */
  documents: Map<string, string>;
}

export class SafelistInputError extends Error {}

/** Returns the hex SHA-256 of a document, the hash of Apollo's APQ format. */
export function operationHash(document: string): string {
  return createHash('sha256').update(document).digest('hex');
}

/**
 * Returns the operation name of a document that contains exactly one
 * operation (null when it is anonymous). Throws SafelistInputError for a
 * document that does not parse or has several operations.
 */
export function operationNameOf(document: string): string | null {
  let operations: OperationDefinitionNode[];
  try {
    operations = parse(document).definitions.filter(
      (definition): definition is OperationDefinitionNode =>
        definition.kind === Kind.OPERATION_DEFINITION,
    );
  } catch (error) {
    throw new SafelistInputError(
      `document is not valid GraphQL: ${(error as Error).message}`,
    );
  }
  if (operations.length !== 1) {
    throw new SafelistInputError(
      `document must contain exactly one operation, not ${operations.length}.`,
    );
  }
  return operations[0]!.name?.value ?? null;
}

/**
 * Reads and writes the safelists of partner keys in the gateway database.
 * `load` keeps each key's safelist in memory for `cacheMs`, so a change
 * made through another replica takes effect here at most `cacheMs` later.
 * Changes made through this replica's store take effect at once.
 */
export class SafelistStore {
  private readonly cache = new BoundedCache<{
    safelist: PartnerSafelist;
    loadedAtMs: number;
  }>(CACHE_MAX_KEYS);

  constructor(
    private readonly db: GatewayDatabase,
    private readonly cacheMs: number,
  ) {}

  /** Returns whether a partner key with this id exists. */
  async keyExists(partnerKeyId: string): Promise<boolean> {
    const rows = await this.db
      .select({ id: tables.partnerKeys.id })
      .from(tables.partnerKeys)
      .where(eq(tables.partnerKeys.id, partnerKeyId));
    return rows.length > 0;
  }

  /** Returns the safelist of a partner key, from memory when fresh. */
  async load(partnerKeyId: string): Promise<PartnerSafelist> {
    // Key ids are UUIDs, and the uuid column rejects any other text.
    if (!isUuid(partnerKeyId)) return { enabled: false, documents: new Map() };
    const cached = this.cache.get(partnerKeyId);
    if (cached && Date.now() - cached.loadedAtMs < this.cacheMs) {
      return cached.safelist;
    }
    const [key] = await this.db
      .select({ safelistMode: tables.partnerKeys.safelistMode })
      .from(tables.partnerKeys)
      .where(eq(tables.partnerKeys.id, partnerKeyId));
    const documents = new Map<string, string>();
    if (key?.safelistMode) {
      const rows = await this.db
        .select({
          hash: tables.safelistedOperations.hash,
          document: tables.safelistedOperations.document,
        })
        .from(tables.safelistedOperations)
        .where(eq(tables.safelistedOperations.partnerKeyId, partnerKeyId));
      for (const row of rows) documents.set(row.hash, row.document);
    }
    const safelist = { enabled: key?.safelistMode ?? false, documents };
    this.cache.set(partnerKeyId, { safelist, loadedAtMs: Date.now() });
    return safelist;
  }

  /** Sets safelist mode; returns false when the key does not exist. */
  async setMode(partnerKeyId: string, enabled: boolean): Promise<boolean> {
    const rows = await this.db
      .update(tables.partnerKeys)
      .set({ safelistMode: enabled })
      .where(eq(tables.partnerKeys.id, partnerKeyId))
      .returning({ id: tables.partnerKeys.id });
    this.cache.delete(partnerKeyId);
    return rows.length > 0;
  }

  async list(partnerKeyId: string): Promise<SafelistedOperationView[]> {
    const rows = await this.db
      .select()
      .from(tables.safelistedOperations)
      .where(eq(tables.safelistedOperations.partnerKeyId, partnerKeyId))
      .orderBy(asc(tables.safelistedOperations.createdAt));
    return rows.map(toSafelistedOperationView);
  }

  /**
   * Registers a document for a partner key. Registering the same document
   * again returns the existing registration with `created` false.
   */
  async register(
    partnerKeyId: string,
    document: string,
    createdBy: string | null,
  ): Promise<{ operation: SafelistedOperationView; created: boolean }> {
    const operationName = operationNameOf(document);
    const hash = operationHash(document);
    const inserted = await this.db
      .insert(tables.safelistedOperations)
      .values({
        id: uuidv7(),
        partnerKeyId,
        hash,
        document,
        operationName,
        createdBy,
      })
      .onConflictDoNothing()
      .returning();
    this.cache.delete(partnerKeyId);
    if (inserted[0])
      return {
        operation: toSafelistedOperationView(inserted[0]),
        created: true,
      };
    const [existing] = await this.db
      .select()
      .from(tables.safelistedOperations)
      .where(
        and(
          eq(tables.safelistedOperations.partnerKeyId, partnerKeyId),
          eq(tables.safelistedOperations.hash, hash),
        ),
      );
    return { operation: toSafelistedOperationView(existing!), created: false };
  }

  /** Deletes a registration; returns false when there was none. */
  async remove(partnerKeyId: string, hash: string): Promise<boolean> {
    const rows = await this.db
      .delete(tables.safelistedOperations)
      .where(
        and(
          eq(tables.safelistedOperations.partnerKeyId, partnerKeyId),
          eq(tables.safelistedOperations.hash, hash),
        ),
      )
      .returning({ id: tables.safelistedOperations.id });
    this.cache.delete(partnerKeyId);
    return rows.length > 0;
  }
}

export function toSafelistedOperationView(
  row: typeof tables.safelistedOperations.$inferSelect,
): SafelistedOperationView {
  return {
    hash: row.hash,
    operationName: row.operationName,
    document: row.document,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
  };
}
