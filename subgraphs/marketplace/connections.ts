import { eq, sql } from 'drizzle-orm';
import type { Config } from '../../platform/config.js';
import type { Database } from '../../platform/database.js';
import {
  summarizeError,
  userError,
  UserErrorCode,
  type UserError,
} from '../../platform/errors.js';
import { isUuid, uuidv7 } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import {
  isCurrencyCode,
  parseDecimalToMinorUnits,
} from '../../platform/money.js';
import { MarketplaceError } from './adapters/adapter.js';
import { ebaySettingsProblems } from './adapters/index.js';
import * as tables from './db/tables.js';
import type {
  MarketplaceConnectionRow,
  MarketplaceSettingsValue,
} from './db/tables.js';
import type {
  MarketplaceConnectionCreateInput,
  MarketplaceConnectionUpdateInput,
  MarketplaceCredentialsInput,
  MarketplaceSettingsInput,
  MoneyInput,
  PriceRuleInput,
} from './generated/resolvers.js';
import { resolveSecretBox } from '../../platform/secrets.js';
import { credentialsContext } from './secrets.js';
import { adapterForConnection } from './sync/adapters.js';
import { notifySyncWorkers, recordListingChanges } from './sync/tasks.js';

type MarketplaceDatabase = Database<typeof tables>;

export const MAX_NAME_LENGTH = 200;
export const MAX_SETTING_LENGTH = 200;
export const MAX_CREDENTIAL_LENGTH = 4096;
/** Largest safety stock and untracked quantity accepted. */
export const MAX_UNITS = 1_000_000;
export const MIN_BASIS_POINTS = -9_999;
export const MAX_BASIS_POINTS = 100_000;
/** Time limit of marketplaceConnectionTest's call to the marketplace, in ms. */
const TEST_TIMEOUT_MS = 15_000;

/** eBay's OAuth credentials; the sandbox needs none. */
const REQUIRED_CREDENTIALS: Record<
  MarketplaceConnectionRow['kind'],
  (keyof MarketplaceCredentialsInput)[]
> = {
  SANDBOX: [],
  EBAY: ['clientId', 'clientSecret', 'refreshToken'],
};

export interface ConnectionPayload {
  connection: MarketplaceConnectionRow | null;
  userErrors: UserError[];
}

function failed(errors: UserError[]): ConnectionPayload {
  return { connection: null, userErrors: errors };
}

function notFound(id: string, field: string[]): UserError {
  return userError(
    field,
    `No marketplace connection has id "${id}".`,
    UserErrorCode.NotFound,
  );
}

/** Changes of a connection that create and update share, checked. */
interface CheckedFields {
  name?: string;
  credentials?: Record<string, string> | null;
  settings?: MarketplaceSettingsValue;
  priceAdjustmentBasisPoints?: number;
  priceFixedAdjustment?: number;
  safetyStock?: number;
  untrackedQuantity?: number;
}

function checkUnits(
  value: number | null | undefined,
  field: string,
  errors: UserError[],
): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 0 || value > MAX_UNITS) {
    errors.push(
      userError(
        ['input', field],
        `Invalid ${field} ${value}: use a whole number from 0 to ${MAX_UNITS}.`,
        UserErrorCode.Invalid,
      ),
    );
    return undefined;
  }
  return value;
}

/** Parses a money input in the shop currency; may be negative when `signed`. */
export function parseShopMoney(
  money: MoneyInput,
  config: Pick<Config, 'SHOP_CURRENCY'>,
  field: string[],
  errors: UserError[],
  options: { signed: boolean },
): { amount: number; currencyCode: string } | undefined {
  const currencyCode = money.currencyCode ?? config.SHOP_CURRENCY;
  if (!isCurrencyCode(currencyCode)) {
    errors.push(
      userError(
        [...field, 'currencyCode'],
        `Unknown currency code "${currencyCode}"; use an ISO 4217 code such as ${config.SHOP_CURRENCY}.`,
        UserErrorCode.Invalid,
      ),
    );
    return undefined;
  }
  const parsed = parseDecimalToMinorUnits(money.amount, currencyCode);
  if ('error' in parsed) {
    errors.push(
      userError(
        [...field, 'amount'],
        `Invalid amount: ${parsed.error}.`,
        UserErrorCode.Invalid,
      ),
    );
    return undefined;
  }
  if (!options.signed && parsed.minor < 0) {
    errors.push(
      userError(
        [...field, 'amount'],
        `Invalid amount "${money.amount}": a price cannot be negative.`,
        UserErrorCode.Invalid,
      ),
    );
    return undefined;
  }
  return { amount: parsed.minor, currencyCode };
}

function checkPriceRule(
  rule: PriceRuleInput,
  config: Pick<Config, 'SHOP_CURRENCY'>,
  errors: UserError[],
): Pick<CheckedFields, 'priceAdjustmentBasisPoints' | 'priceFixedAdjustment'> {
  const checked: Pick<
    CheckedFields,
    'priceAdjustmentBasisPoints' | 'priceFixedAdjustment'
  > = {};
  const basisPoints = rule.adjustmentBasisPoints;
  if (basisPoints !== null && basisPoints !== undefined) {
    if (
      !Number.isInteger(basisPoints) ||
      basisPoints < MIN_BASIS_POINTS ||
      basisPoints > MAX_BASIS_POINTS
    ) {
      errors.push(
        userError(
          ['input', 'priceRule', 'adjustmentBasisPoints'],
          `Invalid adjustmentBasisPoints ${basisPoints}: use a whole number from ${MIN_BASIS_POINTS} to ${MAX_BASIS_POINTS} (100 basis points are 1 %).`,
          UserErrorCode.Invalid,
        ),
      );
    } else {
      checked.priceAdjustmentBasisPoints = basisPoints;
    }
  }
  if (rule.fixedAdjustment) {
    const field = ['input', 'priceRule', 'fixedAdjustment'];
    const money = parseShopMoney(rule.fixedAdjustment, config, field, errors, {
      signed: true,
    });
    if (money && money.currencyCode !== config.SHOP_CURRENCY) {
      errors.push(
        userError(
          [...field, 'currencyCode'],
          `The fixed adjustment must be in the shop currency ${config.SHOP_CURRENCY}, not ${money.currencyCode}.`,
          UserErrorCode.Invalid,
        ),
      );
    } else if (money) {
      checked.priceFixedAdjustment = money.amount;
    }
  }
  return checked;
}

function checkCredentials(
  credentials: MarketplaceCredentialsInput,
  errors: UserError[],
): Record<string, string> | null {
  const stored: Record<string, string> = {};
  for (const [name, value] of Object.entries(credentials)) {
    if (value === null || value === undefined) continue;
    const trimmed = value.trim();
    if (trimmed === '' || trimmed.length > MAX_CREDENTIAL_LENGTH) {
      errors.push(
        userError(
          ['input', 'credentials', name],
          `Invalid ${name}: give a non-blank value of at most ${MAX_CREDENTIAL_LENGTH} characters.`,
          UserErrorCode.Invalid,
        ),
      );
      continue;
    }
    stored[name] = trimmed;
  }
  return Object.keys(stored).length > 0 ? stored : null;
}

function checkSettings(
  settings: MarketplaceSettingsInput,
  errors: UserError[],
): MarketplaceSettingsValue {
  const stored: MarketplaceSettingsValue = {};
  for (const [name, value] of Object.entries(settings)) {
    if (value === null || value === undefined) continue;
    const trimmed = String(value).trim();
    if (trimmed === '' || trimmed.length > MAX_SETTING_LENGTH) {
      errors.push(
        userError(
          ['input', 'settings', name],
          `Invalid ${name}: give a non-blank value of at most ${MAX_SETTING_LENGTH} characters, or leave it out.`,
          UserErrorCode.Invalid,
        ),
      );
      continue;
    }
    stored[name as keyof MarketplaceSettingsValue] = trimmed;
  }
  return stored;
}

function checkFields(
  input: Partial<MarketplaceConnectionUpdateInput>,
  config: Config,
  errors: UserError[],
): CheckedFields {
  const checked: CheckedFields = {};
  if (input.name !== null && input.name !== undefined) {
    const name = input.name.trim();
    if (name === '' || name.length > MAX_NAME_LENGTH) {
      errors.push(
        userError(
          ['input', 'name'],
          `Invalid name: give a non-blank name of at most ${MAX_NAME_LENGTH} characters.`,
          name === '' ? UserErrorCode.Required : UserErrorCode.Invalid,
        ),
      );
    } else {
      checked.name = name;
    }
  }
  if (input.credentials) {
    checked.credentials = checkCredentials(input.credentials, errors);
  }
  if (input.settings) checked.settings = checkSettings(input.settings, errors);
  if (input.priceRule) {
    Object.assign(checked, checkPriceRule(input.priceRule, config, errors));
  }
  checked.safetyStock = checkUnits(input.safetyStock, 'safetyStock', errors);
  checked.untrackedQuantity = checkUnits(
    input.untrackedQuantity,
    'untrackedQuantity',
    errors,
  );
  return checked;
}

function missingCredentials(
  kind: MarketplaceConnectionRow['kind'],
  credentials: Record<string, string> | null | undefined,
): UserError[] {
  return REQUIRED_CREDENTIALS[kind]
    .filter((name) => !credentials?.[name])
    .map((name) =>
      userError(
        ['input', 'credentials', name],
        `A ${kind} connection needs credentials.${name}.`,
        UserErrorCode.Required,
      ),
    );
}

/**
 * Checks that an EBAY connection's settings have every field a publish
 * sends to eBay, in the form eBay accepts, so an incomplete connection is
 * rejected when it is saved rather than failing in every later push.
 * Fields that checkSettings already rejected get no second error.
 */
function invalidSettings(
  kind: MarketplaceConnectionRow['kind'],
  settings: MarketplaceSettingsValue | undefined,
  errors: UserError[],
): UserError[] {
  if (kind !== 'EBAY') return [];
  const reported = new Set(errors.map((error) => error.field.join('.')));
  return ebaySettingsProblems({ ...settings })
    .filter((problem) => !reported.has(`input.settings.${problem.field}`))
    .map((problem) =>
      problem.missing
        ? userError(
            ['input', 'settings', problem.field],
            `An EBAY connection needs settings.${problem.field}, because eBay rejects a listing without it.`,
            UserErrorCode.Required,
          )
        : userError(
            ['input', 'settings', problem.field],
            `Invalid settings.${problem.field}: it ${problem.reason}.`,
            UserErrorCode.Invalid,
          ),
    );
}

/** Encrypts credentials for the row `connectionId`, with the hint to show. */
async function sealCredentials(
  config: Config,
  connectionId: string,
  credentials: Record<string, string> | null,
): Promise<{
  credentialsEncrypted: string | null;
  credentialsHint: string | null;
}> {
  if (!credentials)
    return { credentialsEncrypted: null, credentialsHint: null };
  const box = await resolveSecretBox(config);
  const clientId = credentials.clientId;
  return {
    credentialsEncrypted: box.encrypt(
      JSON.stringify(credentials),
      credentialsContext(connectionId),
    ),
    // Only ids long enough that their last 4 characters do not give the
    // whole id away get a hint.
    credentialsHint:
      clientId !== undefined && clientId.length >= 8
        ? clientId.slice(-4)
        : null,
  };
}

export async function createConnection(
  db: MarketplaceDatabase,
  config: Config,
  input: MarketplaceConnectionCreateInput,
): Promise<ConnectionPayload> {
  const errors: UserError[] = [];
  const checked = checkFields(input, config, errors);
  errors.push(...missingCredentials(input.kind, checked.credentials));
  errors.push(...invalidSettings(input.kind, checked.settings, errors));
  if (errors.length > 0) return failed(errors);

  const id = uuidv7();
  const sealed = await sealCredentials(config, id, checked.credentials ?? null);
  const [connection] = await db
    .insert(tables.marketplaceConnections)
    .values({
      id,
      name: checked.name!,
      kind: input.kind,
      settings: checked.settings ?? {},
      priceAdjustmentBasisPoints: checked.priceAdjustmentBasisPoints ?? 0,
      priceFixedAdjustment: checked.priceFixedAdjustment ?? 0,
      safetyStock: checked.safetyStock ?? 0,
      untrackedQuantity: checked.untrackedQuantity ?? 0,
      ...sealed,
    })
    .returning();
  return { connection: connection!, userErrors: [] };
}

export async function updateConnection(
  db: MarketplaceDatabase,
  config: Config,
  input: MarketplaceConnectionUpdateInput,
): Promise<ConnectionPayload> {
  if (!isUuid(input.id)) return failed([notFound(input.id, ['input', 'id'])]);
  const errors: UserError[] = [];
  const checked = checkFields(input, config, errors);
  if (errors.length > 0) return failed(errors);

  return db.transaction(async (transaction) => {
    const [existing] = await transaction
      .select()
      .from(tables.marketplaceConnections)
      .where(eq(tables.marketplaceConnections.id, input.id))
      .for('update');
    if (!existing) return failed([notFound(input.id, ['input', 'id'])]);
    if (checked.credentials !== undefined) {
      const missing = missingCredentials(existing.kind, checked.credentials);
      if (missing.length > 0) return failed(missing);
    }
    if (checked.settings !== undefined) {
      const invalid = invalidSettings(existing.kind, checked.settings, []);
      if (invalid.length > 0) return failed(invalid);
    }

    const changes: Partial<typeof tables.marketplaceConnections.$inferInsert> =
      {};
    if (checked.name !== undefined) changes.name = checked.name;
    if (checked.settings !== undefined) changes.settings = checked.settings;
    for (const key of [
      'priceAdjustmentBasisPoints',
      'priceFixedAdjustment',
      'safetyStock',
      'untrackedQuantity',
    ] as const) {
      if (checked[key] !== undefined) changes[key] = checked[key];
    }
    if (checked.credentials !== undefined) {
      Object.assign(
        changes,
        await sealCredentials(config, existing.id, checked.credentials),
      );
    }
    const [connection] = await transaction
      .update(tables.marketplaceConnections)
      .set({ ...changes, updatedAt: new Date() })
      .where(eq(tables.marketplaceConnections.id, existing.id))
      .returning();

    const republish =
      checked.credentials !== undefined ||
      (checked.settings !== undefined &&
        JSON.stringify(checked.settings) !==
          JSON.stringify(existing.settings)) ||
      (checked.priceAdjustmentBasisPoints !== undefined &&
        checked.priceAdjustmentBasisPoints !==
          existing.priceAdjustmentBasisPoints) ||
      (checked.priceFixedAdjustment !== undefined &&
        checked.priceFixedAdjustment !== existing.priceFixedAdjustment);
    const requantify =
      (checked.safetyStock !== undefined &&
        checked.safetyStock !== existing.safetyStock) ||
      (checked.untrackedQuantity !== undefined &&
        checked.untrackedQuantity !== existing.untrackedQuantity);
    if (republish || requantify) {
      await recordListingChanges(transaction, {
        where: sql`l.connection_id = ${existing.id}`,
        change: republish ? 'publish' : 'connection',
        publish: republish,
      });
    }
    return { connection: connection!, userErrors: [] };
  });
}

/**
 * Sets a connection's status. Pausing keeps recording changes; resuming
 * lets the worker push them.
 */
export async function setConnectionStatus(
  db: MarketplaceDatabase,
  id: string,
  status: 'ACTIVE' | 'PAUSED',
): Promise<ConnectionPayload> {
  if (!isUuid(id)) return failed([notFound(id, ['id'])]);
  const [existing] = await db
    .select()
    .from(tables.marketplaceConnections)
    .where(eq(tables.marketplaceConnections.id, id));
  if (!existing) return failed([notFound(id, ['id'])]);
  if (existing.status === status) {
    return { connection: existing, userErrors: [] };
  }
  const [connection] = await db
    .update(tables.marketplaceConnections)
    .set({ status, updatedAt: new Date() })
    .where(eq(tables.marketplaceConnections.id, id))
    .returning();
  // The tasks recorded while paused are due; the workers look for them now.
  if (status === 'ACTIVE') await notifySyncWorkers(db);
  return { connection: connection!, userErrors: [] };
}

/**
 * Calls the adapter's testConnection and stores the outcome on the
 * connection. The message of a failure is the marketplace's, which never
 * contains credentials (see MarketplaceError).
 */
export async function testConnection(
  db: MarketplaceDatabase,
  config: Config,
  logger: Logger,
  id: string,
): Promise<ConnectionPayload> {
  if (!isUuid(id)) return failed([notFound(id, ['id'])]);
  const [existing] = await db
    .select()
    .from(tables.marketplaceConnections)
    .where(eq(tables.marketplaceConnections.id, id));
  if (!existing) return failed([notFound(id, ['id'])]);

  let message: string | null = null;
  try {
    const adapter = await adapterForConnection(db, config, existing);
    await withTimeout(adapter.testConnection(), TEST_TIMEOUT_MS);
  } catch (error) {
    if (error instanceof MarketplaceError) {
      message = error.message;
    } else {
      logger.error(
        { err: summarizeError(error), connectionId: id },
        'marketplace connection test failed unexpectedly',
      );
      message =
        error instanceof TestTimeout
          ? `The marketplace did not answer within ${TEST_TIMEOUT_MS / 1000} s.`
          : 'The test failed with an unexpected error; the marketplace service log has the details.';
    }
  }
  const [connection] = await db
    .update(tables.marketplaceConnections)
    .set({
      lastTestedAt: new Date(),
      lastTestOk: message === null,
      lastTestMessage: message,
    })
    .where(eq(tables.marketplaceConnections.id, id))
    .returning();
  return { connection: connection!, userErrors: [] };
}

class TestTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new TestTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
