import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { TestStack } from './stack.js';

let productCount = 0;

/**
 * Creates an active product whose one variant tracks inventory, and
 * returns its SKU, `<prefix>-<n>-<random>`.
 */
export async function createTrackedProduct(
  stack: TestStack,
  prefix: string,
): Promise<string> {
  productCount += 1;
  const sku = `${prefix}-${productCount}-${randomBytes(3).toString('hex')}`;
  const created = await stack.query(
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { userErrors { message } }
    }`,
    {
      input: {
        title: `Product ${sku}`,
        status: 'ACTIVE',
        variants: [{ sku, tracksInventory: true, price: { amount: '5.00' } }],
      },
    },
    await stack.staffHeaders('admin'),
  );
  expect(created.data!.productCreate.userErrors).toEqual([]);
  return sku;
}

/**
 * Reads `read` every 50 ms until `done` accepts its value or `timeoutMs`
 * has passed, and returns the last value read.
 */
export async function waitFor<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
