import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { and, count, eq, gt, isNull, or } from 'drizzle-orm';
import type { Logger } from '../../platform/logger.js';
import { tables, type GatewayDatabase } from '../db/database.js';
import { createPartnerKey } from './partner-keys.js';
import { createStaffAccount } from './staff-accounts.js';

/** Name of the file under DATA_DIR that keeps the development credentials. */
export const DEVELOPMENT_CREDENTIALS_FILE = 'development-credentials.json';

export const DEVELOPMENT_ADMIN_EMAIL = 'admin@example.com';

/** Scopes of the demo partner key. */
export const DEMO_PARTNER_SCOPES = [
  'read_products',
  'read_inventory',
  'write_inventory',
  'read_orders',
  'read_shipments',
  'read_listings',
  'manage_listings',
];

export interface DevelopmentCredentials {
  /** The demo admin; absent when accounts existed before and none is on file. */
  staff?: { email: string; password: string };
  /** The demo partner key; absent when it was revoked, expired or never stored. */
  partnerKey?: { id: string; key: string; scopes: string[] };
  /** Path of the file that stores the credentials. */
  file: string;
}

/**
 * Creates a demo admin account when the gateway has no staff account, and
 * a demo partner key when it has no partner key, for development only.
 * Their secrets are random and kept in DATA_DIR/development-credentials.json
 * (readable by its owner only), so each `npm start` can print them again.
 * Returns the stored credentials that still work.
 */
export async function ensureDevelopmentCredentials(
  db: GatewayDatabase,
  dataDir: string,
  logger: Logger,
): Promise<DevelopmentCredentials> {
  const file = path.resolve(dataDir, DEVELOPMENT_CREDENTIALS_FILE);
  const stored = await readStoredCredentials(file);
  let changed = false;

  const [staffRow] = await db
    .select({ value: count() })
    .from(tables.staffAccounts);
  if (staffRow!.value === 0) {
    const password = randomBytes(15).toString('base64url');
    await createStaffAccount(db, {
      email: DEVELOPMENT_ADMIN_EMAIL,
      password,
      role: 'admin',
      origin: 'development',
    });
    stored.staff = { email: DEVELOPMENT_ADMIN_EMAIL, password };
    changed = true;
    logger.info('development admin account created');
  }

  const [keyRow] = await db.select({ value: count() }).from(tables.partnerKeys);
  if (keyRow!.value === 0) {
    const { key, view } = await createPartnerKey(db, {
      name: 'Demo partner',
      scopes: DEMO_PARTNER_SCOPES,
      origin: 'development',
    });
    stored.partnerKey = { id: view.id, key, scopes: view.scopes };
    changed = true;
    logger.info({ partnerKeyId: view.id }, 'development partner key created');
  }

  if (changed) {
    await writeFile(file, JSON.stringify(stored, null, 2) + '\n', {
      mode: 0o600,
    });
  }
  return {
    staff:
      stored.staff && (await staffIsActive(db, stored.staff.email))
        ? stored.staff
        : undefined,
    partnerKey:
      stored.partnerKey && (await partnerKeyIsActive(db, stored.partnerKey.id))
        ? stored.partnerKey
        : undefined,
    file,
  };
}

async function readStoredCredentials(
  file: string,
): Promise<Omit<DevelopmentCredentials, 'file'>> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`Could not read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function staffIsActive(db: GatewayDatabase, email: string) {
  const rows = await db
    .select({ id: tables.staffAccounts.id })
    .from(tables.staffAccounts)
    .where(
      and(
        eq(tables.staffAccounts.email, email),
        isNull(tables.staffAccounts.disabledAt),
      ),
    );
  return rows.length > 0;
}

async function partnerKeyIsActive(db: GatewayDatabase, id: string) {
  const rows = await db
    .select({ id: tables.partnerKeys.id })
    .from(tables.partnerKeys)
    .where(
      and(
        eq(tables.partnerKeys.id, id),
        isNull(tables.partnerKeys.revokedAt),
        or(
          isNull(tables.partnerKeys.expiresAt),
          gt(tables.partnerKeys.expiresAt, new Date()),
        ),
      ),
    );
  return rows.length > 0;
}
