import { ErrorCode } from '../../platform/errors.js';
import { eq, sql } from 'drizzle-orm';
import { Agent, request } from 'undici';
import type { Config } from '../../platform/config.js';
import { summarizeError } from '../../platform/errors.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Logger } from '../../platform/logger.js';
import { appendEvents } from '../../platform/outbox.js';
import { tables, type GatewayDatabase } from '../db/database.js';
import {
  prepareEndpointDocument,
  type EndpointDocumentColumns,
  type PrepareDocument,
} from './documents.js';
import {
  secretContext,
  urlGuardSettings,
  webhookSecretBox,
} from './settings.js';
import { signWebhook } from './signature.js';
import { checkWebhookUrl, guardedLookup } from './url-guard.js';

/** Deliveries claimed per pass; each belongs to a different endpoint. */
const CLAIM_BATCH = 20;
/** Time a claim outlives the request timeout, in ms. */
const LEASE_MARGIN_MS = 30_000;
/** Longest `last_error` stored, in characters. */
const MAX_ERROR_LENGTH = 500;
/** Pause after a failed pass, in ms; it doubles per further failed pass. */
const PASS_RETRY_MIN_MS = 200;
/** Maximum pause after failed passes, in ms. */
const PASS_RETRY_MAX_MS = 30_000;

/**
 * Returns the pause in ms after `failures` consecutive failed passes, such
 * as when the database is unreachable: 200 ms doubling up to 30 s.
 */
export function passRetryDelayMs(failures: number): number {
  return Math.min(
    PASS_RETRY_MIN_MS * 2 ** Math.max(failures - 1, 0),
    PASS_RETRY_MAX_MS,
  );
}

/**
 * Returns `url` without user name, password, query and fragment, which
 * may carry credentials, for events and logs.
 */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    parsed.hash = '';
    return parsed.toString();
  } catch {
    return url.replace(/[?#].*$/, '');
  }
}

type ClaimedDelivery = {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_position: string;
  type: string;
  payload: unknown;
  occurred_at: Date | string;
  attempts: number;
};

export interface DeliveryWorker {
  /** Stops claiming; resolves once the requests in flight have ended. */
  stop(): Promise<void>;
}

/**
 * Starts the webhook delivery worker. Each pass claims due deliveries and
 * POSTs them. Only the oldest PENDING delivery of an endpoint is due, so an
 * endpoint receives its events in order: the next one waits until the
 * previous one succeeded or failed for good. Every attempt is recorded in
 * `webhook_delivery_attempts`. After a failed pass the worker pauses as
 * `passRetryDelayMs` returns, not WEBHOOK_POLL_INTERVAL_MS.
 *
 * A claim is a lease (`leased_until`) set in a short transaction with
 * FOR UPDATE SKIP LOCKED, so replicas never send one delivery at once and
 * no transaction stays open during a request. An open transaction would
 * hold back every event stream on the database server (docs/events.md).
 * A replica that dies mid-request leaves the lease to expire, and the
 * delivery is sent again then.
 */
export function startDeliveryWorker(options: {
  config: Config;
  logger: Logger;
  db: GatewayDatabase;
  /** Plans the subscription documents of endpoints that have one. */
  prepareDocument?: PrepareDocument;
}): DeliveryWorker {
  const { config, db } = options;
  const logger = options.logger.child({ component: 'webhook-delivery' });
  const guard = urlGuardSettings(config);
  const timeoutMs = config.WEBHOOK_TIMEOUT_MS;
  const dispatcher = new Agent({
    connect: { timeout: timeoutMs, lookup: guardedLookup(guard) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  async function claim(): Promise<ClaimedDelivery[]> {
    const leaseMs = timeoutMs + LEASE_MARGIN_MS;
    const rows = await db.execute<ClaimedDelivery>(sql`
      with due as (
        select d.id from webhook_deliveries d
          join webhook_endpoints e on e.id = d.endpoint_id
         where d.status = 'PENDING'
           and e.enabled
           and d.next_attempt_at <= now()
           and (d.leased_until is null or d.leased_until < now())
           and (e.partner_key_id is null or exists (
                 select 1 from partner_keys k
                  where k.id = e.partner_key_id and k.revoked_at is null
                    and (k.expires_at is null or k.expires_at > now())))
           and not exists (
                 select 1 from webhook_deliveries p
                  where p.endpoint_id = d.endpoint_id
                    and p.status = 'PENDING'
                    and p.sequence < d.sequence)
         order by d.next_attempt_at, d.sequence
         limit ${CLAIM_BATCH}
         for update of d skip locked
      )
      update webhook_deliveries w
         set leased_until = now() + ${leaseMs} * interval '1 millisecond',
             attempts = w.attempts + 1,
             updated_at = now()
        from due
       where w.id = due.id
      returning w.id, w.endpoint_id, w.event_id, w.event_position, w.type,
                w.payload, w.occurred_at, w.attempts`);
    return [...rows];
  }

  /** Sends one delivery; returns the response status, or throws. */
  async function send(delivery: ClaimedDelivery): Promise<number> {
    const [endpoint] = await db
      .select({
        url: tables.webhookEndpoints.url,
        secretEncrypted: tables.webhookEndpoints.secretEncrypted,
        subscriptionQuery: tables.webhookEndpoints.subscriptionQuery,
        subscriptionVariables: tables.webhookEndpoints.subscriptionVariables,
        subscriptionCaller: tables.webhookEndpoints.subscriptionCaller,
      })
      .from(tables.webhookEndpoints)
      .where(eq(tables.webhookEndpoints.id, delivery.endpoint_id));
    if (!endpoint) throw new Error('the endpoint was deleted');
    const box = await webhookSecretBox(config);
    const secret = box.decrypt(
      endpoint.secretEncrypted,
      secretContext(delivery.endpoint_id),
    );
    // Checked again at each delivery: the host may resolve elsewhere now.
    // guardedLookup checks the address the socket connects to as well.
    const url = await checkWebhookUrl(endpoint.url, guard);
    const occurredAt = new Date(delivery.occurred_at).toISOString();
    const shaped = await shapedData(delivery, endpoint, occurredAt);
    const body = JSON.stringify({
      id: delivery.event_id,
      type: delivery.type,
      position: delivery.event_position,
      occurredAt,
      ...(shaped ?? { data: delivery.payload }),
    });
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await request(url, {
      method: 'POST',
      dispatcher,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'commerce-graph-webhooks',
        'webhook-id': delivery.event_id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(
          secret,
          delivery.event_id,
          timestamp,
          body,
        ),
      },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body.dump();
    return response.statusCode;
  }

  /**
   * Runs the endpoint's subscription document for the delivery's event, as
   * a live subscription would, and returns its `data` and `errors`, or null
   * for an endpoint without a document. Throws when the document no longer
   * plans or a subgraph is unreachable, so the attempt counts as failed
   * and is retried.
   */
  async function shapedData(
    delivery: ClaimedDelivery,
    endpoint: EndpointDocumentColumns,
    occurredAt: string,
  ): Promise<{ data: unknown; errors?: unknown[] } | null> {
    const prepared = prepareEndpointDocument(
      options.prepareDocument,
      delivery.endpoint_id,
      endpoint,
      logger,
    );
    if (prepared === null) return null;
    if (!prepared.ok) {
      throw new Error(
        `the subscription document is invalid for the current supergraph: ${prepared.errors[0]?.message ?? 'no reason given'}`,
      );
    }
    const result = await prepared.execute({
      position: delivery.event_position,
      id: delivery.event_id,
      type: delivery.type,
      aggregateId: '',
      payload: delivery.payload,
      occurredAt,
    });
    const unavailable = result.errors?.find(
      (error) =>
        error.extensions?.code === ErrorCode.SubgraphUnavailable ||
        error.extensions?.code === ErrorCode.InternalServerError,
    );
    if (unavailable) {
      throw new Error(
        `resolving the subscription document failed: ${unavailable.message}`,
      );
    }
    return result.errors
      ? { data: result.data, errors: result.errors }
      : { data: result.data };
  }

  async function deliver(delivery: ClaimedDelivery): Promise<void> {
    let status: number | null = null;
    let failure: string | null = null;
    try {
      status = await send(delivery);
      if (status < 200 || status > 299) failure = `HTTP ${status}`;
    } catch (error) {
      failure = (error instanceof Error ? error.message : String(error)).slice(
        0,
        MAX_ERROR_LENGTH,
      );
    }
    const ids = {
      deliveryId: delivery.id,
      endpointId: delivery.endpoint_id,
      eventId: delivery.event_id,
      attempt: delivery.attempts,
    };
    const attempt = {
      id: uuidv7(),
      deliveryId: delivery.id,
      attempt: delivery.attempts,
      responseStatus: status,
      error: failure,
    };
    if (failure === null) {
      await db.transaction(async (transaction) => {
        await transaction.execute(sql`
          update webhook_deliveries
             set status = 'SUCCEEDED', leased_until = null,
                 last_response_status = ${status}, last_error = null,
                 updated_at = now()
           where id = ${delivery.id}`);
        await transaction
          .insert(tables.webhookDeliveryAttempts)
          .values(attempt);
        await transaction.execute(sql`
          update webhook_endpoints set failure_count = 0, updated_at = now()
           where id = ${delivery.endpoint_id} and failure_count <> 0`);
      });
      logger.debug(ids, 'webhook delivered');
      return;
    }
    const final = delivery.attempts >= config.WEBHOOK_MAX_ATTEMPTS;
    const delayMs = config.WEBHOOK_RETRY_BASE_MS * 2 ** (delivery.attempts - 1);
    const disabled = await db.transaction(async (transaction) => {
      await transaction.execute(sql`
        update webhook_deliveries
           set status = ${final ? 'FAILED' : 'PENDING'},
               leased_until = null,
               next_attempt_at = now() + ${delayMs} * interval '1 millisecond',
               last_response_status = ${status},
               last_error = ${failure},
               updated_at = now()
         where id = ${delivery.id}`);
      await transaction.insert(tables.webhookDeliveryAttempts).values(attempt);
      const [endpoint] = await transaction.execute<{
        enabled: boolean;
        partner_key_id: string | null;
        url: string;
        now: Date | string;
      }>(sql`
        select enabled, partner_key_id, url, now() as now
          from webhook_endpoints
         where id = ${delivery.endpoint_id}
           for update`);
      if (!endpoint) return null;
      // A delivery that failed for good disables its endpoint, so a dead
      // receiver does not take a full retry schedule for every event.
      await transaction.execute(sql`
        update webhook_endpoints
           set failure_count = failure_count + 1,
               enabled = enabled and not ${final},
               updated_at = now()
         where id = ${delivery.endpoint_id}`);
      if (!final || !endpoint.enabled) return null;
      const event = {
        endpointId: delivery.endpoint_id,
        partnerKeyId: endpoint.partner_key_id,
        url: withoutCredentials(endpoint.url),
        reason: failure,
        lastResponseStatus: status,
        disabledAt: new Date(endpoint.now).toISOString(),
      };
      // In the transaction that disables the endpoint, so staff learn of
      // every disabled endpoint and of no endpoint that stayed enabled.
      await appendEvents(transaction, [
        {
          type: 'webhook.endpoint_disabled',
          aggregateId: delivery.endpoint_id,
          payload: event,
        },
      ]);
      return event;
    });
    if (disabled) {
      logger.warn(
        { ...ids, ...disabled },
        'webhook endpoint disabled after a delivery failed for good; staff endpoints subscribed to webhook.endpoint_disabled are notified',
      );
    }
    if (final) {
      logger.warn(
        { ...ids, reason: failure },
        'webhook delivery failed for good; the endpoint is disabled',
      );
    } else {
      logger.info(
        { ...ids, reason: failure, retryInMs: delayMs },
        'webhook delivery failed; retrying after a pause',
      );
    }
  }

  async function pass(): Promise<number> {
    const claimed = await claim();
    // Every delivery ends before the pass does, even when one fails, so no
    // request outlives `stop()`.
    const results = await Promise.allSettled(claimed.map(deliver));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    return claimed.length;
  }

  const running = (async () => {
    let failures = 0;
    while (!stopping) {
      let claimed = 0;
      let pauseMs = config.WEBHOOK_POLL_INTERVAL_MS;
      try {
        claimed = await pass();
        failures = 0;
      } catch (error) {
        failures += 1;
        pauseMs = passRetryDelayMs(failures);
        logger.error(
          { err: summarizeError(error), failures, retryInMs: pauseMs },
          'webhook delivery pass failed; retrying after a pause',
        );
      }
      if (stopping) break;
      // A delivery that ended makes its endpoint's next one due, so the
      // worker looks again at once. An endpoint then receives events as
      // fast as it responds, not one per poll interval.
      if (claimed > 0) continue;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, pauseMs);
      });
    }
  })();

  return {
    async stop() {
      stopping = true;
      clearTimeout(timer);
      wake?.();
      await running;
      await dispatcher.close();
    },
  };
}
