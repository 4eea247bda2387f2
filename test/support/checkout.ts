import { callerHeaders, STAFF_ADMIN, type TestStack } from './stack.js';

/** Headers of a staff admin, for catalog set-up through the gateway. */
export const ADMIN = callerHeaders(STAFF_ADMIN);

export const ADDRESS = {
  name: 'Ada Lovelace',
  line1: '12 St James Square',
  city: 'London',
  postalCode: 'SW1Y 4JH',
  countryCode: 'GB',
};

export const CHECKOUT_FIELDS = `id email completedAt requiresShipping
  lines { sku quantity title unitPrice { amount } totalPrice { amount } problem { field message code } }
  shippingAddress { name line1 city countryCode }
  shippingMethod { code title price { amount } }
  availableShippingMethods { code price { amount } }
  subtotalPrice { amount currencyCode } discountPrice { amount }
  shippingPrice { amount } taxPrice { amount } totalPrice { amount }
  order { id }`;

export const CHECKOUT_CREATE = `mutation ($input: CheckoutCreateInput!) {
  checkoutCreate(input: $input) {
    checkout { ${CHECKOUT_FIELDS} }
    userErrors { field message code }
  }
}`;

export const CHECKOUT_UPDATE = `mutation ($input: CheckoutUpdateInput!) {
  checkoutUpdate(input: $input) {
    checkout { ${CHECKOUT_FIELDS} }
    userErrors { field message code }
  }
}`;

export const CHECKOUT_COMPLETE = `mutation ($input: CheckoutCompleteInput!) {
  checkoutComplete(input: $input) {
    order {
      id number email financialStatus
      subtotalPrice { amount } shippingPrice { amount } taxPrice { amount } totalPrice { amount }
      lines { sku title quantity unitPrice { amount } }
      payments { method provider status amount { amount } capturedAmount { amount } }
    }
    paymentAction { provider providerPaymentId clientSecret }
    userErrors { field message code }
  }
}`;

/** Creates an active product with one variant and sets its stock. */
export async function createProduct(
  stack: TestStack,
  options: {
    sku: string;
    price: string;
    stock?: number;
    requiresShipping?: boolean;
    title?: string;
  },
): Promise<void> {
  const created = await stack.query(
    `mutation ($input: ProductCreateInput!) {
      productCreate(input: $input) { product { id } userErrors { field message } }
    }`,
    {
      input: {
        title: options.title ?? `Product ${options.sku}`,
        status: 'ACTIVE',
        variants: [
          {
            sku: options.sku,
            price: { amount: options.price },
            requiresShipping: options.requiresShipping ?? true,
          },
        ],
      },
    },
    ADMIN,
  );
  if (created.errors || created.data!.productCreate.userErrors.length > 0) {
    throw new Error(`productCreate failed: ${JSON.stringify(created)}`);
  }
  if (options.stock !== undefined)
    await setStock(stack, options.sku, options.stock);
}

export async function setStock(
  stack: TestStack,
  sku: string,
  quantity: number,
): Promise<void> {
  const set = await stack.query(
    `mutation ($input: StockSetInput!) {
      stockSet(input: $input) { userErrors { field message } }
    }`,
    { input: { sku, quantity, reason: 'RECEIVED' } },
    ADMIN,
  );
  if (set.errors || set.data!.stockSet.userErrors.length > 0) {
    throw new Error(`stockSet failed: ${JSON.stringify(set)}`);
  }
}

/** Units of `sku` available to sell now, as the storefront sees them. */
export async function quantityAvailable(
  stack: TestStack,
  sku: string,
): Promise<number | null> {
  const result = await stack.query(
    `query ($sku: String!) { variant(sku: $sku) { quantityAvailable } }`,
    { sku },
    ADMIN,
  );
  return result.data!.variant.quantityAvailable;
}

/**
 * Creates a checkout ready to complete: lines, email, address, and the
 * flat shipping method unless `ships` is false (digital lines only, which
 * take no shipping method).
 */
export async function readyCheckout(
  stack: TestStack,
  lines: Array<{ sku: string; quantity: number }>,
  headers: Record<string, string> = {},
  { ships = true }: { ships?: boolean } = {},
): Promise<string> {
  const result = await stack.query(
    CHECKOUT_CREATE,
    {
      input: {
        lines,
        email: 'ada@example.com',
        shippingAddress: ADDRESS,
        ...(ships ? { shippingMethodCode: 'flat' } : {}),
      },
    },
    headers,
  );
  if (result.errors || result.data!.checkoutCreate.userErrors.length > 0) {
    throw new Error(`checkoutCreate failed: ${JSON.stringify(result)}`);
  }
  return result.data!.checkoutCreate.checkout.id;
}

export function complete(
  stack: TestStack,
  checkoutId: string,
  payment: { method: string; cardToken?: string },
  idempotencyKey: string,
  headers: Record<string, string> = {},
) {
  return stack.query(
    CHECKOUT_COMPLETE,
    { input: { checkoutId, payment, idempotencyKey } },
    headers,
  );
}
