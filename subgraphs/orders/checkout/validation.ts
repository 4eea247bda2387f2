import {
  userError,
  UserErrorCode,
  type UserError,
} from '../../../platform/errors.js';
import type { CheckoutLineValue, MailingAddressValue } from '../db/tables.js';

export const MAX_CHECKOUT_LINES = 100;
export const MAX_LINE_QUANTITY = 1000;
export const MAX_SKU_LENGTH = 100;
export const MAX_EMAIL_LENGTH = 254;
/** Maximum length of a shipping method code, in characters. */
export const MAX_SHIPPING_METHOD_CODE_LENGTH = 100;

/** Maximum length of each address field, in characters. */
const ADDRESS_LIMITS = {
  name: 100,
  line1: 200,
  line2: 200,
  city: 100,
  region: 100,
  postalCode: 20,
  phone: 32,
} as const;

const REQUIRED_ADDRESS_FIELDS = ['name', 'line1', 'city'] as const;

/** ISO 3166-1 codes that name no country a parcel can be shipped to. */
const NOT_COUNTRIES = new Set(['EU', 'EZ', 'UN', 'QO', 'XA', 'XB']);
const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });

interface LineInput {
  sku: string;
  quantity: number;
}

interface AddressInput {
  name: string;
  line1: string;
  line2?: string | null;
  city: string;
  region?: string | null;
  postalCode?: string | null;
  countryCode: string;
  phone?: string | null;
}

/** Fields of checkoutCreate and checkoutUpdate, as sent. */
export interface CheckoutFieldsInput {
  lines?: readonly LineInput[] | null;
  email?: string | null;
  shippingAddress?: AddressInput | null;
  shippingMethodCode?: string | null;
}

/** Normalised checkout fields, where undefined means the field was not sent. */
export interface CheckoutFields {
  lines?: CheckoutLineValue[];
  email?: string | null;
  shippingAddress?: MailingAddressValue | null;
  shippingMethodCode?: string | null;
}

/**
 * Checks every field of a checkout input and returns the normalised
 * values, or every problem found, each naming its path under `input`.
 */
export function validateCheckoutFields(input: CheckoutFieldsInput): {
  fields: CheckoutFields;
  userErrors: UserError[];
} {
  const errors: UserError[] = [];
  const fields: CheckoutFields = {};
  if (input.lines !== undefined && input.lines !== null) {
    fields.lines = checkLines(input.lines, errors);
  }
  if (input.email !== undefined) {
    fields.email =
      input.email === null ? null : checkEmail(input.email, errors);
  }
  if (input.shippingAddress !== undefined) {
    fields.shippingAddress =
      input.shippingAddress === null
        ? null
        : checkAddress(input.shippingAddress, errors);
  }
  if (input.shippingMethodCode !== undefined) {
    fields.shippingMethodCode =
      input.shippingMethodCode === null
        ? null
        : checkShippingMethod(input.shippingMethodCode, errors);
  }
  return { fields, userErrors: errors };
}

function checkLines(
  lines: readonly LineInput[],
  errors: UserError[],
): CheckoutLineValue[] {
  if (lines.length === 0 || lines.length > MAX_CHECKOUT_LINES) {
    errors.push(
      userError(
        ['input', 'lines'],
        `A checkout has 1 to ${MAX_CHECKOUT_LINES} lines; got ${lines.length}. ${
          lines.length === 0
            ? 'Add at least one line.'
            : 'Remove lines or split the purchase.'
        }`,
        UserErrorCode.Invalid,
      ),
    );
    return [];
  }
  return lines.map((line, index) => {
    const path = ['input', 'lines', String(index)];
    const sku = line.sku.trim();
    if (sku === '') {
      errors.push(
        userError(
          [...path, 'sku'],
          'SKU is required: give the SKU of the variant to buy.',
          UserErrorCode.Required,
        ),
      );
    } else if (sku.length > MAX_SKU_LENGTH || /[\s\p{C}]/u.test(sku)) {
      errors.push(
        userError(
          [...path, 'sku'],
          `Invalid SKU "${line.sku}": use at most ${MAX_SKU_LENGTH} characters without spaces or control characters.`,
          UserErrorCode.Invalid,
        ),
      );
    }
    if (
      !Number.isInteger(line.quantity) ||
      line.quantity < 1 ||
      line.quantity > MAX_LINE_QUANTITY
    ) {
      errors.push(
        userError(
          [...path, 'quantity'],
          `Invalid quantity ${line.quantity}: use a whole number from 1 to ${MAX_LINE_QUANTITY}.`,
          UserErrorCode.Invalid,
        ),
      );
    }
    return { sku, quantity: line.quantity };
  });
}

/** Trims and lower-cases an email, and records an error in `errors` when it is invalid. */
export function checkEmail(
  value: string,
  errors: UserError[],
  path = ['input', 'email'],
): string {
  const email = value.trim().toLowerCase();
  if (
    email.length > MAX_EMAIL_LENGTH ||
    !/^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/.test(email)
  ) {
    errors.push(
      userError(
        path,
        `Invalid email "${value}": use an address such as ada@example.com, at most ${MAX_EMAIL_LENGTH} characters.`,
        UserErrorCode.Invalid,
      ),
    );
  }
  return email;
}

function checkAddress(
  input: AddressInput,
  errors: UserError[],
): MailingAddressValue {
  const path = ['input', 'shippingAddress'];
  const text = (name: keyof typeof ADDRESS_LIMITS): string | null => {
    const value = input[name]?.trim() ?? '';
    if (value.length > ADDRESS_LIMITS[name]) {
      errors.push(
        userError(
          [...path, name],
          `${ADDRESS_FIELD_LABELS[name]} is ${value.length} characters long; shorten it to at most ${ADDRESS_LIMITS[name]}.`,
          UserErrorCode.Invalid,
        ),
      );
    }
    if (/\p{Cc}/u.test(value)) {
      errors.push(
        userError(
          [...path, name],
          `${ADDRESS_FIELD_LABELS[name]} contains control characters; remove them.`,
          UserErrorCode.Invalid,
        ),
      );
    }
    return value === '' ? null : value;
  };
  const address: MailingAddressValue = {
    name: text('name') ?? '',
    line1: text('line1') ?? '',
    line2: text('line2'),
    city: text('city') ?? '',
    region: text('region'),
    postalCode: text('postalCode'),
    countryCode: input.countryCode.trim().toUpperCase(),
    phone: text('phone'),
  };
  for (const name of REQUIRED_ADDRESS_FIELDS) {
    if (address[name] === '') {
      errors.push(
        userError(
          [...path, name],
          `${ADDRESS_FIELD_LABELS[name]} is required for a shipping address.`,
          UserErrorCode.Required,
        ),
      );
    }
  }
  if (!isCountryCode(address.countryCode)) {
    errors.push(
      userError(
        [...path, 'countryCode'],
        `Invalid country code "${input.countryCode}": use an ISO 3166-1 alpha-2 code such as US or DE.`,
        UserErrorCode.Invalid,
      ),
    );
  }
  if (address.phone !== null && !/^\+?[0-9 ()./-]{3,}$/.test(address.phone)) {
    errors.push(
      userError(
        [...path, 'phone'],
        `Invalid phone "${input.phone}": use digits, spaces and + ( ) - . only, such as +1 555 0100.`,
        UserErrorCode.Invalid,
      ),
    );
  }
  return address;
}

const ADDRESS_FIELD_LABELS: Record<keyof typeof ADDRESS_LIMITS, string> = {
  name: 'Name',
  line1: 'Address line 1',
  line2: 'Address line 2',
  city: 'City',
  region: 'Region',
  postalCode: 'Postal code',
  phone: 'Phone',
};

/** Reports whether `code` is an assigned ISO 3166-1 alpha-2 code of a country or territory. */
export function isCountryCode(code: string): boolean {
  if (!/^[A-Z]{2}$/.test(code) || NOT_COUNTRIES.has(code)) return false;
  const name = regionNames.of(code);
  return name !== undefined && name !== code && name !== 'Unknown Region';
}

/**
 * Trims a shipping method code and checks its form. Whether the checkout
 * offers it depends on the current quotes, which shipping-check.ts
 * checks once the other fields are valid.
 */
function checkShippingMethod(code: string, errors: UserError[]): string {
  const trimmed = code.trim();
  if (
    trimmed === '' ||
    trimmed.length > MAX_SHIPPING_METHOD_CODE_LENGTH ||
    /[\s\p{C}]/u.test(trimmed)
  ) {
    errors.push(
      userError(
        ['input', 'shippingMethodCode'],
        `Invalid shipping method code "${code}": use the code of one of the checkout's availableShippingMethods, such as flat.`,
        UserErrorCode.Invalid,
      ),
    );
  }
  return trimmed;
}
