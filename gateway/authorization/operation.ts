import {
  getDirectiveValues,
  getNamedType,
  GraphQLError,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isCompositeType,
  isListType,
  isNonNullType,
  isObjectType,
  isInterfaceType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type FragmentSpreadNode,
  type GraphQLCompositeType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type InlineFragmentNode,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import type { CallerIdentity } from '../caller.js';
import type { Policy } from './policies.js';
import {
  checkRequirement,
  type AccessDenial,
  type Requirement,
  type SupergraphRequirements,
} from './requirements.js';

/**
 * Maximum number of authorization errors in one response. Every denied
 * field is removed whatever this limit. It bounds the walk that finds their
 * response paths, which grows with the number of paths through nested
 * fragments.
 */
export const MAX_AUTHORIZATION_ERRORS = 100;

/** Stands for every item of a list in the path of an authorization error. */
export const LIST_ITEMS_PATH_SEGMENT = '@';

export interface OperationAuthorizationInput {
  /** The API schema the operation was validated against. */
  schema: GraphQLSchema;
  requirements: SupergraphRequirements;
  policies: ReadonlyMap<string, Policy>;
  caller: CallerIdentity;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  /** Coerced variable values, used to evaluate `@skip` and `@include`. */
  variables: Record<string, unknown>;
}

export type OperationAuthorization =
  /** The caller may read every field the operation selects. */
  | { kind: 'allowed' }
  /** Some fields were removed, and `document` contains the operation without them. */
  | {
      kind: 'filtered';
      document: DocumentNode;
      operation: OperationDefinitionNode;
      errors: GraphQLError[];
    }
  /** Every root field was removed. */
  | { kind: 'denied'; errors: GraphQLError[] };

/**
 * Removes every field, inline fragment and fragment spread of the operation
 * that the caller may not read, and returns one error per response path
 * that lost a field.
 *
 * A field is denied by its own requirement or by the requirement of the
 * type it returns, and a fragment by the requirement of its type condition.
 * A field whose selection set ends up empty is removed too, so the document
 * stays valid. The error for it is the one at the path of the removed
 * field below it.
 */
export function authorizeOperation(
  input: OperationAuthorizationInput,
): OperationAuthorization {
  const authorizer = new OperationAuthorizer(input);
  return authorizer.authorize();
}

class OperationAuthorizer {
  private readonly fragments = new Map<string, FragmentDefinitionNode>();
  /** Fragments without their denied selections; null when nothing is left. */
  private readonly filteredFragments = new Map<
    string,
    FragmentDefinitionNode | null
  >();
  /** Filtered selection sets, by node and then by parent type name. */
  private readonly filteredSets = new Map<
    SelectionSetNode,
    Map<string, SelectionSetNode | null>
  >();
  private readonly denials = new Map<string, AccessDenial | undefined>();
  private readonly errors = new Map<string, GraphQLError>();

  constructor(private readonly input: OperationAuthorizationInput) {
    for (const definition of input.document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        this.fragments.set(definition.name.value, definition);
      }
    }
  }

  authorize(): OperationAuthorization {
    const { schema, operation } = this.input;
    const rootType = schema.getRootType(operation.operation);
    if (!rootType) return { kind: 'allowed' };

    const rootDenial = this.typeDenial(rootType.name);
    if (rootDenial) {
      this.addError([], rootDenial, operation);
      return { kind: 'denied', errors: [...this.errors.values()] };
    }

    const selectionSet = this.filterSelectionSet(
      operation.selectionSet,
      rootType,
    );
    if (selectionSet === operation.selectionSet) return { kind: 'allowed' };

    this.collectErrors(operation.selectionSet, rootType, []);
    const errors = [...this.errors.values()];
    if (selectionSet === null) return { kind: 'denied', errors };

    const filteredOperation = { ...operation, selectionSet };
    return {
      kind: 'filtered',
      document: {
        kind: Kind.DOCUMENT,
        definitions: [
          filteredOperation,
          ...this.usedFragments(filteredOperation.selectionSet),
        ],
      },
      operation: filteredOperation,
      errors,
    };
  }

  /**
   * Returns `selectionSet` without its denied selections: the same node
   * when nothing was removed from it or from the fragments it spreads, or
   * null when nothing is left. The result does not depend on the response
   * path or the variables, so each selection set and fragment is filtered
   * once.
   */
  private filterSelectionSet(
    selectionSet: SelectionSetNode,
    parentType: GraphQLCompositeType,
  ): SelectionSetNode | null {
    let byType = this.filteredSets.get(selectionSet);
    if (!byType) {
      byType = new Map();
      this.filteredSets.set(selectionSet, byType);
    }
    const cached = byType.get(parentType.name);
    if (cached !== undefined) return cached;

    const kept: SelectionNode[] = [];
    for (const selection of selectionSet.selections) {
      const filtered = this.filterSelection(selection, parentType);
      if (filtered) kept.push(filtered);
    }
    const unchanged =
      kept.length === selectionSet.selections.length &&
      kept.every((selection, i) => selection === selectionSet.selections[i]);
    const result = unchanged
      ? selectionSet
      : kept.length === 0
        ? null
        : { ...selectionSet, selections: kept };
    byType.set(parentType.name, result);
    return result;
  }

  /** Returns the selection without its denied parts, or null to remove it. */
  private filterSelection(
    selection: SelectionNode,
    parentType: GraphQLCompositeType,
  ): SelectionNode | null {
    switch (selection.kind) {
      case Kind.FIELD: {
        if (this.fieldDenial(parentType, selection)) return null;
        const childType = this.fieldChildType(parentType, selection);
        if (!selection.selectionSet || !childType) return selection;
        const selectionSet = this.filterSelectionSet(
          selection.selectionSet,
          childType,
        );
        if (selectionSet === null) return null;
        return selectionSet === selection.selectionSet
          ? selection
          : { ...selection, selectionSet };
      }
      case Kind.INLINE_FRAGMENT: {
        const type = this.fragmentType(selection, parentType);
        if (!type) return null;
        const selectionSet = this.filterSelectionSet(
          selection.selectionSet,
          type,
        );
        if (selectionSet === null) return null;
        return selectionSet === selection.selectionSet
          ? selection
          : { ...selection, selectionSet };
      }
      case Kind.FRAGMENT_SPREAD: {
        // A changed fragment gets a new spread node, so that every
        // selection set above it counts as changed too.
        const name = selection.name.value;
        const fragment = this.filterFragment(name);
        if (!fragment) return null;
        return fragment === this.fragments.get(name)
          ? selection
          : { ...selection };
      }
    }
  }

  /**
   * Returns the fragment without its denied parts, or null when its type
   * condition is denied or nothing is left. GraphQL validation has rejected
   * fragment cycles before this runs.
   */
  private filterFragment(name: string): FragmentDefinitionNode | null {
    const cached = this.filteredFragments.get(name);
    if (cached !== undefined) return cached;

    const fragment = this.fragments.get(name);
    let result: FragmentDefinitionNode | null = null;
    if (fragment) {
      const type = this.fragmentType(fragment, undefined);
      const selectionSet = type
        ? this.filterSelectionSet(fragment.selectionSet, type)
        : null;
      if (selectionSet !== null) {
        result =
          selectionSet === fragment.selectionSet
            ? fragment
            : { ...fragment, selectionSet };
      }
    }
    this.filteredFragments.set(name, result);
    return result;
  }

  /**
   * Walks the operation along response paths, with fragments expanded and
   * `@skip`/`@include` evaluated, and records an error for each denied
   * field or fragment. Subtrees with nothing denied are not entered.
   */
  private collectErrors(
    selectionSet: SelectionSetNode,
    parentType: GraphQLCompositeType,
    path: readonly (string | number)[],
  ): void {
    for (const selection of selectionSet.selections) {
      if (this.errors.size >= MAX_AUTHORIZATION_ERRORS) return;
      if (!this.isIncluded(selection)) continue;
      switch (selection.kind) {
        case Kind.FIELD:
          this.collectFieldErrors(selection, parentType, path);
          break;
        case Kind.INLINE_FRAGMENT:
          this.collectFragmentErrors(selection, parentType, path);
          break;
        case Kind.FRAGMENT_SPREAD: {
          const fragment = this.fragments.get(selection.name.value);
          if (
            fragment &&
            this.filterFragment(fragment.name.value) !== fragment
          ) {
            this.collectFragmentErrors(fragment, parentType, path, selection);
          }
          break;
        }
      }
    }
  }

  private collectFieldErrors(
    field: FieldNode,
    parentType: GraphQLCompositeType,
    path: readonly (string | number)[],
  ): void {
    const fieldPath = [...path, field.alias?.value ?? field.name.value];
    const denial = this.fieldDenial(parentType, field);
    if (denial) {
      this.addError(fieldPath, denial, field);
      return;
    }
    const childType = this.fieldChildType(parentType, field);
    if (!field.selectionSet || !childType) return;
    if (
      this.filterSelectionSet(field.selectionSet, childType) ===
      field.selectionSet
    ) {
      return;
    }
    const fieldType = this.fieldDefinition(parentType, field)?.type;
    this.collectErrors(field.selectionSet, childType, [
      ...fieldPath,
      ...listSegments(fieldType),
    ]);
  }

  private collectFragmentErrors(
    fragment: InlineFragmentNode | FragmentDefinitionNode,
    parentType: GraphQLCompositeType,
    path: readonly (string | number)[],
    spread?: FragmentSpreadNode,
  ): void {
    const typeName = fragment.typeCondition?.name.value;
    const denial = typeName ? this.typeDenial(typeName) : undefined;
    if (denial) {
      this.addError(path, denial, spread ?? fragment);
      return;
    }
    const type = this.fragmentType(fragment, parentType);
    if (type) this.collectErrors(fragment.selectionSet, type, path);
  }

  /**
   * Returns the type that a fragment's selections apply to, or undefined
   * when its type condition is denied. Fragment definitions always have a
   * type condition; an inline fragment without one keeps the parent type.
   */
  private fragmentType(
    fragment: InlineFragmentNode | FragmentDefinitionNode,
    parentType: GraphQLCompositeType | undefined,
  ): GraphQLCompositeType | undefined {
    const typeName = fragment.typeCondition?.name.value;
    if (!typeName) return parentType;
    if (this.typeDenial(typeName)) return undefined;
    const type = this.input.schema.getType(typeName);
    return type && isCompositeType(type) ? type : undefined;
  }

  private fieldDefinition(parentType: GraphQLCompositeType, field: FieldNode) {
    if (!isObjectType(parentType) && !isInterfaceType(parentType)) {
      return undefined;
    }
    return parentType.getFields()[field.name.value];
  }

  /** Returns the composite type of a field's selections, if it has any. */
  private fieldChildType(
    parentType: GraphQLCompositeType,
    field: FieldNode,
  ): GraphQLCompositeType | undefined {
    const definition = this.fieldDefinition(parentType, field);
    if (!definition) return undefined;
    const type = getNamedType(definition.type);
    return isCompositeType(type) ? type : undefined;
  }

  /**
   * Checks the field's own requirement, then the requirement of the type it
   * returns. Meta-fields such as `__typename` have no requirement.
   */
  private fieldDenial(
    parentType: GraphQLCompositeType,
    field: FieldNode,
  ): AccessDenial | undefined {
    const definition = this.fieldDefinition(parentType, field);
    if (!definition) return undefined;
    const coordinate = `${parentType.name}.${definition.name}`;
    return (
      this.denial(coordinate, this.input.requirements.fields[coordinate]) ??
      this.typeDenial(getNamedType(definition.type).name)
    );
  }

  private typeDenial(typeName: string): AccessDenial | undefined {
    return this.denial(typeName, this.input.requirements.types[typeName]);
  }

  private denial(
    coordinate: string,
    requirement: Requirement | undefined,
  ): AccessDenial | undefined {
    if (!requirement) return undefined;
    if (this.denials.has(coordinate)) return this.denials.get(coordinate);
    const { caller, policies } = this.input;
    const denial = checkRequirement(coordinate, requirement, caller, policies);
    this.denials.set(coordinate, denial);
    return denial;
  }

  /** Evaluates `@skip` and `@include` with the request's variables. */
  private isIncluded(selection: SelectionNode): boolean {
    const { variables } = this.input;
    const skip = getDirectiveValues(GraphQLSkipDirective, selection, variables);
    if (skip?.if === true) return false;
    const include = getDirectiveValues(
      GraphQLIncludeDirective,
      selection,
      variables,
    );
    return include?.if !== false;
  }

  /** Records one error per response path and requirement. */
  private addError(
    path: readonly (string | number)[],
    denial: AccessDenial,
    node: SelectionNode | FragmentDefinitionNode | OperationDefinitionNode,
  ): void {
    const key = JSON.stringify([path, denial.message]);
    if (this.errors.has(key)) return;
    this.errors.set(
      key,
      new GraphQLError(denial.message, {
        nodes: node,
        path: path.length > 0 ? path : undefined,
        extensions: { code: denial.code },
      }),
    );
  }

  /** Returns the filtered fragments that `selectionSet` uses, each once. */
  private usedFragments(
    selectionSet: SelectionSetNode,
  ): FragmentDefinitionNode[] {
    const used = new Map<string, FragmentDefinitionNode>();
    const visit = (set: SelectionSetNode) => {
      for (const selection of set.selections) {
        if (selection.kind === Kind.FRAGMENT_SPREAD) {
          const name = selection.name.value;
          const fragment = this.filteredFragments.get(name);
          if (fragment && !used.has(name)) {
            used.set(name, fragment);
            visit(fragment.selectionSet);
          }
        } else if (selection.selectionSet) {
          visit(selection.selectionSet);
        }
      }
    };
    visit(selectionSet);
    return [...used.values()];
  }
}

/** Returns one `@` for each list that `type` wraps, outermost first. */
function listSegments(type: GraphQLOutputType | undefined): string[] {
  const segments: string[] = [];
  let current = type;
  while (current) {
    if (isNonNullType(current)) {
      current = current.ofType;
    } else if (isListType(current)) {
      segments.push(LIST_ITEMS_PATH_SEGMENT);
      current = current.ofType;
    } else {
      break;
    }
  }
  return segments;
}
