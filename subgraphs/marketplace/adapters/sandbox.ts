/**
 * An offline marketplace for development and tests. It keeps listings,
 * orders and shipments in a `SandboxStorage`, so every replica of the
 * marketplace service, and a test, reads the same state. Tests place
 * orders with `placeSandboxOrder`, confirm payments with
 * `markSandboxOrderPaid`, and simulate an outage with
 * `failNextSandboxCalls`.
 *
 * Each sandbox account (credentials `{ account }`, default `default`) has
 * its own records. Keys, all prefixed with `account:<account>:`:
 * - `listing:<sku>`: the listing of a SKU (`SandboxListingRecord`).
 * - `order:<externalOrderId>`: an order and its shipments (`SandboxOrderRecord`).
 * - `order-log`: ids of orders in the order they were placed or changed;
 *   an order changed later appears again at the end. fetchOrders cursors
 *   are positions in this log.
 * - `outage`: the number of calls still to fail (`failNextSandboxCalls`).
 */

import { createHash, randomBytes } from 'node:crypto';
import { isCurrencyCode } from '../../../platform/money.js';
import {
  MarketplaceError,
  type FulfillmentPush,
  type ListingContent,
  type ListingPush,
  type MarketplaceAdapter,
  type MarketplaceOrder,
  type OrderPage,
  type PublishedListing,
} from './adapter.js';

/**
 * Durable JSON records by key, shared by all replicas of the marketplace
 * service. In PostgreSQL: a table `marketplace_sandbox_records` with
 * `key text primary key` and `value jsonb not null`.
 */
export interface SandboxStorage {
  /** Returns the record stored under `key`, or undefined. */
  get(key: string): Promise<unknown>;
  /**
   * Stores `value` under `key` only if the stored record still equals
   * `expected` (undefined: no record), and returns whether it did. In SQL,
   * `insert ... on conflict do nothing` when `expected` is undefined,
   * otherwise `update ... set value = $value where key = $key and value = $expected`,
   * true when one row changed.
   */
  put(key: string, value: unknown, expected: unknown): Promise<boolean>;
}

/** SandboxStorage in process memory, for tests and a single process. */
export class MemorySandboxStorage implements SandboxStorage {
  private readonly records = new Map<string, string>();

  async get(key: string): Promise<unknown> {
    const stored = this.records.get(key);
    return stored === undefined ? undefined : JSON.parse(stored);
  }

  async put(key: string, value: unknown, expected: unknown): Promise<boolean> {
    const stored = this.records.get(key);
    const matches =
      expected === undefined
        ? stored === undefined
        : stored !== undefined &&
          canonicalJson(JSON.parse(stored)) === canonicalJson(expected);
    if (!matches) return false;
    this.records.set(key, JSON.stringify(value));
    return true;
  }
}

/** JSON with object keys sorted, so equal records compare equal as jsonb does. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

export const DEFAULT_SANDBOX_ACCOUNT = 'default';

const ACCOUNT_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** Default number of orders per fetchOrders page. */
const DEFAULT_PAGE_SIZE = 50;

/** Compare-and-set attempts before a write gives up under contention. */
const MAX_WRITE_ATTEMPTS = 8;

/** The listing of one SKU, stored under `listing:<sku>`. */
export interface SandboxListingRecord {
  sku: string;
  externalId: string;
  status: 'ACTIVE' | 'ENDED';
  price: { amount: number; currencyCode: string };
  quantity: number;
  content: ListingContent;
  /** Number of successful publish calls, the first included. */
  publishCount: number;
  updatedAt: string;
}

export interface SandboxFulfillment {
  lines: { externalLineId: string; quantity: number }[];
  carrier: string;
  trackingNumber: string;
  shippedAt: string;
}

/** An order and the shipments reported for it, stored under `order:<id>`. */
export interface SandboxOrderRecord {
  order: MarketplaceOrder;
  fulfillments: SandboxFulfillment[];
}

interface OrderLog {
  ids: string[];
}

interface OutageRecord {
  remaining: number;
  retryAfterMs: number | null;
}

export interface SandboxAccountOption {
  /** The sandbox account; default `default`. */
  account?: string;
}

export interface SandboxAdapterOptions extends SandboxAccountOption {
  /** Orders per fetchOrders page; default 50. */
  pageSize?: number;
}

export class SandboxMarketplaceAdapter implements MarketplaceAdapter {
  readonly kind = 'SANDBOX';
  private readonly keys: AccountKeys;
  private readonly pageSize: number;

  constructor(
    private readonly storage: SandboxStorage,
    options: SandboxAdapterOptions = {},
  ) {
    this.keys = accountKeys(options.account);
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!Number.isSafeInteger(this.pageSize) || this.pageSize < 1) {
      throw new Error(
        `Sandbox marketplace: pageSize ${this.pageSize} is not a positive integer`,
      );
    }
  }

  async testConnection(): Promise<void> {
    await this.consumeOutage('testConnection');
  }

  async publish(push: ListingPush): Promise<PublishedListing> {
    await this.consumeOutage('publish');
    checkPush(push);
    const externalId = sandboxExternalId(this.keys.account, push.sku);
    const { sku, price, quantity, externalId: _pushed, ...content } = push;
    const record = await updateRecord<SandboxListingRecord>(
      this.storage,
      this.keys.listing(sku),
      'publish',
      (current) => ({
        sku,
        externalId: current?.externalId ?? externalId,
        status: 'ACTIVE',
        price: {
          amount: price.amount,
          currencyCode: price.currencyCode.toUpperCase(),
        },
        quantity,
        content: { sku, ...content },
        publishCount: (current?.publishCount ?? 0) + 1,
        updatedAt: new Date().toISOString(),
      }),
    );
    return { externalId: record.externalId, status: 'ACTIVE' };
  }

  async setQuantity(
    sku: string,
    externalId: string,
    quantity: number,
  ): Promise<void> {
    await this.consumeOutage('setQuantity');
    checkQuantity('setQuantity', quantity);
    await updateRecord<SandboxListingRecord>(
      this.storage,
      this.keys.listing(sku),
      'setQuantity',
      (current) => ({
        ...this.existingListing('setQuantity', current, sku, externalId),
        quantity,
        updatedAt: new Date().toISOString(),
      }),
    );
  }

  async end(sku: string, externalId: string): Promise<void> {
    await this.consumeOutage('end');
    await updateRecord<SandboxListingRecord>(
      this.storage,
      this.keys.listing(sku),
      'end',
      (current) => {
        const listing = this.existingListing('end', current, sku, externalId);
        if (listing.status === 'ENDED') return listing;
        return {
          ...listing,
          status: 'ENDED',
          updatedAt: new Date().toISOString(),
        };
      },
    );
  }

  async fetchOrders(cursor: string | null): Promise<OrderPage> {
    await this.consumeOutage('fetchOrders');
    const log = ((await this.storage.get(this.keys.orderLog)) as
      OrderLog | undefined) ?? { ids: [] };
    const start = parseCursor(cursor, log.ids.length);
    if (start === log.ids.length) return { orders: [], nextCursor: null };

    // An order changed after it was placed appears again later in the log;
    // only its last position counts, so each change returns it once.
    const orders: MarketplaceOrder[] = [];
    let position = start;
    while (position < log.ids.length && orders.length < this.pageSize) {
      const id = log.ids[position]!;
      if (log.ids.lastIndexOf(id) === position) {
        const record = (await this.storage.get(this.keys.order(id))) as
          SandboxOrderRecord | undefined;
        if (record) orders.push(record.order);
      }
      position += 1;
    }
    return { orders, nextCursor: String(position) };
  }

  async pushFulfillment(push: FulfillmentPush): Promise<void> {
    await this.consumeOutage('pushFulfillment');
    if (push.trackingNumber.trim() === '') {
      throw new MarketplaceError(
        'Sandbox marketplace pushFulfillment failed: the tracking number is empty',
        false,
      );
    }
    if (Number.isNaN(Date.parse(push.shippedAt))) {
      throw new MarketplaceError(
        `Sandbox marketplace pushFulfillment failed: shippedAt "${push.shippedAt}" is not an ISO 8601 time`,
        false,
      );
    }
    const key = this.keys.order(push.externalOrderId);
    if ((await this.storage.get(key)) === undefined) {
      throw new MarketplaceError(
        `Sandbox marketplace pushFulfillment failed: no order ${push.externalOrderId}`,
        false,
      );
    }
    await updateRecord<SandboxOrderRecord>(
      this.storage,
      key,
      'pushFulfillment',
      (current) => addFulfillment(current!, push),
    );
  }

  private existingListing(
    operation: string,
    current: SandboxListingRecord | undefined,
    sku: string,
    externalId: string,
  ): SandboxListingRecord {
    if (!current || current.externalId !== externalId) {
      throw new MarketplaceError(
        `Sandbox marketplace ${operation} failed: no listing ${externalId} of SKU "${sku}"`,
        false,
      );
    }
    return current;
  }

  /** Fails this call when a simulated outage has calls left to fail. */
  private async consumeOutage(operation: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt += 1) {
      const outage = (await this.storage.get(this.keys.outage)) as
        OutageRecord | undefined;
      if (!outage || outage.remaining <= 0) return;
      const next: OutageRecord = { ...outage, remaining: outage.remaining - 1 };
      if (await this.storage.put(this.keys.outage, next, outage)) {
        throw new MarketplaceError(
          `Sandbox marketplace ${operation} failed: the marketplace is unavailable (simulated outage)`,
          true,
          outage.retryAfterMs,
        );
      }
    }
    throw contention(operation);
  }
}

/** The input of `placeSandboxOrder`; amounts in minor units. */
export interface SandboxOrderInput {
  /** Default: a new random id. */
  externalOrderId?: string;
  /** ISO 8601; default now. */
  placedAt?: string;
  currencyCode: string;
  email?: string | null;
  shippingAddress?: MarketplaceOrder['shippingAddress'];
  lines: {
    sku: string;
    quantity: number;
    unitPriceAmount: number;
    /** Default: `<externalOrderId>-<line number>`. */
    externalLineId?: string;
  }[];
  shippingAmount?: number;
  taxAmount?: number;
  /** Default true; a false order waits until `markSandboxOrderPaid`. */
  paid?: boolean;
}

/**
 * Places an order on the sandbox as a buyer would, and returns it. A line
 * of a SKU with an active listing takes its units from the listing's
 * quantity, and fails when the listing has too few. A line of an ended
 * listing fails. A line of a SKU never listed is accepted, as an order for
 * an item listed outside the shop would be.
 */
export async function placeSandboxOrder(
  storage: SandboxStorage,
  input: SandboxOrderInput,
  options: SandboxAccountOption = {},
): Promise<MarketplaceOrder> {
  const keys = accountKeys(options.account);
  const order = buildOrder(input);
  const orderKey = keys.order(order.externalOrderId);
  if ((await storage.get(orderKey)) !== undefined) {
    throw new Error(
      `Sandbox marketplace: order ${order.externalOrderId} already exists`,
    );
  }
  for (const line of order.lines) {
    await updateRecord<SandboxListingRecord | undefined>(
      storage,
      keys.listing(line.sku),
      'placeSandboxOrder',
      (listing) => {
        if (!listing) return undefined;
        if (listing.status !== 'ACTIVE' || listing.quantity < line.quantity) {
          throw new Error(
            `Sandbox marketplace: SKU "${line.sku}" has ${listing.status === 'ACTIVE' ? `${listing.quantity} units` : 'an ended listing'}, the order requests ${line.quantity}`,
          );
        }
        return { ...listing, quantity: listing.quantity - line.quantity };
      },
    );
  }
  const record: SandboxOrderRecord = { order, fulfillments: [] };
  if (!(await storage.put(orderKey, record, undefined))) {
    throw new Error(
      `Sandbox marketplace: order ${order.externalOrderId} already exists`,
    );
  }
  await appendToOrderLog(storage, keys, order.externalOrderId);
  return order;
}

/** Confirms the payment of a sandbox order, so fetchOrders returns it again as paid. */
export async function markSandboxOrderPaid(
  storage: SandboxStorage,
  externalOrderId: string,
  options: SandboxAccountOption = {},
): Promise<void> {
  const keys = accountKeys(options.account);
  await updateRecord<SandboxOrderRecord>(
    storage,
    keys.order(externalOrderId),
    'markSandboxOrderPaid',
    (current) => {
      if (!current) {
        throw new Error(`Sandbox marketplace: no order ${externalOrderId}`);
      }
      return { ...current, order: { ...current.order, paid: true } };
    },
  );
  await appendToOrderLog(storage, keys, externalOrderId);
}

/**
 * Makes the next `count` adapter calls of an account fail with a retryable
 * MarketplaceError carrying `retryAfterMs`, as during an outage. Count 0
 * ends the outage.
 */
export async function failNextSandboxCalls(
  storage: SandboxStorage,
  count: number,
  options: SandboxAccountOption & { retryAfterMs?: number | null } = {},
): Promise<void> {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new Error(
      `Sandbox marketplace: count ${count} is not an integer >= 0`,
    );
  }
  const keys = accountKeys(options.account);
  const outage: OutageRecord = {
    remaining: count,
    retryAfterMs: options.retryAfterMs ?? null,
  };
  await updateRecord<OutageRecord>(
    storage,
    keys.outage,
    'failNextSandboxCalls',
    () => outage,
  );
}

/** Returns the listing of a SKU as the sandbox stores it, or undefined. */
export async function readSandboxListing(
  storage: SandboxStorage,
  sku: string,
  options: SandboxAccountOption = {},
): Promise<SandboxListingRecord | undefined> {
  const keys = accountKeys(options.account);
  return (await storage.get(keys.listing(sku))) as
    SandboxListingRecord | undefined;
}

/** Returns an order and its reported shipments, or undefined. */
export async function readSandboxOrder(
  storage: SandboxStorage,
  externalOrderId: string,
  options: SandboxAccountOption = {},
): Promise<SandboxOrderRecord | undefined> {
  const keys = accountKeys(options.account);
  return (await storage.get(keys.order(externalOrderId))) as
    SandboxOrderRecord | undefined;
}

/**
 * The external id of a SKU's listing, derived from the account and SKU so
 * that a publish repeated after a lost response returns the same id.
 */
export function sandboxExternalId(account: string, sku: string): string {
  const digest = createHash('sha256')
    .update(`${account}\n${sku}`)
    .digest('hex')
    .slice(0, 16)
    .toUpperCase();
  return `SBX-${digest}`;
}

interface AccountKeys {
  account: string;
  listing(sku: string): string;
  order(externalOrderId: string): string;
  orderLog: string;
  outage: string;
}

function accountKeys(account: string = DEFAULT_SANDBOX_ACCOUNT): AccountKeys {
  if (!ACCOUNT_PATTERN.test(account)) {
    throw new Error(
      `Sandbox marketplace: account "${account.slice(0, 80)}" is invalid; use 1 to 64 letters, digits, '_', '.' or '-'`,
    );
  }
  const prefix = `account:${account}:`;
  return {
    account,
    listing: (sku) => `${prefix}listing:${sku}`,
    order: (externalOrderId) => `${prefix}order:${externalOrderId}`,
    orderLog: `${prefix}order-log`,
    outage: `${prefix}outage`,
  };
}

/**
 * Replaces the record under `key` with `change(current)` by compare-and-set,
 * retrying when another writer got there first, and returns the new record.
 * A change that returns undefined, or the record unchanged, writes nothing.
 */
async function updateRecord<T>(
  storage: SandboxStorage,
  key: string,
  operation: string,
  change: (current: T | undefined) => T,
): Promise<T> {
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt += 1) {
    const current = (await storage.get(key)) as T | undefined;
    const next = change(current);
    if (next === undefined || next === current) return next;
    if (await storage.put(key, next, current)) return next;
  }
  throw contention(operation);
}

async function appendToOrderLog(
  storage: SandboxStorage,
  keys: AccountKeys,
  externalOrderId: string,
): Promise<void> {
  await updateRecord<OrderLog>(
    storage,
    keys.orderLog,
    'order log',
    (current) => ({ ids: [...(current?.ids ?? []), externalOrderId] }),
  );
}

function contention(operation: string): MarketplaceError {
  return new MarketplaceError(
    `Sandbox marketplace ${operation} failed: the record changed ${MAX_WRITE_ATTEMPTS} times during the write; try again`,
    true,
  );
}

function parseCursor(cursor: string | null, logLength: number): number {
  if (cursor === null) return 0;
  const position = /^\d{1,15}$/.test(cursor) ? Number(cursor) : NaN;
  if (!(position <= logLength)) {
    throw new MarketplaceError(
      `Sandbox marketplace fetchOrders failed: cursor "${cursor.slice(0, 40)}" is not a cursor of this account`,
      false,
    );
  }
  return position;
}

function checkPush(push: ListingPush): void {
  const invalid = (reason: string) =>
    new MarketplaceError(
      `Sandbox marketplace publish failed for SKU "${push.sku.slice(0, 80)}": ${reason}`,
      false,
    );
  if (push.sku.trim() === '' || push.sku.length > 255) {
    throw invalid('the SKU must have 1 to 255 characters');
  }
  if (push.title.trim() === '') throw invalid('the title is empty');
  if (!Number.isSafeInteger(push.price.amount) || push.price.amount <= 0) {
    throw invalid(
      `price ${push.price.amount} is not a positive integer of minor units`,
    );
  }
  if (!isCurrencyCode(push.price.currencyCode.toUpperCase())) {
    throw invalid(
      `currency "${push.price.currencyCode}" is not an ISO 4217 code`,
    );
  }
  checkQuantity('publish', push.quantity);
}

function checkQuantity(operation: string, quantity: number): void {
  if (!Number.isSafeInteger(quantity) || quantity < 0) {
    throw new MarketplaceError(
      `Sandbox marketplace ${operation} failed: quantity ${quantity} is not an integer >= 0`,
      false,
    );
  }
}

function buildOrder(input: SandboxOrderInput): MarketplaceOrder {
  const externalOrderId =
    input.externalOrderId ?? `SBX-ORD-${randomBytes(8).toString('hex')}`;
  const currencyCode = input.currencyCode.toUpperCase();
  if (!isCurrencyCode(currencyCode)) {
    throw new Error(
      `Sandbox marketplace: currency "${input.currencyCode}" is not an ISO 4217 code`,
    );
  }
  if (input.lines.length === 0) {
    throw new Error('Sandbox marketplace: an order needs at least one line');
  }
  const lines = input.lines.map((line, index) => {
    if (!Number.isSafeInteger(line.quantity) || line.quantity < 1) {
      throw new Error(
        `Sandbox marketplace: line ${index + 1} quantity ${line.quantity} is not a positive integer`,
      );
    }
    checkAmount(`line ${index + 1} unitPriceAmount`, line.unitPriceAmount);
    return {
      externalLineId: line.externalLineId ?? `${externalOrderId}-${index + 1}`,
      sku: line.sku,
      quantity: line.quantity,
      unitPriceAmount: line.unitPriceAmount,
      totalAmount: line.unitPriceAmount * line.quantity,
    };
  });
  const shippingAmount = input.shippingAmount ?? 0;
  const taxAmount = input.taxAmount ?? 0;
  checkAmount('shippingAmount', shippingAmount);
  checkAmount('taxAmount', taxAmount);
  const subtotalAmount = lines.reduce((sum, line) => sum + line.totalAmount, 0);
  return {
    externalOrderId,
    placedAt: input.placedAt ?? new Date().toISOString(),
    currencyCode,
    email: input.email ?? null,
    shippingAddress: input.shippingAddress ?? null,
    lines,
    subtotalAmount,
    shippingAmount,
    taxAmount,
    totalAmount: subtotalAmount + shippingAmount + taxAmount,
    paid: input.paid ?? true,
  };
}

function checkAmount(name: string, amount: number): void {
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new Error(
      `Sandbox marketplace: ${name} ${amount} is not an integer >= 0 of minor units`,
    );
  }
}

/** Adds a shipment to an order; a repeated push of the same tracking number changes nothing. */
function addFulfillment(
  record: SandboxOrderRecord,
  push: FulfillmentPush,
): SandboxOrderRecord {
  const repeated = record.fulfillments.some(
    (fulfillment) =>
      fulfillment.trackingNumber === push.trackingNumber &&
      fulfillment.carrier === push.carrier,
  );
  if (repeated) return record;

  const shipped = new Map<string, number>();
  for (const fulfillment of record.fulfillments) {
    for (const line of fulfillment.lines) {
      shipped.set(
        line.externalLineId,
        (shipped.get(line.externalLineId) ?? 0) + line.quantity,
      );
    }
  }
  const remaining = (externalLineId: string): number => {
    const line = record.order.lines.find(
      (candidate) => candidate.externalLineId === externalLineId,
    );
    return line ? line.quantity - (shipped.get(externalLineId) ?? 0) : -1;
  };

  const lines =
    push.lines.length > 0
      ? push.lines
      : record.order.lines
          .map((line) => ({
            externalLineId: line.externalLineId,
            quantity: remaining(line.externalLineId),
          }))
          .filter((line) => line.quantity > 0);
  if (lines.length === 0) {
    throw new MarketplaceError(
      `Sandbox marketplace pushFulfillment failed: every line of order ${push.externalOrderId} has shipped`,
      false,
    );
  }
  for (const line of lines) {
    const left = remaining(line.externalLineId);
    if (left < 0) {
      throw new MarketplaceError(
        `Sandbox marketplace pushFulfillment failed: order ${push.externalOrderId} has no line ${line.externalLineId}`,
        false,
      );
    }
    if (!Number.isSafeInteger(line.quantity) || line.quantity < 1) {
      throw new MarketplaceError(
        `Sandbox marketplace pushFulfillment failed: quantity ${line.quantity} of line ${line.externalLineId} is not a positive integer`,
        false,
      );
    }
    if (line.quantity > left) {
      throw new MarketplaceError(
        `Sandbox marketplace pushFulfillment failed: line ${line.externalLineId} has ${left} units left to ship, not ${line.quantity}`,
        false,
      );
    }
  }
  return {
    ...record,
    fulfillments: [
      ...record.fulfillments,
      {
        lines: lines.map((line) => ({ ...line })),
        carrier: push.carrier,
        trackingNumber: push.trackingNumber,
        shippedAt: push.shippedAt,
      },
    ],
  };
}
