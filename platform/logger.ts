import { pino, type DestinationStream, type Logger } from 'pino';
import { summarizeError } from './errors.js';

export type { Logger };

/** Value that replaces a redacted field or email address in a log record. */
const CENSOR = '[redacted]';

/**
 * Normalized keys (lower case, letters and digits only) whose values are
 * personal data, secrets or client input, and are never logged. `variables`
 * is there because GraphQL variables carry whatever a client sends, such
 * as emails and passwords. A plain `name` is not redacted, because most
 * logged names are of services and subgraphs, so a customer record is
 * redacted as a whole under `customer` or `user`.
 */
const REDACTED_KEYS = new Set([
  'authorization',
  'cookie',
  'setcookie',
  'variables',
  'databaseurl',
  'customer',
  'customers',
  'user',
  'profile',
  'recipient',
  'firstname',
  'lastname',
  'fullname',
  'givenname',
  'familyname',
  'displayname',
  'username',
  'customername',
  'address',
  'address1',
  'address2',
  'addressline1',
  'addressline2',
  'street',
  'city',
  'postalcode',
  'postcode',
  'zip',
  'zipcode',
  'shippingaddress',
  'billingaddress',
  'dateofbirth',
  'birthdate',
  'card',
  'pan',
  'cvc',
  'cvv',
  'iban',
  'key',
]);

/** Parts of normalized keys that mark a value as personal data or a secret. */
const REDACTED_KEY_PARTS = [
  'password',
  'passwd',
  'secret',
  'email',
  'phone',
  'apikey',
  'privatekey',
  'signingkey',
  'cardnumber',
  'creditcard',
  'expiry',
];

/** Ends of normalized keys that mark a value as a credential. */
const REDACTED_KEY_ENDS = ['token', 'tokens', 'jwt'];

/** Email addresses inside any logged string, such as a driver message. */
const EMAIL_ADDRESS =
  /[^\s@"'`<>()[\]{},;:\\/]+@[^\s@"'`<>()[\]{},;:\\/]+\.[a-z]{2,}/gi;

/** Nesting below which a log record is cut, so a cyclic object cannot loop. */
const MAX_DEPTH = 8;

function isRedactedKey(key: string): boolean {
  const normalized = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return (
    REDACTED_KEYS.has(normalized) ||
    REDACTED_KEY_PARTS.some((part) => normalized.includes(part)) ||
    REDACTED_KEY_ENDS.some((end) => normalized.endsWith(end))
  );
}

/** Replaces every email address in `text`. */
export function redactEmailAddresses(text: string): string {
  return text.replace(EMAIL_ADDRESS, CENSOR);
}

/**
 * Returns a copy of a log field with personal data and secrets removed:
 * values under a redacted key at any depth are replaced, email addresses
 * in strings are replaced, and errors are reduced by `summarizeError`,
 * which drops query parameters and the values a database message echoes.
 */
function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactEmailAddresses(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (value instanceof Error) {
    return redactValue(summarizeError(value), depth + 1);
  }
  if (value instanceof Date) return value;
  if (ArrayBuffer.isView(value)) return '[binary]';
  if (Array.isArray(value)) {
    return value.map((item) => redactValue(item, depth + 1));
  }
  if (value instanceof Map || value instanceof Set)
    return `[${value.constructor.name}]`;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = isRedactedKey(key) ? CENSOR : redactValue(item, depth + 1);
  }
  return copy;
}

/**
 * Creates the process logger. No record contains personal data or
 * secrets:
 *
 * - Fields named like personal data, credentials or GraphQL variables
 *   (see REDACTED_KEYS) are replaced at any depth. pino's `redact` paths
 *   are not used for this because they match fixed depths only.
 * - Errors, including `err` fields, are reduced by `summarizeError`.
 * - Email addresses are replaced in every string, messages included.
 *
 * Names, passwords and tokens inside free text cannot be recognized, so
 * code logs ids, never such values in a message.
 */
export function createLogger(
  name: string,
  level = 'info',
  destination?: DestinationStream,
): Logger {
  const options = {
    name,
    level,
    formatters: {
      log: (record: Record<string, unknown>) =>
        redactValue(record, 0) as Record<string, unknown>,
    },
    // formatters.log has already reduced errors, and pino's own error
    // serializer would copy every enumerable field of one back.
    serializers: { err: (value: unknown) => value },
    hooks: {
      // An error passed as the first argument would otherwise become the
      // message unreduced; it is logged as `err` like every other error.
      logMethod(
        this: Logger,
        args: unknown[],
        method: (...args: unknown[]) => void,
      ) {
        const [first, ...rest] = args;
        const logged =
          first instanceof Error
            ? [
                { err: first },
                ...(rest.length > 0
                  ? rest
                  : [String(summarizeError(first).message)]),
              ]
            : args;
        method.apply(
          this,
          logged.map((arg) =>
            typeof arg === 'string' ? redactEmailAddresses(arg) : arg,
          ),
        );
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Replaces the password of a connection URL so it can be logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[invalid url]';
  }
}
