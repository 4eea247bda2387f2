import { badUserInput } from '../../../platform/errors.js';

/** Maximum length of a period the ledger queries accept, in days. */
export const MAX_PERIOD_DAYS = 366;

const DAY_MS = 86_400_000;

/** A half-open period [from, to) of instants. */
export interface Period {
  from: Date;
  to: Date;
}

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

function isRealDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return (
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day
  );
}

/**
 * Parses an ISO 8601 date (`2026-11-01`, meaning UTC midnight) or a
 * date-time with an offset (`2026-11-01T00:00:00+01:00`, `…Z`). Returns
 * null for anything else, including a date-time without an offset, whose
 * instant would depend on the server's time zone. Fractions of a second
 * finer than milliseconds are cut off.
 */
export function parseInstant(text: string): Date | null {
  const date = DATE_PATTERN.exec(text);
  if (date) {
    const [year, month, day] = date.slice(1, 4).map(Number) as [
      number,
      number,
      number,
    ];
    return isRealDate(year, month, day)
      ? new Date(Date.UTC(year, month - 1, day))
      : null;
  }

  const dateTime = DATE_TIME_PATTERN.exec(text);
  if (!dateTime) return null;
  const [year, month, day, hour, minute] = dateTime.slice(1, 6).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const second = Number(dateTime[6] ?? '0');
  const millisecond = Number((dateTime[7] ?? '').padEnd(3, '0').slice(0, 3));
  const offset = dateTime[8]!;
  if (!isRealDate(year, month, day) || hour > 23 || minute > 59) return null;
  if (second > 59) return null;

  let offsetMinutes = 0;
  if (offset !== 'Z') {
    const offsetHours = Number(offset.slice(1, 3));
    const offsetRest = Number(offset.slice(4, 6));
    if (offsetHours > 23 || offsetRest > 59) return null;
    offsetMinutes =
      (offset.startsWith('-') ? -1 : 1) * (offsetHours * 60 + offsetRest);
  }
  const local = Date.UTC(year, month - 1, day, hour, minute, second);
  return new Date(local + millisecond - offsetMinutes * 60_000);
}

/**
 * Parses the `from` and `to` arguments of a ledger query into a half-open
 * period. Raises BAD_USER_INPUT naming the argument when one is not an
 * ISO 8601 date or date-time with offset, when `to` is not after `from`,
 * or when the period is longer than MAX_PERIOD_DAYS.
 */
export function parsePeriod(args: { from: string; to: string }): Period {
  const from = parseInstant(args.from);
  if (!from) {
    throw badUserInput(
      `Invalid from: "${args.from}". Use an ISO 8601 date such as 2026-11-01 (UTC midnight) or a date-time with an offset such as 2026-11-01T00:00:00+01:00.`,
      'from',
    );
  }
  const to = parseInstant(args.to);
  if (!to) {
    throw badUserInput(
      `Invalid to: "${args.to}". Use an ISO 8601 date such as 2026-12-01 (UTC midnight) or a date-time with an offset such as 2026-12-01T00:00:00+01:00.`,
      'to',
    );
  }
  if (to.getTime() <= from.getTime()) {
    throw badUserInput(
      `Invalid to: "${args.to}" is not after from "${args.from}". The period is [from, to), so to must be later than from.`,
      'to',
    );
  }
  if (to.getTime() - from.getTime() > MAX_PERIOD_DAYS * DAY_MS) {
    throw badUserInput(
      `Invalid to: the period from "${args.from}" to "${args.to}" is longer than ${MAX_PERIOD_DAYS} days. Query a year or less at a time.`,
      'to',
    );
  }
  return { from, to };
}
