import type { GraphQLDataSource } from '@apollo/gateway';
import {
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  Kind,
  parse,
  print,
  validate,
  visit,
  type DocumentNode,
  type FieldNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Config, ServiceName } from '../../platform/config.js';
import { ErrorCode } from '../../platform/errors.js';
import type { StreamEvent } from '../../platform/event-stream.js';
import { createEventStreamClient } from '../../platform/event-stream-client.js';
import {
  compareEventPositions,
  parseEventPosition,
} from '../../platform/outbox.js';
import type { Logger } from '../../platform/logger.js';
import {
  EVENT_POSITION_HEADER,
  isSubscriptionFieldName,
  SUBSCRIPTION_FIELDS,
  type SubscriptionFieldName,
} from '../../platform/subscription-fields.js';
import { authorizeOperation } from '../authorization/operation.js';
import { POLICIES } from '../authorization/policies.js';
import {
  hasRequirements,
  type SupergraphRequirements,
} from '../authorization/requirements.js';
import { readRequirements } from '../authorization/supergraph.js';
import type { CallerIdentity } from '../caller.js';
import type { GatewayContext } from '../context.js';
import { checkOperationShape } from '../limits/index.js';
import { createEventFilter, type EventFilter } from './filters.js';
import { SubscriptionPlans, type PreparedSubscription } from './plans.js';
import { StreamTail } from './stream-tail.js';
import type { SubscriptionCounter } from './counter.js';

/** Reason the gateway ended a subscription. */
export type CloseReason =
  /** More than SUBSCRIPTION_BUFFER_EVENTS events waited to be sent. */
  | 'slow_consumer'
  /** A new supergraph was loaded, so the client subscribes again. */
  | 'schema_reload'
  /** The gateway is stopping. */
  | 'shutdown';

/** One message of a subscription: an event's result, with its position. */
export interface SubscriptionMessage {
  /** Stream position of the event, which `after` takes to resume after it. */
  position: string;
  result: {
    data?: unknown;
    errors?: GraphQLFormattedError[];
    extensions: { position: string };
  };
}

export interface SubscriptionRequest {
  query: string;
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
  caller: CallerIdentity;
  requestId: string;
  logger: Logger;
  /**
   * Position to resume after when the root field has no `after` argument,
   * such as an SSE client's Last-Event-ID.
   */
  resumeAfter?: string;
}

/** A running subscription: its messages, in stream order. */
export interface ActiveSubscription extends AsyncIterableIterator<SubscriptionMessage> {
  /** Reason the gateway ended it, or undefined while it runs or after the client ended it. */
  readonly closeReason: CloseReason | undefined;
  /** Called once when the gateway ends the subscription, before its messages end. */
  onClose(listener: (reason: CloseReason) => void): void;
}

/** A subscription document checked and planned for events delivered elsewhere. */
export type PreparedForEvents =
  | {
      ok: true;
      field: SubscriptionFieldName;
      service: ServiceName;
      /** Event types of the field. */
      types: readonly string[];
      /** Returns whether the document selects an event of the field's stream. */
      wants(event: StreamEvent): boolean;
      /** Runs the document for one event. */
      execute(event: StreamEvent): Promise<SubscriptionMessage['result']>;
    }
  | { ok: false; errors: GraphQLFormattedError[] };

export type SubscribeOutcome =
  | { ok: true; subscription: ActiveSubscription }
  | { ok: false; errors: GraphQLFormattedError[] };

export interface SubscriptionEngineOptions {
  config: Config;
  logger: Logger;
  /** Signs the headers that carry a caller to subgraphs. */
  subgraphHeaders(caller: CallerIdentity): Promise<Record<string, string>>;
  /** Creates the data source of a subgraph, as the gateway's own. */
  createDataSource(name: string, url: string): GraphQLDataSource;
  /** URL of a subgraph's `/events` route. */
  eventsUrl(service: ServiceName): string;
  /** Formats an error as the gateway formats those of queries. */
  formatError(
    formatted: GraphQLFormattedError,
    error: unknown,
  ): GraphQLFormattedError;
  counter: SubscriptionCounter;
}

/** Code of a subscription rejected because its caller has too many open. */
export const SUBSCRIPTION_LIMIT_CODE = 'SUBSCRIPTION_LIMIT';
const BAD_REQUEST_CODE = 'BAD_REQUEST';

/** Documents kept prepared for webhook endpoints, the oldest dropped first. */
const PREPARED_FOR_EVENTS_CACHE_SIZE = 1_000;

/** Maximum executions of subscription operations running at once. */
const MAX_CONCURRENT_EXECUTIONS = 64;
/** Time in ms during which an event's execution is retried while a subgraph is unreachable. */
const EVENT_RETRY_DEADLINE_MS = 60_000;
const EVENT_RETRY_MIN_MS = 200;
const EVENT_RETRY_MAX_MS = 5_000;

/** Pause in ms before reading again when a catch-up page was empty. */
const CATCH_UP_IDLE_MS = 25;
/** Events read per request while a resumed subscription catches up. */
const CATCH_UP_PAGE_LIMIT = 500;

/**
 * Serves GraphQL subscriptions for the gateway's transports (graphql-ws
 * and SSE).
 *
 * Events come from the subgraphs' event streams, their outboxes, so an
 * event is sent only after its change committed. Each gateway process
 * follows every stream it has subscribers for with one `StreamTail`.
 * Subscriptions with the same operation (root arguments aside), variables
 * and caller share one execution per event. The execution fetches the root
 * field from its subgraph for the event's position. The query plan's entity
 * fetches then resolve the fields of other subgraphs, as for a query.
 *
 * A subscription with an `after` position first reads the stream from
 * there, then continues with live events, so a client that reconnects
 * with the last position it saw misses nothing and receives nothing twice.
 */
export class SubscriptionEngine {
  private plans: SubscriptionPlans | undefined;
  private requirements: SupergraphRequirements | undefined;
  private readonly tails = new Map<ServiceName, StreamTail>();
  private readonly groups = new Map<string, SubscriptionGroup>();
  private readonly subscribers = new Set<Subscriber>();
  /** Results of `prepareForEvents` for the loaded supergraph, oldest first. */
  private readonly preparedForEvents = new Map<string, PreparedForEvents>();
  private readonly limiter = new ConcurrencyLimiter(MAX_CONCURRENT_EXECUTIONS);
  private closed = false;

  constructor(private readonly options: SubscriptionEngineOptions) {}

  /** The API schema of the loaded supergraph. */
  get apiSchema(): GraphQLSchema {
    if (!this.plans) throw new Error('No supergraph is loaded yet.');
    return this.plans.apiSchema;
  }

  /** Number of subscriptions open in this process. */
  get openCount(): number {
    return this.subscribers.size;
  }

  /**
   * Switches to a newly loaded supergraph. Subscriptions planned on the
   * previous one end with `schema_reload`, and their clients subscribe
   * again with their last position.
   */
  updateSchema(coreSupergraphSdl: string, apiSchema: GraphQLSchema): void {
    const replacing = this.plans !== undefined;
    this.plans = new SubscriptionPlans(
      coreSupergraphSdl,
      apiSchema,
      (name, url) => this.options.createDataSource(name, url),
    );
    this.requirements = readRequirements(coreSupergraphSdl);
    this.preparedForEvents.clear();
    if (replacing) this.closeAll('schema_reload');
  }

  async subscribe(request: SubscriptionRequest): Promise<SubscribeOutcome> {
    const plans = this.plans;
    if (this.closed || !plans || !this.requirements) {
      return rejected(
        this.closed
          ? 'The gateway is shutting down; subscribe again on another replica or shortly.'
          : 'No supergraph is loaded yet; subscribe again shortly.',
        ErrorCode.ServiceUnavailable,
      );
    }
    const checked = this.check(request, plans.apiSchema, this.requirements);
    if (!checked.ok) return checked;
    const { document, operation, variables, field, args, authorizationErrors } =
      checked;

    const after =
      typeof args.after === 'string' ? args.after : request.resumeAfter;
    if (after !== undefined && parseEventPosition(after) === null) {
      return rejected(
        `Invalid after "${after}": use the position of an event received earlier, such as "7431.12", or leave it out to receive only new events.`,
        ErrorCode.BadUserInput,
      );
    }

    const source = SUBSCRIPTION_FIELDS[field];
    const tail = this.tailOf(source.service);
    try {
      await tail.ready(this.options.config.SUBGRAPH_TIMEOUT_MS);
    } catch (error) {
      return rejected((error as Error).message, ErrorCode.SubgraphUnavailable);
    }

    const callerKey = callerKeyOf(request.caller);
    const release = await this.options.counter.acquire(callerKey);
    if (!release) {
      return rejected(
        `Too many open subscriptions for this caller: at most ${this.options.config.SUBSCRIPTIONS_MAX_PER_CALLER}. Close some before opening more.`,
        SUBSCRIPTION_LIMIT_CODE,
      );
    }
    if (this.closed || this.plans !== plans) {
      await release();
      return rejected(
        'The gateway is reloading or stopping; subscribe again shortly.',
        ErrorCode.ServiceUnavailable,
      );
    }

    let prepared: PreparedSubscription;
    const printed = print(document);
    try {
      prepared = plans.prepare(
        document,
        printed,
        request.operationName ?? undefined,
      );
    } catch (error) {
      await release();
      request.logger.error({ err: error }, 'planning a subscription failed');
      return rejected(
        'The gateway could not plan this subscription.',
        ErrorCode.InternalServerError,
      );
    }

    const groupKey = JSON.stringify([
      printed,
      request.operationName ?? null,
      variables,
      callerKey,
    ]);
    let group = this.groups.get(groupKey);
    if (!group) {
      group = new SubscriptionGroup({
        key: groupKey,
        field,
        types: new Set(source.types),
        filter: createEventFilter(field, args, request.caller),
        executionKey: checked.executionKey,
        execute: (event) =>
          this.execute(
            plans,
            prepared,
            variables,
            request,
            event,
            authorizationErrors,
          ),
      });
      this.groups.set(groupKey, group);
      const created = group;
      created.stopListening = tail.listen((events) => created.onEvents(events));
    }
    const currentGroup = group;

    const subscriber = new Subscriber(
      this.options.config.SUBSCRIPTION_BUFFER_EVENTS,
      () => {
        this.subscribers.delete(subscriber);
        currentGroup.subscribers.delete(subscriber);
        currentGroup.members.delete(subscriber);
        if (currentGroup.subscribers.size === 0) {
          currentGroup.stopListening?.();
          this.groups.delete(currentGroup.key);
        }
        void release().catch((error: unknown) =>
          request.logger.warn(
            { err: error },
            'releasing a subscription slot failed',
          ),
        );
      },
    );
    this.subscribers.add(subscriber);
    group.subscribers.add(subscriber);

    const livePosition = tail.position ?? null;
    if (
      after === undefined ||
      compareEventPositions(after, livePosition) >= 0
    ) {
      subscriber.floor = after ?? livePosition;
      group.members.add(subscriber);
    } else {
      // Catches up from `after` before joining the live events. catchUp
      // describes how the switch loses and repeats nothing.
      subscriber.floor = after;
      void this.catchUp(subscriber, group, tail, source.service, after).catch(
        (error: unknown) => {
          request.logger.error(
            { err: error },
            'catching up a resumed subscription failed',
          );
          subscriber.fail(
            'The gateway could not read the events after the given position; subscribe again.',
          );
        },
      );
    }
    request.logger.debug(
      { field, after: after ?? null, callerKind: request.caller.kind },
      'subscription started',
    );
    return { ok: true, subscription: subscriber.iterator() };
  }

  /**
   * Checks and plans a subscription document for a consumer that brings
   * its own events, such as a webhook endpoint whose payload the document
   * shapes. The result selects the events the document receives and runs
   * it for one event as `request.caller`, as a live subscription would.
   */
  prepareForEvents(request: SubscriptionRequest): PreparedForEvents {
    // Webhook consumers and workers prepare an endpoint's document for
    // every batch and delivery, so the checked result is kept until the
    // next supergraph instead of parsing and validating it each time.
    const key = JSON.stringify([
      request.query,
      request.variables ?? null,
      request.operationName ?? null,
      request.requestId,
      callerKeyOf(request.caller),
    ]);
    const cached = this.preparedForEvents.get(key);
    if (cached) return cached;
    const prepared = this.prepareForEventsUncached(request);
    if (this.preparedForEvents.size >= PREPARED_FOR_EVENTS_CACHE_SIZE) {
      this.preparedForEvents.delete(
        this.preparedForEvents.keys().next().value!,
      );
    }
    this.preparedForEvents.set(key, prepared);
    return prepared;
  }

  private prepareForEventsUncached(
    request: SubscriptionRequest,
  ): PreparedForEvents {
    const plans = this.plans;
    if (!plans || !this.requirements) {
      return rejected(
        'No supergraph is loaded yet; try again shortly.',
        ErrorCode.ServiceUnavailable,
      );
    }
    const checked = this.check(request, plans.apiSchema, this.requirements);
    if (!checked.ok) return checked;
    const { document, variables, field, args, authorizationErrors } = checked;
    let prepared: PreparedSubscription;
    try {
      prepared = plans.prepare(
        document,
        print(document),
        request.operationName ?? undefined,
      );
    } catch (error) {
      request.logger.error({ err: error }, 'planning a subscription failed');
      return rejected(
        'The gateway could not plan this subscription.',
        ErrorCode.InternalServerError,
      );
    }
    const source = SUBSCRIPTION_FIELDS[field];
    const filter = createEventFilter(field, args, request.caller);
    return {
      ok: true,
      field,
      service: source.service,
      types: source.types,
      wants: (event) =>
        (source.types as readonly string[]).includes(event.type) &&
        filter(event),
      execute: (event) =>
        this.execute(
          plans,
          prepared,
          variables,
          request,
          event,
          authorizationErrors,
        ),
    };
  }

  /** Ends every subscription with `shutdown` and stops following streams. */
  async close(): Promise<void> {
    this.closed = true;
    this.closeAll('shutdown');
    await Promise.all([...this.tails.values()].map((tail) => tail.stop()));
    this.tails.clear();
  }

  private closeAll(reason: CloseReason): void {
    for (const subscriber of [...this.subscribers]) subscriber.close(reason);
  }

  private tailOf(service: ServiceName): StreamTail {
    let tail = this.tails.get(service);
    if (!tail) {
      const types = Object.values(SUBSCRIPTION_FIELDS)
        .filter((entry) => entry.service === service)
        .flatMap((entry) => entry.types);
      tail = new StreamTail(
        createEventStreamClient({
          url: this.options.eventsUrl(service),
          caller: 'gateway',
          config: this.options.config,
        }),
        types,
        this.options.logger.child({
          component: 'subscriptions',
          source: service,
        }),
      );
      this.tails.set(service, tail);
    }
    return tail;
  }

  /**
   * Reads the stream after `after` for one subscriber, then makes it live.
   *
   * The switch happens in the same turn of the event loop as the check
   * that the pages read reach the tail's position. So every event up to
   * that position was read here, and the tail dispatches every later one to
   * the group. The subscriber's floor is the last position read here, so an
   * event both read here and dispatched later is sent once.
   */
  private async catchUp(
    subscriber: Subscriber,
    group: SubscriptionGroup,
    tail: StreamTail,
    service: ServiceName,
    after: string,
  ): Promise<void> {
    const client = createEventStreamClient({
      url: this.options.eventsUrl(service),
      caller: 'gateway',
      config: this.options.config,
    });
    try {
      let position: string | null = after;
      for (;;) {
        if (subscriber.isClosed) return;
        const page = await client.read(position, {
          // At most half the buffer, so one page of history never makes
          // a fast client look slow.
          limit: Math.min(
            CATCH_UP_PAGE_LIMIT,
            Math.max(
              1,
              Math.floor(this.options.config.SUBSCRIPTION_BUFFER_EVENTS / 2),
            ),
          ),
          types: [...group.types],
        });
        for (const event of page.events) {
          if (!group.filter(event)) continue;
          subscriber.enqueueOrdered(event.position, group.execute(event));
        }
        position = page.next ?? position;
        if (compareEventPositions(position, tail.position ?? null) >= 0) {
          // A subscriber that ended during the read has left the group
          // already, and joining now would keep the group alive.
          if (subscriber.isClosed) return;
          subscriber.floor = position;
          group.members.add(subscriber);
          return;
        }
        // Backpressure: history waits for the client instead of filling
        // the subscriber's buffer.
        await subscriber.waitForRoom();
        if (page.events.length === 0) await delay(CATCH_UP_IDLE_MS);
      }
    } finally {
      await client.close();
    }
  }

  private async execute(
    plans: SubscriptionPlans,
    prepared: PreparedSubscription,
    variables: Record<string, unknown>,
    request: SubscriptionRequest,
    event: StreamEvent,
    authorizationErrors: readonly GraphQLError[],
  ): Promise<SubscriptionMessage['result']> {
    // The event is durable in its subgraph's outbox, so an unreachable
    // subgraph (stopped, restarting) is requested again until
    // EVENT_RETRY_DEADLINE_MS has passed, rather than sending subscribers
    // a result without data. Later events of the group wait, so order holds.
    const deadline = Date.now() + EVENT_RETRY_DEADLINE_MS;
    for (let attempt = 1; ; attempt += 1) {
      const { data, errors } = await this.limiter.run(() =>
        this.executeOnce(plans, prepared, variables, request, event),
      );
      const retryable =
        errors.length > 0 && errors.every(isSubgraphUnavailable);
      if (!retryable || this.closed || Date.now() >= deadline) {
        const all = [...authorizationErrors, ...errors];
        return {
          data,
          ...(all.length > 0
            ? { errors: all.map((error) => this.format(error)) }
            : {}),
          extensions: { position: event.position },
        };
      }
      await delay(
        Math.min(EVENT_RETRY_MIN_MS * 2 ** (attempt - 1), EVENT_RETRY_MAX_MS),
      );
    }
  }

  private async executeOnce(
    plans: SubscriptionPlans,
    prepared: PreparedSubscription,
    variables: Record<string, unknown>,
    request: SubscriptionRequest,
    event: StreamEvent,
  ): Promise<{ data: unknown; errors: readonly unknown[] }> {
    const headers = await this.options.subgraphHeaders(request.caller);
    const context: GatewayContext = {
      requestId: request.requestId,
      logger: request.logger,
      caller: request.caller,
      subgraphHeaders: {
        ...headers,
        [EVENT_POSITION_HEADER]: event.position,
      },
    };
    try {
      return await plans.execute(prepared, variables, context, request.logger);
    } catch (error) {
      return { data: null, errors: [error] };
    }
  }

  private format(error: unknown): GraphQLFormattedError {
    const graphqlError =
      error instanceof GraphQLError
        ? error
        : new GraphQLError('Internal server error', {
            originalError: error as Error,
            extensions: { code: ErrorCode.InternalServerError },
          });
    return this.options.formatError(graphqlError.toJSON(), graphqlError);
  }

  /** Parses, validates, limits and authorizes a subscription request. */
  private check(
    request: SubscriptionRequest,
    schema: GraphQLSchema,
    requirements: SupergraphRequirements,
  ):
    | { ok: false; errors: GraphQLFormattedError[] }
    | {
        ok: true;
        document: DocumentNode;
        operation: OperationDefinitionNode;
        variables: Record<string, unknown>;
        field: SubscriptionFieldName;
        args: Record<string, unknown>;
        authorizationErrors: GraphQLError[];
        /** Equal for subscriptions whose results are equal for every event. */
        executionKey: string;
      } {
    const { config } = this.options;
    let document: DocumentNode;
    try {
      document = parse(request.query, {
        maxTokens: config.OPERATION_MAX_TOKENS,
        noLocation: false,
      });
    } catch (error) {
      const message = (error as Error).message;
      return rejected(
        message.includes('token limit')
          ? `The document has more than ${config.OPERATION_MAX_TOKENS} tokens; shorten it.`
          : message,
        message.includes('token limit')
          ? ErrorCode.MaxTokensExceeded
          : 'GRAPHQL_PARSE_FAILED',
      );
    }
    const validationErrors = validate(schema, document);
    if (validationErrors.length > 0) {
      return {
        ok: false,
        errors: validationErrors.map((error) => ({
          ...error.toJSON(),
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
        })),
      };
    }
    const operation = getOperationAST(document, request.operationName ?? null);
    if (!operation) {
      return rejected(
        request.operationName
          ? `The document has no operation named "${request.operationName}".`
          : 'The document has several operations; name the one to run in operationName.',
        BAD_REQUEST_CODE,
      );
    }
    if (operation.operation !== 'subscription') {
      return rejected(
        `This endpoint runs subscriptions, and "${operation.operation}" operations go to POST /graphql.`,
        BAD_REQUEST_CODE,
      );
    }
    const shapeError = checkOperationShape(config, document, operation);
    if (shapeError) return { ok: false, errors: [shapeError.toJSON()] };

    const { coerced, errors: variableErrors } = getVariableValues(
      schema,
      operation.variableDefinitions ?? [],
      request.variables ?? {},
    );
    if (variableErrors) {
      return {
        ok: false,
        errors: variableErrors.map((error) => ({
          ...error.toJSON(),
          extensions: { code: ErrorCode.BadUserInput },
        })),
      };
    }

    let authorized = { document, operation };
    let authorizationErrors: GraphQLError[] = [];
    if (hasRequirements(requirements)) {
      const result = authorizeOperation({
        schema,
        requirements,
        policies: POLICIES,
        caller: request.caller,
        document,
        operation,
        variables: coerced,
      });
      if (result.kind === 'denied') {
        return {
          ok: false,
          errors:
            result.errors.length > 0
              ? result.errors.map((error) => error.toJSON())
              : [
                  {
                    message: 'The subscription selects no field.',
                    extensions: { code: BAD_REQUEST_CODE },
                  },
                ],
        };
      }
      if (result.kind === 'filtered') {
        authorized = { document: result.document, operation: result.operation };
        authorizationErrors = result.errors;
      }
    }

    const rootField = findRootField(
      authorized.operation.selectionSet,
      authorized.document,
    );
    const subscriptionType = schema.getSubscriptionType();
    const fieldDefinition = rootField
      ? subscriptionType?.getFields()[rootField.name.value]
      : undefined;
    if (
      !rootField ||
      !fieldDefinition ||
      !isSubscriptionFieldName(rootField.name.value)
    ) {
      return rejected(
        'The subscription must select one root field of the Subscription type.',
        BAD_REQUEST_CODE,
      );
    }
    const args = getArgumentValues(fieldDefinition, rootField, coerced);
    return {
      ok: true,
      document: authorized.document,
      operation: authorized.operation,
      variables: coerced,
      field: rootField.name.value,
      args,
      authorizationErrors,
      executionKey: executionKeyOf(
        authorized.document,
        rootField,
        coerced,
        request.operationName ?? null,
        callerKeyOf(request.caller),
      ),
    };
  }
}

/**
 * Subscriptions that share one execution per event: same operation,
 * variables and caller.
 */
class SubscriptionGroup {
  readonly key: string;
  readonly field: SubscriptionFieldName;
  readonly types: Set<string>;
  readonly filter: EventFilter;
  readonly executionKey: string;
  readonly execute: (
    event: StreamEvent,
  ) => Promise<SubscriptionMessage['result']>;
  /** Subscribers that receive live events. */
  readonly members = new Set<Subscriber>();
  /**
   * Every open subscriber of the group: the members and those still
   * catching up. The group follows the tail until this is empty.
   */
  readonly subscribers = new Set<Subscriber>();
  stopListening: (() => void) | undefined;
  /** Delivery of results in event order, whatever order executions end in. */
  private delivered: Promise<void> = Promise.resolve();

  constructor(options: {
    key: string;
    field: SubscriptionFieldName;
    types: Set<string>;
    filter: EventFilter;
    executionKey: string;
    execute: (event: StreamEvent) => Promise<SubscriptionMessage['result']>;
  }) {
    this.executionKey = options.executionKey;
    this.key = options.key;
    this.field = options.field;
    this.types = options.types;
    this.filter = options.filter;
    this.execute = options.execute;
  }

  onEvents(events: StreamEvent[]): void {
    for (const event of events) {
      if (!this.types.has(event.type) || !this.filter(event)) continue;
      const members = [...this.members].filter(
        (member) => compareEventPositions(event.position, member.floor) > 0,
      );
      if (members.length === 0) continue;
      // Groups that differ only in the root field's arguments get the same
      // result for an event, so the first group to dispatch it executes it
      // and the others of this page reuse that execution.
      const shared = sharedExecutions(events);
      const key = `${event.position}\n${this.executionKey}`;
      let result = shared.get(key);
      if (!result) {
        result = this.execute(event);
        shared.set(key, result);
      }
      const resolved = result;
      this.delivered = this.delivered.then(async () => {
        const message = { position: event.position, result: await resolved };
        for (const member of members) member.deliver(message);
      });
    }
  }
}

/** One client's subscription: a bounded queue of messages. */
class Subscriber {
  /** Events at or before this position are not sent. */
  floor: string | null = null;
  private readonly queue: SubscriptionMessage[] = [];
  private waiting:
    ((result: IteratorResult<SubscriptionMessage>) => void) | undefined;
  private roomWaiters: Array<() => void> = [];
  private closed = false;
  private failure: string | undefined;
  private reason: CloseReason | undefined;
  private readonly closeListeners: Array<(reason: CloseReason) => void> = [];
  /** Catch-up results still executing, delivered before anything live. */
  private ordered: Promise<void> = Promise.resolve();
  private pendingOrdered = 0;

  constructor(
    private readonly bufferLimit: number,
    private readonly onEnd: () => void,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** Queues a catch-up result; results leave in the order they were queued. */
  enqueueOrdered(
    position: string,
    result: Promise<SubscriptionMessage['result']>,
  ): void {
    this.pendingOrdered += 1;
    this.ordered = this.ordered.then(async () => {
      const resolved = await result;
      this.pendingOrdered -= 1;
      this.push({ position, result: resolved });
      // The result may go straight to a waiting reader, bypassing the
      // queue, so room is checked here as well as in next().
      this.wakeRoomWaiters();
    });
  }

  /** Queues a live result, after any catch-up result still executing. */
  deliver(message: SubscriptionMessage): void {
    if (this.pendingOrdered > 0) {
      // Counted as pending too, so a later live result cannot overtake
      // this one once the last catch-up result has left.
      this.pendingOrdered += 1;
      this.ordered = this.ordered.then(() => {
        this.pendingOrdered -= 1;
        this.push(message);
      });
      return;
    }
    this.push(message);
  }

  /** Resolves once the queue has room for another page of history. */
  waitForRoom(): Promise<void> {
    if (
      this.closed ||
      this.queue.length + this.pendingOrdered < this.bufferLimit / 2
    ) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private wakeRoomWaiters(): void {
    if (
      this.roomWaiters.length > 0 &&
      this.queue.length + this.pendingOrdered < this.bufferLimit / 2
    ) {
      for (const resolve of this.roomWaiters.splice(0)) resolve();
    }
  }

  private push(message: SubscriptionMessage): void {
    if (this.closed) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: message, done: false });
      return;
    }
    if (this.queue.length >= this.bufferLimit) {
      this.close('slow_consumer');
      return;
    }
    this.queue.push(message);
  }

  /** Ends the subscription with an error message for the client. */
  fail(message: string): void {
    this.failure = message;
    this.finish();
  }

  close(reason: CloseReason): void {
    if (this.closed) return;
    this.reason = reason;
    for (const listener of this.closeListeners) listener(reason);
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    for (const resolve of this.roomWaiters.splice(0)) resolve();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.({ value: undefined, done: true });
    this.onEnd();
  }

  iterator(): ActiveSubscription {
    const subscriber = this;
    const iterator: ActiveSubscription = {
      get closeReason() {
        return subscriber.reason;
      },
      onClose(listener) {
        subscriber.closeListeners.push(listener);
      },
      next() {
        if (subscriber.failure !== undefined) {
          const message = subscriber.failure;
          subscriber.failure = undefined;
          return Promise.reject(
            new GraphQLError(message, {
              extensions: { code: ErrorCode.InternalServerError },
            }),
          );
        }
        const message = subscriber.queue.shift();
        if (message) {
          subscriber.wakeRoomWaiters();
          return Promise.resolve({ value: message, done: false });
        }
        if (subscriber.closed) {
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve) => (subscriber.waiting = resolve));
      },
      return() {
        subscriber.finish();
        return Promise.resolve({ value: undefined, done: true });
      },
      throw(error: unknown) {
        subscriber.finish();
        return Promise.reject(error);
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}

/** Runs at most `limit` tasks at once, the rest in arrival order. */
class ConcurrencyLimiter {
  private running = 0;
  private readonly queued: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) {
      await new Promise<void>((resolve) => this.queued.push(resolve));
    }
    this.running += 1;
    try {
      return await task();
    } finally {
      this.running -= 1;
      this.queued.shift()?.();
    }
  }
}

/** Returns the key of a caller for sharing executions and counting subscriptions. */
export function callerKeyOf(caller: CallerIdentity): string {
  return `${caller.kind}:${caller.subject ?? ''}:${[...caller.scopes].sort().join(',')}:${[...caller.roles].sort().join(',')}`;
}

/** Returns the first field of the root selection, looking into fragments. */
function findRootField(
  selectionSet: SelectionSetNode,
  document: DocumentNode,
): FieldNode | undefined {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value === '__typename') continue;
      return selection;
    }
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      const found = findRootField(selection.selectionSet, document);
      if (found) return found;
    }
    if (selection.kind === Kind.FRAGMENT_SPREAD) {
      const fragment = document.definitions.find(
        (definition) =>
          definition.kind === Kind.FRAGMENT_DEFINITION &&
          definition.name.value === selection.name.value,
      );
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) {
        const found = findRootField(fragment.selectionSet, document);
        if (found) return found;
      }
    }
  }
  return undefined;
}

function rejected(
  message: string,
  code: string,
): { ok: false; errors: GraphQLFormattedError[] } {
  return { ok: false, errors: [{ message, extensions: { code } }] };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isSubgraphUnavailable(error: unknown): boolean {
  return (
    error instanceof GraphQLError &&
    error.extensions.code === ErrorCode.SubgraphUnavailable
  );
}

/** Executions of one page of a tail, by event position and execution key. */
const executionsByPage = new WeakMap<
  StreamEvent[],
  Map<string, Promise<SubscriptionMessage['result']>>
>();

function sharedExecutions(
  page: StreamEvent[],
): Map<string, Promise<SubscriptionMessage['result']>> {
  let executions = executionsByPage.get(page);
  if (!executions) {
    executions = new Map();
    executionsByPage.set(page, executions);
  }
  return executions;
}

/**
 * Returns the key under which subscriptions share executions: the
 * operation without the root field's arguments, the variables it still
 * uses, and the caller. A subgraph resolves a subscription field from the
 * event alone (platform/subscription-fields.ts), so the root field's
 * arguments, which choose the events, never change a result.
 */
function executionKeyOf(
  document: DocumentNode,
  rootField: FieldNode,
  variables: Record<string, unknown>,
  operationName: string | null,
  callerKey: string,
): string {
  const stripped = visit(document, {
    Field(node) {
      return node === rootField ? { ...node, arguments: [] } : undefined;
    },
  });
  const used = new Set<string>();
  visit(stripped, {
    Variable(node) {
      used.add(node.name.value);
    },
    VariableDefinition() {
      // The definitions list every variable, used or not.
      return false;
    },
  });
  const kept = Object.fromEntries(
    Object.entries(variables).filter(([name]) => used.has(name)),
  );
  return JSON.stringify([print(stripped), operationName, kept, callerKey]);
}
