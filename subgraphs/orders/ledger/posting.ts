import { sql } from 'drizzle-orm';
import type { Database } from '../../../platform/database.js';
import { uuidv7 } from '../../../platform/ids.js';
import * as tables from '../db/tables.js';
import type { OrderRow, PaymentRow, RefundRow } from '../db/tables.js';

type OrdersDatabase = Database<typeof tables>;
/** Transaction of the orders database. Every posting runs inside the transaction of the change it records. */
export type OrdersTransaction = Parameters<
  Parameters<OrdersDatabase['transaction']>[0]
>[0];

/** Account numbers of the chart the orders migration creates. */
export const ACCOUNTS = {
  providerClearing: '1000',
  cashOnHand: '1010',
  bank: '1020',
  marketplaceReceivable: '1100',
  salesTaxPayable: '2100',
  sales: '4000',
  shippingIncome: '4010',
  salesRefunds: '4900',
  processingFees: '6100',
} as const;

export type JournalKind =
  | 'CAPTURE'
  | 'REFUND'
  | 'PROVIDER_FEE'
  | 'CASH_COLLECTION'
  | 'BANK_TRANSFER'
  | 'MARKETPLACE_SALE';

interface LineDraft {
  accountCode: string;
  debit: number;
  credit: number;
}

/**
 * Returns the asset account that receives a payment's money: the
 * provider's clearing account for cards, the till for cash on delivery,
 * the bank for transfers, and the marketplace receivable for money a
 * marketplace collected.
 */
export function assetAccountOf(payment: Pick<PaymentRow, 'method'>): string {
  switch (payment.method) {
    case 'CARD':
      return ACCOUNTS.providerClearing;
    case 'CASH_ON_DELIVERY':
      return ACCOUNTS.cashOnHand;
    case 'BANK_TRANSFER':
      return ACCOUNTS.bank;
    case 'MARKETPLACE':
      return ACCOUNTS.marketplaceReceivable;
  }
}

/**
 * Computes `amount × share / whole`, rounded half up, in exact BigInt
 * arithmetic because the product of two amounts can exceed 2^53.
 */
export function proportion(
  amount: number,
  share: number,
  whole: number,
): number {
  if (whole === 0) return 0;
  const numerator = 2n * BigInt(amount) * BigInt(share) + BigInt(whole);
  return Number(numerator / (2n * BigInt(whole)));
}

/**
 * Splits money paid or refunded on an order into its sales, shipping and
 * tax parts, in the proportions of the order's totals. The parts sum to
 * `amount` exactly, and sales takes the rounding remainder. Tax and shipping
 * are each rounded half up, so for a tiny amount together they may exceed
 * `amount`. The excess is then taken back from shipping, then from tax.
 * Every part stays between 0 and `amount` unless the order's own sales
 * share is negative, as with a discount larger than the subtotal.
 */
export function splitByOrderTotals(
  order: Pick<OrderRow, 'totalAmount' | 'shippingAmount' | 'taxAmount'>,
  amount: number,
): { sales: number; shipping: number; tax: number } {
  if (order.totalAmount === 0 || amount === 0) {
    return { sales: amount, shipping: 0, tax: 0 };
  }
  let tax = proportion(amount, order.taxAmount, order.totalAmount);
  let shipping = proportion(amount, order.shippingAmount, order.totalAmount);
  const salesShare = order.totalAmount - order.taxAmount - order.shippingAmount;
  let excess = tax + shipping - amount;
  if (salesShare >= 0 && excess > 0) {
    const fromShipping = Math.min(excess, shipping);
    shipping -= fromShipping;
    excess -= fromShipping;
    tax -= excess;
  }
  return { sales: amount - tax - shipping, shipping, tax };
}

function assertAmount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Invalid ${name} ${value}: use a whole number of minor units, 0 or more.`,
    );
  }
}

/**
 * Writes one balanced entry unless an entry with `sourceKey` exists, and
 * returns whether it wrote one. Each line is reduced to its net side,
 * lines of 0 are left out, and an entry whose lines are all 0 is not
 * written.
 */
async function postEntry(
  transaction: OrdersTransaction,
  entry: {
    kind: JournalKind;
    sourceKey: string;
    order: Pick<OrderRow, 'id' | 'number' | 'currencyCode'>;
    paymentId: string | null;
    refundId: string | null;
    description: string;
    occurredAt?: Date;
    lines: LineDraft[];
  },
): Promise<boolean> {
  // A negative part belongs on the other side. For example, an order whose
  // discount exceeds its subtotal has a negative sales share.
  const lines = entry.lines
    .map((line) => {
      const net = line.debit - line.credit;
      return {
        accountCode: line.accountCode,
        debit: Math.max(net, 0),
        credit: Math.max(-net, 0),
      };
    })
    .filter((line) => line.debit > 0 || line.credit > 0);
  if (lines.length === 0) return false;

  const debits = lines.reduce((sum, line) => sum + line.debit, 0);
  const credits = lines.reduce((sum, line) => sum + line.credit, 0);
  if (debits !== credits) {
    // The database also rejects it at commit, but failing here names the
    // posting instead of the anonymous entry id.
    throw new Error(
      `${entry.kind} entry ${entry.sourceKey} is unbalanced: debits ${debits}, credits ${credits}. Check the amounts of its lines.`,
    );
  }

  const id = uuidv7();
  const inserted = await transaction
    .insert(tables.journalEntries)
    .values({
      id,
      kind: entry.kind,
      sourceKey: entry.sourceKey,
      orderId: entry.order.id,
      paymentId: entry.paymentId,
      refundId: entry.refundId,
      currencyCode: entry.order.currencyCode,
      description: entry.description,
      occurredAt: entry.occurredAt ?? sql`now()`,
    })
    .onConflictDoNothing({ target: tables.journalEntries.sourceKey })
    .returning({ id: tables.journalEntries.id });
  if (inserted.length === 0) return false;

  await transaction.insert(tables.journalLines).values(
    lines.map((line) => ({
      id: uuidv7(),
      entryId: id,
      accountCode: line.accountCode,
      debit: line.debit,
      credit: line.credit,
    })),
  );
  return true;
}

/** Builds the lines that record `amount` received for an order: a debit to the asset and a credit to each part. */
function receiptLines(
  order: OrderRow,
  assetAccount: string,
  amount: number,
): LineDraft[] {
  const parts = splitByOrderTotals(order, amount);
  return [
    { accountCode: assetAccount, debit: amount, credit: 0 },
    { accountCode: ACCOUNTS.sales, debit: 0, credit: parts.sales },
    { accountCode: ACCOUNTS.shippingIncome, debit: 0, credit: parts.shipping },
    { accountCode: ACCOUNTS.salesTaxPayable, debit: 0, credit: parts.tax },
  ];
}

/**
 * Posts a capture of `amount` on a card payment and, when `feeAmount` is
 * above 0, the provider's fee as its own entry. `reference` identifies
 * this capture among the payment's captures (the provider's capture or
 * charge id, or a sequence number), so reporting the same capture twice
 * posts it once.
 */
export async function postCapture(
  transaction: OrdersTransaction,
  capture: {
    order: OrderRow;
    payment: PaymentRow;
    amount: number;
    feeAmount: number;
    reference: string;
    occurredAt?: Date;
  },
): Promise<void> {
  const { order, payment, amount, feeAmount, reference } = capture;
  assertAmount('Capture amount', amount);
  assertAmount('Fee amount', feeAmount);
  await postEntry(transaction, {
    kind: 'CAPTURE',
    sourceKey: `capture:${payment.id}:${reference}`,
    order,
    paymentId: payment.id,
    refundId: null,
    description: `Payment captured for order #${order.number}`,
    occurredAt: capture.occurredAt,
    lines: receiptLines(order, assetAccountOf(payment), amount),
  });
  await postEntry(transaction, {
    kind: 'PROVIDER_FEE',
    sourceKey: `fee:${payment.id}:${reference}`,
    order,
    paymentId: payment.id,
    refundId: null,
    description: `${payment.provider} fee for order #${order.number}`,
    occurredAt: capture.occurredAt,
    lines: [
      { accountCode: ACCOUNTS.processingFees, debit: feeAmount, credit: 0 },
      {
        accountCode: ACCOUNTS.providerClearing,
        debit: 0,
        credit: feeAmount,
      },
    ],
  });
}

/**
 * Posts money received outside a card provider: cash collected on
 * delivery or a bank transfer that arrived.
 */
export async function postManualReceipt(
  transaction: OrdersTransaction,
  receipt: {
    order: OrderRow;
    payment: PaymentRow;
    amount: number;
    reference: string;
    occurredAt?: Date;
  },
): Promise<void> {
  const { order, payment, amount } = receipt;
  assertAmount('Receipt amount', amount);
  const kind: JournalKind =
    payment.method === 'CASH_ON_DELIVERY' ? 'CASH_COLLECTION' : 'BANK_TRANSFER';
  await postEntry(transaction, {
    kind,
    sourceKey: `receipt:${payment.id}:${receipt.reference}`,
    order,
    paymentId: payment.id,
    refundId: null,
    description:
      kind === 'CASH_COLLECTION'
        ? `Cash collected on delivery for order #${order.number}`
        : `Bank transfer received for order #${order.number}`,
    occurredAt: receipt.occurredAt,
    lines: receiptLines(order, assetAccountOf(payment), amount),
  });
}

/**
 * Posts the sale of an order imported from a marketplace: the marketplace
 * collected `amount` from the buyer and owes it to the shop, so 1100
 * Marketplace receivable is debited and sales, shipping and tax are
 * credited as for a capture. `reference` is the marketplace's order id,
 * and the entry is posted once per payment.
 */
export async function postMarketplaceSale(
  transaction: OrdersTransaction,
  sale: {
    order: OrderRow;
    payment: PaymentRow;
    amount: number;
    reference: string;
    occurredAt?: Date;
  },
): Promise<void> {
  const { order, payment, amount } = sale;
  assertAmount('Marketplace sale amount', amount);
  await postEntry(transaction, {
    kind: 'MARKETPLACE_SALE',
    sourceKey: `marketplace:${payment.id}`,
    order,
    paymentId: payment.id,
    refundId: null,
    description: `Marketplace order ${sale.reference} sold as order #${order.number}`,
    occurredAt: sale.occurredAt,
    lines: receiptLines(order, ACCOUNTS.marketplaceReceivable, amount),
  });
}

/** Journal kinds of the entries that record money received for an order. */
const RECEIPT_KINDS: JournalKind[] = [
  'CAPTURE',
  'CASH_COLLECTION',
  'BANK_TRANSFER',
  'MARKETPLACE_SALE',
];

/**
 * Sums what the journal already records for a payment: money received and
 * its tax part, money refunded and its tax part. Entries written earlier
 * in the same transaction are included.
 */
async function postedTotalsOfPayment(
  transaction: OrdersTransaction,
  paymentId: string,
): Promise<{
  received: number;
  receivedTax: number;
  refunded: number;
  refundedTax: number;
}> {
  const receipt = sql.join(
    RECEIPT_KINDS.map((kind) => sql`${kind}`),
    sql`, `,
  );
  const rows = await transaction.execute<Record<string, string>>(sql`
    select
      coalesce(sum(case when e.kind in (${receipt})
        and l.account_code in (${ACCOUNTS.sales}, ${ACCOUNTS.shippingIncome}, ${ACCOUNTS.salesTaxPayable})
        then l.credit - l.debit end), 0)::text as received,
      coalesce(sum(case when e.kind in (${receipt})
        and l.account_code = ${ACCOUNTS.salesTaxPayable}
        then l.credit - l.debit end), 0)::text as received_tax,
      coalesce(sum(case when e.kind = 'REFUND'
        and l.account_code in (${ACCOUNTS.salesRefunds}, ${ACCOUNTS.salesTaxPayable})
        then l.debit - l.credit end), 0)::text as refunded,
      coalesce(sum(case when e.kind = 'REFUND'
        and l.account_code = ${ACCOUNTS.salesTaxPayable}
        then l.debit - l.credit end), 0)::text as refunded_tax
    from journal_lines l
    join journal_entries e on e.id = l.entry_id
    where e.payment_id = ${paymentId}
  `);
  const row = rows[0]!;
  return {
    received: Number(row.received),
    receivedTax: Number(row.received_tax),
    refunded: Number(row.refunded),
    refundedTax: Number(row.refunded_tax),
  };
}

/**
 * Computes the tax part of refunding `amount` on a payment. Refunds
 * reverse what the payment's receipts posted. After refunds totalling R
 * of received C with tax part T, the tax refunded so far is T × R / C
 * rounded half up. So a payment refunded in full, in any number of steps,
 * leaves exactly 0 on sales tax payable. A payment without posted
 * receipts falls back to the order's proportions.
 */
async function refundTaxPart(
  transaction: OrdersTransaction,
  order: OrderRow,
  paymentId: string,
  amount: number,
): Promise<number> {
  const posted = await postedTotalsOfPayment(transaction, paymentId);
  if (posted.received <= 0) {
    return splitByOrderTotals(order, amount).tax;
  }
  const refundedAfter = Math.min(posted.refunded + amount, posted.received);
  const taxAfter = proportion(
    refundedAfter,
    posted.receivedTax,
    posted.received,
  );
  return Math.min(Math.max(taxAfter - posted.refundedTax, 0), amount);
}

/**
 * Posts a refund that succeeded: the tax part back off tax payable, the
 * rest (sales and shipping) to sales refunds, paid out of the account the
 * payment came into. Posted once per refund. Concurrent refunds of one
 * payment must be serialized by the caller, such as by locking the
 * payment row, because the tax part depends on the refunds before it.
 */
export async function postRefund(
  transaction: OrdersTransaction,
  posting: {
    order: OrderRow;
    payment: PaymentRow;
    refund: RefundRow;
    occurredAt?: Date;
  },
): Promise<void> {
  const { order, payment, refund } = posting;
  assertAmount('Refund amount', refund.amount);
  const tax = await refundTaxPart(
    transaction,
    order,
    payment.id,
    refund.amount,
  );
  await postEntry(transaction, {
    kind: 'REFUND',
    sourceKey: `refund:${refund.id}`,
    order,
    paymentId: payment.id,
    refundId: refund.id,
    description: `Refund for order #${order.number}`,
    occurredAt: posting.occurredAt,
    lines: [
      {
        accountCode: ACCOUNTS.salesRefunds,
        debit: refund.amount - tax,
        credit: 0,
      },
      { accountCode: ACCOUNTS.salesTaxPayable, debit: tax, credit: 0 },
      {
        accountCode: assetAccountOf(payment),
        debit: 0,
        credit: refund.amount,
      },
    ],
  });
}
