import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CallerIdentity } from '../gateway/caller.js';
import type { Database } from '../platform/database.js';
import { uuidv7 } from '../platform/ids.js';
import * as tables from '../subgraphs/orders/db/tables.js';
import type { OrderRow, PaymentRow } from '../subgraphs/orders/db/tables.js';
import { formatLedgerCsv } from '../subgraphs/orders/ledger/csv.js';
import { parseInstant } from '../subgraphs/orders/ledger/period.js';
import {
  postCapture,
  splitByOrderTotals,
} from '../subgraphs/orders/ledger/posting.js';
import {
  captureInFull,
  createOrderWithPayment,
  refundPayment,
} from './support/ledger-flows.js';
import {
  callerHeaders,
  STAFF_ADMIN,
  startTestStack,
  type GraphQLResponse,
  type TestStack,
} from './support/stack.js';

let stack: TestStack;
let db: Database<typeof tables>;

function partner(scopes: string[]): CallerIdentity {
  return {
    kind: 'partner',
    subject: '00000000-0000-7000-8000-00000000000c',
    scopes,
    roles: [],
  };
}

function queryAs(
  caller: CallerIdentity,
  document: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLResponse> {
  return stack.query(document, variables, callerHeaders(caller));
}

const asAdmin = (document: string, variables?: Record<string, unknown>) =>
  queryAs(STAFF_ADMIN, document, variables);

beforeAll(async () => {
  stack = await startTestStack();
  db = stack.subgraphs.orders.database.db as unknown as Database<typeof tables>;
});

afterAll(async () => {
  await stack?.close();
});

/**
 * The worked example of docs/ledger.md, in March 2026: an order of 100.00
 * with 10.00 shipping and 8.80 tax, paid by card with a 3.75 fee, and a
 * quarter refunded.
 */
async function postWorkedExample() {
  const { order, payment } = await createOrderWithPayment(db, {
    subtotal: 10_000,
    shipping: 1_000,
    tax: 880,
  });
  await captureInFull(db, order, payment.id, {
    feeAmount: 375,
    reference: 'ch_worked_example',
    occurredAt: new Date('2026-03-10T12:00:00Z'),
  });
  await refundPayment(db, order, payment.id, 2_970, {
    occurredAt: new Date('2026-03-20T09:30:00Z'),
  });
  const entries = await db
    .select()
    .from(tables.journalEntries)
    .where(eq(tables.journalEntries.orderId, order.id))
    .orderBy(tables.journalEntries.number);
  return { order, payment, entries };
}

let example: Awaited<ReturnType<typeof postWorkedExample>>;

describe('posting', () => {
  beforeAll(async () => {
    example = await postWorkedExample();
  });

  test('worked example writes three balanced entries', async () => {
    expect(example.entries.map((entry) => entry.kind)).toEqual([
      'CAPTURE',
      'PROVIDER_FEE',
      'REFUND',
    ]);
    const lines = await db
      .select()
      .from(tables.journalLines)
      .where(
        inArray(
          tables.journalLines.entryId,
          example.entries.map((entry) => entry.id),
        ),
      );
    for (const entry of example.entries) {
      const own = lines.filter((line) => line.entryId === entry.id);
      const debit = own.reduce((sum, line) => sum + line.debit, 0);
      const credit = own.reduce((sum, line) => sum + line.credit, 0);
      expect(own.length).toBeGreaterThanOrEqual(2);
      expect(debit).toBe(credit);
    }
  });

  test('same capture posted twice writes one entry', async () => {
    const { order, payment } = await createOrderWithPayment(db, {
      subtotal: 5_000,
      tax: 400,
    });
    const capturedPayment: PaymentRow = {
      ...payment,
      capturedAmount: payment.amount,
    };
    for (let attempt = 0; attempt < 2; attempt += 1) {
      await db.transaction((transaction) =>
        postCapture(transaction, {
          order,
          payment: capturedPayment,
          amount: 5_400,
          feeAmount: 187,
          reference: 'ch_twice',
        }),
      );
    }
    const entries = await db
      .select()
      .from(tables.journalEntries)
      .where(eq(tables.journalEntries.paymentId, payment.id));
    expect(entries.map((entry) => entry.kind).sort()).toEqual([
      'CAPTURE',
      'PROVIDER_FEE',
    ]);
    const lines = await db
      .select()
      .from(tables.journalLines)
      .where(
        inArray(
          tables.journalLines.entryId,
          entries.map((entry) => entry.id),
        ),
      );
    expect(lines).toHaveLength(5);
  });

  test('partial refunds leave no tax behind', async () => {
    const { order, payment } = await createOrderWithPayment(db, {
      subtotal: 10_000,
      shipping: 1_000,
      tax: 880,
    });
    await captureInFull(db, order, payment.id);
    // Alone, each 0.07 refund has 0.52 cents of tax, which rounds up to 1.
    for (let index = 0; index < 3; index += 1) {
      await refundPayment(db, order, payment.id, 7);
    }
    await refundPayment(db, order, payment.id, 11_880 - 21);
    const [net] = await db.execute<{ tax: string; revenue: string }>(sql`
      select
        sum(case when l.account_code = '2100' then l.credit - l.debit else 0 end)::text as tax,
        sum(case when l.account_code in ('4000', '4010', '4900') then l.credit - l.debit else 0 end)::text as revenue
      from journal_lines l join journal_entries e on e.id = l.entry_id
      where e.payment_id = ${payment.id}
    `);
    expect(net!.tax).toBe('0');
    expect(net!.revenue).toBe('0');
  });

  test('split keeps parts within the amount', () => {
    const order = { totalAmount: 3, shippingAmount: 1, taxAmount: 1 };
    // At 1 cent, tax and shipping are 1/3 each and round down. At 2 cents
    // they are 2/3 each and round up, using the whole amount.
    expect(splitByOrderTotals(order, 1)).toEqual({
      sales: 1,
      shipping: 0,
      tax: 0,
    });
    expect(splitByOrderTotals(order, 2)).toEqual({
      sales: 0,
      shipping: 1,
      tax: 1,
    });
    const halves = { totalAmount: 2, shippingAmount: 1, taxAmount: 1 };
    expect(splitByOrderTotals(halves, 1)).toEqual({
      sales: 0,
      shipping: 0,
      tax: 1,
    });
  });
});

describe('database guards', () => {
  const sqlOf = () => stack.subgraphs.orders.database.sql;

  async function insertEntry(
    transaction: typeof db,
    lines: { account: string; debit: number; credit: number }[],
  ) {
    const entryId = uuidv7();
    await transaction.insert(tables.journalEntries).values({
      id: entryId,
      kind: 'CAPTURE',
      sourceKey: `test:${entryId}`,
      currencyCode: 'USD',
      description: 'hand-written entry',
    });
    if (lines.length > 0) {
      await transaction.insert(tables.journalLines).values(
        lines.map((line) => ({
          id: uuidv7(),
          entryId,
          accountCode: line.account,
          debit: line.debit,
          credit: line.credit,
        })),
      );
    }
    return entryId;
  }

  test('unbalanced entry is rejected at commit', async () => {
    let linesWritten = false;
    const attempt = db.transaction(async (transaction) => {
      await insertEntry(transaction as unknown as typeof db, [
        { account: '1000', debit: 100, credit: 0 },
        { account: '4000', debit: 0, credit: 50 },
      ]);
      // The deferred trigger lets the statements through; only the
      // commit fails.
      linesWritten = true;
    });
    await expect(attempt).rejects.toMatchObject({
      code: '23514',
      message: expect.stringMatching(
        /journal entry .* is unbalanced: debits 100, credits 50, 2 lines/,
      ),
    });
    expect(linesWritten).toBe(true);
  });

  test('entry without lines is rejected at commit', async () => {
    const attempt = db.transaction(async (transaction) => {
      await insertEntry(transaction as unknown as typeof db, []);
    });
    await expect(attempt).rejects.toMatchObject({
      code: '23514',
      message: expect.stringContaining('0 lines'),
    });
  });

  test('line added to a committed entry is rejected', async () => {
    const entryId = await db.transaction((transaction) =>
      insertEntry(transaction as unknown as typeof db, [
        { account: '1000', debit: 100, credit: 0 },
        { account: '4000', debit: 0, credit: 100 },
      ]),
    );
    await expect(
      sqlOf()`insert into journal_lines (id, entry_id, account_code, debit, credit)
        values (${uuidv7()}, ${entryId}, '6100', 5, 0)`,
    ).rejects.toMatchObject({ code: '23514' });
  });

  test('journal line update is rejected', async () => {
    await expect(
      sqlOf()`update journal_lines set debit = debit + 1 where debit > 0`,
    ).rejects.toMatchObject({
      code: '42501',
      message: expect.stringContaining('append-only'),
    });
  });

  test('journal line delete is rejected', async () => {
    await expect(sqlOf()`delete from journal_lines`).rejects.toMatchObject({
      code: '42501',
      message: expect.stringContaining('append-only'),
    });
  });

  test('journal entry update is rejected', async () => {
    await expect(
      sqlOf()`update journal_entries set description = 'changed'`,
    ).rejects.toMatchObject({ code: '42501' });
  });
});

describe('period arguments', () => {
  const trialBalance = (from: string, to: string) =>
    asAdmin(
      'query ($from: String!, $to: String!) { trialBalance(from: $from, to: $to) { balanced } }',
      { from, to },
    );

  test.each([
    ['2026-13-01', '2026-12-01', 'from'],
    ['2026-02-30', '2026-03-01', 'from'],
    ['2026-11-01T00:00:00', '2026-12-01', 'from'],
    ['yesterday', '2026-12-01', 'from'],
    ['2026-11-01', '2026-11-31', 'to'],
    ['2026-11-01', '2026-12-01T25:00:00Z', 'to'],
  ])('invalid %s to %s names %s', async (from, to, argument) => {
    const result = await trialBalance(from, to);
    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors![0]!.message).toContain(`Invalid ${argument}:`);
    expect(result.errors![0]!.path).toEqual(['trialBalance']);
  });

  test('to before from is rejected', async () => {
    const result = await trialBalance('2026-12-01', '2026-11-01');
    expect(result.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors![0]!.message).toBe(
      'Invalid to: "2026-11-01" is not after from "2026-12-01". The period is [from, to), so to must be later than from.',
    );
  });

  test('empty period is rejected', async () => {
    const result = await trialBalance('2026-12-01', '2026-12-01');
    expect(result.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors![0]!.message).toContain('is not after from');
  });

  test('period over 366 days is rejected', async () => {
    const result = await trialBalance('2025-01-01', '2026-01-03');
    expect(result.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors![0]!.message).toContain('longer than 366 days');
  });

  test('period of 366 days is accepted', async () => {
    const result = await trialBalance('2024-01-01', '2025-01-01');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ trialBalance: { balanced: true } });
  });

  test('offsets move the instant', () => {
    expect(parseInstant('2026-11-01')?.toISOString()).toBe(
      '2026-11-01T00:00:00.000Z',
    );
    expect(parseInstant('2026-11-01T00:00:00+01:00')?.toISOString()).toBe(
      '2026-10-31T23:00:00.000Z',
    );
    expect(parseInstant('2026-11-01T10:30-04:30')?.toISOString()).toBe(
      '2026-11-01T15:00:00.000Z',
    );
    expect(parseInstant('2026-11-01T10:30:15.123456Z')?.toISOString()).toBe(
      '2026-11-01T10:30:15.123Z',
    );
  });
});

describe('trial balance', () => {
  const document = `query ($from: String!, $to: String!) {
    trialBalance(from: $from, to: $to) {
      from to balanced
      totalDebit { amount currencyCode }
      totalCredit { amount currencyCode }
      lines {
        account { code name type }
        debit { amount } credit { amount } balance { amount }
      }
    }
  }`;

  test('worked example figures', async () => {
    const result = await asAdmin(document, {
      from: '2026-03-01',
      to: '2026-04-01',
    });
    expect(result.errors).toBeUndefined();
    const line = (
      code: string,
      name: string,
      type: string,
      debit: string,
      credit: string,
      balance: string,
    ) => ({
      account: { code, name, type },
      debit: { amount: debit },
      credit: { amount: credit },
      balance: { amount: balance },
    });
    expect(result.data!.trialBalance).toEqual({
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-04-01T00:00:00.000Z',
      balanced: true,
      totalDebit: { amount: '152.25', currencyCode: 'USD' },
      totalCredit: { amount: '152.25', currencyCode: 'USD' },
      lines: [
        line(
          '1000',
          'Payment provider clearing',
          'ASSET',
          '118.80',
          '33.45',
          '85.35',
        ),
        line('2100', 'Sales tax payable', 'LIABILITY', '2.20', '8.80', '-6.60'),
        line('4000', 'Sales', 'REVENUE', '0.00', '100.00', '-100.00'),
        line('4010', 'Shipping income', 'REVENUE', '0.00', '10.00', '-10.00'),
        line('4900', 'Sales refunds', 'REVENUE', '27.50', '0.00', '27.50'),
        line(
          '6100',
          'Payment processing fees',
          'EXPENSE',
          '3.75',
          '0.00',
          '3.75',
        ),
      ],
    });
  });

  test('half-open period leaves out its end', async () => {
    const result = await asAdmin(document, {
      from: '2026-03-01',
      to: '2026-03-20T09:30:00Z',
    });
    expect(result.errors).toBeUndefined();
    const codes = result.data!.trialBalance.lines.map(
      (line: { account: { code: string } }) => line.account.code,
    );
    expect(codes).toEqual(['1000', '2100', '4000', '4010', '6100']);
    expect(result.data!.trialBalance.totalDebit.amount).toBe('122.55');
  });

  test('statement count does not grow with accounts', async () => {
    const queries = stack.subgraphs.orders.database.queries;
    // Background work of the orders service (its event consumer, the
    // reconciliation pass) may run a statement during one request, so the
    // smallest count of three requests is the request's own.
    let fewest = Infinity;
    for (let run = 0; run < 3; run += 1) {
      queries.reset();
      const result = await asAdmin(document, {
        from: '2026-03-01',
        to: '2026-04-01',
      });
      expect(result.errors).toBeUndefined();
      fewest = Math.min(fewest, queries.count);
    }
    expect(fewest).toBe(1);
  });
});

describe('ledger export', () => {
  test('worked example CSV', async () => {
    const result = await asAdmin(
      'query { ledgerExport(from: "2026-03-01", to: "2026-04-01") { filename csv entryCount } }',
    );
    expect(result.errors).toBeUndefined();
    const [capture, fee, refund] = example.entries as [
      (typeof example.entries)[0],
      (typeof example.entries)[0],
      (typeof example.entries)[0],
    ];
    const number = example.order.number;
    const rows = [
      'date,entry_number,entry_id,kind,order_number,account_code,account_name,debit,credit,currency,description',
      `2026-03-10,${capture.number},${capture.id},CAPTURE,${number},1000,Payment provider clearing,118.80,,USD,Payment captured for order #${number}`,
      `2026-03-10,${capture.number},${capture.id},CAPTURE,${number},2100,Sales tax payable,,8.80,USD,Payment captured for order #${number}`,
      `2026-03-10,${capture.number},${capture.id},CAPTURE,${number},4000,Sales,,100.00,USD,Payment captured for order #${number}`,
      `2026-03-10,${capture.number},${capture.id},CAPTURE,${number},4010,Shipping income,,10.00,USD,Payment captured for order #${number}`,
      `2026-03-10,${fee.number},${fee.id},PROVIDER_FEE,${number},6100,Payment processing fees,3.75,,USD,sandbox fee for order #${number}`,
      `2026-03-10,${fee.number},${fee.id},PROVIDER_FEE,${number},1000,Payment provider clearing,,3.75,USD,sandbox fee for order #${number}`,
      `2026-03-20,${refund.number},${refund.id},REFUND,${number},2100,Sales tax payable,2.20,,USD,Refund for order #${number}`,
      `2026-03-20,${refund.number},${refund.id},REFUND,${number},4900,Sales refunds,27.50,,USD,Refund for order #${number}`,
      `2026-03-20,${refund.number},${refund.id},REFUND,${number},1000,Payment provider clearing,,29.70,USD,Refund for order #${number}`,
    ];
    expect(result.data!.ledgerExport).toEqual({
      filename: 'ledger-2026-03-01-2026-04-01.csv',
      csv: rows.map((row) => `${row}\r\n`).join(''),
      entryCount: 3,
    });
  });

  test('quoting and formula neutralizing', () => {
    const base = {
      occurredAt: new Date('2026-05-31T23:59:59.999Z'),
      entryNumber: 7,
      entryId: '0190a0a0-0000-7000-8000-000000000007',
      kind: 'REFUND',
      accountCode: '1010',
      accountName: 'Cash on hand',
      currencyCode: 'JPY',
    };
    const csv = formatLedgerCsv([
      {
        ...base,
        orderNumber: null,
        debit: 0,
        credit: 1500,
        description: '=HYPERLINK("http://example.com","x")',
      },
      {
        ...base,
        orderNumber: 1002,
        debit: 1500,
        credit: 0,
        description: 'Line one\nline two, "quoted"',
      },
      { ...base, orderNumber: 3, debit: 1, credit: 0, description: '-2+3' },
      { ...base, orderNumber: 4, debit: 1, credit: 0, description: '@SUM(A1)' },
      { ...base, orderNumber: 5, debit: 1, credit: 0, description: '+1' },
    ]);
    const prefix = '2026-05-31,7,0190a0a0-0000-7000-8000-000000000007,REFUND';
    expect(csv).toBe(
      'date,entry_number,entry_id,kind,order_number,account_code,account_name,debit,credit,currency,description\r\n' +
        `${prefix},,1010,Cash on hand,,1500,JPY,"'=HYPERLINK(""http://example.com"",""x"")"\r\n` +
        `${prefix},1002,1010,Cash on hand,1500,,JPY,"Line one\nline two, ""quoted"""\r\n` +
        `${prefix},3,1010,Cash on hand,1,,JPY,'-2+3\r\n` +
        `${prefix},4,1010,Cash on hand,1,,JPY,'@SUM(A1)\r\n` +
        `${prefix},5,1010,Cash on hand,1,,JPY,'+1\r\n`,
    );
  });

  test('provider name cannot inject a formula', async () => {
    const { order, payment } = await createOrderWithPayment(
      db,
      { subtotal: 1_000 },
      'CARD',
      '=cmd|calc',
    );
    await captureInFull(db, order, payment.id, {
      feeAmount: 59,
      occurredAt: new Date('2026-06-15T08:00:00Z'),
    });
    const result = await asAdmin(
      'query { ledgerExport(from: "2026-06-15", to: "2026-06-16") { csv entryCount } }',
    );
    expect(result.data!.ledgerExport.entryCount).toBe(2);
    expect(result.data!.ledgerExport.csv).toContain(
      `,USD,'=cmd|calc fee for order #${order.number}\r\n`,
    );
  });
});

describe('ledger entries', () => {
  const document = `query ($from: String!, $to: String!, $first: Int, $after: String) {
    ledgerEntries(from: $from, to: $to, first: $first, after: $after) {
      edges { cursor node { id } }
      nodes {
        id number kind description occurredAt
        order { id number }
        lines { account { code name } debit { amount currencyCode } credit { amount } }
      }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }`;
  const period = { from: '2026-07-01', to: '2026-08-01' };
  let orders: OrderRow[] = [];

  beforeAll(async () => {
    // Six captures on six days, each with its fee entry at the same
    // instant (ties broken by number), and a refund on the third day.
    for (let index = 0; index < 6; index += 1) {
      const { order, payment } = await createOrderWithPayment(db, {
        subtotal: 1_000 + index,
        tax: 80,
      });
      await captureInFull(db, order, payment.id, {
        feeAmount: 30 + index,
        occurredAt: new Date(`2026-07-0${index + 1}T10:00:00.000Z`),
      });
      orders.push(order);
    }
    await refundPayment(db, orders[0]!, (await paymentOf(orders[0]!)).id, 500, {
      occurredAt: new Date('2026-07-03T10:00:00.000Z'),
    });
  });

  async function paymentOf(order: OrderRow): Promise<PaymentRow> {
    const [payment] = await db
      .select()
      .from(tables.payments)
      .where(eq(tables.payments.orderId, order.id));
    return payment!;
  }

  async function allPages(first: number) {
    const pages: GraphQLResponse[] = [];
    let after: string | null = null;
    for (;;) {
      const result = await asAdmin(document, { ...period, first, after });
      expect(result.errors).toBeUndefined();
      pages.push(result);
      const connection = result.data!.ledgerEntries;
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor;
    }
    return pages;
  }

  test('pages follow occurred_at then number', async () => {
    const expected = await db.execute<{ id: string }>(sql`
      select id from journal_entries
      where occurred_at >= '2026-07-01' and occurred_at < '2026-08-01'
      order by occurred_at, number
    `);
    expect(expected).toHaveLength(13);
    const pages = await allPages(4);
    expect(pages).toHaveLength(4);
    const ids = pages.flatMap((page) =>
      page.data!.ledgerEntries.nodes.map((node: { id: string }) => node.id),
    );
    expect(ids).toEqual(expected.map((row) => row.id));
    expect(pages[0]!.data!.ledgerEntries.pageInfo.hasPreviousPage).toBe(false);
    expect(pages[1]!.data!.ledgerEntries.pageInfo.hasPreviousPage).toBe(true);
  });

  test('refund sorts between captures by time', async () => {
    const [page] = await allPages(250);
    const kinds = page!.data!.ledgerEntries.nodes.map(
      (node: { kind: string; order: { number: number } }) =>
        `${node.kind}:${node.order.number}`,
    );
    const [first, second, third] = orders;
    expect(kinds.slice(0, 7)).toEqual([
      `CAPTURE:${first!.number}`,
      `PROVIDER_FEE:${first!.number}`,
      `CAPTURE:${second!.number}`,
      `PROVIDER_FEE:${second!.number}`,
      `CAPTURE:${third!.number}`,
      `PROVIDER_FEE:${third!.number}`,
      `REFUND:${first!.number}`,
    ]);
  });

  test('entry fields and lines', async () => {
    const result = await asAdmin(document, { ...period, first: 1 });
    const [entry] = result.data!.ledgerEntries.nodes;
    expect(entry).toEqual({
      id: expect.any(String),
      number: expect.any(Number),
      kind: 'CAPTURE',
      description: `Payment captured for order #${orders[0]!.number}`,
      occurredAt: '2026-07-01T10:00:00.000Z',
      order: { id: orders[0]!.id, number: orders[0]!.number },
      lines: [
        {
          account: { code: '1000', name: 'Payment provider clearing' },
          debit: { amount: '10.80', currencyCode: 'USD' },
          credit: { amount: '0.00' },
        },
        {
          account: { code: '2100', name: 'Sales tax payable' },
          debit: { amount: '0.00', currencyCode: 'USD' },
          credit: { amount: '0.80' },
        },
        {
          account: { code: '4000', name: 'Sales' },
          debit: { amount: '0.00', currencyCode: 'USD' },
          credit: { amount: '10.00' },
        },
      ],
    });
  });

  test('statement count is the same for any page size', async () => {
    const queries = stack.subgraphs.orders.database.queries;
    const counts: number[] = [];
    for (const first of [2, 13]) {
      // Background work of the orders service (its event consumer, the
      // reconciliation pass) may run a statement during one request, so
      // the smallest count of three requests is the request's own.
      let fewest = Infinity;
      for (let run = 0; run < 3; run += 1) {
        queries.reset();
        const result = await asAdmin(document, { ...period, first });
        expect(result.errors).toBeUndefined();
        fewest = Math.min(fewest, queries.count);
      }
      counts.push(fewest);
    }
    // The page, the lines of its entries, and their orders.
    expect(counts).toEqual([3, 3]);
  });

  test('invalid cursor is rejected', async () => {
    const result = await asAdmin(document, {
      ...period,
      after: 'bm90LWEtY3Vyc29y',
    });
    expect(result.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors![0]!.message).toContain('Invalid after cursor');
  });

  test('cursor of another kind is rejected', async () => {
    const after = Buffer.from('k:abc').toString('base64url');
    const result = await asAdmin(document, { ...period, after });
    expect(result.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('authorization', () => {
  const document =
    'query { trialBalance(from: "2026-03-01", to: "2026-04-01") { balanced } }';

  test('partner without read_accounting is forbidden', async () => {
    const result = await queryAs(partner(['read_orders']), document);
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.path).toEqual(['trialBalance']);
    expect(result.errors![0]!.extensions?.code).toBe('FORBIDDEN');
  });

  test.each(['ledgerEntries', 'ledgerExport'])(
    '%s without read_accounting is forbidden',
    async (field) => {
      const selection =
        field === 'ledgerEntries' ? '{ nodes { id } }' : '{ csv }';
      const result = await queryAs(
        partner(['read_orders', 'read_customers']),
        `query { ${field}(from: "2026-03-01", to: "2026-04-01") ${selection} }`,
      );
      expect(result.errors![0]!.path).toEqual([field]);
      expect(result.errors![0]!.extensions?.code).toBe('FORBIDDEN');
    },
  );

  test('partner with read_accounting reads', async () => {
    const result = await queryAs(partner(['read_accounting']), document);
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ trialBalance: { balanced: true } });
  });

  test('support staff reads', async () => {
    const result = await stack.query(
      document,
      undefined,
      await stack.staffHeaders('support'),
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ trialBalance: { balanced: true } });
  });

  test('subgraph checks the permission itself', async () => {
    const result = await stack.querySubgraph('orders', document, undefined, {
      kind: 'partner',
      subject: '00000000-0000-7000-8000-00000000000d',
      scopes: ['read_orders'],
      roles: [],
    });
    expect(result.errors![0]!.extensions?.code).toBe('FORBIDDEN');
    expect(result.data).toBeNull();
  });
});
