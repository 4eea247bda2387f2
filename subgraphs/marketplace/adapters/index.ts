/**
 * Builds the adapter of a marketplace connection from its kind, settings
 * and decrypted credentials. The credentials' shape is checked per kind
 * here, so a wrong or incomplete secret fails with the field and the
 * reason before any call reaches the marketplace. Messages name fields,
 * never values.
 */

import { z } from 'zod';
import type { Config } from '../../../platform/config.js';
import { MarketplaceError, type MarketplaceAdapter } from './adapter.js';
import {
  EbayMarketplaceAdapter,
  type EbayAdapterOptions,
  type EbayCredentials,
  type EbaySettings,
} from './ebay.js';
import { SandboxMarketplaceAdapter, type SandboxStorage } from './sandbox.js';

export { MarketplaceError } from './adapter.js';
export type * from './adapter.js';

/** Raised when a connection's credentials or settings do not fit its kind. */
export class MarketplaceCredentialsError extends MarketplaceError {
  constructor(message: string) {
    super(message, false);
  }
}

export interface MarketplaceConnectionInput {
  /**
   * The connection's id. A SANDBOX connection whose credentials name no
   * `account` uses it as its sandbox account, so connections never share
   * sandbox listings.
   */
  id?: string;
  /** `SANDBOX` or `EBAY`. */
  kind: string;
  /** The connection's non-secret settings; null or {} when it has none. */
  settings: unknown;
}

export interface CreateMarketplaceAdapterOptions {
  config: Pick<Config, 'EBAY_API_BASE_URL' | 'EBAY_AUTH_BASE_URL'>;
  /** Storage of the sandbox marketplace, shared by all replicas. */
  sandboxStorage: SandboxStorage;
  /** Base URLs that replace the configured ones, for tests against a fake. */
  ebayBaseUrls?: { api?: string; auth?: string };
  /** Further eBay adapter options (timeouts, page size, clock). */
  ebay?: Pick<
    EbayAdapterOptions,
    'timeoutMs' | 'orderPageSize' | 'orderOverlapMs' | 'now'
  >;
}

const nonEmpty = z.string().trim().min(1, 'must be a non-empty string');

const sandboxCredentialsSchema = z
  .object({
    account: z
      .string()
      .regex(
        /^[A-Za-z0-9_.-]{1,64}$/,
        "must be 1 to 64 letters, digits, '_', '.' or '-'",
      )
      .optional(),
  })
  .strict();

const policyIds = {
  fulfillmentPolicyId: nonEmpty.optional(),
  paymentPolicyId: nonEmpty.optional(),
  returnPolicyId: nonEmpty.optional(),
};

const ebayCredentialsSchema = z
  .object({
    clientId: nonEmpty,
    clientSecret: nonEmpty,
    refreshToken: nonEmpty,
    marketplaceId: z
      .string()
      .regex(
        /^EBAY_[A-Z_]{2,10}$/,
        'must be an eBay marketplace id such as EBAY_US',
      ),
    merchantLocationKey: nonEmpty.max(36, 'must have at most 36 characters'),
    ...policyIds,
    scopes: z.array(nonEmpty).min(1, 'must list at least one scope').optional(),
  })
  .strict();

const ebaySettingsSchema = z
  .object({
    categoryId: z
      .string()
      .regex(/^\d{1,10}$/, 'must be an eBay category id (digits)')
      .optional(),
    contentLanguage: z
      .string()
      .regex(/^[a-z]{2}-[A-Z]{2}$/, 'must be a language tag such as en-US')
      .optional(),
    ...policyIds,
  })
  .strict();

const POLICY_FIELDS = [
  'fulfillmentPolicyId',
  'paymentPolicyId',
  'returnPolicyId',
] as const;

/** Settings an eBay connection stores that every publish sends to eBay. */
export const EBAY_REQUIRED_SETTINGS = [
  'marketplaceId',
  'merchantLocationKey',
  ...POLICY_FIELDS,
] as const;

/** A missing or invalid field of an eBay connection's stored settings. */
export interface EbaySettingsProblem {
  field: string;
  /** True when the field is absent, false when its value is invalid. */
  missing: boolean;
  reason: string;
}

/**
 * Checks the stored settings of an eBay connection with the rules that
 * createMarketplaceAdapter applies when the connection pushes. The
 * marketplace id, the inventory location and the three business policy
 * ids are required, because the connections API has no credentials field
 * for them. `categoryId` is checked when given. Reasons name fields, never
 * values.
 */
export function ebaySettingsProblems(
  settings: Record<string, string | null | undefined>,
): EbaySettingsProblem[] {
  const problems: EbaySettingsProblem[] = [];
  const formats: Record<string, z.ZodType> = {
    marketplaceId: ebayCredentialsSchema.shape.marketplaceId,
    merchantLocationKey: ebayCredentialsSchema.shape.merchantLocationKey,
    categoryId: ebaySettingsSchema.shape.categoryId,
  };
  for (const field of EBAY_REQUIRED_SETTINGS) {
    const value = settings[field];
    if (value === null || value === undefined || value.trim() === '') {
      problems.push({ field, missing: true, reason: 'is required' });
    }
  }
  for (const [field, schema] of Object.entries(formats)) {
    const value = settings[field];
    if (value === null || value === undefined || value.trim() === '') continue;
    const result = schema.safeParse(value);
    if (!result.success) {
      problems.push({
        field,
        missing: false,
        reason: result.error.issues[0]?.message ?? 'is invalid',
      });
    }
  }
  return problems;
}

/**
 * Returns the adapter of a connection. Throws MarketplaceCredentialsError
 * when the kind is unknown or the credentials or settings are invalid.
 *
 * - SANDBOX credentials: null, `{}` or `{ account }`; settings are ignored.
 *   The account defaults to the connection's id, else `default`.
 * - EBAY credentials: `EbayCredentials` (clientId, clientSecret,
 *   refreshToken, marketplaceId, merchantLocationKey, optional policy ids
 *   and scopes); settings: `EbaySettings`. Each of the three policy ids
 *   must be set in the settings or the credentials.
 */
export function createMarketplaceAdapter(
  connection: MarketplaceConnectionInput,
  credentials: unknown,
  options: CreateMarketplaceAdapterOptions,
): MarketplaceAdapter {
  if (connection.kind === 'SANDBOX') {
    const parsed = parse(
      'Sandbox credentials',
      sandboxCredentialsSchema,
      credentials ?? {},
    );
    return new SandboxMarketplaceAdapter(options.sandboxStorage, {
      account: parsed.account ?? connection.id,
    });
  }
  if (connection.kind === 'EBAY') {
    const parsedCredentials: EbayCredentials = parse(
      'eBay credentials',
      ebayCredentialsSchema,
      credentials,
    );
    const settings: EbaySettings = parse(
      'eBay connection settings',
      ebaySettingsSchema,
      connection.settings ?? {},
    );
    const missing = POLICY_FIELDS.filter(
      (field) =>
        settings[field] === undefined && parsedCredentials[field] === undefined,
    );
    if (missing.length > 0) {
      throw new MarketplaceCredentialsError(
        `eBay connection is incomplete: ${missing.join(', ')}: missing; set each business policy id in the connection's settings or its credentials`,
      );
    }
    return new EbayMarketplaceAdapter({
      apiBaseUrl: options.ebayBaseUrls?.api ?? options.config.EBAY_API_BASE_URL,
      authBaseUrl:
        options.ebayBaseUrls?.auth ?? options.config.EBAY_AUTH_BASE_URL,
      credentials: parsedCredentials,
      settings,
      ...options.ebay,
    });
  }
  throw new MarketplaceCredentialsError(
    `Unknown marketplace kind "${String(connection.kind).slice(0, 40)}"; use SANDBOX or EBAY`,
  );
}

/** Parses `value` with `schema`, listing every invalid field and its reason. */
function parse<T>(what: string, schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const reasons = result.error.issues.map((issue) => {
    const field = issue.path.join('.');
    const keys =
      issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : null;
    if (keys !== null) return `unknown field(s) ${keys}`;
    if (issue.code === 'invalid_type' && field !== '') {
      return `${field}: ${describeType(issue.expected)} is required`;
    }
    if (field === '') return `must be an object (${issue.message})`;
    return `${field}: ${issue.message}`;
  });
  throw new MarketplaceCredentialsError(
    `${what} are invalid: ${reasons.join('; ')}`,
  );
}

function describeType(expected: string): string {
  return expected === 'string'
    ? 'a non-empty string'
    : `a value of type ${expected}`;
}
