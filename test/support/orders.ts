import { randomBytes, randomUUID } from 'node:crypto';
import type { CallerIdentity } from '../../gateway/caller.js';
import { callerHeaders, STAFF_ADMIN, type TestStack } from './stack.js';

/**
 * Settings for stacks that place orders: no tax, a 5.00 flat shipping
 * rate and card payments held for a later capture, so card orders start
 * AUTHORIZED and totals are easy to state.
 */
export const ORDER_STACK_SETTINGS: Record<string, string> = {
  PAYMENT_PROVIDER: 'sandbox',
  PAYMENT_CAPTURE: 'manual',
  CHECKOUT_TAX_RATE_PERCENT: '0',
  SHIPPING_FLAT_RATE: '5.00',
};

const PRODUCT_CREATE = `mutation ($input: ProductCreateInput!) {
  productCreate(input: $input) { product { id } userErrors { field message code } }
}`;
const STOCK_SET = `mutation ($input: StockSetInput!) {
  stockSet(input: $input) { stockLevel { available } userErrors { field message code } }
}`;
const CHECKOUT_CREATE = `mutation ($input: CheckoutCreateInput!) {
  checkoutCreate(input: $input) { checkout { id totalPrice { amount } } userErrors { field message code } }
}`;
const CHECKOUT_COMPLETE = `mutation ($input: CheckoutCompleteInput!) {
  checkoutComplete(input: $input) {
    order { id number financialStatus totalPrice { amount currencyCode } }
    userErrors { field message code }
  }
}`;
const CUSTOMER_REGISTER = `mutation ($input: CustomerRegisterInput!) {
  customerRegister(input: $input) { customer { id } userErrors { field message code } }
}`;

export interface PlacedOrder {
  id: string;
  number: number;
  financialStatus: string;
  totalPrice: { amount: string; currencyCode: string };
}

/**
 * Creates an ACTIVE product with one variant of SKU `sku` at `price` and
 * `quantity` units of stock, through the gateway as a staff admin.
 */
export async function createStockedVariant(
  stack: TestStack,
  sku: string,
  price: string,
  quantity: number,
): Promise<void> {
  const admin = callerHeaders(STAFF_ADMIN);
  const created = await stack.query(
    PRODUCT_CREATE,
    {
      input: {
        title: `Product ${sku}`,
        status: 'ACTIVE',
        variants: [{ sku, price: { amount: price } }],
      },
    },
    admin,
  );
  if (created.data?.productCreate?.userErrors?.length !== 0) {
    throw new Error(`productCreate failed: ${JSON.stringify(created)}`);
  }
  const stocked = await stack.query(
    STOCK_SET,
    { input: { sku, quantity, reason: 'RECEIVED' } },
    admin,
  );
  if (stocked.data?.stockSet?.userErrors?.length !== 0) {
    throw new Error(`stockSet failed: ${JSON.stringify(stocked)}`);
  }
}

/** Registers a customer and returns the caller identity that acts as them. */
export async function registerCustomer(
  stack: TestStack,
  email: string,
): Promise<CallerIdentity> {
  const result = await stack.query(CUSTOMER_REGISTER, {
    input: { email, password: randomBytes(12).toString('base64url') },
  });
  const payload = result.data?.customerRegister;
  if (!payload || payload.userErrors.length !== 0) {
    throw new Error(`customerRegister failed: ${JSON.stringify(result)}`);
  }
  return {
    kind: 'customer',
    subject: payload.customer.id,
    scopes: [],
    roles: [],
  };
}

/**
 * Places an order through checkoutCreate and checkoutComplete, as a guest
 * or as `customer`. Card orders use the sandbox token that succeeds.
 */
export async function placeOrder(
  stack: TestStack,
  options: {
    sku: string;
    quantity?: number;
    method?: 'CARD' | 'BANK_TRANSFER' | 'CASH_ON_DELIVERY';
    email?: string;
    customer?: CallerIdentity;
  },
): Promise<PlacedOrder> {
  const headers = options.customer ? callerHeaders(options.customer) : {};
  const created = await stack.query(
    CHECKOUT_CREATE,
    {
      input: {
        lines: [{ sku: options.sku, quantity: options.quantity ?? 1 }],
        email: options.email ?? 'buyer@example.com',
        shippingAddress: {
          name: 'Ada Lovelace',
          line1: '12 Example Street',
          city: 'London',
          postalCode: 'N1 9GU',
          countryCode: 'GB',
        },
        shippingMethodCode: 'flat',
      },
    },
    headers,
  );
  const checkout = created.data?.checkoutCreate;
  if (!checkout || checkout.userErrors.length !== 0) {
    throw new Error(`checkoutCreate failed: ${JSON.stringify(created)}`);
  }
  const method = options.method ?? 'CARD';
  const completed = await stack.query(
    CHECKOUT_COMPLETE,
    {
      input: {
        checkoutId: checkout.checkout.id,
        payment:
          method === 'CARD'
            ? { method, cardToken: 'tok_sandbox_visa' }
            : { method },
        idempotencyKey: randomUUID(),
      },
    },
    headers,
  );
  const payload = completed.data?.checkoutComplete;
  if (!payload?.order || payload.userErrors.length !== 0) {
    throw new Error(`checkoutComplete failed: ${JSON.stringify(completed)}`);
  }
  return payload.order;
}
