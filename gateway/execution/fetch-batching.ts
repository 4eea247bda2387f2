import type { GraphQLDataSource } from '@apollo/gateway';
import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types.js';
import type { FetchNode } from '@apollo/query-planner';
import {
  Kind,
  OperationTypeNode,
  parse,
  print,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type OperationDefinitionNode,
  type VariableDefinitionNode,
} from 'graphql';

type JsonObject = Record<string, unknown>;

/** The subgraph's response to one fetch. */
export interface FetchReply {
  data?: JsonObject | null;
  errors?: readonly GraphQLFormattedError[];
}

type ProcessOptions = Parameters<GraphQLDataSource['process']>[0];
type RequestContext = ProcessOptions extends infer R
  ? R extends { incomingRequestContext: infer C }
    ? C
    : never
  : never;

interface PendingFetch {
  fetch: FetchNode;
  variables: JsonObject;
  path: (string | number)[];
  resolve: (reply: FetchReply) => void;
  reject: (error: unknown) => void;
}

/** Several entity fetches of one subgraph as one operation. */
interface CombinedOperation {
  query: string;
  document: DocumentNode;
  operationName: string | undefined;
  /** The variable that carries the representations of each fetch. */
  representationVariables: string[];
  /** The alias of each fetch's `_entities` field. */
  aliases: string[];
}

let nextFetchId = 0;
const fetchIds = new WeakMap<FetchNode, number>();
/** Combined operations, by the first fetch and then the ids of all. */
const combinedOperations = new WeakMap<
  FetchNode,
  Map<string, CombinedOperation | null>
>();

function fetchIdOf(fetch: FetchNode): number {
  let id = fetchIds.get(fetch);
  if (id === undefined) {
    id = nextFetchId++;
    fetchIds.set(fetch, id);
  }
  return id;
}

/**
 * Sends the entity fetches of one request that go to the same subgraph
 * and are ready at the same time as one subgraph request. The query plan
 * starts the branches of a parallel node together. A deep query has
 * several branches that each fetch entities of the same subgraph, and
 * each would otherwise be a request of its own.
 *
 * Fetches queue until the event loop's next turn, so every branch that
 * became ready from the same response joins the batch. The combined
 * operation selects each fetch's `_entities` under an alias of its own,
 * with its own representations variable and its fragments renamed, and
 * the reply is split back per fetch with the paths of its errors restored.
 */
export class FetchBatcher {
  private readonly pending = new Map<string, PendingFetch[]>();

  constructor(
    private readonly context: RequestContext,
    private readonly services: Record<string, GraphQLDataSource | undefined>,
  ) {}

  /**
   * Queues an entity fetch whose `variables` include its
   * `representations`, and returns the subgraph's reply to it.
   */
  request(
    fetch: FetchNode,
    variables: JsonObject,
    path: (string | number)[],
  ): Promise<FetchReply> {
    return new Promise((resolve, reject) => {
      let queue = this.pending.get(fetch.serviceName);
      if (!queue) {
        queue = [];
        this.pending.set(fetch.serviceName, queue);
        setImmediate(() => {
          const batch = this.pending.get(fetch.serviceName)!;
          this.pending.delete(fetch.serviceName);
          this.flush(fetch.serviceName, batch).catch((error: unknown) => {
            for (const item of batch) item.reject(error);
          });
        });
      }
      queue.push({ fetch, variables, path, resolve, reject });
    });
  }

  private async flush(
    serviceName: string,
    batch: PendingFetch[],
  ): Promise<void> {
    const service = this.services[serviceName]!;
    const combined =
      batch.length > 1
        ? combinedOperation(batch.map((item) => item.fetch))
        : null;
    if (!combined) {
      this.sendEach(service, batch);
      return;
    }

    const variables: JsonObject = {};
    batch.forEach((item, index) => {
      for (const [name, value] of Object.entries(item.variables)) {
        if (name === 'representations') {
          variables[combined.representationVariables[index]!] = value;
        } else {
          variables[name] = value;
        }
      }
    });
    let reply: FetchReply;
    try {
      reply = await this.send(service, {
        query: combined.query,
        document: combined.document,
        operationName: combined.operationName,
        variables,
        path: batch[0]!.path,
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    const data = reply.data;
    if (
      !data ||
      combined.aliases.some((alias) => !Array.isArray(data[alias]))
    ) {
      // `_entities` is non-null, so one fetch that fails as a whole nulls
      // the data of all. Each is then sent on its own, as @apollo/gateway
      // sends them, so that the others keep their data.
      this.sendEach(service, batch);
      return;
    }
    batch.forEach((item, index) => {
      const alias = combined.aliases[index]!;
      const errors: GraphQLFormattedError[] = [];
      for (const error of reply.errors ?? []) {
        const head = error.path?.[0];
        if (head === alias) {
          errors.push({
            ...error,
            path: ['_entities', ...error.path!.slice(1)],
          });
        } else if (
          head === undefined ||
          !combined.aliases.includes(head as string)
        ) {
          // An error of the whole request belongs to every fetch in it.
          errors.push(error);
        }
      }
      item.resolve({
        data: { _entities: data[alias] },
        ...(errors.length > 0 ? { errors } : {}),
      });
    });
  }

  private sendEach(service: GraphQLDataSource, batch: PendingFetch[]): void {
    for (const item of batch) {
      this.sendAlone(service, item.fetch, item.variables, item.path).then(
        item.resolve,
        item.reject,
      );
    }
  }

  /** Sends one fetch as a request of its own and returns the subgraph's reply. */
  sendAlone(
    service: GraphQLDataSource,
    fetch: FetchNode,
    variables: JsonObject,
    path: (string | number)[],
  ): Promise<FetchReply> {
    return this.send(service, {
      query: fetch.operation,
      document: fetch.operationDocumentNode,
      operationName: fetch.operationName,
      variables,
      path,
    });
  }

  private async send(
    service: GraphQLDataSource,
    request: {
      query: string;
      document: DocumentNode | undefined;
      operationName: string | undefined;
      variables: JsonObject;
      path: (string | number)[];
    },
  ): Promise<FetchReply> {
    const response = await service.process({
      kind: GraphQLDataSourceRequestKind.INCOMING_OPERATION,
      request: {
        query: request.query,
        variables: request.variables,
        operationName: request.operationName,
      },
      incomingRequestContext: this.context,
      context: this.context.context,
      document: request.document,
      pathInIncomingRequest: request.path as never,
    });
    return {
      data: response.data as JsonObject | null | undefined,
      errors: response.errors,
    };
  }
}

/**
 * Returns the operation that runs `fetches` at once, or null when one of them is
 * not a single `_entities` selection. Cached, because plans are cached and
 * the same fetches meet again in later requests.
 */
function combinedOperation(fetches: FetchNode[]): CombinedOperation | null {
  const first = fetches[0]!;
  const key = fetches.map(fetchIdOf).join(',');
  let byKey = combinedOperations.get(first);
  if (!byKey) {
    byKey = new Map();
    combinedOperations.set(first, byKey);
  }
  let combined = byKey.get(key);
  if (combined === undefined) {
    combined = combine(fetches);
    byKey.set(key, combined);
  }
  return combined;
}

function combine(fetches: FetchNode[]): CombinedOperation | null {
  const documents = fetches.map(
    (fetch) => fetch.operationDocumentNode ?? parse(fetch.operation),
  );
  const operations: OperationDefinitionNode[] = [];
  const usedNames = new Set<string>();
  for (const document of documents) {
    const definitions = document.definitions.filter(
      (definition): definition is OperationDefinitionNode =>
        definition.kind === Kind.OPERATION_DEFINITION,
    );
    const operation = definitions[0];
    const field = operation?.selectionSet.selections[0];
    if (
      definitions.length !== 1 ||
      operation!.operation !== OperationTypeNode.QUERY ||
      operation!.selectionSet.selections.length !== 1 ||
      field?.kind !== Kind.FIELD ||
      field.name.value !== '_entities' ||
      field.alias
    ) {
      return null;
    }
    operations.push(operation!);
    for (const definition of operation!.variableDefinitions ?? []) {
      usedNames.add(definition.variable.name.value);
    }
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        usedNames.add(definition.name.value);
      }
    }
  }
  const unusedName = (base: string) => {
    let name = base;
    for (let suffix = 1; usedNames.has(name); suffix++)
      name = `${base}_${suffix}`;
    usedNames.add(name);
    return name;
  };

  const representationVariables: string[] = [];
  const aliases: string[] = [];
  const variableDefinitions = new Map<string, VariableDefinitionNode>();
  const selections: FieldNode[] = [];
  const fragments: FragmentDefinitionNode[] = [];
  documents.forEach((document, index) => {
    const representations = unusedName(`representations${index}`);
    const alias = unusedName(`_entities${index}`);
    representationVariables.push(representations);
    aliases.push(alias);
    const fragmentNames = new Map<string, string>();
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        fragmentNames.set(
          definition.name.value,
          unusedName(`${definition.name.value}_${index}`),
        );
      }
    }
    const rewritten = visit(document, {
      Variable(node) {
        return node.name.value === 'representations'
          ? { ...node, name: { ...node.name, value: representations } }
          : undefined;
      },
      FragmentSpread(node) {
        const name = fragmentNames.get(node.name.value);
        return name
          ? { ...node, name: { ...node.name, value: name } }
          : undefined;
      },
      FragmentDefinition(node) {
        const name = fragmentNames.get(node.name.value);
        return name
          ? { ...node, name: { ...node.name, value: name } }
          : undefined;
      },
    });
    for (const definition of rewritten.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        fragments.push(definition);
      } else if (definition.kind === Kind.OPERATION_DEFINITION) {
        for (const variable of definition.variableDefinitions ?? []) {
          variableDefinitions.set(variable.variable.name.value, variable);
        }
        const field = definition.selectionSet.selections[0] as FieldNode;
        selections.push({
          ...field,
          alias: { kind: Kind.NAME, value: alias },
        });
      }
    }
  });

  const name = fetches[0]!.operationName;
  const document: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      {
        kind: Kind.OPERATION_DEFINITION,
        operation: OperationTypeNode.QUERY,
        ...(name ? { name: { kind: Kind.NAME, value: `${name}__batch` } } : {}),
        variableDefinitions: [...variableDefinitions.values()],
        selectionSet: { kind: Kind.SELECTION_SET, selections },
      },
      ...fragments,
    ],
  };
  return {
    query: print(document),
    document,
    operationName: name ? `${name}__batch` : undefined,
    representationVariables,
    aliases,
  };
}
