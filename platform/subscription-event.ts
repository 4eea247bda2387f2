import { and, eq, sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { GraphQLError } from 'graphql';
import { ErrorCode } from './errors.js';
import { outboxEvents, parseEventPosition } from './outbox.js';
import {
  EVENT_POSITION_HEADER,
  SUBSCRIPTION_FIELDS,
  type SubscriptionFieldName,
} from './subscription-fields.js';

/**
 * `extensions.code` of a subscription request that a subgraph cannot serve
 * as sent: no event position, a malformed one, or an event of a type the
 * field does not report. The error formatter passes it through to clients.
 */
export const BAD_REQUEST = 'BAD_REQUEST';

/** Largest xid8 value, 2^64 - 1. No transaction id is larger. */
const MAX_TRANSACTION_ID = 2n ** 64n - 1n;

/** One committed outbox event, as a subscription root field resolves it. */
export interface SubscriptionEvent {
  /** `<transaction id>.<sequence>`, as in the subgraph's `/events` stream. */
  position: string;
  id: string;
  type: string;
  aggregateId: string;
  payload: Record<string, unknown>;
  /** When the event was written, ISO 8601. */
  occurredAt: string;
}

type AnyPgDatabase = PgDatabase<PgQueryResultHKT, Record<string, unknown>>;

/**
 * Reads the event that the gateway names in the `x-commerce-event-position`
 * header and checks that `fieldName` reports its type. The row is read by
 * its sequence, and its transaction id must match too, so a position is
 * never taken for another event. Only committed rows are visible to the
 * query, so a request can resolve only events that really happened.
 *
 * Throws a GraphQLError with code BAD_REQUEST for a missing or malformed
 * header and for an event of another type, and NOT_FOUND for a position
 * that no event of this subgraph has.
 */
export async function loadSubscriptionEvent(
  db: Pick<AnyPgDatabase, 'select'>,
  headerValue: string | null | undefined,
  fieldName: SubscriptionFieldName,
): Promise<SubscriptionEvent> {
  const { service, types } = SUBSCRIPTION_FIELDS[fieldName];
  if (headerValue === null || headerValue === undefined || headerValue === '') {
    throw new GraphQLError(
      `Missing header ${EVENT_POSITION_HEADER}: ${fieldName} is resolved for one event of the ${service} event stream, named by that header. Subscribe through the gateway over graphql-ws or SSE, which sends the header for each event.`,
      { extensions: { code: BAD_REQUEST } },
    );
  }

  const parsed = parseEventPosition(headerValue);
  if (parsed === null) {
    throw new GraphQLError(
      `Invalid header ${EVENT_POSITION_HEADER} "${headerValue.slice(0, 100)}": expected an event position "<transaction id>.<sequence>" such as "7431.12", as GET /events of the ${service} subgraph returns it.`,
      { extensions: { code: BAD_REQUEST } },
    );
  }
  // Written as the stream writes it, without leading zeros. A sequence
  // beyond 2^53 names no row and is kept as sent, since Number rounded it.
  const position = Number.isSafeInteger(parsed.sequence)
    ? `${BigInt(parsed.transactionId)}.${parsed.sequence}`
    : headerValue;

  const row = await findEvent(db, parsed.transactionId, parsed.sequence);
  if (!row) throw eventNotFound(position, service);
  if (!(types as readonly string[]).includes(row.type)) {
    throw new GraphQLError(
      `The event at position "${position}" is a ${row.type} event, but ${fieldName} reports only ${types.join(', ')} events. Send the position of an event of one of those types.`,
      { extensions: { code: BAD_REQUEST } },
    );
  }

  if (!isRecord(row.payload)) {
    throw new Error(
      `Outbox event ${row.id} at position ${position} has a payload that is not a JSON object.`,
    );
  }
  return {
    position,
    id: row.id,
    type: row.type,
    aggregateId: row.aggregateId,
    payload: row.payload,
    occurredAt: new Date(row.createdAt).toISOString(),
  };
}

/**
 * Creates the NOT_FOUND error of a position without an event. Resolvers
 * that hide an event from a caller throw it too, so the caller cannot tell
 * a hidden event from a missing one.
 */
export function eventNotFound(position: string, service: string): GraphQLError {
  return new GraphQLError(
    `No event of the ${service} subgraph has position "${position}": send a position that GET /events of the ${service} subgraph returned.`,
    { extensions: { code: ErrorCode.NotFound } },
  );
}

/**
 * Returns the `subscribe` function of a subscription root field, which
 * always throws. Subgraphs serve no subscriptions themselves. The gateway
 * keeps them open and requests the field once per event, with a plain HTTP
 * request that calls only `resolve`.
 */
export function rejectSubgraphSubscription(
  fieldName: SubscriptionFieldName,
): () => never {
  return () => {
    throw new GraphQLError(
      `Subscriptions are served by the gateway over graphql-ws or SSE, not by the ${SUBSCRIPTION_FIELDS[fieldName].service} subgraph: subscribe to ${fieldName} at the gateway.`,
      { extensions: { code: BAD_REQUEST } },
    );
  };
}

async function findEvent(
  db: Pick<AnyPgDatabase, 'select'>,
  transactionId: string,
  sequence: number,
) {
  // Numbers beyond these bounds fit the position's pattern but cannot name
  // a row: an xid8 has 64 bits, and a sequence beyond 2^53 would be
  // rounded before it reached the query.
  if (
    BigInt(transactionId) > MAX_TRANSACTION_ID ||
    !Number.isSafeInteger(sequence)
  ) {
    return undefined;
  }
  const [row] = await db
    .select({
      id: outboxEvents.id,
      type: outboxEvents.type,
      aggregateId: outboxEvents.aggregateId,
      payload: outboxEvents.payload,
      createdAt: outboxEvents.createdAt,
    })
    .from(outboxEvents)
    .where(
      and(
        eq(outboxEvents.sequence, sequence),
        sql`${outboxEvents.transactionId} = ${transactionId}::xid8`,
      ),
    );
  return row;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Returns the string at `key` of the event's payload, or null when it is not a string. */
export function payloadString(
  event: SubscriptionEvent,
  key: string,
): string | null {
  const value = event.payload[key];
  return typeof value === 'string' ? value : null;
}

/**
 * Returns the string at `key` of the event's payload when it is one of
 * `values`, such as the values of a GraphQL enum, else null.
 */
export function payloadEnum<TValue extends string>(
  event: SubscriptionEvent,
  key: string,
  values: readonly TValue[],
): TValue | null {
  const value = payloadString(event, key);
  return value !== null && (values as readonly string[]).includes(value)
    ? (value as TValue)
    : null;
}

/** Returns the string at `key` of the event's payload; throws when it is not one. */
export function requiredPayloadString(
  event: SubscriptionEvent,
  key: string,
): string {
  const value = payloadString(event, key);
  if (value === null) throw invalidPayload(event, key, 'a string');
  return value;
}

/** Returns the integer at `key` of the event's payload; throws when it is not one. */
export function requiredPayloadInteger(
  event: SubscriptionEvent,
  key: string,
): number {
  const value = event.payload[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw invalidPayload(event, key, 'an integer');
  }
  return value;
}

/**
 * Creates the error of an event whose payload lacks a field that its type
 * always has. It is a plain Error, so clients get a masked internal error
 * and the log names the event.
 */
function invalidPayload(
  event: SubscriptionEvent,
  key: string,
  expected: string,
): Error {
  return new Error(
    `The payload of ${event.type} event ${event.id} at position ${event.position} has no ${expected} at "${key}".`,
  );
}
