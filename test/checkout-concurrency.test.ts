import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count } from 'drizzle-orm';
import * as tables from '../subgraphs/orders/db/tables.js';
import type { Database } from '../platform/database.js';
import { startTestStack, type TestStack } from './support/stack.js';
import {
  complete,
  createProduct,
  quantityAvailable,
  readyCheckout,
} from './support/checkout.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ CHECKOUT_RECONCILE_INTERVAL_MS: '0' });
  await createProduct(stack, { sku: 'limited', price: '19.00', stock: 10 });
});

afterAll(async () => {
  await stack?.close();
});

describe('checkoutComplete under contention', () => {
  it('sells exactly the stock to 50 concurrent buyers', async () => {
    const checkouts = await Promise.all(
      Array.from({ length: 50 }, () =>
        readyCheckout(stack, [{ sku: 'limited', quantity: 1 }]),
      ),
    );
    const results = await Promise.all(
      checkouts.map((id, index) =>
        complete(
          stack,
          id,
          { method: 'CARD', cardToken: 'tok_sandbox_visa' },
          `buyer-${index}`,
        ),
      ),
    );
    const payloads = results.map((result) => {
      expect(result.errors).toBeUndefined();
      return result.data!.checkoutComplete;
    });
    const sold = payloads.filter((payload) => payload.order !== null);
    const refused = payloads.filter((payload) => payload.order === null);
    expect(sold).toHaveLength(10);
    expect(refused).toHaveLength(40);
    for (const payload of refused) {
      expect(payload.userErrors).toHaveLength(1);
      expect(payload.userErrors[0]).toMatchObject({
        field: ['checkout', 'lines', '0', 'quantity'],
        code: 'OUT_OF_STOCK',
      });
      expect(payload.userErrors[0].message).toMatch(
        /^Only 0 of SKU "limited" available, 1 requested/,
      );
    }
    expect(await quantityAvailable(stack, 'limited')).toBe(0);
    const db = stack.subgraphs.orders.database.db as Database<typeof tables>;
    const [orders] = await db.select({ n: count() }).from(tables.orders);
    const [payments] = await db.select({ n: count() }).from(tables.payments);
    expect(orders!.n).toBe(10);
    expect(payments!.n).toBe(10);
    const levels = await stack.query(
      `{ variant(sku: "limited") { stockLevels { onHand reserved available } } }`,
      undefined,
      (await import('./support/checkout.js')).ADMIN,
    );
    for (const level of levels.data!.variant.stockLevels) {
      expect(level.available).toBeGreaterThanOrEqual(0);
      expect(level.reserved).toBeLessThanOrEqual(level.onHand);
    }
  });
});
