import {
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { CostModel, FieldModel, TypeModel } from './cost-model.js';

export interface CostOptions {
  /** Size of a list field whose size no argument or directive gives. */
  defaultListSize: number;
  /** The request's variables, as sent; slicing arguments read them. */
  variables: Record<string, unknown> | undefined;
}

/**
 * Arguments that size a field's list when the supergraph has no `@listSize`
 * for it: Relay's `first` and `last`.
 */
export const SLICING_ARGUMENTS: readonly string[] = ['first', 'last'];

/**
 * Weight of a mutation root field without `@cost`. A mutation writes, which
 * costs its subgraph more than reading one object.
 */
export const MUTATION_FIELD_WEIGHT = 10;

/** Marks an argument that the operation does not pass. */
const NOT_PASSED = Symbol('not passed');

/** Sizing rule of a field: for its own list, or for the lists directly inside. */
interface Sizing {
  assumedSize?: number;
  slicingArguments: readonly string[];
  /** Fields directly inside that the size applies to; undefined: the field itself. */
  sizedFields?: ReadonlySet<string> | 'every list field';
}

/** A size that a field passes down to the fields directly inside it. */
interface ChildSizing {
  size: number;
  fields: ReadonlySet<string> | 'every list field';
}

/**
 * Computes the static cost of an operation, before it runs.
 *
 * A field costs `arguments + multiplier × (weight + selection)`:
 * - weight: the field's `@cost`, else 10 for a mutation root field, else the
 *   `@cost` of its type, else 1 for an object, interface or union and 0 for
 *   a scalar or enum;
 * - arguments: the `@cost` weights of the arguments the operation passes;
 * - selection: the sum of the costs of the fields selected inside it;
 * - multiplier: 1 unless the field is a list, then the list's size. The
 *   size is the largest slicing argument (`@listSize`'s, else `first` and
 *   `last`) that the operation passes, else the largest of their schema
 *   defaults, else `@listSize(assumedSize:)`, else `defaultListSize`. A
 *   field that is not a list but has slicing arguments, such as a Relay
 *   connection, gives their size to its `@listSize` `sizedFields`, or
 *   without `@listSize` to every list field directly inside it (`edges`
 *   and `nodes`).
 *
 * Objects 1, scalars and enums 0 are the defaults of Shopify's GraphQL
 * Admin API. Fragments count as if inlined, and the fragments on the
 * possible types of an interface or union are added, where Shopify takes
 * their maximum, so the cost is an upper bound. `__typename` costs 0.
 */
export function computeQueryCost(
  model: CostModel,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  options: CostOptions,
): number {
  const { types, directives } = model;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments.set(definition.name.value, definition);
    }
  }
  const variableDefaults = new Map<string, unknown>();
  for (const variable of operation.variableDefinitions ?? []) {
    if (variable.defaultValue?.kind === Kind.INT) {
      variableDefaults.set(
        variable.variable.name.value,
        Number(variable.defaultValue.value),
      );
    }
  }
  const fragmentCosts = new Map<string, number>();
  const inProgress = new Set<string>();

  // A fragment's cost depends on its type condition and on the size its
  // parent passes down, so it is computed once per size. A fragment that
  // recurs inside itself costs 0 there; validation rejects such cycles.
  function fragmentCost(name: string, sizing: ChildSizing | undefined) {
    const fragment = fragments.get(name);
    if (!fragment) return 0;
    const key = sizing
      ? `${name}|${sizing.size}|${describeSizedFields(sizing)}`
      : name;
    const known = fragmentCosts.get(key);
    if (known !== undefined) return known;
    if (inProgress.has(key)) return 0;

    const typeName = fragment.typeCondition.name.value;
    inProgress.add(key);
    const cost = selectionCost(fragment.selectionSet, typeName, sizing);
    inProgress.delete(key);
    fragmentCosts.set(key, cost);
    return cost;
  }

  function selectionCost(
    selectionSet: SelectionSetNode,
    typeName: string,
    sizing: ChildSizing | undefined,
  ): number {
    const type = types.get(typeName);
    if (!type?.isComposite) return 0;
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        total += fieldCost(selection, typeName, type, sizing);
      } else if (selection.kind === Kind.FRAGMENT_SPREAD) {
        total += fragmentCost(selection.name.value, sizing);
      } else {
        const condition = selection.typeCondition?.name.value ?? typeName;
        total += selectionCost(selection.selectionSet, condition, sizing);
      }
    }
    return total;
  }

  function fieldCost(
    field: FieldNode,
    parentName: string,
    parentType: TypeModel,
    parentSizing: ChildSizing | undefined,
  ): number {
    const definition = parentType.fields.get(field.name.value);
    if (!definition) return 0;
    const key = `${parentName}.${definition.name}`;

    const sizing = findSizing(model, key, definition);
    const size = sizing
      ? (readSlicedSize(field, definition, sizing.slicingArguments) ??
        sizing.assumedSize ??
        options.defaultListSize)
      : options.defaultListSize;

    let multiplier: number;
    if (!definition.isList) {
      multiplier = 1;
    } else if (parentSizing && isSizedField(parentSizing, definition.name)) {
      multiplier = parentSizing.size;
    } else if (sizing && !sizing.sizedFields) {
      multiplier = size;
    } else {
      multiplier = options.defaultListSize;
    }
    const childSizing: ChildSizing | undefined = sizing?.sizedFields
      ? { size, fields: sizing.sizedFields }
      : undefined;

    const namedType = types.get(definition.namedType);
    const weight =
      directives.fieldWeights.get(key) ??
      (parentName === model.rootTypes.mutation
        ? MUTATION_FIELD_WEIGHT
        : undefined) ??
      directives.typeWeights.get(definition.namedType) ??
      (namedType?.isComposite ? 1 : 0);
    let argumentsWeight = 0;
    for (const argument of field.arguments ?? []) {
      argumentsWeight +=
        directives.argumentWeights.get(`${key}(${argument.name.value}:)`) ?? 0;
    }
    const inner = field.selectionSet
      ? selectionCost(field.selectionSet, definition.namedType, childSizing)
      : 0;
    return argumentsWeight + multiplier * (weight + inner);
  }

  /**
   * Reads the largest integer among the slicing arguments that the
   * operation passes, as a literal, a variable or a variable's default.
   * When it passes none, the largest of their schema defaults applies.
   * Returns undefined when no slicing argument has an integer value.
   */
  function readSlicedSize(
    field: FieldNode,
    definition: FieldModel,
    slicingArguments: readonly string[],
  ): number | undefined {
    const passed: unknown[] = [];
    const defaults: unknown[] = [];
    for (const name of slicingArguments) {
      if (!definition.argumentDefaults.has(name)) continue;
      const value = readPassedArgument(field, name);
      if (value === NOT_PASSED) {
        defaults.push(definition.argumentDefaults.get(name));
      } else {
        passed.push(value);
      }
    }
    const sizes = (passed.length > 0 ? passed : defaults).filter(
      (value): value is number => Number.isInteger(value),
    );
    return sizes.length > 0 ? Math.max(0, ...sizes) : undefined;
  }

  /**
   * Returns the value the operation passes for an argument, or NOT_PASSED.
   * A variable that the request leaves out and that has no default leaves
   * the argument unset, as in GraphQL's CoerceArgumentValues.
   */
  function readPassedArgument(field: FieldNode, name: string): unknown {
    const node = field.arguments?.find(
      (argument) => argument.name.value === name,
    );
    if (!node) return NOT_PASSED;
    if (node.value.kind === Kind.INT) return Number(node.value.value);
    if (node.value.kind !== Kind.VARIABLE) return undefined;

    const variable = node.value.name.value;
    if (options.variables && variable in options.variables) {
      return options.variables[variable];
    }
    return variableDefaults.has(variable)
      ? variableDefaults.get(variable)
      : NOT_PASSED;
  }

  return selectionCost(
    operation.selectionSet,
    model.rootTypes[operation.operation],
    undefined,
  );
}

/**
 * Returns how a field sizes lists: its `@listSize`, else the slicing
 * arguments it has among `first` and `last`, else undefined.
 */
function findSizing(
  model: CostModel,
  key: string,
  definition: FieldModel,
): Sizing | undefined {
  const listSize = model.directives.listSizes.get(key);
  if (listSize) {
    return {
      assumedSize: listSize.assumedSize,
      slicingArguments: listSize.slicingArguments ?? [],
      sizedFields: listSize.sizedFields && new Set(listSize.sizedFields),
    };
  }
  const slicingArguments = SLICING_ARGUMENTS.filter((name) =>
    definition.argumentDefaults.has(name),
  );
  if (slicingArguments.length === 0) return undefined;
  return {
    slicingArguments,
    sizedFields: definition.isList ? undefined : 'every list field',
  };
}

function isSizedField(sizing: ChildSizing, name: string): boolean {
  return sizing.fields === 'every list field' || sizing.fields.has(name);
}

function describeSizedFields(sizing: ChildSizing): string {
  return sizing.fields === 'every list field'
    ? '*'
    : [...sizing.fields].join(',');
}
