import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import { failNextSandboxCalls } from '../subgraphs/marketplace/adapters/sandbox.js';
import * as tables from '../subgraphs/marketplace/db/tables.js';
import {
  DatabaseSandboxStorage,
  sandboxAccount,
} from '../subgraphs/marketplace/sync/adapters.js';
import {
  callerHeaders,
  STAFF_ADMIN,
  startTestStack,
  type TestStack,
} from './support/stack.js';

const CLIENT_ID = 'ebay-client-id-9f3e';
const CLIENT_SECRET = 'ebay-client-secret-b81c4d';
const REFRESH_TOKEN = 'ebay-refresh-token-77aa02';
const EBAY_SETTINGS = {
  marketplaceId: 'EBAY_US',
  merchantLocationKey: 'main',
  fulfillmentPolicyId: '6196932000',
  paymentPolicyId: '6196934000',
  returnPolicyId: '6196936000',
};
let stack: TestStack;

function marketplaceDb() {
  return (stack.subgraphs.marketplace as RunningSubgraph<typeof tables>)
    .database.db;
}

const CONNECTION_FIELDS = `
  id name kind status safetyStock untrackedQuantity
  credentials { set hint }
  settings { marketplaceId merchantLocationKey }
  priceRule { adjustmentBasisPoints fixedAdjustment { amount currencyCode } }
  lastTest { ok message testedAt }
`;

const CREATE = `mutation ($input: MarketplaceConnectionCreateInput!) {
  marketplaceConnectionCreate(input: $input) {
    connection { ${CONNECTION_FIELDS} }
    userErrors { field message code }
  }
}`;

const TEST = `mutation ($id: ID!) {
  marketplaceConnectionTest(id: $id) {
    connection { ${CONNECTION_FIELDS} }
    userErrors { field message code }
  }
}`;

const PAUSE = `mutation ($id: ID!) {
  marketplaceConnectionPause(id: $id) {
    connection { id status }
    userErrors { field message code }
  }
}`;

function asAdmin(document: string, variables: Record<string, unknown>) {
  return stack.query(document, variables, callerHeaders(STAFF_ADMIN));
}

beforeAll(async () => {
  stack = await startTestStack({
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

describe('marketplace connections', () => {
  it('creates an eBay connection with encrypted credentials', async () => {
    const result = await asAdmin(CREATE, {
      input: {
        name: 'eBay US',
        kind: 'EBAY',
        credentials: {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          refreshToken: REFRESH_TOKEN,
        },
        settings: EBAY_SETTINGS,
        priceRule: {
          adjustmentBasisPoints: 500,
          fixedAdjustment: { amount: '-0.25' },
        },
        safetyStock: 3,
      },
    });
    expect(result.errors).toBeUndefined();
    const payload = result.data!.marketplaceConnectionCreate;
    expect(payload.userErrors).toEqual([]);
    expect(payload.connection).toMatchObject({
      name: 'eBay US',
      kind: 'EBAY',
      status: 'ACTIVE',
      safetyStock: 3,
      untrackedQuantity: 0,
      credentials: { set: true, hint: '9f3e' },
      settings: { marketplaceId: 'EBAY_US', merchantLocationKey: 'main' },
      priceRule: {
        adjustmentBasisPoints: 500,
        fixedAdjustment: { amount: '-0.25', currencyCode: 'USD' },
      },
      lastTest: null,
    });
    const text = JSON.stringify(result);
    expect(text).not.toContain(CLIENT_SECRET);
    expect(text).not.toContain(REFRESH_TOKEN);
    expect(text).not.toContain(CLIENT_ID);

    const [row] = await marketplaceDb()
      .select()
      .from(tables.marketplaceConnections)
      .where(eq(tables.marketplaceConnections.id, payload.connection.id));
    const stored = JSON.stringify(row);
    expect(row!.credentialsEncrypted).toMatch(/^v1:/);
    expect(stored).not.toContain(CLIENT_SECRET);
    expect(stored).not.toContain(REFRESH_TOKEN);
    expect(stored).not.toContain(CLIENT_ID);
  });

  it('tests a sandbox connection and stores the outcome', async () => {
    const created = await asAdmin(CREATE, {
      input: { name: 'Sandbox', kind: 'SANDBOX' },
    });
    const id = created.data!.marketplaceConnectionCreate.connection.id;

    const passed = await asAdmin(TEST, { id });
    expect(passed.errors).toBeUndefined();
    expect(passed.data!.marketplaceConnectionTest.connection.lastTest).toEqual({
      ok: true,
      message: null,
      testedAt: expect.any(String),
    });

    await failNextSandboxCalls(new DatabaseSandboxStorage(marketplaceDb()), 1, {
      account: sandboxAccount(id),
    });
    const failed = await asAdmin(TEST, { id });
    const lastTest = failed.data!.marketplaceConnectionTest.connection.lastTest;
    expect(lastTest.ok).toBe(false);
    expect(lastTest.message).toContain('unavailable');
  });

  it('pauses a connection idempotently', async () => {
    const created = await asAdmin(CREATE, {
      input: { name: 'To pause', kind: 'SANDBOX' },
    });
    const id = created.data!.marketplaceConnectionCreate.connection.id;

    for (let run = 0; run < 2; run += 1) {
      const paused = await asAdmin(PAUSE, { id });
      expect(paused.data!.marketplaceConnectionPause).toEqual({
        connection: { id, status: 'PAUSED' },
        userErrors: [],
      });
    }
  });

  it('rejects invalid input with user errors', async () => {
    const result = await asAdmin(CREATE, {
      input: {
        name: '  ',
        kind: 'EBAY',
        safetyStock: -1,
        priceRule: { adjustmentBasisPoints: -10_000 },
      },
    });
    expect(result.errors).toBeUndefined();
    const payload = result.data!.marketplaceConnectionCreate;
    expect(payload.connection).toBeNull();
    const fields = payload.userErrors.map((error: { field: string[] }) =>
      error.field.join('.'),
    );
    expect(fields).toEqual(
      expect.arrayContaining([
        'input.name',
        'input.safetyStock',
        'input.priceRule.adjustmentBasisPoints',
        'input.credentials.clientId',
        'input.credentials.clientSecret',
        'input.credentials.refreshToken',
      ]),
    );
    for (const error of payload.userErrors) {
      expect(error.message).toEqual(expect.any(String));
      expect(['INVALID', 'REQUIRED']).toContain(error.code);
    }

    const missing = await asAdmin(PAUSE, {
      id: '00000000-0000-7000-8000-000000000000',
    });
    expect(missing.data!.marketplaceConnectionPause.userErrors).toEqual([
      {
        field: ['id'],
        message: expect.stringContaining('No marketplace connection'),
        code: 'NOT_FOUND',
      },
    ]);
  });

  it('rejects an eBay connection without required settings', async () => {
    const credentials = {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      refreshToken: REFRESH_TOKEN,
    };
    const required = Object.keys(
      EBAY_SETTINGS,
    ) as (keyof typeof EBAY_SETTINGS)[];
    for (const field of required) {
      const settings: Record<string, string> = { ...EBAY_SETTINGS };
      delete settings[field];
      const result = await asAdmin(CREATE, {
        input: {
          name: `eBay without ${field}`,
          kind: 'EBAY',
          credentials,
          settings,
        },
      });
      expect(result.errors).toBeUndefined();
      const payload = result.data!.marketplaceConnectionCreate;
      expect(payload.connection).toBeNull();
      expect(payload.userErrors).toEqual([
        {
          field: ['input', 'settings', field],
          message: expect.stringContaining(`settings.${field}`),
          code: 'REQUIRED',
        },
      ]);
    }

    const withoutSettings = await asAdmin(CREATE, {
      input: { name: 'eBay without settings', kind: 'EBAY', credentials },
    });
    const fields =
      withoutSettings.data!.marketplaceConnectionCreate.userErrors.map(
        (error: { field: string[] }) => error.field.join('.'),
      );
    expect(fields).toEqual(required.map((field) => `input.settings.${field}`));

    const invalid = await asAdmin(CREATE, {
      input: {
        name: 'eBay with an invalid marketplace id',
        kind: 'EBAY',
        credentials,
        settings: { ...EBAY_SETTINGS, marketplaceId: 'US' },
      },
    });
    const invalidPayload = invalid.data!.marketplaceConnectionCreate;
    expect(invalidPayload.connection).toBeNull();
    expect(invalidPayload.userErrors).toEqual([
      {
        field: ['input', 'settings', 'marketplaceId'],
        message: expect.stringContaining('EBAY_US'),
        code: 'INVALID',
      },
    ]);
    expect(JSON.stringify(invalid)).not.toContain(CLIENT_SECRET);

    const rows = await marketplaceDb()
      .select({ name: tables.marketplaceConnections.name })
      .from(tables.marketplaceConnections)
      .where(eq(tables.marketplaceConnections.kind, 'EBAY'));
    expect(rows.map((row) => row.name)).toEqual(['eBay US']);
  });

  it('rejects replacing eBay settings with incomplete ones', async () => {
    const created = await asAdmin(CREATE, {
      input: {
        name: 'eBay to update',
        kind: 'EBAY',
        credentials: {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          refreshToken: REFRESH_TOKEN,
        },
        settings: EBAY_SETTINGS,
      },
    });
    const id = created.data!.marketplaceConnectionCreate.connection.id;

    const updated = await asAdmin(
      `mutation ($input: MarketplaceConnectionUpdateInput!) {
        marketplaceConnectionUpdate(input: $input) {
          connection { id }
          userErrors { field message code }
        }
      }`,
      { input: { id, settings: { marketplaceId: 'EBAY_GB' } } },
    );
    const payload = updated.data!.marketplaceConnectionUpdate;
    expect(payload.connection).toBeNull();
    expect(
      payload.userErrors.map((error: { field: string[] }) =>
        error.field.join('.'),
      ),
    ).toEqual([
      'input.settings.merchantLocationKey',
      'input.settings.fulfillmentPolicyId',
      'input.settings.paymentPolicyId',
      'input.settings.returnPolicyId',
    ]);
    const [row] = await marketplaceDb()
      .select({ settings: tables.marketplaceConnections.settings })
      .from(tables.marketplaceConnections)
      .where(eq(tables.marketplaceConnections.id, id));
    expect(row!.settings).toEqual(EBAY_SETTINGS);
  });

  it('forbids support staff to manage connections', async () => {
    const support = await stack.staffHeaders('support');
    const result = await stack.query(
      CREATE,
      { input: { name: 'Not allowed', kind: 'SANDBOX' } },
      support,
    );
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const rows = await marketplaceDb()
      .select()
      .from(tables.marketplaceConnections)
      .where(eq(tables.marketplaceConnections.name, 'Not allowed'));
    expect(rows).toEqual([]);

    const listed = await stack.query(
      `{ marketplaceConnections { name credentials { set } } }`,
      {},
      support,
    );
    expect(listed.errors).toBeUndefined();
    expect(JSON.stringify(listed)).not.toContain(CLIENT_SECRET);
  });
});
