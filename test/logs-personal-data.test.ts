import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceDatabaseUrl } from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import { startTestStack, type TestStack } from './support/stack.js';

// Runs the flows that handle personal data through a real stack at log
// level trace, and checks that no captured log line contains any of the
// personal data or credentials those flows used.

const lines: string[] = [];
const destination = new Writable({
  write(chunk, _encoding, done) {
    lines.push(String(chunk));
    done();
  },
});

let stack: TestStack;

/** Every value that must not appear in a log line. */
const personalData: string[] = [];

function remember<T extends string>(value: T): T {
  personalData.push(value);
  return value;
}

function uniqueEmail(label: string): string {
  return remember(`${label}-${randomBytes(4).toString('hex')}@example.com`);
}

function uniquePassword(): string {
  return remember(`pw-${randomBytes(12).toString('base64url')}`);
}

const CUSTOMER_NAME = remember('Zebedee Quillfeather');
const MASKED_NAME = remember('Ottoline Brackenbury');
const TYPED_NAME = remember('Peregrine Ashdown');

const PAYLOAD_FIELDS = `accessToken refreshToken
  customer { id email name }
  userErrors { field message code }`;

const REGISTER = `mutation ($input: CustomerRegisterInput!) {
  customerRegister(input: $input) { ${PAYLOAD_FIELDS} }
}`;

const SIGN_IN = `mutation ($input: CustomerSignInInput!) {
  customerSignIn(input: $input) { ${PAYLOAD_FIELDS} }
}`;

/** Runs every flow once. The tests below check the lines they logged. */
async function runFlows(): Promise<void> {
  const email = uniqueEmail('audit');
  const password = uniquePassword();

  // Customer register.
  const registered = await stack.query(REGISTER, {
    input: { email, password, name: CUSTOMER_NAME },
  });
  expect(registered.errors).toBeUndefined();
  const payload = registered.data!.customerRegister;
  expect(payload.userErrors).toEqual([]);
  remember(payload.accessToken as string);
  remember(payload.refreshToken as string);

  // A request with the customer's access token.
  const me = await stack.query('{ me { id email name } }', undefined, {
    authorization: `Bearer ${payload.accessToken}`,
  });
  expect(me.errors).toBeUndefined();

  // Duplicate register: a unique violation on customers.email.
  const duplicate = await stack.query(REGISTER, {
    input: { email: email.toUpperCase(), password, name: CUSTOMER_NAME },
  });
  expect(duplicate.data!.customerRegister.userErrors[0].code).toBe('TAKEN');
  remember(email.toUpperCase());

  // Failed customer sign-in, with a wrong password and an unknown email.
  const wrongPassword = uniquePassword();
  const failed = await stack.query(SIGN_IN, {
    input: { email, password: wrongPassword },
  });
  expect(failed.data!.customerSignIn.userErrors).toHaveLength(1);
  const unknown = await stack.query(SIGN_IN, {
    input: { email: uniqueEmail('unknown'), password: wrongPassword },
  });
  expect(unknown.data!.customerSignIn.userErrors).toHaveLength(1);

  // A refresh token that is not valid, and a bearer token that is not.
  const refreshed = await stack.query(
    `mutation ($input: CustomerRefreshTokenInput!) {
      customerRefreshToken(input: $input) { userErrors { code } }
    }`,
    {
      input: {
        refreshToken: remember(`crt_${randomBytes(32).toString('base64url')}`),
      },
    },
  );
  expect(refreshed.data!.customerRefreshToken.userErrors).toHaveLength(1);
  const badBearer = remember(`${payload.accessToken}x`);
  const rejected = await stack.query('{ me { id } }', undefined, {
    authorization: `Bearer ${badBearer}`,
  });
  expect(rejected.status).toBe(401);

  // Failed staff sign-in.
  const staffEmail = uniqueEmail('staff');
  const staffResponse = await fetch(`${stack.gatewayOrigin}/auth/staff/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: staffEmail, password: uniquePassword() }),
  });
  expect(staffResponse.status).toBe(401);

  // Queries with an email in their variables that fail: a variable of the
  // wrong type, an input with an unknown field, and an ID that is an email.
  const wrongType = await stack.query(
    'query ($first: Int) { products(first: $first) { nodes { id } } }',
    { first: uniqueEmail('variable') },
  );
  expect(wrongType.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  const unknownField = await stack.query(SIGN_IN, {
    input: {
      email: uniqueEmail('field'),
      password: uniquePassword(),
      phone: remember('+44 7700 900123'),
    },
  });
  expect(unknownField.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  const admin = await stack.staffHeaders('admin');
  const byEmail = await stack.query(
    'query ($id: ID!) { customer(id: $id) { id } order(id: $id) { id } shipment(id: $id) { id } }',
    { id: uniqueEmail('id') },
    admin,
  );
  expect(byEmail.data).toEqual({ customer: null, order: null, shipment: null });

  // Masked database errors. A check constraint added here rejects a
  // registration, and PostgreSQL's detail repeats the whole row.
  await alterOrdersDatabase(
    `alter table customers add constraint audit_rejects_masked check (email not like 'masked-%')`,
  );
  const checked = await stack.query(REGISTER, {
    input: {
      email: uniqueEmail('masked'),
      password: uniquePassword(),
      name: MASKED_NAME,
    },
  });
  expect(checked.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');

  // A name column of type uuid makes PostgreSQL reject the name, and its
  // message repeats the value: invalid input syntax for type uuid: "…".
  await alterOrdersDatabase(
    'alter table customers alter column name type uuid using null',
  );
  const typed = await stack.query(REGISTER, {
    input: {
      email: uniqueEmail('typed'),
      password: uniquePassword(),
      name: TYPED_NAME,
    },
  });
  expect(typed.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
}

async function alterOrdersDatabase(statement: string): Promise<void> {
  const sql = postgres(serviceDatabaseUrl(stack.config, 'orders'), {
    max: 1,
    onnotice: () => {},
  });
  try {
    await sql.unsafe(statement);
  } finally {
    await sql.end();
  }
}

beforeAll(async () => {
  stack = await startTestStack(
    {},
    { logger: createLogger('audit', 'trace', destination) },
  );
  await runFlows();
});

afterAll(async () => {
  await stack?.close();
});

describe('log lines of a real stack', () => {
  it('include the flows that were run', () => {
    const text = lines.join('');
    expect(text).toContain('staff sign-in failed');
    expect(text).toContain('credentials rejected');
    expect(text).toContain('unexpected error while resolving');
    expect(text).toContain('audit_rejects_masked');
    expect(text).toContain('invalid input syntax for type uuid');
  });

  it('contain no personal data or credentials', () => {
    expect(personalData.length).toBeGreaterThan(10);
    for (const value of personalData) {
      const leaks = lines.filter((line) =>
        line.toLowerCase().includes(value.toLowerCase()),
      );
      expect(leaks, value).toEqual([]);
    }
  });

  it('contain no part of an email address', () => {
    const emails = personalData.filter((value) => value.includes('@'));
    for (const email of emails) {
      const localPart = email.slice(0, email.indexOf('@')).toLowerCase();
      const leaks = lines.filter((line) =>
        line.toLowerCase().includes(localPart),
      );
      expect(leaks, localPart).toEqual([]);
    }
  });
});

describe('createLogger', () => {
  function capture() {
    const captured: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        captured.push(String(chunk));
        done();
      },
    });
    return { logger: createLogger('unit', 'trace', stream), captured };
  }

  it('redacts personal keys at any depth', () => {
    const { logger, captured } = capture();

    logger.info(
      {
        requestId: 'r-1',
        request: {
          body: {
            variables: { input: { email: 'ada@example.com' } },
            shipping: {
              address1: '1 Analytical Row',
              phoneNumber: '+44 7700 900001',
            },
          },
          headers: { Authorization: 'Bearer abc.def.ghi' },
        },
        customer: { id: 'c-1', name: 'Ada Lovelace' },
        accessToken: 'token-value',
        tokenFamily: 'family-1',
      },
      'request received',
    );

    const record = JSON.parse(captured[0]!);
    expect(record.requestId).toBe('r-1');
    expect(record.request.body.variables).toBe('[redacted]');
    expect(record.request.body.shipping).toEqual({
      address1: '[redacted]',
      phoneNumber: '[redacted]',
    });
    expect(record.request.headers.Authorization).toBe('[redacted]');
    expect(record.customer).toBe('[redacted]');
    expect(record.accessToken).toBe('[redacted]');
    expect(record.tokenFamily).toBe('family-1');
  });

  it('replaces email addresses in messages and strings', () => {
    const { logger, captured } = capture();

    logger.warn(
      { note: 'sent to ada@example.com' },
      'mail to grace@example.org failed',
    );

    expect(captured[0]).not.toContain('ada@example.com');
    expect(captured[0]).not.toContain('grace@example.org');
    const record = JSON.parse(captured[0]!);
    expect(record.note).toBe('sent to [redacted]');
    expect(record.msg).toBe('mail to [redacted] failed');
  });

  it('drops the detail of a database error under err', () => {
    const { logger, captured } = capture();
    const driverError = Object.assign(
      new Error(
        'duplicate key value violates unique constraint "customers_email_unique"',
      ),
      {
        code: '23505',
        detail: 'Key (email)=(ada@example.com) already exists.',
        where: "unnamed portal parameter $2 = 'Ada Lovelace'",
        constraint_name: 'customers_email_unique',
        table_name: 'customers',
      },
    );

    logger.error({ err: driverError }, 'insert failed');

    expect(captured[0]).not.toContain('ada@example.com');
    expect(captured[0]).not.toContain('Ada Lovelace');
    const record = JSON.parse(captured[0]!);
    expect(record.err.code).toBe('23505');
    expect(record.err.constraint).toBe('customers_email_unique');
    expect(record.err.table).toBe('customers');
    expect(record.err.detail).toBeUndefined();
  });

  it('reduces an error passed as the only argument', () => {
    const { logger, captured } = capture();
    const error = new Error(
      'Failed query: select 1 where "name" = $1\nparams: Ada Lovelace',
      {
        cause: new Error('invalid input syntax for type uuid: "Ada Lovelace"'),
      },
    );

    logger.error(error);

    expect(captured[0]).not.toContain('Ada Lovelace');
    const record = JSON.parse(captured[0]!);
    expect(record.msg).toBe(
      'Failed query: select 1 where "name" = $1\nparams: [omitted]',
    );
    expect(record.err.cause.message).toBe(
      'invalid input syntax for type uuid: [omitted]',
    );
  });

  it('keeps values a database message repeats out of a summary', () => {
    const { logger, captured } = capture();
    const error = new Error(
      'new row for relation "customers" violates check constraint "c"\nFailing row contains (1, ada@example.com, Ada Lovelace).',
    );

    logger.error({ err: error }, 'insert failed');

    expect(captured[0]).not.toContain('Ada Lovelace');
    expect(JSON.parse(captured[0]!).err.message).toBe(
      'new row for relation "customers" violates check constraint "c"\nFailing row contains ([omitted])',
    );
  });
});
