import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Config } from '../platform/config.js';
import type { Database } from '../platform/database.js';
import { parseDecimalToMinorUnits } from '../platform/money.js';
import type { RunningSubgraph } from '../platform/subgraph-service.js';
import * as tables from '../subgraphs/orders/db/tables.js';
import type { OrderRow, PaymentRow } from '../subgraphs/orders/db/tables.js';
import { postCapture } from '../subgraphs/orders/ledger/posting.js';
import { ordersSubgraph } from '../subgraphs/orders/service.js';
import { createTestConfig, dropTestDatabases } from './support/config.js';
import {
  cancelUnpaid,
  captureInFull,
  createOrderWithPayment,
  refundPayment,
} from './support/ledger-flows.js';
import { querySubgraph, startTestSubgraph } from './support/subgraph.js';

// A seeded random sequence of orders, captures, fees, refunds and
// cancellations, driven through the posting functions in real
// transactions, after which the ledger must agree with the payments.
// Set LEDGER_SEED to replay a sequence; failures name the seed.

const SEED = Number(process.env.LEDGER_SEED ?? 20_261_101);
const STEPS = 200;
/** Entries are dated one minute apart from here, so one period covers them. */
const START = Date.UTC(2026, 0, 1);

/** mulberry32: a small seeded generator, uniform over [0, 1). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface ModelOrder {
  order: OrderRow;
  payment: PaymentRow;
  captured: number;
  refunded: number;
  fee: number;
  refundCount: number;
  cancelled: boolean;
}

let config: Config;
let running: RunningSubgraph<typeof tables>;
let db: Database<typeof tables>;

beforeAll(async () => {
  config = createTestConfig();
  running = await startTestSubgraph(ordersSubgraph, config);
  db = running.database.db;
});

afterAll(async () => {
  await running?.close();
  if (config) await dropTestDatabases(config);
});

async function runSequence(random: () => number): Promise<ModelOrder[]> {
  const integer = (min: number, max: number) =>
    min + Math.floor(random() * (max - min + 1));
  const pick = <T>(items: T[]): T | undefined =>
    items.length === 0 ? undefined : items[integer(0, items.length - 1)];
  const methods: PaymentRow['method'][] = [
    'CARD',
    'CARD',
    'CARD',
    'CASH_ON_DELIVERY',
    'BANK_TRANSFER',
  ];
  const orders: ModelOrder[] = [];

  for (let step = 0; step < STEPS; step += 1) {
    const occurredAt = new Date(START + step * 60_000);
    const roll = random();
    const unpaid = orders.filter((o) => !o.cancelled && o.captured === 0);
    const refundable = orders.filter((o) => o.captured > o.refunded);

    if (roll < 0.3 || orders.length === 0) {
      const subtotal = integer(0, 50_000);
      const discount = random() < 0.3 ? integer(0, subtotal) : 0;
      const shipping = random() < 0.7 ? integer(0, 2_500) : 0;
      const taxBase = subtotal - discount + shipping;
      const tax = random() < 0.8 ? integer(0, Math.floor(taxBase / 4)) : 0;
      const method = pick(methods)!;
      const created = await createOrderWithPayment(
        db,
        { subtotal, discount, shipping, tax },
        method,
      );
      orders.push({
        ...created,
        captured: 0,
        refunded: 0,
        fee: 0,
        refundCount: 0,
        cancelled: false,
      });
    } else if (roll < 0.55 && unpaid.length > 0) {
      const target = pick(unpaid)!;
      const amount = target.payment.amount;
      const fee =
        target.payment.method === 'CARD' && amount > 0
          ? Math.min(amount, Math.floor((amount * 29) / 1000) + 30)
          : 0;
      await captureInFull(db, target.order, target.payment.id, {
        feeAmount: fee,
        reference: `capture-${step}`,
        occurredAt,
      });
      target.captured = amount;
      target.fee = fee;
      if (target.payment.method === 'CARD' && random() < 0.3) {
        // The provider reports the same capture again, as a webhook
        // arriving after the provider's direct response does.
        await db.transaction((transaction) =>
          postCapture(transaction, {
            order: target.order,
            payment: target.payment,
            amount,
            feeAmount: fee,
            reference: `capture-${step}`,
            occurredAt,
          }),
        );
      }
    } else if (roll < 0.75 && refundable.length > 0) {
      const target = pick(refundable)!;
      const remaining = target.captured - target.refunded;
      // Small refunds too, because the rounding of many small tax parts
      // is what could leave a residue on tax payable.
      const size = random();
      const amount =
        size < 0.3
          ? remaining
          : size < 0.6
            ? integer(1, Math.min(remaining, 50))
            : integer(1, remaining);
      await refundPayment(db, target.order, target.payment.id, amount, {
        occurredAt,
      });
      target.refunded += amount;
      target.refundCount += 1;
    } else if (roll < 0.85 && unpaid.length > 0) {
      const target = pick(unpaid)!;
      await cancelUnpaid(db, target.order, target.payment.id);
      target.cancelled = true;
    } else if (refundable.length > 0) {
      // Cancelling a paid order refunds what is left of it.
      const target = pick(refundable)!;
      const remaining = target.captured - target.refunded;
      await refundPayment(db, target.order, target.payment.id, remaining, {
        occurredAt,
        reason: 'cancelled',
      });
      target.refunded += remaining;
      target.refundCount += 1;
      target.cancelled = true;
    }
  }
  return orders;
}

interface BalanceLine {
  account: { code: string };
  debit: { amount: string };
  credit: { amount: string };
}

function minor(amount: string): number {
  const parsed = parseDecimalToMinorUnits(amount, 'USD');
  if ('error' in parsed) throw new Error(parsed.error);
  return parsed.minor;
}

test(`random sequence of ${STEPS} steps keeps the ledger balanced`, async () => {
  const context = `LEDGER_SEED=${SEED}`;
  const orders = await runSequence(seededRandom(SEED));

  const response = await querySubgraph(
    running,
    config,
    `query { trialBalance(from: "2026-01-01", to: "2026-01-02") {
      balanced
      totalDebit { amount } totalCredit { amount }
      lines { account { code } debit { amount } credit { amount } }
    } }`,
  );
  expect(response.errors, context).toBeUndefined();
  const balance = response.data!.trialBalance;
  const accounts = new Map<string, { debit: number; credit: number }>(
    balance.lines.map((line: BalanceLine) => [
      line.account.code,
      { debit: minor(line.debit.amount), credit: minor(line.credit.amount) },
    ]),
  );
  const debitOf = (code: string) => accounts.get(code)?.debit ?? 0;
  const creditOf = (code: string) => accounts.get(code)?.credit ?? 0;
  const balanceOf = (code: string) => debitOf(code) - creditOf(code);
  const sum = (items: ModelOrder[], value: (o: ModelOrder) => number) =>
    items.reduce((total, item) => total + value(item), 0);
  const net = (o: ModelOrder) => o.captured - o.refunded;

  expect(balance.balanced, context).toBe(true);
  expect(balance.totalDebit.amount, context).toBe(balance.totalCredit.amount);

  // Sales, shipping and tax received, less refunds, is the money kept.
  const kept =
    creditOf('4000') +
    creditOf('4010') +
    creditOf('2100') -
    debitOf('4900') -
    debitOf('2100');
  expect(kept, context).toBe(sum(orders, net));

  const byMethod = (method: PaymentRow['method']) =>
    orders.filter((o) => o.payment.method === method);
  const cards = byMethod('CARD');
  expect(balanceOf('1000'), context).toBe(sum(cards, (o) => net(o) - o.fee));
  expect(balanceOf('1010'), context).toBe(
    sum(byMethod('CASH_ON_DELIVERY'), net),
  );
  expect(balanceOf('1020'), context).toBe(sum(byMethod('BANK_TRANSFER'), net));
  expect(balanceOf('6100'), context).toBe(sum(orders, (o) => o.fee));

  // Every entry has two lines or more, and equal debits and credits.
  const unbalanced = await db.execute(sql`
    select e.id from journal_entries e
    left join journal_lines l on l.entry_id = e.id
    group by e.id
    having count(l.id) < 2 or sum(l.debit) <> sum(l.credit)
  `);
  expect(unbalanced, context).toHaveLength(0);

  // One entry per capture, per fee above 0 and per refund, whatever was
  // reported twice.
  const [counts] = await db.execute<Record<string, string>>(sql`
    select
      count(*) filter (where kind = 'CAPTURE')::text as captures,
      count(*) filter (where kind in ('CASH_COLLECTION', 'BANK_TRANSFER'))::text as receipts,
      count(*) filter (where kind = 'PROVIDER_FEE')::text as fees,
      count(*) filter (where kind = 'REFUND')::text as refunds
    from journal_entries
  `);
  expect(counts, context).toEqual({
    captures: String(cards.filter((o) => o.captured > 0).length),
    receipts: String(
      orders.filter((o) => o.payment.method !== 'CARD' && o.captured > 0)
        .length,
    ),
    fees: String(cards.filter((o) => o.fee > 0).length),
    refunds: String(sum(orders, (o) => o.refundCount)),
  });

  // A payment refunded in full leaves nothing on revenue or tax.
  const fullyRefunded = orders
    .filter((o) => o.captured > 0 && o.refunded === o.captured)
    .map((o) => o.payment.id);
  expect(fullyRefunded.length, context).toBeGreaterThan(0);
  const residues = await db.execute<{ payment_id: string; net: string }>(sql`
    select e.payment_id, sum(l.credit - l.debit)::text as net
    from journal_lines l join journal_entries e on e.id = l.entry_id
    where l.account_code in ('4000', '4010', '4900', '2100')
      and e.payment_id in ${fullyRefunded}
    group by e.payment_id, l.account_code = '2100'
    having sum(l.credit - l.debit) <> 0
  `);
  expect(residues, context).toEqual([]);

  // Orders cancelled before payment posted nothing.
  const cancelledUnpaid = orders
    .filter((o) => o.cancelled && o.captured === 0)
    .map((o) => o.order.id);
  if (cancelledUnpaid.length > 0) {
    const posted = await db.execute(sql`
      select id from journal_entries where order_id in ${cancelledUnpaid}
    `);
    expect(posted, context).toHaveLength(0);
  }
});
