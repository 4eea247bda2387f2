/**
 * The subscription fan-out workload of `npm run bench`: many graphql-ws
 * subscribers of one partner to `stockChanged`, stock changes committed at
 * a steady rate, and the deliveries per second and the delay from each
 * change to its receipt. See `measureSubscriptionFanout` and the
 * "Subscription fan-out" section it returns for BENCHMARKS.md.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { issueStaffAccessToken } from '../gateway/identity/access-tokens.js';
import { parsePrivateKey } from '../platform/identity-keys.js';
import { readCpuMs } from './checkout.js';

/** Connections opened at once while the subscribers connect. */
const CONNECT_BATCH = 50;
/**
 * Time until every subscriber must have received a warm-up change, in ms.
 * The gateway starts one caller's subscriptions one at a time (each takes
 * a slot of the caller's counter in PostgreSQL under an advisory lock),
 * so 1,000 of them took minutes on a loaded 2-core machine.
 */
const WARMUP_TIMEOUT_MS = 400_000;
/** Minimum interval between warm-up changes, in ms. */
const WARMUP_INTERVAL_MS = 500;
/** Time without results after which a warm-up change counts as delivered, in ms. */
const WARMUP_QUIET_MS = 1000;
/** Time the deliveries may take to arrive after the last change, in ms. */
const DRAIN_TIMEOUT_MS = 120_000;
/** Interval at which the gateway's resident memory is sampled, in ms. */
const RSS_SAMPLE_MS = 100;

export interface FanoutTargets {
  /** The gateway's `/graphql` URL; graphql-ws uses the same path. */
  gatewayUrl: string;
  /** IDENTITY_PRIVATE_KEY of the gateway, to sign a staff access token. */
  identityPrivateKey: string;
  /** A partner API key with read_inventory, read_products and read_listings. */
  partnerKey: string;
  pids: { gateway: number; catalog: number };
}

export interface FanoutWorkload {
  name: string;
  connections: number;
  subscriptionsPerConnection: number;
  /**
   * Gives every subscription variables of its own (one extra SKU that never
   * changes), so no two share an execution per event.
   */
  distinctVariables: boolean;
  /** Stock changes committed per second. */
  changesPerSecond: number;
  seconds: number;
}

export interface FanoutMeasurement {
  workload: FanoutWorkload;
  subscribers: number;
  /**
   * Time from opening the first connection until every subscription had
   * received a warm-up change, in ms. A warm-up change goes out only once
   * the results of the previous one stopped arriving, so this is an upper
   * bound.
   */
  liveAfterMs: number;
  skus: number;
  /** Stock changes committed in the measured time (successful stockAdjust). */
  changes: number;
  /** stockAdjust requests that failed. */
  failedChanges: number;
  /** Results received, and results expected (changes × subscribers). */
  deliveries: number;
  expectedDeliveries: number;
  /** Results that carried errors. */
  errorResults: number;
  /** Subscriptions that ended or connections that closed during the run. */
  endedSubscriptions: number;
  /** Deliveries per second, from the first change sent to the last result received. */
  deliveriesPerSecond: number;
  /** Time from the last stockAdjust response to the last result received, in ms. */
  drainMs: number;
  /** Delay from the event's occurredAt to its receipt, in ms. */
  occurredP50: number;
  occurredP99: number;
  occurredMax: number;
  /** Delay from the stockAdjust response to the receipt, in ms (negative when the result came first). */
  responseP50: number;
  responseP99: number;
  /** stockAdjust request latency, median, in ms. */
  adjustP50: number;
  /** CPU ms (user and system, from /proc) per 1,000 deliveries. */
  gatewayCpuPerThousand: number;
  catalogCpuPerThousand: number;
  loadGeneratorCpuPerThousand: number;
  /** Share of one core the gateway used over the measured time, in percent. */
  gatewayCpuPercent: number;
  gatewayRssBeforeMiB: number;
  gatewayPeakRssMiB: number;
  loadAverage: [number, number];
}

const STOCK_CHANGED = `subscription BenchStockChanged($skus: [String!]) {
  stockChanged(skus: $skus) {
    position occurredAt sku onHand
    variant { sku listings { status } }
  }
}`;

const STOCK_ADJUST = `mutation BenchFanoutAdjust($input: StockAdjustInput!) {
  stockAdjust(input: $input) {
    adjustment { quantityAfter }
    userErrors { message }
  }
}`;

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

function readRssKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

async function graphql(
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<any> {
  const response = await fetch(url, {
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
      `Request to ${url} failed with HTTP ${response.status}: ${JSON.stringify(body).slice(0, 400)}`,
    );
  }
  for (const value of Object.values(body.data) as any[]) {
    if (value?.userErrors?.length) {
      throw new Error(
        `Request to ${url} returned user errors: ${JSON.stringify(value.userErrors).slice(0, 400)}`,
      );
    }
  }
  return body.data;
}

/** Creates `count` products of one variant each and returns their SKUs. */
async function createSkus(
  url: string,
  token: string,
  count: number,
): Promise<string[]> {
  const run = randomUUID().slice(0, 8);
  const skus: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const sku = `bench-fanout-${run}-${String(index).padStart(2, '0')}`;
    await graphql(
      url,
      token,
      `
        mutation ($input: ProductCreateInput!) {
          productCreate(input: $input) {
            userErrors {
              message
            }
          }
        }
      `,
      {
        input: {
          title: `Bench fan-out product ${index}`,
          status: 'ACTIVE',
          variants: [{ sku, price: { amount: '10.00' } }],
        },
      },
    );
    skus.push(sku);
  }
  return skus;
}

/** Results the subscribers of one workload received. */
class Receipts {
  deliveries = 0;
  errorResults = 0;
  ended = 0;
  lastReceivedAt = 0;
  /** Receipt delays from occurredAt, in ms. */
  readonly fromOccurred: number[] = [];
  /** Receipt times by `<sku>:<onHand>`, to match stockAdjust responses. */
  readonly receivedAt: Array<{ key: string; at: number }> = [];
  /** Subscriptions that received at least one result. */
  live = 0;
  /**
   * onHand per SKU before the measured changes, or undefined during the
   * warm-up. Results at or below it are warm-up changes and not counted.
   */
  baseline: Map<string, number> | undefined;
  firstError: string | undefined;

  /** Results received, warm-up included. */
  received = 0;

  record(result: any): void {
    const at = Date.now();
    this.received += 1;
    const change = result.data?.stockChanged;
    const before = change ? this.baseline?.get(change.sku) : undefined;
    if (!this.baseline || (before !== undefined && change.onHand <= before)) {
      return;
    }
    this.deliveries += 1;
    this.lastReceivedAt = at;
    if (result.errors) {
      this.errorResults += 1;
      this.firstError ??= JSON.stringify(result.errors).slice(0, 300);
      return;
    }
    if (!change) return;
    this.fromOccurred.push(at - Date.parse(change.occurredAt));
    this.receivedAt.push({ key: `${change.sku}:${change.onHand}`, at });
  }
}

/**
 * Opens `workload.connections` graphql-ws connections with the partner
 * key, each with `subscriptionsPerConnection` subscriptions to `skus`.
 */
async function openSubscribers(
  targets: FanoutTargets,
  workload: FanoutWorkload,
  skus: string[],
  receipts: Receipts,
): Promise<Client[]> {
  const clients: Client[] = [];
  const url = targets.gatewayUrl.replace(/^http/, 'ws');
  let subscription = 0;
  for (let start = 0; start < workload.connections; start += CONNECT_BATCH) {
    const batch: Promise<void>[] = [];
    const end = Math.min(workload.connections, start + CONNECT_BATCH);
    for (let index = start; index < end; index += 1) {
      let markConnected!: () => void;
      const connected = new Promise<void>((resolve) => {
        markConnected = resolve;
      });
      const client = createClient({
        url,
        webSocketImpl: WebSocket,
        connectionParams: { 'x-api-key': targets.partnerKey },
        retryAttempts: 0,
        lazy: false,
        on: { connected: () => markConnected() },
      });
      clients.push(client);
      for (let own = 0; own < workload.subscriptionsPerConnection; own += 1) {
        subscription += 1;
        const variables = {
          skus: workload.distinctVariables
            ? [...skus, `bench-fanout-none-${subscription}`]
            : skus,
        };
        let seen = false;
        client.subscribe(
          { query: STOCK_CHANGED, variables },
          {
            next: (result) => {
              if (!seen) {
                seen = true;
                receipts.live += 1;
              }
              receipts.record(result);
            },
            error: (error) => {
              receipts.ended += 1;
              receipts.firstError ??= String(
                error instanceof Error ? error.message : JSON.stringify(error),
              ).slice(0, 300);
            },
            complete: () => {
              receipts.ended += 1;
            },
          },
        );
      }
      batch.push(connected);
    }
    await Promise.all(batch);
  }
  return clients;
}

interface SentChange {
  key: string;
  sentAt: number;
  respondedAt: number;
}

/**
 * Sends stockAdjust at `changesPerSecond` for `seconds`, round robin over
 * `skus`, without waiting for earlier requests (an open loop, so a slow
 * response does not lower the rate). Each change adds 1 unit, so a SKU's
 * onHand identifies its change.
 */
async function sendChanges(
  url: string,
  token: string,
  skus: string[],
  onHand: Map<string, number>,
  changesPerSecond: number,
  seconds: number,
): Promise<{ sent: SentChange[]; failed: number }> {
  const total = Math.round(changesPerSecond * seconds);
  const started = Date.now();
  const sent: SentChange[] = [];
  let failed = 0;
  const requests: Promise<void>[] = [];
  for (let index = 0; index < total; index += 1) {
    const due = started + (index * 1000) / changesPerSecond;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const sku = skus[index % skus.length]!;
    const sentAt = Date.now();
    requests.push(
      graphql(url, token, STOCK_ADJUST, {
        input: { sku, delta: 1, reason: 'RECEIVED' },
      }).then(
        (data) => {
          const quantityAfter: number =
            data.stockAdjust.adjustment.quantityAfter;
          onHand.set(sku, Math.max(onHand.get(sku) ?? 0, quantityAfter));
          sent.push({
            key: `${sku}:${quantityAfter}`,
            sentAt,
            respondedAt: Date.now(),
          });
        },
        () => {
          failed += 1;
        },
      ),
    );
  }
  await Promise.all(requests);
  return { sent, failed };
}

async function waitUntil(
  done: () => boolean,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * Sends warm-up changes until every subscription has received one, and
 * returns the time at which the last one did. The next change goes out
 * only once the results of the previous one have stopped arriving, so
 * with an execution per subscription the warm-up builds no backlog.
 */
async function warmUp(
  targets: FanoutTargets,
  token: string,
  skus: string[],
  onHand: Map<string, number>,
  receipts: Receipts,
  subscribers: number,
): Promise<number> {
  const deadline = Date.now() + WARMUP_TIMEOUT_MS;
  let index = 0;
  while (receipts.live < subscribers) {
    if (Date.now() > deadline) {
      throw new Error(
        `Only ${receipts.live} of ${subscribers} subscriptions received a warm-up change within ${WARMUP_TIMEOUT_MS} ms; first error: ${receipts.firstError ?? 'none'}.`,
      );
    }
    const sku = skus[index % skus.length]!;
    index += 1;
    const data = await graphql(targets.gatewayUrl, token, STOCK_ADJUST, {
      input: { sku, delta: 1, reason: 'RECEIVED' },
    });
    onHand.set(
      sku,
      Math.max(onHand.get(sku) ?? 0, data.stockAdjust.adjustment.quantityAfter),
    );
    await sleep(WARMUP_INTERVAL_MS);
    await waitForQuiet(receipts, () => receipts.live >= subscribers);
  }
  return Date.now();
}

/** Waits until no result has arrived for WARMUP_QUIET_MS, or until `done`. */
async function waitForQuiet(
  receipts: Receipts,
  done: () => boolean = () => false,
): Promise<void> {
  let last = receipts.received;
  let quietSince = Date.now();
  while (!done() && Date.now() - quietSince < WARMUP_QUIET_MS) {
    await sleep(50);
    if (receipts.received !== last) {
      last = receipts.received;
      quietSince = Date.now();
    }
  }
}

async function measureWorkload(
  targets: FanoutTargets,
  token: string,
  skus: string[],
  onHand: Map<string, number>,
  workload: FanoutWorkload,
): Promise<FanoutMeasurement> {
  const subscribers =
    workload.connections * workload.subscriptionsPerConnection;
  const receipts = new Receipts();
  const rssBefore = readRssKiB(targets.pids.gateway);
  const openedAt = Date.now();
  const clients = await openSubscribers(targets, workload, skus, receipts);
  try {
    // graphql-ws acknowledges connections, not subscriptions, so the bench
    // sends warm-up changes until every subscription has received one. A
    // subscription becomes live only when the gateway has started it,
    // which includes a slot in the caller's counter in PostgreSQL.
    const live = await warmUp(
      targets,
      token,
      skus,
      onHand,
      receipts,
      subscribers,
    );
    // Warm-up results still on their way arrive before counting starts,
    // and the baseline filters out any that come later.
    await waitForQuiet(receipts);
    receipts.baseline = new Map(onHand);

    const loadBefore = os.loadavg()[0]!;
    let peakRss = readRssKiB(targets.pids.gateway);
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, readRssKiB(targets.pids.gateway));
    }, RSS_SAMPLE_MS);
    const gatewayCpuBefore = readCpuMs(targets.pids.gateway);
    const catalogCpuBefore = readCpuMs(targets.pids.catalog);
    const ownCpuBefore = process.cpuUsage();
    const startedAt = Date.now();

    const { sent, failed } = await sendChanges(
      targets.gatewayUrl,
      token,
      skus,
      onHand,
      workload.changesPerSecond,
      workload.seconds,
    );
    const expected = sent.length * subscribers;
    await waitUntil(() => receipts.deliveries >= expected, DRAIN_TIMEOUT_MS);
    // Results still on their way, such as ones sent twice, arrive meanwhile.
    await sleep(200);
    // Without every delivery, the measured time ends when the wait gave up.
    const endedAt =
      receipts.deliveries >= expected ? receipts.lastReceivedAt : Date.now();
    const gatewayCpu = readCpuMs(targets.pids.gateway) - gatewayCpuBefore;
    const catalogCpu = readCpuMs(targets.pids.catalog) - catalogCpuBefore;
    const ownCpu = process.cpuUsage(ownCpuBefore);
    clearInterval(sampler);

    const responded = new Map(sent.map((change) => [change.key, change]));
    const fromResponse = receipts.receivedAt
      .map(({ key, at }) => {
        const change = responded.get(key);
        return change ? at - change.respondedAt : NaN;
      })
      .filter((value) => !Number.isNaN(value))
      .sort((a, b) => a - b);
    const fromOccurred = [...receipts.fromOccurred].sort((a, b) => a - b);
    const adjustLatencies = sent
      .map((change) => change.respondedAt - change.sentAt)
      .sort((a, b) => a - b);
    const lastResponse = Math.max(...sent.map((change) => change.respondedAt));
    const perThousand = (cpuMs: number) =>
      receipts.deliveries > 0 ? (cpuMs / receipts.deliveries) * 1000 : NaN;
    const elapsedMs = endedAt - startedAt;
    return {
      workload,
      subscribers,
      liveAfterMs: live - openedAt,
      skus: skus.length,
      changes: sent.length,
      failedChanges: failed,
      deliveries: receipts.deliveries,
      expectedDeliveries: expected,
      errorResults: receipts.errorResults,
      endedSubscriptions: receipts.ended,
      deliveriesPerSecond: (receipts.deliveries / elapsedMs) * 1000,
      drainMs:
        receipts.lastReceivedAt > 0
          ? receipts.lastReceivedAt - lastResponse
          : NaN,
      occurredP50: percentile(fromOccurred, 0.5),
      occurredP99: percentile(fromOccurred, 0.99),
      occurredMax: fromOccurred.at(-1) ?? NaN,
      responseP50: percentile(fromResponse, 0.5),
      responseP99: percentile(fromResponse, 0.99),
      adjustP50: percentile(adjustLatencies, 0.5),
      gatewayCpuPerThousand: perThousand(gatewayCpu),
      catalogCpuPerThousand: perThousand(catalogCpu),
      loadGeneratorCpuPerThousand: perThousand(
        (ownCpu.user + ownCpu.system) / 1000,
      ),
      gatewayCpuPercent: (gatewayCpu / elapsedMs) * 100,
      gatewayRssBeforeMiB: rssBefore / 1024,
      gatewayPeakRssMiB: peakRss / 1024,
      loadAverage: [loadBefore, os.loadavg()[0]!],
    };
  } finally {
    await Promise.all(clients.map((client) => client.dispose()));
    // The gateway releases the subscriptions' counter slots once the closes
    // reach it, so the next workload starts with the caller's count at 0.
    await sleep(5000);
  }
}

/**
 * Creates `skuCount` products through the gateway as staff, then runs
 * each workload: opens its subscribers, sends warm-up changes until every
 * subscription is live, and measures the changes sent at the workload's rate.
 */
export async function measureSubscriptionFanout(
  targets: FanoutTargets,
  skuCount: number,
  workloads: FanoutWorkload[],
): Promise<FanoutMeasurement[]> {
  const signingKey = await parsePrivateKey(targets.identityPrivateKey);
  const { accessToken: token } = await issueStaffAccessToken(
    signingKey,
    { id: randomUUID(), role: 'admin' },
    3600,
  );
  const skus = await createSkus(targets.gatewayUrl, token, skuCount);
  const onHand = new Map<string, number>();
  const results: FanoutMeasurement[] = [];
  for (const workload of workloads) {
    results.push(await measureWorkload(targets, token, skus, onHand, workload));
  }
  return results;
}

function machineDescription(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

/**
 * Compares the workload with shared variables to the one with variables
 * per subscription, when both ran.
 */
export function fanoutCostParagraph(results: FanoutMeasurement[]): string {
  const shared = results.find((row) => !row.workload.distinctVariables);
  const distinct = results.find((row) => row.workload.distinctVariables);
  if (!shared || !distinct) return '';
  const times = (a: number, b: number) => (a / b).toFixed(1);
  return `**Where the cost goes.** With the same variables for every subscription the gateway ran one execution per change and sent its result to every subscription, for ${shared.gatewayCpuPerThousand.toFixed(1)} ms of gateway CPU per 1,000 deliveries. With variables per subscription, which differ only in the \`skus\` filter, the gateway filters each event per subscription and still shares one execution per change between them, because a root field's arguments only choose events and never change a result (\`executionKeyOf\` in gateway/subscriptions/engine.ts): ${distinct.gatewayCpuPerThousand.toFixed(1)} ms of gateway CPU per 1,000 deliveries (${times(distinct.gatewayCpuPerThousand, shared.gatewayCpuPerThousand)} times as much) and ${distinct.catalogCpuPerThousand.toFixed(1)} ms of catalog CPU per 1,000 (${times(distinct.catalogCpuPerThousand, shared.catalogCpuPerThousand)} times as much). The rest of the gateway's cost is sending: each result is serialised and written once per WebSocket connection.`;
}

/** Returns the "Subscription fan-out" section of BENCHMARKS.md. */
export function subscriptionFanoutSection(
  results: FanoutMeasurement[],
): string {
  const ms = (value: number) =>
    Number.isNaN(value) ? 'n/a' : value.toFixed(0);
  const cpu = (value: number) =>
    Number.isNaN(value) ? 'n/a' : value.toFixed(1);
  const rows = results.map(
    (row) =>
      `| ${row.workload.name} | ${row.subscribers} | ${row.changes} | ${row.deliveries} of ${row.expectedDeliveries} | ${row.deliveriesPerSecond.toFixed(0)} | ${ms(row.occurredP50)} | ${ms(row.occurredP99)} | ${ms(row.occurredMax)} | ${ms(row.responseP50)} | ${ms(row.responseP99)} | ${ms(row.drainMs)} | ${row.errorResults} | ${row.endedSubscriptions} |`,
  );
  const resourceRows = results.map(
    (row) =>
      `| ${row.workload.name} | ${(row.liveAfterMs / 1000).toFixed(1)} | ${row.gatewayCpuPercent.toFixed(0)} % | ${cpu(row.gatewayCpuPerThousand)} | ${cpu(row.catalogCpuPerThousand)} | ${cpu(row.loadGeneratorCpuPerThousand)} | ${row.gatewayRssBeforeMiB.toFixed(0)} | ${row.gatewayPeakRssMiB.toFixed(0)} | ${ms(row.adjustP50)} |`,
  );
  const workloads = results.map(
    (row) =>
      `  - ${row.workload.name}: ${row.subscribers} subscriptions over ${row.workload.connections} connections (${row.workload.subscriptionsPerConnection} per connection), changes at ${row.workload.changesPerSecond}/s for ${row.workload.seconds} s, ${
        row.workload.distinctVariables
          ? 'each subscription with variables of its own (the shared SKUs plus one SKU that never changes), which the gateway filters per subscription while sharing one execution per event'
          : 'all with the same variables, so the gateway runs one execution per event and shares its result'
      }; load average ${row.loadAverage[0].toFixed(1)} before and ${row.loadAverage[1].toFixed(1)} after`,
  );
  const failures = results
    .filter((row) => row.failedChanges > 0)
    .map(
      (row) =>
        `- ${row.workload.name}: ${row.failedChanges} stockAdjust requests failed`,
    );
  return `## Subscription fan-out

One partner's graphql-ws subscribers to \`stockChanged(skus: [...])\`
through the gateway as shipped, each selecting \`position occurredAt sku
onHand\` and \`variant { sku listings { status } }\`. \`listings\` is a
marketplace field, so each execution fetches the root field from the
catalog (which reads the event from its outbox) and the listings with an
entity fetch from the marketplace. Staff commit stock changes
(\`stockAdjust\` through the gateway, +1 unit, round robin over
${results[0]?.skus ?? 0} SKUs) at a steady rate from an open loop: each
change is sent on schedule, whether or not earlier ones have answered.

- Machine: ${machineDescription()}
- Command: \`npm run bench\` (\`BENCH_ONLY=subscriptions npm run bench\` runs only these workloads and prints this section); the subscribers run in the benchmark process, which shares the machine's cores with the services
- Workloads:
${workloads.join('\n')}
- All subscriptions live after: time from opening the first connection until every subscription had received a warm-up change (the next one sent once the results of the previous one stopped arriving for ${WARMUP_QUIET_MS} ms). The gateway starts one caller's subscriptions one at a time, because each takes a slot of the caller's counter in the gateway database under a per-caller advisory lock (gateway/subscriptions/counter.ts)
- Deliveries are results received by the subscribers; every change should reach every subscription, so the expected count is changes × subscriptions. Deliveries/s counts them from the first change sent to the last result received
- Delay from occurredAt: receipt time in the subscriber minus the event's \`occurredAt\`, the \`created_at\` of its outbox row, which PostgreSQL sets to the start of the catalog transaction. It covers the commit, the event stream's long poll, the execution and the WebSocket send, and it needs no matching of requests to events. Both clocks are this machine's. It overstates the delay by the catalog transaction's own time (a few ms)
- Delay from the response: receipt time minus the time the stockAdjust response arrived, matched by SKU and onHand. The response leaves after the commit and passes through the gateway, so a result can arrive first (a negative delay); this column shows what a client that changed stock and listens for it sees
- CPU profiles: ${process.env.BENCH_CPU_PROF_DIR ? 'recorded during this run (BENCH_CPU_PROF_DIR), which adds sampling overhead to the gateway, catalog and orders' : 'off'}
- CPU is user and system time from /proc over the measured time (the load generator's from \`process.cpuUsage\`), per 1,000 deliveries; the gateway's peak RSS is sampled every ${RSS_SAMPLE_MS} ms, and RSS before is with no subscriber connected

| workload | subscriptions | changes | deliveries | deliveries/s | from occurredAt p50 ms | p99 ms | max ms | from response p50 ms | p99 ms | drain after last change ms | results with errors | subscriptions ended |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

| workload | all subscriptions live after s | gateway CPU (of one core) | gateway CPU ms per 1,000 deliveries | catalog CPU ms per 1,000 | load generator CPU ms per 1,000 | gateway RSS before MiB | gateway peak RSS MiB | stockAdjust p50 ms |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
${resourceRows.join('\n')}

${fanoutCostParagraph(results)}
${failures.length > 0 ? `\n${failures.join('\n')}\n` : ''}`;
}
