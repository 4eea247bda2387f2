import { Kind, parse, type OperationTypeNode } from 'graphql';
import type { Headers } from 'undici';

/** Maximum number of operation texts whose operations are cached. */
const OPERATION_TYPE_CACHE_SIZE = 1_000;

/** One request in flight and the callers waiting for its outcome. */
interface Flight<T> {
  /** Request id of the client request whose fetch is in flight. */
  leaderRequestId: string | undefined;
  waiters: Array<{
    resolve(value: T): void;
    reject(error: unknown): void;
  }>;
}

/**
 * Shares one request among identical requests that overlap in time.
 *
 * The first request for a key is sent. Requests for the same key that start
 * before it settles wait for it and receive the same result or error. So
 * the result must be immutable, such as a buffered HTTP response from which
 * each waiter builds and parses its own response. Nothing is kept after a
 * request settles, and the next request for its key is sent again.
 */
export class InFlightDeduplicator<T> {
  private readonly flights = new Map<string, Flight<T>>();

  /**
   * Returns the result of `send()`, or of the request in flight for `key`
   * when there is one. `onJoin` is called, with the request id of the
   * request in flight, when this call waits for it.
   */
  async run(
    key: string,
    requestId: string | undefined,
    send: () => Promise<T>,
    onJoin: (leaderRequestId: string | undefined) => void,
  ): Promise<T> {
    const inFlight = this.flights.get(key);
    if (inFlight) {
      onJoin(inFlight.leaderRequestId);
      return new Promise<T>((resolve, reject) => {
        inFlight.waiters.push({ resolve, reject });
      });
    }

    const flight: Flight<T> = { leaderRequestId: requestId, waiters: [] };
    this.flights.set(key, flight);
    try {
      const value = await send();
      for (const waiter of flight.waiters) waiter.resolve(value);
      return value;
    } catch (error) {
      for (const waiter of flight.waiters) waiter.reject(error);
      throw error;
    } finally {
      this.flights.delete(key);
    }
  }
}

/**
 * Returns JSON text of `value` with the keys of every object sorted, so that
 * equal values give equal text whatever the order of their keys.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, member: unknown) => {
    if (
      typeof member !== 'object' ||
      member === null ||
      Array.isArray(member)
    ) {
      return member;
    }
    // Without a prototype, a `__proto__` key is copied as an own property.
    const sorted = Object.create(null) as Record<string, unknown>;
    for (const name of Object.keys(member).sort()) {
      sorted[name] = (member as Record<string, unknown>)[name];
    }
    return sorted;
  });
}

/** Name and type of each operation in a document, or null when it does not parse. */
type OperationSummary = Array<{
  name: string | undefined;
  type: OperationTypeNode;
}> | null;

const operationSummaries = new Map<string, OperationSummary>();

/**
 * Returns the type (`query`, `mutation` or `subscription`) of the operation
 * named `operationName` in `document`, or of its only operation when no
 * name is given. Returns undefined when the text does not parse or has no
 * such operation. The query planner reuses the operation texts of a plan,
 * so each text is parsed once and its operations are cached.
 */
export function operationTypeOf(
  document: string,
  operationName?: string | null,
): OperationTypeNode | undefined {
  let operations = operationSummaries.get(document);
  if (operations === undefined) {
    operations = summarizeOperations(document);
    if (operationSummaries.size >= OPERATION_TYPE_CACHE_SIZE) {
      operationSummaries.clear();
    }
    operationSummaries.set(document, operations);
  }
  if (operations === null) return undefined;
  if (operationName) {
    return operations.find((operation) => operation.name === operationName)
      ?.type;
  }
  return operations.length === 1 ? operations[0]!.type : undefined;
}

function summarizeOperations(document: string): OperationSummary {
  try {
    const summary: NonNullable<OperationSummary> = [];
    for (const definition of parse(document, { noLocation: true })
      .definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      summary.push({
        name: definition.name?.value,
        type: definition.operation,
      });
    }
    return summary;
  } catch {
    return null;
  }
}

/** A fetch response with its body read into a string. */
export interface ResponseSnapshot {
  status: number;
  statusText: string;
  /** Headers of the subgraph response. */
  headers: Headers;
  body: string;
}

/**
 * A fetch response built from a snapshot that several callers share. Each
 * `json()` call parses the text again, so every caller gets objects of its
 * own. It implements the members of a Fetch API Response that
 * @apollo/gateway's RemoteGraphQLDataSource reads (FetcherResponse of
 * @apollo/utils.fetcher 2).
 */
export class BufferedResponse {
  readonly redirected = false;
  private used = false;

  constructor(
    readonly url: string,
    private readonly snapshot: ResponseSnapshot,
  ) {}

  get status(): number {
    return this.snapshot.status;
  }

  get statusText(): string {
    return this.snapshot.statusText;
  }

  get headers(): Headers {
    return this.snapshot.headers;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
  }

  get bodyUsed(): boolean {
    return this.used;
  }

  async text(): Promise<string> {
    this.consume();
    return this.snapshot.body;
  }

  async json(): Promise<unknown> {
    this.consume();
    return JSON.parse(this.snapshot.body);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    this.consume();
    return new TextEncoder().encode(this.snapshot.body).buffer as ArrayBuffer;
  }

  clone(): BufferedResponse {
    if (this.used) throw new TypeError('Response body is already used.');
    return new BufferedResponse(this.url, this.snapshot);
  }

  private consume(): void {
    if (this.used) throw new TypeError('Response body is already used.');
    this.used = true;
  }
}
