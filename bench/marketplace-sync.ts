/**
 * The marketplace sync workload of `npm run bench`: stock adjustments sent
 * through the gateway as staff, and the delay until the sandbox
 * marketplace stores each new quantity. See `measureMarketplaceSync` and
 * the "Stock sync to a marketplace" section that bench/run.ts writes to
 * BENCHMARKS.md.
 */
import { randomUUID } from 'node:crypto';
import type { Sql } from 'postgres';
import { issueStaffAccessToken } from '../gateway/identity/access-tokens.js';
import { parsePrivateKey } from '../platform/identity-keys.js';
import { sandboxAccount } from '../subgraphs/marketplace/sync/adapters.js';

/** Units on hand each bench variant starts with. */
const INITIAL_STOCK = 100;
/** Interval at which the bench reads the sandbox records and sync tasks, in ms. */
export const SYNC_POLL_MS = 5;
/** Time each workload may take to reach the marketplace after its last adjustment. */
const SETTLE_TIMEOUT_MS = 30_000;

export interface MarketplaceSyncTargets {
  gatewayUrl: string;
  /** IDENTITY_PRIVATE_KEY of the gateway, to sign a staff access token. */
  identityPrivateKey: string;
  marketplaceSql: Sql;
  catalogSql: Sql;
}

export interface SyncWorkload {
  name: string;
  description: string;
  /** Adjustments sent one after another by each sender. */
  adjustments: number;
  /** Concurrent senders. */
  senders: number;
  /** Picks the variant index of adjustment `index`. */
  variantOf: (index: number) => number;
  /** Pause after adjustment `index` (of one sender), in ms. */
  pauseAfter: (index: number) => number;
}

/** Delays of one workload, in ms. */
export interface SyncMeasurement {
  name: string;
  description: string;
  variants: number;
  adjustments: number;
  /** `listing.synced` events of the bench connection: pushes the worker made. */
  pushes: number;
  seconds: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** stockAdjust request latency through the gateway, median. */
  adjustP50: number;
  /**
   * Stage delays, each from the catalog's `stock.changed` event (the start
   * of its transaction) until the consumer recorded the sync task, and
   * until the adapter wrote the quantity.
   */
  taskRecordedP50: number;
  taskRecordedP99: number;
  adapterWriteP50: number;
  adapterWriteP99: number;
  /** Median time from the adapter's write to the bench reading it. */
  observedLagP50: number;
  /** Adjustments whose quantity the marketplace stored before the response arrived. */
  beforeResponse: number;
  problems: string[];
}

interface BenchVariant {
  sku: string;
  variantId: string;
  listingId: string;
}

interface Adjustment {
  variant: BenchVariant;
  /** Marketplace quantity after this adjustment: available units, safety stock 0. */
  expected: number;
  sentAt: number;
  respondedAt: number;
}

/** A quantity the sandbox stored for a SKU, as the poller first read it. */
interface SandboxVersion {
  quantity: number;
  /** `updatedAt` that the adapter wrote with the quantity, epoch ms. */
  writtenAt: number;
  observedAt: number;
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(
    sorted.length - 1,
    Math.ceil(fraction * sorted.length) - 1,
  );
  return sorted[Math.max(0, index)]!;
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));

async function graphql(
  targets: MarketplaceSyncTargets,
  token: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<any> {
  const response = await fetch(targets.gatewayUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown[] };
  if (body.errors?.length || !body.data) {
    throw new Error(
      `Request to ${targets.gatewayUrl} failed with HTTP ${response.status}: ${JSON.stringify(body).slice(0, 400)}`,
    );
  }
  for (const value of Object.values(body.data) as any[]) {
    if (value?.userErrors?.length) {
      throw new Error(
        `Request to ${targets.gatewayUrl} returned user errors: ${JSON.stringify(value.userErrors).slice(0, 400)}`,
      );
    }
  }
  return body.data;
}

const STOCK_ADJUST = `mutation BenchStockAdjust($input: StockAdjustInput!) {
  stockAdjust(input: $input) {
    adjustment { quantityAfter }
    stockLevel { reserved }
    userErrors { field message code }
  }
}`;

/**
 * Creates a sandbox connection and `count` products of one variant each,
 * gives each INITIAL_STOCK units, publishes them on the connection and
 * waits until the sandbox stores every listing.
 */
async function prepareListings(
  targets: MarketplaceSyncTargets,
  token: string,
  count: number,
): Promise<{ connectionId: string; variants: BenchVariant[] }> {
  const connection = await graphql(
    targets,
    token,
    `
      mutation ($input: MarketplaceConnectionCreateInput!) {
        marketplaceConnectionCreate(input: $input) {
          connection {
            id
          }
          userErrors {
            field
            message
            code
          }
        }
      }
    `,
    { input: { name: 'Bench sync sandbox', kind: 'SANDBOX' } },
  );
  const connectionId: string =
    connection.marketplaceConnectionCreate.connection.id;
  const run = randomUUID().slice(0, 8);
  const created: { sku: string; variantId: string }[] = [];
  for (let index = 0; index < count; index += 1) {
    const sku = `bench-sync-${run}-${String(index).padStart(2, '0')}`;
    const data = await graphql(
      targets,
      token,
      `
        mutation ($input: ProductCreateInput!) {
          productCreate(input: $input) {
            product {
              variants {
                id
                sku
              }
            }
            userErrors {
              field
              message
              code
            }
          }
        }
      `,
      {
        input: {
          title: `Bench sync product ${index}`,
          status: 'ACTIVE',
          variants: [{ sku, price: { amount: '10.00' } }],
        },
      },
    );
    const variant = data.productCreate.product.variants[0];
    created.push({ sku: variant.sku, variantId: variant.id });
    await graphql(targets, token, STOCK_ADJUST, {
      input: { sku, delta: INITIAL_STOCK, reason: 'RECEIVED' },
    });
  }
  const published = await graphql(
    targets,
    token,
    `
      mutation ($input: ListingPublishInput!) {
        listingPublish(input: $input) {
          listings {
            id
            variant {
              id
            }
          }
          userErrors {
            field
            message
            code
          }
        }
      }
    `,
    {
      input: {
        connectionId,
        variantIds: created.map((variant) => variant.variantId),
      },
    },
  );
  const listingByVariant = new Map<string, string>(
    published.listingPublish.listings.map((listing: any) => [
      listing.variant.id,
      listing.id,
    ]),
  );
  const variants = created.map((variant) => {
    const listingId = listingByVariant.get(variant.variantId);
    if (!listingId) {
      throw new Error(
        `listingPublish returned no listing for variant ${variant.variantId} (SKU ${variant.sku})`,
      );
    }
    return { ...variant, listingId };
  });
  return { connectionId, variants };
}

/**
 * Reads the sandbox listings of one connection and the sync tasks of its
 * listings every SYNC_POLL_MS until stopped, and keeps each new quantity
 * per SKU and each task recording time per listing.
 */
function startPoller(
  sql: Sql,
  connectionId: string,
  listingIds: string[],
): {
  versions: Map<string, SandboxVersion[]>;
  /** Per listing: `updated_at` of each task upsert seen, epoch ms. */
  taskRecords: Map<string, number[]>;
  stop: () => Promise<void>;
} {
  const versions = new Map<string, SandboxVersion[]>();
  const taskRecords = new Map<string, number[]>();
  const keyPrefix = `account:${sandboxAccount(connectionId)}:listing:`;
  let running = true;
  const loop = (async () => {
    while (running) {
      const [records, tasks] = await Promise.all([
        sql<{ value: { sku: string; quantity: number; updatedAt: string } }[]>`
          select value from sandbox_marketplace_records
           where key like ${`${keyPrefix}%`}`,
        sql<{ listing_id: string; updated_at: Date }[]>`
          select listing_id, updated_at from listing_sync_tasks
           where listing_id in ${sql(listingIds)}`,
      ]);
      const observedAt = Date.now();
      for (const { value } of records) {
        const list = versions.get(value.sku) ?? [];
        const last = list[list.length - 1];
        if (!last || last.quantity !== value.quantity) {
          list.push({
            quantity: value.quantity,
            writtenAt: Date.parse(value.updatedAt),
            observedAt,
          });
          versions.set(value.sku, list);
        }
      }
      for (const task of tasks) {
        const list = taskRecords.get(task.listing_id) ?? [];
        const time = task.updated_at.getTime();
        if (list[list.length - 1] !== time) list.push(time);
        taskRecords.set(task.listing_id, list);
      }
      await sleep(SYNC_POLL_MS);
    }
  })();
  return {
    versions,
    taskRecords,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Sends the workload's adjustments and returns them with their expected quantities. */
async function sendAdjustments(
  targets: MarketplaceSyncTargets,
  token: string,
  variants: BenchVariant[],
  workload: SyncWorkload,
): Promise<Adjustment[]> {
  const adjustments: Adjustment[] = [];
  let next = 0;
  const sender = async () => {
    while (next < workload.adjustments) {
      const index = next++;
      const variant = variants[workload.variantOf(index) % variants.length]!;
      const delta = 1 + (index % 3);
      const sentAt = Date.now();
      const data = await graphql(targets, token, STOCK_ADJUST, {
        input: { sku: variant.sku, delta, reason: 'RECEIVED' },
      });
      const respondedAt = Date.now();
      const payload = data.stockAdjust;
      adjustments.push({
        variant,
        expected:
          payload.adjustment.quantityAfter - payload.stockLevel.reserved,
        sentAt,
        respondedAt,
      });
      const pause = workload.pauseAfter(index);
      if (pause > 0) await sleep(pause);
    }
  };
  await Promise.all(Array.from({ length: workload.senders }, sender));
  return adjustments;
}

/** Waits until the sandbox stores every variant's newest expected quantity. */
async function waitUntilSettled(
  versions: Map<string, SandboxVersion[]>,
  adjustments: Adjustment[],
): Promise<string[]> {
  const finalQuantity = new Map<string, number>();
  for (const adjustment of adjustments) {
    const sku = adjustment.variant.sku;
    finalQuantity.set(
      sku,
      Math.max(finalQuantity.get(sku) ?? 0, adjustment.expected),
    );
  }
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  const pending = () =>
    [...finalQuantity].filter(([sku, quantity]) => {
      const list = versions.get(sku);
      return (list?.[list.length - 1]?.quantity ?? -1) !== quantity;
    });
  while (pending().length > 0 && Date.now() < deadline) await sleep(20);
  return pending().map(([sku, quantity]) => {
    const list = versions.get(sku);
    return `SKU ${sku}: timed out after ${SETTLE_TIMEOUT_MS / 1000} s waiting for quantity ${quantity}; the sandbox stores ${list?.[list.length - 1]?.quantity ?? 'no listing'}`;
  });
}

/**
 * Runs the workloads over `variantCount` new listings of a new sandbox
 * connection. Each adjustment's delay runs from its stockAdjust response
 * to the `updatedAt` the sandbox adapter wrote with the first quantity at
 * least the adjustment's expected one. Every adjustment adds 1 to 3 units,
 * so a SKU's quantities only grow, and a push that coalesced the
 * adjustment with later ones counts for it as well.
 */
export async function measureMarketplaceSync(
  targets: MarketplaceSyncTargets,
  variantCount: number,
  workloads: SyncWorkload[],
): Promise<SyncMeasurement[]> {
  const signingKey = await parsePrivateKey(targets.identityPrivateKey);
  const { accessToken: token } = await issueStaffAccessToken(
    signingKey,
    { id: randomUUID(), role: 'admin' },
    3600,
  );
  const { connectionId, variants } = await prepareListings(
    targets,
    token,
    variantCount,
  );
  const poller = startPoller(
    targets.marketplaceSql,
    connectionId,
    variants.map((variant) => variant.listingId),
  );
  try {
    const initial = variants.map((variant) => ({
      variant,
      expected: INITIAL_STOCK,
      sentAt: 0,
      respondedAt: 0,
    }));
    const unpublished = await waitUntilSettled(poller.versions, initial);
    if (unpublished.length > 0) {
      throw new Error(
        `The sandbox did not receive the published listings: ${unpublished.slice(0, 3).join('; ')}`,
      );
    }
    const results: SyncMeasurement[] = [];
    for (const workload of workloads) {
      results.push(
        await measureWorkload(
          targets,
          token,
          connectionId,
          variants,
          poller,
          workload,
        ),
      );
    }
    return results;
  } finally {
    await poller.stop();
  }
}

async function measureWorkload(
  targets: MarketplaceSyncTargets,
  token: string,
  connectionId: string,
  variants: BenchVariant[],
  poller: ReturnType<typeof startPoller>,
  workload: SyncWorkload,
): Promise<SyncMeasurement> {
  const [marketplaceStart] = await targets.marketplaceSql<
    { sequence: string }[]
  >`
    select coalesce(max(sequence), 0) as sequence from outbox_events`;
  const [catalogStart] = await targets.catalogSql<{ sequence: string }[]>`
    select coalesce(max(sequence), 0) as sequence from outbox_events`;
  const started = Date.now();
  const adjustments = await sendAdjustments(targets, token, variants, workload);
  const seconds = (Date.now() - started) / 1000;
  const problems = await waitUntilSettled(poller.versions, adjustments);

  const [pushes] = await targets.marketplaceSql<{ count: string }[]>`
    select count(*) as count from outbox_events
     where sequence > ${marketplaceStart!.sequence}
       and type = 'listing.synced'
       and payload->>'connectionId' = ${connectionId}`;
  // stock.changed of each adjustment, by variant and units on hand after it.
  const events = await targets.catalogSql<
    { variant_id: string; on_hand: number; created_at: Date }[]
  >`
    select aggregate_id as variant_id, (payload->>'onHand')::int as on_hand,
           created_at
      from outbox_events
     where sequence > ${catalogStart!.sequence} and type = 'stock.changed'`;
  const eventTime = new Map(
    events.map((event) => [
      `${event.variant_id}:${event.on_hand}`,
      event.created_at.getTime(),
    ]),
  );

  const delays: number[] = [];
  const taskDelays: number[] = [];
  const writeDelays: number[] = [];
  const observedLags: number[] = [];
  let beforeResponse = 0;
  for (const adjustment of adjustments) {
    const { sku, variantId, listingId } = adjustment.variant;
    const version = (poller.versions.get(sku) ?? []).find(
      (candidate) => candidate.quantity >= adjustment.expected,
    );
    if (!version) continue;
    if (version.writtenAt < adjustment.respondedAt) beforeResponse += 1;
    delays.push(Math.max(0, version.writtenAt - adjustment.respondedAt));
    observedLags.push(version.observedAt - version.writtenAt);
    // Reserved is 0 for these variants, so the expected quantity is on hand.
    const committed = eventTime.get(`${variantId}:${adjustment.expected}`);
    if (committed === undefined) continue;
    writeDelays.push(version.writtenAt - committed);
    // A task that came and went between two reads is not seen, so only a
    // recording before the write that pushed the quantity counts.
    const recorded = (poller.taskRecords.get(listingId) ?? []).find(
      (time) => time >= committed && time <= version.writtenAt,
    );
    if (recorded !== undefined) taskDelays.push(recorded - committed);
  }
  if (delays.length < adjustments.length) {
    problems.push(
      `${adjustments.length - delays.length} of ${adjustments.length} adjustments never reached the sandbox`,
    );
  }
  const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
  const delaysSorted = sorted(delays);
  const adjustLatencies = sorted(
    adjustments.map((adjustment) => adjustment.respondedAt - adjustment.sentAt),
  );
  const tasks = sorted(taskDelays);
  const writes = sorted(writeDelays);
  return {
    name: workload.name,
    description: workload.description,
    variants: new Set(adjustments.map((adjustment) => adjustment.variant.sku))
      .size,
    adjustments: adjustments.length,
    pushes: Number(pushes!.count),
    seconds,
    p50: percentile(delaysSorted, 0.5),
    p95: percentile(delaysSorted, 0.95),
    p99: percentile(delaysSorted, 0.99),
    max: delaysSorted[delaysSorted.length - 1] ?? NaN,
    adjustP50: percentile(adjustLatencies, 0.5),
    taskRecordedP50: percentile(tasks, 0.5),
    taskRecordedP99: percentile(tasks, 0.99),
    adapterWriteP50: percentile(writes, 0.5),
    adapterWriteP99: percentile(writes, 0.99),
    observedLagP50: percentile(sorted(observedLags), 0.5),
    beforeResponse,
    problems,
  };
}
