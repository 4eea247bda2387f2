import { randomUUID } from 'node:crypto';
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { serviceDatabaseUrl } from '../platform/database.js';
import { createLogger } from '../platform/logger.js';
import { startSubgraph } from '../platform/subgraph-service.js';
import { subgraphDefinitions } from '../subgraphs/index.js';
import { complete, createProduct, readyCheckout } from './support/checkout.js';
import {
  startTestStack,
  type GraphQLResponse,
  type TestStack,
} from './support/stack.js';

// Runs a seeded random sequence of checkouts and staff order actions
// against the real gateway over HTTP. Afterwards the ledger, read back
// through the gateway, must balance and agree with the orders' payments.
// The test keeps its own model of every order and computes the expected
// postings from the rules in docs/ledger.md, not from the product's code.
// Set LEDGER_GATEWAY_SEED to replay a sequence, and failure messages
// include the seed.

const SEED = Number(process.env.LEDGER_GATEWAY_SEED ?? 13);
const STEPS = 56;

const SETTINGS = {
  PAYMENT_PROVIDER: 'sandbox',
  PAYMENT_CAPTURE: 'automatic',
  CHECKOUT_TAX_RATE_PERCENT: '8.25',
  SHIPPING_FLAT_RATE: '4.99',
  CHECKOUT_RECONCILE_INTERVAL_MS: '0',
} as const;
/** Tax rate of 8.25 % as a fraction. */
const TAX_RATE = { numerator: 825, denominator: 10_000 };
/** Flat shipping rate in cents. */
const SHIPPING = 499;

const PRODUCTS = [
  { sku: 'seq-mug', price: 1_250, ships: true },
  { sku: 'seq-poster', price: 725, ships: true },
  { sku: 'seq-lamp', price: 6_000, ships: true },
  { sku: 'seq-sticker', price: 99, ships: true },
  { sku: 'seq-ebook', price: 999, ships: false },
];

type Method = 'CARD' | 'BANK_TRANSFER' | 'CASH_ON_DELIVERY';
type Status =
  | 'PENDING'
  | 'AUTHORIZED'
  | 'PAID'
  | 'PARTIALLY_REFUNDED'
  | 'REFUNDED'
  | 'CANCELLED';

/** Allowed next financial statuses of each status, as the error messages list them. */
const NEXT: Record<Status, string> = {
  PENDING: 'AUTHORIZED or PAID or CANCELLED',
  AUTHORIZED: 'PAID or CANCELLED',
  PAID: 'PARTIALLY_REFUNDED or REFUNDED',
  PARTIALLY_REFUNDED: 'PARTIALLY_REFUNDED or REFUNDED',
  REFUNDED: 'nothing else',
  CANCELLED: 'nothing else',
};

/** Expected state of one order placed through the gateway. */
interface ModelOrder {
  id: string;
  number: number;
  method: Method;
  subtotal: number;
  shipping: number;
  tax: number;
  total: number;
  status: Status;
  paymentStatus: string;
  captured: number;
  fee: number;
  refunds: number[];
}

const refundedOf = (order: ModelOrder) =>
  order.refunds.reduce((sum, amount) => sum + amount, 0);

/** Returns a mulberry32 generator: a small seeded PRNG, uniform over [0, 1). */
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

/** Returns `amount × share / whole` rounded half up, for non-negative integers. */
function roundedShare(amount: number, share: number, whole: number): number {
  return Math.floor((2 * amount * share + whole) / (2 * whole));
}

/** Returns the sandbox provider's fee in cents: 2.9 % rounded half up, plus 30. */
function sandboxFee(amount: number): number {
  return roundedShare(amount, 29, 1000) + 30;
}

/** Parses a USD Money amount, which has two decimals, into cents: "12.34" → 1234. */
function cents(amount: string): number {
  const match = /^(-?)(\d+)\.(\d{2})$/.exec(amount);
  if (!match)
    throw new Error(
      `Invalid USD amount "${amount}": expected digits with two decimals, such as "12.34".`,
    );
  const value = Number(match[2]) * 100 + Number(match[3]);
  return match[1] ? -value : value;
}

/** Formats cents as a decimal amount: 1234 → "12.34". */
function decimal(minor: number): string {
  return `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, '0')}`;
}

const usd = (minor: number) => `${decimal(minor)} USD`;

function invalidTransition(
  order: ModelOrder,
  to: Status,
  hint: string,
): string {
  const from = order.status;
  return `Order #${order.number}: An order that is ${from} cannot become ${to}; from ${from} it can become ${NEXT[from]}. ${hint}`;
}

const ORDER_FIELDS = `id number financialStatus
  payments { method provider status amount { amount } capturedAmount { amount } refundedAmount { amount } }
  refunds { amount { amount } status }`;
const PAYLOAD = `order { ${ORDER_FIELDS} } userErrors { field message code }`;
const CAPTURE = `mutation ($input: OrderCaptureInput!) { orderCapture(input: $input) { ${PAYLOAD} } }`;
const CANCEL = `mutation ($input: OrderCancelInput!) { orderCancel(input: $input) { ${PAYLOAD} } }`;
const REFUND = `mutation ($input: OrderRefundInput!) { orderRefund(input: $input) { ${PAYLOAD} } }`;
const MARK_PAID = `mutation ($input: OrderMarkPaidInput!) { orderMarkPaid(input: $input) { ${PAYLOAD} } }`;
const ORDER = `query ($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`;
const TRIAL_BALANCE = `query ($from: String!, $to: String!) {
  trialBalance(from: $from, to: $to) {
    lines { account { code } debit { amount } credit { amount } balance { amount } }
    totalDebit { amount } totalCredit { amount } balanced
  }
}`;
const LEDGER_ENTRIES = `query ($from: String!, $to: String!, $after: String) {
  ledgerEntries(from: $from, to: $to, first: 20, after: $after) {
    nodes { number kind order { id } lines { account { code } debit { amount } credit { amount } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const LEDGER_EXPORT = `query ($from: String!, $to: String!) {
  ledgerExport(from: $from, to: $to) { csv entryCount }
}`;

let stack: TestStack;
let staff: Record<string, string>;
let captureMode: 'automatic' | 'manual' = SETTINGS.PAYMENT_CAPTURE;

beforeAll(async () => {
  stack = await startTestStack(SETTINGS);
  staff = await stack.staffHeaders('admin');
  for (const product of PRODUCTS) {
    await createProduct(stack, {
      sku: product.sku,
      price: decimal(product.price),
      stock: 1_000,
      requiresShipping: product.ships,
    });
  }
});

afterAll(async () => {
  await stack?.close();
});

/**
 * Restarts the orders service on the same port and database with the other
 * PAYMENT_CAPTURE, as an operator changing the setting would. Orders placed
 * earlier keep their payments. Card orders placed afterwards are only
 * authorized (manual) or captured at checkout (automatic).
 */
async function switchCaptureMode(): Promise<void> {
  captureMode = captureMode === 'automatic' ? 'manual' : 'automatic';
  const previous = stack.subgraphs.orders;
  await previous.close();
  stack.subgraphs.orders = (await startSubgraph(
    subgraphDefinitions.orders as never,
    {
      // stack.config contains the URLs of the stack's other subgraphs.
      config: { ...stack.config, PAYMENT_CAPTURE: captureMode },
      logger: createLogger('test', stack.config.LOG_LEVEL),
      databaseUrl: serviceDatabaseUrl(stack.config, 'orders'),
      host: '127.0.0.1',
      port: previous.port,
    },
  )) as TestStack['subgraphs']['orders'];
}

/** Outcome of a staff mutation: the order payload or the userErrors. */
interface Outcome {
  order: Record<string, any> | null;
  userErrors: Array<{ field: string[]; message: string; code: string }>;
}

/**
 * Runs the random sequence against the gateway, keeps the expected state
 * of every order, and checks each response as it arrives.
 */
class Sequence {
  readonly orders: ModelOrder[] = [];
  /** Kinds of action the run has performed, such as `partial capture`. */
  readonly covered = new Set<string>();
  step = 0;
  private readonly random = seededRandom(SEED);

  integer(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.random() < probability;
  }

  pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0
      ? undefined
      : items[this.integer(0, items.length - 1)];
  }

  /** Returns a copy of `items` in random order (Fisher–Yates shuffle). */
  shuffled<T>(items: readonly T[]): T[] {
    const copy = [...items];
    for (let index = copy.length - 1; index > 0; index -= 1) {
      const other = this.integer(0, index);
      [copy[index], copy[other]] = [copy[other]!, copy[index]!];
    }
    return copy;
  }

  withStatus(...statuses: Status[]): ModelOrder[] {
    return this.orders.filter((order) => statuses.includes(order.status));
  }

  /** Prefixes an assertion message with the seed and step. */
  at(detail: string): string {
    return `seed ${SEED} (LEDGER_GATEWAY_SEED), step ${this.step}: ${detail}`;
  }

  async run(): Promise<string[]> {
    const log: string[] = [];
    // PAYMENT_CAPTURE is automatic, then manual for most of the run,
    // then automatic again, so card orders of both modes mix.
    const switches = new Set([
      this.integer(3, Math.floor(STEPS / 5)),
      this.integer(Math.floor((STEPS * 4) / 5), STEPS - 3),
    ]);
    for (this.step = 0; this.step < STEPS; this.step += 1) {
      let done = '';
      try {
        if (switches.has(this.step)) {
          await switchCaptureMode();
          log.push(`${this.step}: PAYMENT_CAPTURE=${captureMode}`);
        }
        done = await this.randomAction();
      } catch (error) {
        if (error instanceof Error) {
          error.message = `${this.at(log.slice(-3).join(' | '))}\n${error.message}`;
        }
        throw error;
      }
      log.push(`${this.step}: ${done}`);
    }
    return log;
  }

  private async randomAction(): Promise<string> {
    const roll = this.random();
    if (roll < 0.3 || this.orders.length === 0) return this.placeOrder();
    if (roll < 0.43) return this.capture();
    if (roll < 0.58) return this.cancel();
    if (roll < 0.74) return this.refund(false);
    if (roll < 0.82) return this.refund(true);
    return this.markPaid();
  }

  /** Checks an order returned by the gateway against the model. */
  expectOrder(actual: Record<string, any>, model: ModelOrder): void {
    const context = this.at(`order #${model.number}`);
    expect(actual.financialStatus, context).toBe(model.status);
    expect(actual.payments, context).toHaveLength(1);
    const [payment] = actual.payments;
    expect(
      {
        method: payment.method,
        status: payment.status,
        amount: cents(payment.amount.amount),
        captured: cents(payment.capturedAmount.amount),
        refunded: cents(payment.refundedAmount.amount),
      },
      context,
    ).toEqual({
      method: model.method,
      status: model.paymentStatus,
      amount: model.total,
      captured: model.captured,
      refunded: refundedOf(model),
    });
    expect(
      actual.refunds.map((refund: any) => [
        cents(refund.amount.amount),
        refund.status,
      ]),
      context,
    ).toEqual(model.refunds.map((amount) => [amount, 'SUCCEEDED']));
  }

  private async mutate(
    document: string,
    name: string,
    input: Record<string, unknown>,
  ): Promise<Outcome> {
    const result = await stack.query(document, { input }, staff);
    expect(result.errors, this.at(name)).toBeUndefined();
    return result.data![name];
  }

  /** Expects no order and exactly one userError with `code` and `message`. */
  private expectRejected(outcome: Outcome, code: string, message: string) {
    expect(outcome.order, this.at(code)).toBeNull();
    expect(
      outcome.userErrors.map((error) => [error.code, error.message]),
      this.at(code),
    ).toEqual([[code, message]]);
  }

  private expectDone(outcome: Outcome, model: ModelOrder): void {
    expect(outcome.userErrors, this.at(`order #${model.number}`)).toEqual([]);
    this.expectOrder(outcome.order!, model);
  }

  /**
   * Sends a mutation that must succeed, applies `change` to the model and
   * checks the response. Sometimes the client sends it again with the same
   * idempotency key, as after a timeout, and the repeat must change nothing.
   */
  private async succeed(
    document: string,
    name: string,
    input: Record<string, unknown>,
    model: ModelOrder,
    change: () => void,
  ): Promise<string> {
    const outcome = await this.mutate(document, name, input);
    change();
    this.expectDone(outcome, model);
    if (!this.chance(0.2)) return '';
    this.expectDone(await this.mutate(document, name, input), model);
    this.covered.add('sent twice');
    return ' (sent twice)';
  }

  async placeOrder(): Promise<string> {
    const products = this.shuffled(PRODUCTS).slice(0, this.integer(1, 3));
    const lines = products.map((product) => ({
      sku: product.sku,
      quantity: this.integer(1, 3),
    }));
    const subtotal = lines.reduce(
      (sum, line, index) => sum + products[index]!.price * line.quantity,
      0,
    );
    const shipping = products.some((product) => product.ships) ? SHIPPING : 0;
    const tax = roundedShare(
      subtotal + shipping,
      TAX_RATE.numerator,
      TAX_RATE.denominator,
    );

    const methodRoll = this.random();
    let method: Method = 'CASH_ON_DELIVERY';
    if (methodRoll < 0.6) {
      method = 'CARD';
    } else if (methodRoll < 0.8) {
      method = 'BANK_TRANSFER';
    }

    const checkoutId = await readyCheckout(
      stack,
      lines,
      {},
      {
        ships: shipping > 0,
      },
    );
    let declined = method === 'CARD' && this.chance(0.25);
    let retried = false;
    let result = await complete(
      stack,
      checkoutId,
      method === 'CARD'
        ? {
            method,
            cardToken: declined ? 'tok_sandbox_declined' : 'tok_sandbox_visa',
          }
        : { method },
      randomUUID(),
    );

    if (declined) {
      const payload = result.data!.checkoutComplete;
      expect(payload.order, this.at('declined card')).toBeNull();
      expect(
        payload.userErrors.map((error: any) => error.code),
        this.at('declined card'),
      ).toEqual(['PAYMENT_DECLINED']);
      this.covered.add('card declined');
      // 60 % of declined customers try again with a card that works.
      if (this.chance(0.4)) {
        return 'place CARD declined';
      }
      declined = false;
      retried = true;
      this.covered.add('declined card retried');
      result = await complete(
        stack,
        checkoutId,
        { method, cardToken: 'tok_sandbox_visa' },
        randomUUID(),
      );
    }

    const payload = result.data!.checkoutComplete;
    expect(payload.userErrors, this.at('checkoutComplete')).toEqual([]);
    const order = payload.order;
    const total = subtotal + shipping + tax;
    expect(
      [order.subtotalPrice, order.shippingPrice, order.taxPrice].map(
        (money: { amount: string }) => cents(money.amount),
      ),
      this.at('order totals'),
    ).toEqual([subtotal, shipping, tax]);
    const captured =
      method === 'CARD' && captureMode === 'automatic' ? total : 0;
    let status: Status = 'PENDING';
    if (method === 'CARD') {
      status = captured > 0 ? 'PAID' : 'AUTHORIZED';
    }

    const model: ModelOrder = {
      id: order.id,
      number: order.number,
      method,
      subtotal,
      shipping,
      tax,
      total,
      status,
      // The payment status equals the order status, except that a PAID
      // order's payment is CAPTURED.
      paymentStatus: status === 'PAID' ? 'CAPTURED' : status,
      captured,
      fee: captured > 0 ? sandboxFee(captured) : 0,
      refunds: [],
    };
    this.orders.push(model);

    expect(order.financialStatus, this.at('new order')).toBe(model.status);
    expect(
      order.payments.map((payment: any) => [
        payment.status,
        cents(payment.amount.amount),
        cents(payment.capturedAmount.amount),
      ]),
      this.at('new order payment'),
    ).toEqual([[model.paymentStatus, total, captured]]);

    this.covered.add(`place ${method} ${status}`);
    const card = retried ? 'CARD declined, then paid' : method;
    return `place ${card} ${usd(total)} → #${model.number} ${status}`;
  }

  async capture(): Promise<string> {
    const authorized = this.pick(this.withStatus('AUTHORIZED'));
    if (!authorized && this.chance(0.5)) return this.placeOrder();
    if (!authorized || this.chance(0.15)) {
      const order = this.pick(
        this.withStatus(
          'PENDING',
          'PAID',
          'PARTIALLY_REFUNDED',
          'REFUNDED',
          'CANCELLED',
        ),
      );
      if (!order) return this.placeOrder();
      const outcome = await this.mutate(CAPTURE, 'orderCapture', {
        orderId: order.id,
        idempotencyKey: randomUUID(),
      });
      // Card orders are never PENDING here because the sandbox authorizes
      // or declines them at checkout, so a PENDING order has a manual payment.
      if (order.status === 'PENDING') {
        this.expectRejected(
          outcome,
          'INVALID_PAYMENT_METHOD',
          `Order #${order.number} has no card payment. Bank transfer and cash on delivery payments are marked paid with orderMarkPaid.`,
        );
        this.covered.add('capture of a manual payment rejected');
        return `capture #${order.number} ${order.method} rejected`;
      }
      this.expectRejected(
        outcome,
        'INVALID_TRANSITION',
        invalidTransition(
          order,
          'PAID',
          'Only an AUTHORIZED order can be captured.',
        ),
      );
      this.covered.add('capture rejected');
      return `capture #${order.number} ${order.status} rejected`;
    }
    const partial = this.chance(0.4);
    this.covered.add(partial ? 'partial capture' : 'full capture');
    const amount = partial
      ? this.integer(100, authorized.total - 1)
      : authorized.total;
    const input = {
      orderId: authorized.id,
      idempotencyKey: randomUUID(),
      ...(partial ? { amount: decimal(amount) } : {}),
    };
    const twice = await this.succeed(
      CAPTURE,
      'orderCapture',
      input,
      authorized,
      () =>
        Object.assign(authorized, {
          status: 'PAID',
          paymentStatus: 'CAPTURED',
          captured: amount,
          fee: sandboxFee(amount),
        }),
    );
    return `capture #${authorized.number} ${usd(amount)}${twice}`;
  }

  async cancel(): Promise<string> {
    const roll = this.random();
    const unpaid = this.withStatus('PENDING', 'AUTHORIZED');
    const paid = this.withStatus('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED');
    const cancelled = this.withStatus('CANCELLED');

    if (roll < 0.6 && unpaid.length > 0) {
      const order = this.pick(unpaid)!;
      this.covered.add(`cancel ${order.status}`);
      const outcome = await this.mutate(CANCEL, 'orderCancel', {
        orderId: order.id,
        reason: 'customer request',
      });
      Object.assign(order, { status: 'CANCELLED', paymentStatus: 'VOIDED' });
      this.expectDone(outcome, order);
      return `cancel #${order.number}`;
    }

    if (roll < 0.78 && cancelled.length > 0) {
      // A repeated cancellation returns the order unchanged.
      const order = this.pick(cancelled)!;
      const outcome = await this.mutate(CANCEL, 'orderCancel', {
        orderId: order.id,
      });
      this.expectDone(outcome, order);
      this.covered.add('cancel again');
      return `cancel #${order.number} again`;
    }

    const order = this.pick(paid);
    if (!order) return this.placeOrder();
    const outcome = await this.mutate(CANCEL, 'orderCancel', {
      orderId: order.id,
    });
    this.expectRejected(
      outcome,
      'INVALID_TRANSITION',
      invalidTransition(
        order,
        'CANCELLED',
        order.status === 'REFUNDED'
          ? 'It is refunded in full already.'
          : 'A paid order is not cancelled: refund it with orderRefund instead.',
      ),
    );
    this.covered.add('cancel rejected');
    return `cancel #${order.number} ${order.status} rejected`;
  }

  async refund(full: boolean): Promise<string> {
    const order = this.pick(this.withStatus('PAID', 'PARTIALLY_REFUNDED'));
    if (!order || this.chance(0.1)) return this.refundRejected();
    const refunded = refundedOf(order);
    const left = order.captured - refunded;
    const exceeds = !full && this.chance(0.25);
    const amount = full
      ? left
      : exceeds
        ? left + this.integer(1, 2_000)
        : this.chance(0.2)
          ? this.integer(1, Math.min(left, 9))
          : this.integer(1, left);
    const input = {
      orderId: order.id,
      amount: decimal(amount),
      reason: 'sequence',
      idempotencyKey: randomUUID(),
    };
    if (exceeds) {
      const outcome = await this.mutate(REFUND, 'orderRefund', input);
      this.expectRejected(
        outcome,
        'REFUND_EXCEEDS_CAPTURED',
        `Refund amount ${usd(amount)} exceeds the ${usd(left)} that can still be refunded of order #${order.number} (${usd(order.captured)} captured, ${usd(refunded)} refunded). Refund at most ${usd(left)}.`,
      );
      this.covered.add('refund exceeding');
      return `refund #${order.number} ${usd(amount)} rejected`;
    }
    const twice = await this.succeed(
      REFUND,
      'orderRefund',
      input,
      order,
      () => {
        order.refunds.push(amount);
        order.status = amount === left ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
        this.covered.add(`refund to ${order.status}`);
        order.paymentStatus = order.status;
      },
    );
    return `refund #${order.number} ${usd(amount)}${twice}`;
  }

  private async refundRejected(): Promise<string> {
    const order = this.pick(
      this.withStatus('PENDING', 'AUTHORIZED', 'CANCELLED', 'REFUNDED'),
    );
    if (!order) return this.placeOrder();
    const outcome = await this.mutate(REFUND, 'orderRefund', {
      orderId: order.id,
      amount: '1.00',
      idempotencyKey: randomUUID(),
    });
    this.expectRejected(
      outcome,
      'INVALID_TRANSITION',
      invalidTransition(
        order,
        'PARTIALLY_REFUNDED',
        order.status === 'REFUNDED'
          ? 'It is refunded in full already.'
          : 'Only a PAID or PARTIALLY_REFUNDED order can be refunded; an unpaid order is cancelled with orderCancel.',
      ),
    );
    this.covered.add('refund rejected');
    return `refund #${order.number} ${order.status} rejected`;
  }

  async markPaid(): Promise<string> {
    const manual = this.orders.filter((order) => order.method !== 'CARD');
    const pending = manual.filter((order) => order.status === 'PENDING');
    const roll = this.random();
    let order = roll < 0.7 ? this.pick(pending) : undefined;

    if (order) {
      const paid = order;
      const input = { orderId: paid.id, idempotencyKey: randomUUID() };
      const twice = await this.succeed(
        MARK_PAID,
        'orderMarkPaid',
        input,
        paid,
        () =>
          Object.assign(paid, {
            status: 'PAID',
            paymentStatus: 'CAPTURED',
            captured: paid.total,
          }),
      );
      this.covered.add(`mark paid ${paid.method}`);
      return `mark paid #${paid.number} ${paid.method}${twice}`;
    }

    const card = roll < 0.85;
    order = card
      ? this.pick(this.orders.filter((item) => item.method === 'CARD'))
      : this.pick(manual.filter((item) => item.status !== 'PENDING'));
    if (!order) return this.placeOrder();
    const outcome = await this.mutate(MARK_PAID, 'orderMarkPaid', {
      orderId: order.id,
      idempotencyKey: randomUUID(),
    });

    if (card) {
      this.expectRejected(
        outcome,
        'INVALID_PAYMENT_METHOD',
        `Order #${order.number} has no bank transfer or cash on delivery payment. Card payments are captured with orderCapture.`,
      );
    } else {
      this.expectRejected(
        outcome,
        'INVALID_TRANSITION',
        invalidTransition(
          order,
          'PAID',
          `Only a PENDING order whose ${order.method} payment is PENDING can be marked paid; its payment is ${order.paymentStatus}.`,
        ),
      );
    }

    this.covered.add('mark paid rejected');
    return `mark paid #${order.number} ${order.status} rejected`;
  }
}

/** Debits and credits of one account, in cents. */
type Sides = { debit: number; credit: number };

const ASSET_OF: Record<Method, string> = {
  CARD: '1000',
  CASH_ON_DELIVERY: '1010',
  BANK_TRANSFER: '1020',
};

/**
 * Computes the debits and credits per account that docs/ledger.md
 * prescribes for the model's orders. Each receipt is split into sales,
 * shipping and tax in the proportions of the order's totals, and card
 * receipts also post the provider fee. Each refund's tax part is the
 * received tax × (refunded so far ÷ received), less the tax refunded
 * before it.
 */
function expectedAccounts(orders: ModelOrder[]): Map<string, Sides> {
  const accounts = new Map<string, Sides>();
  const post = (code: string, debit: number, credit: number) => {
    const sides = accounts.get(code) ?? { debit: 0, credit: 0 };
    sides.debit += debit;
    sides.credit += credit;
    accounts.set(code, sides);
  };
  for (const order of orders) {
    if (order.captured === 0) continue;
    const asset = ASSET_OF[order.method];
    const tax = roundedShare(order.captured, order.tax, order.total);
    const shipping = roundedShare(order.captured, order.shipping, order.total);
    post(asset, order.captured, 0);
    post('4000', 0, order.captured - tax - shipping);
    post('4010', 0, shipping);
    post('2100', 0, tax);
    if (order.fee > 0) {
      post('6100', order.fee, 0);
      post('1000', 0, order.fee);
    }
    let refunded = 0;
    let taxRefunded = 0;
    for (const amount of order.refunds) {
      refunded += amount;
      const taxSoFar = roundedShare(refunded, tax, order.captured);
      const taxPart = Math.min(Math.max(taxSoFar - taxRefunded, 0), amount);
      taxRefunded += taxPart;
      post('2100', taxPart, 0);
      post('4900', amount - taxPart, 0);
      post(asset, 0, amount);
    }
  }
  // Lines of 0 are not written, so an account with no postings has no line.
  for (const [code, sides] of accounts) {
    if (sides.debit === 0 && sides.credit === 0) accounts.delete(code);
  }
  return accounts;
}

/** Returns the kinds of journal entries expected for an order, in posting order. */
function expectedKinds(order: ModelOrder): string[] {
  if (order.captured === 0) return [];
  const receipt = {
    CARD: ['CAPTURE', 'PROVIDER_FEE'],
    BANK_TRANSFER: ['BANK_TRANSFER'],
    CASH_ON_DELIVERY: ['CASH_COLLECTION'],
  }[order.method];
  return [...receipt, ...order.refunds.map(() => 'REFUND')];
}

/** Fetches all journal entries of the period through the gateway, page by page. */
async function allEntries(period: { from: string; to: string }) {
  const entries: Array<Record<string, any>> = [];
  let after: string | null = null;
  for (;;) {
    const result: GraphQLResponse = await stack.query(
      LEDGER_ENTRIES,
      { ...period, after },
      staff,
    );
    expect(result.errors, `seed ${SEED}: ledgerEntries`).toBeUndefined();
    const page: Record<string, any> = result.data!.ledgerEntries;
    entries.push(...page.nodes);
    if (!page.pageInfo.hasNextPage) return entries;
    after = page.pageInfo.endCursor;
  }
}

const DEFAULT_SEED_COVERS = [
  'place CARD PAID',
  'place CARD AUTHORIZED',
  'place BANK_TRANSFER PENDING',
  'place CASH_ON_DELIVERY PENDING',
  'card declined',
  'declined card retried',
  'full capture',
  'partial capture',
  'capture rejected',
  'capture of a manual payment rejected',
  'cancel AUTHORIZED',
  'cancel PENDING',
  'cancel again',
  'cancel rejected',
  'refund to PARTIALLY_REFUNDED',
  'refund to REFUNDED',
  'refund exceeding',
  'refund rejected',
  'mark paid BANK_TRANSFER',
  'mark paid CASH_ON_DELIVERY',
  'mark paid rejected',
  'sent twice',
];

const dayOffset = (days: number) =>
  new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

describe(`ledger after a random order sequence through the gateway (seed ${SEED})`, () => {
  const sequence = new Sequence();
  // The period covers the run with a day of margin on each side.
  const period = { from: dayOffset(-1), to: dayOffset(2) };
  let log: string[] = [];

  beforeAll(async () => {
    log = await sequence.run();
  });

  const at = (detail: string) =>
    `seed ${SEED} (LEDGER_GATEWAY_SEED), after ${log.length} steps: ${detail}`;

  // Another seed may skip a kind of action, but the default seed must cover
  // every kind, so a change to the generator cannot quietly stop testing one.
  test.runIf(process.env.LEDGER_GATEWAY_SEED === undefined)(
    'default seed covers every action kind',
    () => {
      expect(
        DEFAULT_SEED_COVERS.filter((kind) => !sequence.covered.has(kind)),
        at('kinds of action not exercised'),
      ).toEqual([]);
    },
  );

  test('orders read back as modelled', async () => {
    expect(sequence.orders.length, at('orders')).toBeGreaterThan(5);
    for (const model of sequence.orders) {
      const result = await stack.query(ORDER, { id: model.id }, staff);
      expect(result.errors, at(`order #${model.number}`)).toBeUndefined();
      sequence.expectOrder(result.data!.order, model);
    }
  });

  test('trial balance matches payments', async () => {
    const result = await stack.query(TRIAL_BALANCE, period, staff);
    expect(result.errors, at('trialBalance')).toBeUndefined();
    const balance = result.data!.trialBalance;
    const accounts = new Map<string, Sides & { balance: number }>(
      balance.lines.map((line: any) => [
        line.account.code,
        {
          debit: cents(line.debit.amount),
          credit: cents(line.credit.amount),
          balance: cents(line.balance.amount),
        },
      ]),
    );
    const side = (code: string, name: keyof Sides) =>
      accounts.get(code)?.[name] ?? 0;
    const balanceOf = (code: string) => accounts.get(code)?.balance ?? 0;
    const orders = sequence.orders;
    const sum = (values: number[]) =>
      values.reduce((total, value) => total + value, 0);
    const byMethod = (method: Method, value: (order: ModelOrder) => number) =>
      sum(orders.filter((o) => o.method === method).map(value));

    // Debits equal credits, and each side is every receipt, fee and refund.
    expect(balance.balanced, at('balanced')).toBe(true);
    expect(balance.totalDebit.amount, at('totals')).toBe(
      balance.totalCredit.amount,
    );
    expect(cents(balance.totalDebit.amount), at('total debit')).toBe(
      sum(orders.map((o) => o.captured + o.fee + refundedOf(o))),
    );

    // Revenue and tax net of refunds equal the captured less the refunded
    // amount, as the orders' payments report them through the gateway.
    let netPayments = 0;
    for (const model of orders) {
      const read = await stack.query(ORDER, { id: model.id }, staff);
      for (const payment of read.data!.order.payments) {
        netPayments +=
          cents(payment.capturedAmount.amount) -
          cents(payment.refundedAmount.amount);
      }
    }
    expect(
      side('4000', 'credit') +
        side('4010', 'credit') +
        side('2100', 'credit') -
        side('4900', 'debit') -
        side('2100', 'debit'),
      at('net revenue and tax'),
    ).toBe(netPayments);
    expect(netPayments, at('model net payments')).toBe(
      sum(orders.map((o) => o.captured - refundedOf(o))),
    );

    // Each asset account's balance is the money received by its payment
    // method less the money paid out.
    expect(balanceOf('1000'), at('provider clearing')).toBe(
      byMethod('CARD', (o) => o.captured - refundedOf(o) - o.fee),
    );
    expect(balanceOf('1010'), at('cash on hand')).toBe(
      byMethod('CASH_ON_DELIVERY', (o) => o.captured - refundedOf(o)),
    );
    expect(balanceOf('1020'), at('bank')).toBe(
      byMethod('BANK_TRANSFER', (o) => o.captured - refundedOf(o)),
    );

    // Every account contains exactly the split that docs/ledger.md prescribes.
    expect(
      Object.fromEntries(
        [...accounts].map(([code, { debit, credit }]) => [
          code,
          { debit, credit },
        ]),
      ),
      at('accounts'),
    ).toEqual(Object.fromEntries(expectedAccounts(orders)));
  });

  test('journal entries only for moved money', async () => {
    const entries = await allEntries(period);
    const kindsByOrder = new Map<string, string[]>();
    for (const entry of entries) {
      expect(
        entry.order,
        at(`entry ${entry.number} has an order`),
      ).not.toBeNull();
      const kinds = kindsByOrder.get(entry.order.id) ?? [];
      kinds.push(entry.kind);
      kindsByOrder.set(entry.order.id, kinds);
    }
    const known = new Set(sequence.orders.map((order) => order.id));
    expect(
      [...kindsByOrder.keys()].filter((id) => !known.has(id)),
      at('entries of orders the sequence did not place'),
    ).toEqual([]);
    for (const order of sequence.orders) {
      // Cancelled and never-paid orders have no entry at all.
      expect(
        kindsByOrder.get(order.id) ?? [],
        at(`entries of #${order.number} (${order.method}, ${order.status})`),
      ).toEqual(expectedKinds(order));
    }
  });

  test('CSV export matches journal lines', async () => {
    const [exported, balance, entries] = await Promise.all([
      stack.query(LEDGER_EXPORT, period, staff),
      stack.query(TRIAL_BALANCE, period, staff),
      allEntries(period),
    ]);
    expect(exported.errors, at('ledgerExport')).toBeUndefined();
    const { csv, entryCount } = exported.data!.ledgerExport;
    const rows: Array<Record<string, string>> = parseCsv(csv, {
      columns: true,
    });
    const lines = entries.flatMap((entry) => entry.lines);
    expect(entryCount, at('entryCount')).toBe(entries.length);
    expect(rows, at('CSV rows')).toHaveLength(lines.length);
    for (const row of rows) {
      expect(
        [row.debit, row.credit].filter((value) => value !== '').length,
        at(`CSV row of entry ${row.entry_number}`),
      ).toBe(1);
    }
    const column = (name: 'debit' | 'credit') =>
      rows.reduce((sum, row) => sum + (row[name] ? cents(row[name]) : 0), 0);
    const totals = balance.data!.trialBalance;
    expect(column('debit'), at('CSV debits')).toBe(
      cents(totals.totalDebit.amount),
    );
    expect(column('credit'), at('CSV credits')).toBe(
      cents(totals.totalCredit.amount),
    );
  });
});
