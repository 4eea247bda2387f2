import type { GraphQLDataSource, ServiceMap } from '@apollo/gateway';
import {
  applyRewrites,
  isObjectOfType,
} from '@apollo/gateway/dist/dataRewrites.js';
import { ERRORS, errorCodeDef } from '@apollo/federation-internals';
import {
  evaluateCondition,
  type FetchNode,
  type PlanNode,
  type QueryPlan,
  type QueryPlanSelectionNode,
} from '@apollo/query-planner';
import {
  executeSync,
  GraphQLError,
  Kind,
  OperationTypeNode,
  visit,
  type FieldNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type VariableDefinitionNode,
} from 'graphql';
import { FetchBatcher, type FetchReply } from './fetch-batching.js';
import { ownValue, setOwn } from './own.js';
import type { ResultShaper } from './result-shaping.js';

type JsonObject = Record<string, unknown>;
type RequestContext = Parameters<
  GraphQLDataSource['process']
>[0] extends infer R
  ? R extends { incomingRequestContext: infer C }
    ? C
    : never
  : never;

/** The inputs of one plan execution besides the plan. */
export interface PlanExecution {
  plan: QueryPlan;
  /** Shapes the fetched data into the operation's result. */
  shaper: ResultShaper;
  /** Variable definitions of the operation, for condition nodes. */
  variableDefinitions: Parameters<typeof evaluateCondition>[1];
  /** The operation's definition in the API schema's document. */
  operationDefinition: OperationDefinitionNode;
  /** The API schema, for introspection fields. */
  apiSchema: GraphQLSchema;
  /** The supergraph schema, for type conditions of entity representations. */
  supergraphSchema: GraphQLSchema;
  serviceMap: ServiceMap;
  requestContext: RequestContext;
}

export interface PlanResult {
  data?: JsonObject | null;
  errors?: GraphQLError[];
  extensions?: JsonObject;
}

/** The objects a plan node works on, and where they are in the result. */
interface Cursor {
  /** Path of the node in the response, `@` for each list. */
  path: (string | number)[];
  /** The objects at `path`, nulls left out. */
  entities: JsonObject[];
}

interface ExecutionState {
  input: PlanExecution;
  variables: JsonObject;
  /** The result as the fetches build it, before shaping. */
  result: JsonObject;
  errors: GraphQLError[];
  batcher: FetchBatcher;
}

/**
 * Executes a query plan of @apollo/query-planner and shapes its result
 * (gateway/execution/result-shaping.ts) so that data and errors are those
 * of @apollo/gateway's `executeQueryPlan`. It differs in how it fetches:
 *
 * - The representations of one entity fetch are sent once each. A deep
 *   query reaches the same entity through many paths (the same product
 *   under every review of it), and @apollo/gateway sends it once per path.
 *   The subgraph resolves each distinct representation once, and its
 *   result is merged into every object that had that representation.
 * - Objects at a path are collected in one pass without intermediate
 *   arrays.
 *
 * Sharing one received entity between several objects is safe because
 * every later fetch that reaches one of them reaches all of them at the
 * same plan path, with the same representation, and merges the same data.
 *
 * Plans with @defer are not handled here; the caller runs them with
 * @apollo/gateway.
 */
export async function executePlan(input: PlanExecution): Promise<PlanResult> {
  const state: ExecutionState = {
    input,
    variables: (input.requestContext.request.variables ?? {}) as JsonObject,
    result: Object.create(null) as JsonObject,
    errors: [],
    batcher: new FetchBatcher(input.requestContext, input.serviceMap),
  };
  const node = input.plan.node;
  if (node) {
    if (node.kind === 'Subscription') {
      throw new Error('Subscriptions are executed by gateway/subscriptions.');
    }
    await executeNode(state, node, { path: [], entities: [state.result] });
  }

  let data: JsonObject | null | undefined;
  try {
    let shapingErrors: GraphQLError[];
    ({ data, errors: shapingErrors } = input.shaper.shape(
      state.result,
      state.variables,
      (field) =>
        executeIntrospection(
          input.apiSchema,
          field.expandFragments().toSelectionNode(),
          input.operationDefinition.variableDefinitions,
          state.variables,
        ),
    ));
    // As @apollo/gateway: value completion errors are reported only when
    // no fetch failed, and then as an extension.
    if (state.errors.length === 0 && shapingErrors.length > 0) {
      return { extensions: { valueCompletion: shapingErrors }, data };
    }
  } catch (error) {
    if (error instanceof GraphQLError) return { errors: [error] };
    if (error instanceof Error) {
      return {
        errors: [new GraphQLError(error.message, { originalError: error })],
      };
    }
    return {
      errors: [
        new GraphQLError('Unexpected error during query plan execution'),
      ],
    };
  }
  return state.errors.length === 0 ? { data } : { errors: state.errors, data };
}

async function executeNode(
  state: ExecutionState,
  node: PlanNode,
  cursor: Cursor,
): Promise<void> {
  switch (node.kind) {
    case 'Sequence':
      for (const child of node.nodes) await executeNode(state, child, cursor);
      return;
    case 'Parallel':
      await Promise.all(
        node.nodes.map((child) => executeNode(state, child, cursor)),
      );
      return;
    case 'Flatten': {
      const entities: JsonObject[] = [];
      for (const entity of cursor.entities) {
        collectAtPath(entity, node.path, 0, entities);
      }
      if (entities.length === 0) return;
      await executeNode(state, node.node, {
        path: [...cursor.path, ...node.path],
        entities,
      });
      return;
    }
    case 'Fetch':
      try {
        await executeFetch(state, node, cursor);
      } catch (error) {
        state.errors.push(error as GraphQLError);
      }
      return;
    case 'Condition': {
      const branch = evaluateCondition(
        node,
        state.input.variableDefinitions,
        state.variables,
      )
        ? node.ifClause
        : node.elseClause;
      if (branch) await executeNode(state, branch, cursor);
      return;
    }
    case 'Defer':
      throw new Error('Plans with @defer are executed by @apollo/gateway.');
  }
}

/**
 * Appends the non-null objects at `path` below `value` to `out`. A list at
 * the end of the path, or where the path has `@`, adds its elements.
 */
function collectAtPath(
  value: unknown,
  path: (string | number)[],
  index: number,
  out: JsonObject[],
): void {
  if (value === null || value === undefined) return;
  if (index === path.length) {
    if (Array.isArray(value)) {
      for (const element of value) {
        if (element !== null && element !== undefined) {
          out.push(element as JsonObject);
        }
      }
    } else {
      out.push(value as JsonObject);
    }
    return;
  }
  const step = path[index]!;
  if (step === '@') {
    if (!Array.isArray(value)) {
      throw new Error(`Expected a list in the result at path element @.`);
    }
    for (const element of value) collectAtPath(element, path, index + 1, out);
    return;
  }
  if (Array.isArray(value)) {
    throw new Error(`Unexpected array in result for path element ${step}`);
  }
  const object = value as JsonObject;
  if (Object.prototype.hasOwnProperty.call(object, step)) {
    collectAtPath(object[step as string], path, index + 1, out);
  }
}

async function executeFetch(
  state: ExecutionState,
  fetch: FetchNode,
  cursor: Cursor,
): Promise<void> {
  const { input } = state;
  const service = input.serviceMap[fetch.serviceName];
  if (!service) {
    throw new Error(`Couldn't find service with name "${fetch.serviceName}"`);
  }
  const { entities } = cursor;
  if (entities.length === 0) return;

  const variables = Object.create(null) as JsonObject;
  for (const name of fetch.variableUsages ?? []) {
    if (
      Object.prototype.hasOwnProperty.call(state.variables, name) &&
      state.variables[name] !== undefined
    ) {
      variables[name] = state.variables[name];
    }
  }

  if (!fetch.requires) {
    const data = await send(state, service, fetch, cursor, variables);
    if (data) applyRewrites(input.supergraphSchema, fetch.outputRewrites, data);
    for (const entity of entities) mergeInto(entity, data);
    return;
  }

  // One representation per distinct value. `owners[i]` lists the indexes
  // in `entities` of the objects whose representation is `unique[i]`.
  // Each object's values are looked up in a trie, and a representation is
  // built only for a path of the trie not seen before.
  const unique: JsonObject[] = [];
  const owners: number[][] = [];
  const trie: KeyNode = {};
  for (let index = 0; index < entities.length; index++) {
    const entity = entities[index]!;
    const node = keyNodeOf(
      trie,
      input.supergraphSchema,
      entity,
      fetch.requires,
    );
    if (node === null) continue;
    let position = node.position;
    if (position === undefined) {
      const representation = selectRepresentation(
        input.supergraphSchema,
        entity,
        fetch.requires,
      );
      if (representation?.__typename) {
        applyRewrites(
          input.supergraphSchema,
          fetch.inputRewrites,
          representation,
        );
        position = unique.length;
        unique.push(representation);
        owners.push([]);
      } else {
        position = -1;
      }
      node.position = position;
    }
    if (position >= 0) owners[position]!.push(index);
  }
  if (unique.length === 0) return;
  if ('representations' in variables) {
    throw new Error(`Variables cannot contain key "representations"`);
  }
  const data = await send(
    state,
    service,
    fetch,
    cursor,
    { ...variables, representations: unique },
    owners,
  );
  if (!data) return;
  const received = data._entities;
  if (!Array.isArray(received)) {
    throw new Error(`Expected "data._entities" in response to be an array`);
  }
  if (received.length !== unique.length) {
    throw new Error(
      `Expected "data._entities" to contain ${unique.length} elements`,
    );
  }
  for (let position = 0; position < unique.length; position++) {
    const entity = received[position] as JsonObject | null;
    const indexes = owners[position]!;
    if (entity && !entity.__typename) {
      entity.__typename = entities[indexes[0]!]!.__typename;
    }
    if (entity) {
      applyRewrites(input.supergraphSchema, fetch.outputRewrites, entity);
    }
    for (const index of indexes) mergeInto(entities[index]!, entity);
  }
}

/**
 * Sends one fetch and records its errors with their paths in the client's
 * result. For an entity fetch, `owners` maps each representation sent to
 * the objects it stands for, and an error of one representation is
 * reported at each of their paths. Entity fetches of queries go through
 * the request's FetchBatcher.
 */
async function send(
  state: ExecutionState,
  service: GraphQLDataSource,
  fetch: FetchNode,
  cursor: Cursor,
  variables: JsonObject,
  owners?: number[][],
): Promise<JsonObject | null | undefined> {
  const response: FetchReply =
    owners && fetch.operationKind === OperationTypeNode.QUERY
      ? await state.batcher.request(fetch, variables, cursor.path)
      : await state.batcher.sendAlone(service, fetch, variables, cursor.path);
  if (response.errors) {
    if (owners) {
      recordEntityErrors(state, fetch, cursor, response.errors, owners);
    } else {
      for (const error of response.errors) {
        state.errors.push(
          downstreamServiceError(
            error,
            fetch.serviceName,
            error.path ? [...cursor.path, ...error.path] : undefined,
          ),
        );
      }
    }
  }
  return response.data;
}

/**
 * Records the errors of an entity fetch. An error at `_entities.<i>`
 * is reported at the path of every object whose representation was the
 * i-th one sent, ordered by the objects' order: the order a subgraph gives
 * when it resolves one representation per object, as it did for
 * @apollo/gateway. An error without an entity index keeps its place after
 * the error it followed. An index beyond the representations sent gives
 * the path after the index, as @apollo/gateway does.
 */
function recordEntityErrors(
  state: ExecutionState,
  fetch: FetchNode,
  cursor: Cursor,
  errors: readonly GraphQLFormattedError[],
  owners: number[][],
): void {
  const paths = entityPaths(state.result, cursor.path);
  const placed: { error: GraphQLError; order: number }[] = [];
  let lastOrder = -1;
  for (const error of errors) {
    const errorPath = error.path;
    const position = errorPath?.[1];
    const indexes = typeof position === 'number' ? owners[position] : undefined;
    if (indexes) {
      for (const index of indexes) {
        placed.push({
          error: downstreamServiceError(error, fetch.serviceName, [
            ...(paths[index] ?? []),
            ...errorPath!.slice(2),
          ]),
          order: index,
        });
        lastOrder = Math.max(lastOrder, index);
      }
    } else {
      placed.push({
        error: downstreamServiceError(
          error,
          fetch.serviceName,
          typeof position === 'number'
            ? errorPath!.slice(2)
            : errorPath
              ? [...cursor.path, ...errorPath]
              : undefined,
        ),
        order: lastOrder,
      });
    }
  }
  // Array.prototype.sort is stable: errors of one object keep their order.
  placed.sort((a, b) => a.order - b.order);
  for (const { error } of placed) state.errors.push(error);
}

/**
 * Returns the response path of each object that `collectAtPath` finds at
 * `path` from the root, in the same order.
 */
function entityPaths(
  root: JsonObject,
  path: (string | number)[],
): (string | number)[][] {
  const paths: (string | number)[][] = [];
  const walk = (value: unknown, index: number, at: (string | number)[]) => {
    if (value === null || value === undefined) return;
    if (index === path.length) {
      if (Array.isArray(value)) {
        value.forEach((element, position) => {
          if (element !== null && element !== undefined) {
            paths.push([...at, position]);
          }
        });
      } else {
        paths.push(at);
      }
      return;
    }
    const step = path[index]!;
    if (step === '@') {
      (value as unknown[]).forEach((element, position) =>
        walk(element, index + 1, [...at, position]),
      );
      return;
    }
    const object = value as JsonObject;
    if (Object.prototype.hasOwnProperty.call(object, step)) {
      walk(object[step as string], index + 1, [...at, step]);
    }
  };
  walk(root, 0, []);
  return paths;
}

/**
 * Returns the error of a subgraph as @apollo/gateway reports it: the subgraph's
 * message and extensions with `serviceName` added, at its path in the
 * client's result, and DOWNSTREAM_SERVICE_ERROR unless it has a code.
 */
function downstreamServiceError(
  original: GraphQLFormattedError,
  serviceName: string,
  path: readonly (string | number)[] | undefined,
): GraphQLError {
  const message =
    original.message ||
    `Error while fetching subquery from service "${serviceName}"`;
  const options = {
    originalError: original as Error,
    path,
    extensions: { ...original.extensions, serviceName },
  };
  const codeDef = errorCodeDef(original as GraphQLError);
  if (!codeDef && original.extensions?.code) {
    return new GraphQLError(message, options);
  }
  return (codeDef ?? ERRORS.DOWNSTREAM_SERVICE_ERROR).err(message, options);
}

/**
 * Returns the representation of `source` for an entity fetch: the fields that
 * `requires` selects, or null when one of them is missing.
 */
function selectRepresentation(
  schema: GraphQLSchema,
  source: JsonObject | null,
  selections: readonly QueryPlanSelectionNode[],
): JsonObject | null {
  if (source === null) return null;
  // A plain object rather than one without a prototype, which V8 keeps in
  // its slower dictionary mode; setOwn keeps keys off Object.prototype.
  const result: JsonObject = {};
  for (const selection of selections) {
    if (selection.kind === Kind.FIELD) {
      const name = selection.alias ?? selection.name;
      if (
        !Object.prototype.hasOwnProperty.call(source, name) ||
        source[name] === undefined
      ) {
        return null;
      }
      const value = source[name];
      const nested = selection.selections;
      if (Array.isArray(value)) {
        setOwn(
          result,
          name,
          value.map((element) =>
            nested
              ? selectRepresentation(schema, element as JsonObject, nested)
              : element,
          ),
        );
      } else if (nested) {
        setOwn(
          result,
          name,
          selectRepresentation(schema, value as JsonObject | null, nested),
        );
      } else {
        setOwn(result, name, value);
      }
    } else if (
      selection.typeCondition &&
      isObjectOfType(schema, source, selection.typeCondition)
    ) {
      mergeInto(
        result,
        selectRepresentation(schema, source, selection.selections),
      );
    }
  }
  return result;
}

/**
 * A node of the trie that finds equal representations: each edge is one
 * value that `selectRepresentation` reads, in the order it reads them, or
 * one of the markers below where the shape of the representation varies.
 * Primitive values are Map keys as they are, so `1` and `"1"` differ.
 * Other values of a leaf field (a JSON scalar) are keyed by their JSON
 * text in `json`. Two objects reach the same node exactly when their
 * representations are equal.
 */
interface KeyNode {
  next?: Map<unknown, KeyNode>;
  json?: Map<string, KeyNode>;
  /** Index of the representation in the fetch, or -1 when it has none. */
  position?: number;
}

const LIST_START = {};
const LIST_END = {};
const NULL_OBJECT = {};

function descend(node: KeyNode, key: unknown): KeyNode {
  const next = (node.next ??= new Map());
  let child = next.get(key);
  if (!child) {
    child = {};
    next.set(key, child);
  }
  return child;
}

function descendLeaf(node: KeyNode, value: unknown): KeyNode {
  if (value === null || typeof value !== 'object') return descend(node, value);
  const json = (node.json ??= new Map());
  const text = JSON.stringify(value);
  let child = json.get(text);
  if (!child) {
    child = {};
    json.set(text, child);
  }
  return child;
}

/**
 * Returns the trie node below `node` for the representation of `source`, or null
 * when `selectRepresentation` gives none because a field is missing.
 */
function keyNodeOf(
  node: KeyNode,
  schema: GraphQLSchema,
  source: JsonObject,
  selections: readonly QueryPlanSelectionNode[],
): KeyNode | null {
  let at = node;
  for (const selection of selections) {
    if (selection.kind === Kind.FIELD) {
      const name = selection.alias ?? selection.name;
      const value = source[name];
      if (value === undefined || !Object.hasOwn(source, name)) return null;
      const nested = selection.selections;
      if (Array.isArray(value)) {
        at = descend(at, LIST_START);
        for (const element of value) {
          at = nested
            ? nestedKeyNode(at, schema, element as JsonObject | null, nested)
            : descendLeaf(at, element);
        }
        at = descend(at, LIST_END);
      } else if (nested) {
        at = nestedKeyNode(at, schema, value as JsonObject | null, nested);
      } else {
        at = descendLeaf(at, value);
      }
    } else if (
      selection.typeCondition &&
      isObjectOfType(schema, source, selection.typeCondition)
    ) {
      // The selection node itself marks that its fragment applied.
      at = nestedKeyNode(
        descend(at, selection),
        schema,
        source,
        selection.selections,
      );
    }
  }
  return at;
}

/** As keyNodeOf, with NULL_OBJECT for a null object or a representation of null. */
function nestedKeyNode(
  node: KeyNode,
  schema: GraphQLSchema,
  source: JsonObject | null,
  selections: readonly QueryPlanSelectionNode[],
): KeyNode {
  const found =
    source === null ? null : keyNodeOf(node, schema, source, selections);
  return found ?? descend(node, NULL_OBJECT);
}

/**
 * Merges `source` into `target` as @apollo/gateway's deepMerge does:
 * objects field by field, lists of the same length element by element,
 * anything else replaced.
 */
function mergeInto(target: JsonObject, source: unknown): void {
  if (source === null || source === undefined) return;
  const from = source as JsonObject;
  for (const key of Object.keys(from)) {
    const value = from[key];
    if (value === undefined) continue;
    const existing = ownValue(target, key);
    if (existing && isPlainObject(value)) {
      mergeInto(existing as JsonObject, value);
    } else if (
      Array.isArray(value) &&
      Array.isArray(existing) &&
      value.length === existing.length
    ) {
      for (let index = 0; index < value.length; index++) {
        if (isPlainObject(existing[index]) && isPlainObject(value[index])) {
          mergeInto(existing[index] as JsonObject, value[index]);
        } else {
          existing[index] = value[index];
        }
      }
    } else {
      setOwn(target, key, value);
    }
  }
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Runs one introspection field against the API schema, as @apollo/gateway does. */
function executeIntrospection(
  schema: GraphQLSchema,
  field: FieldNode,
  variableDefinitions: readonly VariableDefinitionNode[] | undefined,
  variables: JsonObject,
): unknown {
  const used = new Set<string>();
  visit(field, {
    Variable: ({ name }) => {
      used.add(name.value);
    },
  });
  const { data, errors } = executeSync({
    schema,
    document: {
      kind: Kind.DOCUMENT,
      definitions: [
        {
          kind: Kind.OPERATION_DEFINITION,
          operation: OperationTypeNode.QUERY,
          variableDefinitions: variableDefinitions?.filter((definition) =>
            used.has(definition.variable.name.value),
          ),
          selectionSet: { kind: Kind.SELECTION_SET, selections: [field] },
        },
      ],
    },
    rootValue: {},
    variableValues: variables,
  });
  if (errors?.length || !data) {
    throw new Error(
      `Introspection of ${field.name.value} failed: ${errors?.map((error) => error.message).join('; ') ?? 'no data'}`,
    );
  }
  return data[field.alias?.value ?? field.name.value];
}
