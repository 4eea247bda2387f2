import {
  buildSchema,
  Kind,
  parse,
  printIntrospectionSchema,
  valueFromASTUntyped,
  type DefinitionNode,
  type DocumentNode,
  type FieldDefinitionNode,
  type TypeNode,
} from 'graphql';
import { readCostDirectives, type CostDirectives } from './cost-directives.js';

/** A field as cost analysis needs it. */
export interface FieldModel {
  name: string;
  /** Name of the type under the list and non-null wrappers. */
  namedType: string;
  /** Whether the field returns a list, nullable or not. */
  isList: boolean;
  /** Default value of each argument, undefined for none. */
  argumentDefaults: Map<string, unknown>;
}

export interface TypeModel {
  /** Object, interface or union, the types that have selections. */
  isComposite: boolean;
  fields: Map<string, FieldModel>;
}

/**
 * The types, root types and cost directives of a supergraph, as plain data.
 *
 * It is built from the supergraph SDL, which carries the cost directives
 * that the API schema lacks. Plain data also keeps the analysis apart from
 * the gateway's GraphQLSchema objects, whose graphql-js `instanceof`
 * checks throw when two copies of graphql-js (its CommonJS and its ES
 * module build) are loaded.
 */
export interface CostModel {
  types: Map<string, TypeModel>;
  rootTypes: Record<'query' | 'mutation' | 'subscription', string>;
  directives: CostDirectives;
}

/** `__schema` and `__type`, the query root's introspection fields. */
const INTROSPECTION_ROOT_FIELDS: FieldModel[] = [
  {
    name: '__schema',
    namedType: '__Schema',
    isList: false,
    argumentDefaults: new Map(),
  },
  {
    name: '__type',
    namedType: '__Type',
    isList: false,
    argumentDefaults: new Map([['name', undefined]]),
  },
];

/** The introspection types (`__Schema`, `__Type`, …) of this graphql-js. */
const INTROSPECTION_DOCUMENT = parse(
  printIntrospectionSchema(buildSchema('type Query { unused: Int }')),
  { noLocation: true },
);

/** Builds the cost model of a supergraph SDL. */
export function buildCostModel(supergraphSdl: string): CostModel {
  const document = parse(supergraphSdl, { noLocation: true });
  const types = new Map<string, TypeModel>();
  addTypes(types, INTROSPECTION_DOCUMENT);
  addTypes(types, document);
  const rootTypes = readRootTypes(document.definitions);

  const queryType = types.get(rootTypes.query);
  for (const field of INTROSPECTION_ROOT_FIELDS) {
    queryType?.fields.set(field.name, field);
  }
  return { types, rootTypes, directives: readCostDirectives(document) };
}

function addTypes(types: Map<string, TypeModel>, document: DocumentNode) {
  for (const definition of document.definitions) {
    switch (definition.kind) {
      case Kind.OBJECT_TYPE_DEFINITION:
      case Kind.OBJECT_TYPE_EXTENSION:
      case Kind.INTERFACE_TYPE_DEFINITION:
      case Kind.INTERFACE_TYPE_EXTENSION: {
        const type = findOrAddType(types, definition.name.value, true);
        for (const field of definition.fields ?? []) {
          type.fields.set(field.name.value, readField(field));
        }
        break;
      }
      case Kind.UNION_TYPE_DEFINITION:
      case Kind.UNION_TYPE_EXTENSION:
        findOrAddType(types, definition.name.value, true);
        break;
      case Kind.SCALAR_TYPE_DEFINITION:
      case Kind.ENUM_TYPE_DEFINITION:
      case Kind.INPUT_OBJECT_TYPE_DEFINITION:
        findOrAddType(types, definition.name.value, false);
        break;
      default:
        break;
    }
  }
}

function findOrAddType(
  types: Map<string, TypeModel>,
  name: string,
  isComposite: boolean,
): TypeModel {
  let type = types.get(name);
  if (!type) {
    type = { isComposite, fields: new Map() };
    types.set(name, type);
  }
  return type;
}

function readField(field: FieldDefinitionNode): FieldModel {
  const argumentDefaults = new Map<string, unknown>();
  for (const argument of field.arguments ?? []) {
    argumentDefaults.set(
      argument.name.value,
      argument.defaultValue && valueFromASTUntyped(argument.defaultValue),
    );
  }
  const nullable =
    field.type.kind === Kind.NON_NULL_TYPE ? field.type.type : field.type;
  return {
    name: field.name.value,
    namedType: namedTypeOf(field.type),
    isList: nullable.kind === Kind.LIST_TYPE,
    argumentDefaults,
  };
}

function namedTypeOf(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE
    ? type.name.value
    : namedTypeOf(type.type);
}

/** Reads the root type names from `schema { … }`, else the default names. */
function readRootTypes(
  definitions: readonly DefinitionNode[],
): CostModel['rootTypes'] {
  const rootTypes = {
    query: 'Query',
    mutation: 'Mutation',
    subscription: 'Subscription',
  };
  for (const definition of definitions) {
    if (
      definition.kind !== Kind.SCHEMA_DEFINITION &&
      definition.kind !== Kind.SCHEMA_EXTENSION
    ) {
      continue;
    }
    for (const operationType of definition.operationTypes ?? []) {
      rootTypes[operationType.operation] = operationType.type.name.value;
    }
  }
  return rootTypes;
}
