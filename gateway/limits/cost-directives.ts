import {
  Kind,
  valueFromASTUntyped,
  type ConstDirectiveNode,
  type DefinitionNode,
  type DocumentNode,
  type FieldDefinitionNode,
} from 'graphql';

/** `@listSize` arguments of one field, as the cost spec v0.1 defines them. */
export interface ListSize {
  assumedSize?: number;
  slicingArguments?: string[];
  sizedFields?: string[];
}

/**
 * Weights and list sizes that a supergraph declares with the cost spec
 * (`https://specs.apollo.dev/cost/v0.1`, composed from subgraphs on
 * Federation 2.9 or later that import `@cost` and `@listSize`).
 * Keys are `Type`, `Type.field` and `Type.field(argument:)`.
 */
export interface CostDirectives {
  typeWeights: Map<string, number>;
  fieldWeights: Map<string, number>;
  argumentWeights: Map<string, number>;
  listSizes: Map<string, ListSize>;
}

export const NO_COST_DIRECTIVES: CostDirectives = {
  typeWeights: new Map(),
  fieldWeights: new Map(),
  argumentWeights: new Map(),
  listSizes: new Map(),
};

const COST_SPEC_URL = /^https:\/\/specs\.apollo\.dev\/cost\/v\d+\.\d+$/;

/**
 * Reads `@cost` and `@listSize` out of a parsed supergraph. The API schema
 * that @apollo/gateway serves has these directives removed, so they are
 * taken from the supergraph text.
 * NOTE: `@cost` on input fields and enum values is not read, so their
 * weights count as 0.
 */
export function readCostDirectives(document: DocumentNode): CostDirectives {
  const names = findCostDirectiveNames(document.definitions);
  if (!names) return NO_COST_DIRECTIVES;

  const result: CostDirectives = {
    typeWeights: new Map(),
    fieldWeights: new Map(),
    argumentWeights: new Map(),
    listSizes: new Map(),
  };
  for (const definition of document.definitions) {
    switch (definition.kind) {
      case Kind.OBJECT_TYPE_DEFINITION:
      case Kind.OBJECT_TYPE_EXTENSION:
      case Kind.INTERFACE_TYPE_DEFINITION:
      case Kind.INTERFACE_TYPE_EXTENSION:
        readWeight(definition.directives, names.cost, (weight) =>
          result.typeWeights.set(definition.name.value, weight),
        );
        for (const field of definition.fields ?? []) {
          readField(definition.name.value, field, names, result);
        }
        break;
      case Kind.SCALAR_TYPE_DEFINITION:
      case Kind.ENUM_TYPE_DEFINITION:
        readWeight(definition.directives, names.cost, (weight) =>
          result.typeWeights.set(definition.name.value, weight),
        );
        break;
      default:
        break;
    }
  }
  return result;
}

function readField(
  typeName: string,
  field: FieldDefinitionNode,
  names: { cost: string; listSize: string },
  result: CostDirectives,
): void {
  const key = `${typeName}.${field.name.value}`;
  readWeight(field.directives, names.cost, (weight) =>
    result.fieldWeights.set(key, weight),
  );
  for (const argument of field.arguments ?? []) {
    readWeight(argument.directives, names.cost, (weight) =>
      result.argumentWeights.set(`${key}(${argument.name.value}:)`, weight),
    );
  }
  const listSize = field.directives?.find(
    (directive) => directive.name.value === names.listSize,
  );
  if (listSize) result.listSizes.set(key, readListSize(listSize));
}

function readWeight(
  directives: readonly ConstDirectiveNode[] | undefined,
  name: string,
  store: (weight: number) => void,
): void {
  const directive = directives?.find((each) => each.name.value === name);
  if (!directive) return;
  const weight = argumentValue(directive, 'weight');
  if (typeof weight === 'number') store(weight);
}

function readListSize(directive: ConstDirectiveNode): ListSize {
  const assumedSize = argumentValue(directive, 'assumedSize');
  const slicingArguments = argumentValue(directive, 'slicingArguments');
  const sizedFields = argumentValue(directive, 'sizedFields');
  return {
    assumedSize: typeof assumedSize === 'number' ? assumedSize : undefined,
    slicingArguments: isStringList(slicingArguments)
      ? slicingArguments
      : undefined,
    sizedFields: isStringList(sizedFields) ? sizedFields : undefined,
  };
}

function argumentValue(directive: ConstDirectiveNode, name: string): unknown {
  const argument = directive.arguments?.find(
    (each) => each.name.value === name,
  );
  return argument ? valueFromASTUntyped(argument.value) : undefined;
}

function isStringList(value: unknown): value is string[] {
  return (
    Array.isArray(value) && value.every((item) => typeof item === 'string')
  );
}

/**
 * Finds the names under which the supergraph uses the cost spec's
 * directives. Per the core schema `@link` rules, `@cost` is named by the
 * link's `as` (default `cost`), `@listSize` by its import, or is
 * `@<as>__listSize` when not imported. Returns undefined when the cost spec
 * is not linked.
 */
function findCostDirectiveNames(
  definitions: readonly DefinitionNode[],
): { cost: string; listSize: string } | undefined {
  for (const definition of definitions) {
    if (
      definition.kind !== Kind.SCHEMA_DEFINITION &&
      definition.kind !== Kind.SCHEMA_EXTENSION
    ) {
      continue;
    }
    for (const directive of definition.directives ?? []) {
      if (directive.name.value !== 'link') continue;
      const url = argumentValue(directive, 'url');
      if (typeof url !== 'string' || !COST_SPEC_URL.test(url)) continue;

      const as = argumentValue(directive, 'as');
      const prefix = typeof as === 'string' ? as : 'cost';
      const names = { cost: prefix, listSize: `${prefix}__listSize` };
      const imports = argumentValue(directive, 'import');
      for (const item of Array.isArray(imports) ? imports : []) {
        const imported = readImport(item);
        if (imported?.name === '@cost') names.cost = imported.as;
        if (imported?.name === '@listSize') names.listSize = imported.as;
      }
      return names;
    }
  }
  return undefined;
}

/** Reads one `import:` entry, `"@name"` or `{ name: "@name", as: "@alias" }`. */
function readImport(item: unknown): { name: string; as: string } | undefined {
  if (typeof item === 'string') return { name: item, as: item.slice(1) };
  if (item === null || typeof item !== 'object') return undefined;
  const { name, as } = item as { name?: unknown; as?: unknown };
  if (typeof name !== 'string') return undefined;
  return { name, as: (typeof as === 'string' ? as : name).slice(1) };
}
