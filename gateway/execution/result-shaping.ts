import {
  ERRORS,
  isCompositeType,
  isListType,
  isNonNullType,
  isObjectType,
  isSubtype,
  isValidLeafValue,
  typenameFieldName,
  Variable,
  type CompositeType,
  type NamedType,
  type FieldSelection,
  type Operation,
  type Schema,
  type SelectionSet,
  type Type,
} from '@apollo/federation-internals';
import type { GraphQLError } from 'graphql';
import { ownValue, setOwn } from './own.js';

type JsonObject = Record<string, unknown>;
type LeafType = Parameters<typeof isValidLeafValue>[2];

/** `@skip(if:)` or `@include(if:)`: a constant or the name of a variable. */
type DirectiveCondition = boolean | string | undefined;

interface ShapedField {
  kind: 'field';
  skip: DirectiveCondition;
  include: DirectiveCondition;
  responseName: string;
  selection: FieldSelection;
  introspection: boolean;
  typename: boolean;
  type: Type;
  selectionSet: SelectionSet | undefined;
}

interface ShapedFragment {
  kind: 'fragment';
  skip: DirectiveCondition;
  include: DirectiveCondition;
  typeCondition: CompositeType | undefined;
  selectionSet: SelectionSet;
}

type Shaped = ShapedField | ShapedFragment;

/**
 * Output objects are plain objects, because JSON.stringify writes them
 * faster than objects without a prototype. ownValue and setOwn keep
 * response names such as `constructor` or `__proto__` off Object.prototype.
 */
interface CompiledSelectionSet {
  selections: Shaped[];
}

interface ShapingState {
  schema: Schema;
  variables: JsonObject;
  errors: GraphQLError[];
  introspection: (selection: FieldSelection) => unknown;
}

const NULL_BUBBLE_UP = 1;
const OK = 0;

/**
 * The result shaping of @apollo/gateway's `computeResponse`, with the same
 * data and errors, over an operation compiled once. Directives, response
 * names, field types and type-condition checks are read when the
 * operation is planned, not for every object of every response.
 */
export class ResultShaper {
  private readonly compiled = new WeakMap<SelectionSet, CompiledSelectionSet>();
  /** Whether a type condition applies, by condition name and then object type name. */
  private readonly conditions = new Map<string, Map<string, boolean>>();
  private readonly defaultedVariables: JsonObject;
  /**
   * Types of the schema by the names that `__typename` gave. Names that
   * are not types are not kept, so a subgraph cannot grow it.
   */
  private readonly types = new Map<string, NamedType>();

  constructor(private readonly operation: Operation) {
    this.defaultedVariables = operation.collectDefaultedVariableValues();
  }

  shape(
    input: JsonObject | null | undefined,
    variables: JsonObject | undefined,
    introspection: (selection: FieldSelection) => unknown,
  ): { data: JsonObject | null | undefined; errors: GraphQLError[] } {
    if (!input) return { data: input, errors: [] };
    const schema = this.operation.schema();
    const parameters: ShapingState = {
      schema,
      variables: {
        __proto__: null,
        ...this.defaultedVariables,
        ...variables,
      } as JsonObject,
      errors: [],
      introspection,
    };
    const root = this.compile(this.operation.selectionSet);
    const data = {} as JsonObject;
    const result = this.applySelectionSet(
      input,
      this.operation.selectionSet,
      data,
      parameters,
      [],
      schema.schemaDefinition.rootType(this.operation.rootKind)!,
    );
    return {
      data: result === NULL_BUBBLE_UP ? null : data,
      errors: parameters.errors,
    };
  }

  private compile(selectionSet: SelectionSet): CompiledSelectionSet {
    let compiled = this.compiled.get(selectionSet);
    if (compiled) return compiled;
    const schema = this.operation.schema();
    const skipDirective = schema.skipDirective();
    const includeDirective = schema.includeDirective();
    const conditionOf = (
      directives: readonly { arguments(): { if?: unknown } }[],
    ): DirectiveCondition => {
      const directive = directives[0];
      if (!directive) return undefined;
      const value = directive.arguments().if;
      return value instanceof Variable ? value.name : (value as boolean);
    };
    compiled = { selections: [] };
    for (const selection of selectionSet.selections()) {
      const element = selection.element;
      const skip = conditionOf(element.appliedDirectivesOf(skipDirective));
      const include = conditionOf(
        element.appliedDirectivesOf(includeDirective),
      );
      if (selection.kind === 'FieldSelection') {
        const field = selection.element;
        const responseName = field.responseName();
        compiled.selections.push({
          kind: 'field',
          skip,
          include,
          responseName,
          selection,
          introspection: field.definition.isSchemaIntrospectionField(),
          typename: field.name === typenameFieldName,
          type: field.definition.type!,
          selectionSet: selection.selectionSet,
        });
      } else {
        compiled.selections.push({
          kind: 'fragment',
          skip,
          include,
          typeCondition: selection.element.typeCondition,
          selectionSet: selection.selectionSet,
        });
      }
    }
    this.compiled.set(selectionSet, compiled);
    return compiled;
  }

  private typeNamed(name: string): NamedType | undefined {
    let type = this.types.get(name);
    if (type === undefined) {
      type = this.operation.schema().type(name);
      if (type) this.types.set(name, type);
    }
    return type;
  }

  private typeConditionApplies(
    schema: Schema,
    typeCondition: CompositeType | undefined,
    typename: string | undefined,
    parentType: CompositeType,
  ): boolean {
    if (!typeCondition) return true;
    const name = typename || `\u0000${parentType.name}`;
    let byType = this.conditions.get(typeCondition.name);
    if (!byType) {
      byType = new Map();
      this.conditions.set(typeCondition.name, byType);
    }
    let applies = byType.get(name);
    if (applies === undefined) {
      if (typename) {
        const type = this.typeNamed(typename);
        // A name that is no type is not kept, so a subgraph cannot grow
        // the cache.
        if (!type) return false;
        applies = isSubtype(typeCondition, type);
      } else {
        applies = isSubtype(typeCondition, parentType);
      }
      byType.set(name, applies);
    }
    return applies;
  }

  private applySelectionSet(
    input: JsonObject,
    selectionSet: SelectionSet,
    output: JsonObject,
    parameters: ShapingState,
    path: (string | number)[],
    parentType: CompositeType,
  ): number {
    const { selections } = this.compile(selectionSet);
    for (const selection of selections) {
      if (isSkipped(selection, parameters.variables)) continue;
      if (selection.kind === 'field') {
        const { responseName } = selection;
        const outputValue = ownValue(output, responseName);
        if (selection.introspection) {
          if (outputValue === undefined) {
            setOwn(
              output,
              responseName,
              parameters.introspection(selection.selection),
            );
          }
          continue;
        }
        let inputValue = Object.prototype.hasOwnProperty.call(
          input,
          responseName,
        )
          ? (input[responseName] ?? null)
          : null;
        if (selection.typename) {
          if (outputValue === undefined) {
            if (inputValue === null && responseName !== typenameFieldName) {
              inputValue = input[typenameFieldName] ?? null;
            }
            const type =
              inputValue !== null && typeof inputValue === 'string'
                ? (this.typeNamed(inputValue) ?? parentType)
                : parentType;
            if (!isObjectType(type)) return NULL_BUBBLE_UP;
            setOwn(output, responseName, type.name);
          }
          continue;
        }
        path.push(responseName);
        const updated = this.update(
          outputValue,
          selection.type,
          inputValue,
          selection.selectionSet,
          path,
          parameters,
          parentType,
        );
        setOwn(output, responseName, updated);
        path.pop();
        if (this.invalid) return NULL_BUBBLE_UP;
      } else {
        const typename = input[typenameFieldName];
        if (
          typename !== undefined &&
          typename !== null &&
          typeof typename !== 'string'
        ) {
          throw new Error(`Got unexpected value for __typename: ${typename}`);
        }
        if (
          this.typeConditionApplies(
            parameters.schema,
            selection.typeCondition,
            typename as string | undefined,
            parentType,
          )
        ) {
          const result = this.applySelectionSet(
            input,
            selection.selectionSet,
            output,
            parameters,
            path,
            selection.typeCondition ?? parentType,
          );
          if (result === NULL_BUBBLE_UP) return NULL_BUBBLE_UP;
        }
      }
    }
    return OK;
  }

  /**
   * Whether the value that `update` returned last must make its parent
   * null, and whether it reported an error. They are fields rather than a
   * returned object, so that shaping allocates nothing per value beyond the
   * output. Shaping never awaits, so no other request changes them.
   */
  private invalid = false;
  private errored = false;

  /** @apollo/gateway's updateOutputValue, with its flags in `invalid` and `errored`. */
  private update(
    outputValue: unknown,
    type: Type,
    inputValue: unknown,
    selectionSet: SelectionSet | undefined,
    path: (string | number)[],
    parameters: ShapingState,
    parentType: CompositeType,
  ): unknown {
    this.invalid = false;
    this.errored = false;
    if (outputValue === null || (outputValue !== undefined && !selectionSet)) {
      return outputValue;
    }
    if (isNonNullType(type)) {
      const updated = this.update(
        outputValue,
        type.ofType,
        inputValue,
        selectionSet,
        path,
        parameters,
        parentType,
      );
      if (updated === null) {
        if (!this.errored) {
          parameters.errors.push(
            ERRORS.INVALID_GRAPHQL.err(
              `Cannot return null for non-nullable ${describeLast(path, type.ofType, parentType)}.`,
              { path: Array.from(path) },
            ),
          );
        }
        this.invalid = true;
        this.errored = true;
        return updated;
      }
      // As @apollo/gateway: a non-null value passes no error flag up.
      this.invalid = false;
      this.errored = false;
      return updated;
    }
    if (inputValue === null) return null;
    if (isListType(type)) {
      if (!Array.isArray(inputValue)) {
        throw new Error(
          `Invalid non-list value ${String(inputValue)} returned by subgraph for list type ${String(type)}`,
        );
      }
      const outputList = outputValue as unknown[] | undefined;
      if (outputList !== undefined && inputValue.length !== outputList.length) {
        throw new Error(
          `[${String(inputValue)}].length (${inputValue.length}) !== [${String(outputList)}].length (${outputList.length})`,
        );
      }
      let shouldNullify = false;
      let hasErrors = false;
      const updated = new Array<unknown>(inputValue.length);
      for (let index = 0; index < inputValue.length; index++) {
        path.push(index);
        updated[index] = this.update(
          outputList === undefined ? undefined : outputList[index],
          type.ofType,
          inputValue[index] as unknown,
          selectionSet,
          path,
          parameters,
          parentType,
        );
        path.pop();
        shouldNullify ||= this.invalid;
        hasErrors ||= this.errored;
      }
      this.invalid = false;
      this.errored = hasErrors;
      return shouldNullify ? null : updated;
    }
    if (isCompositeType(type)) {
      if (!selectionSet) {
        throw new Error(
          `Invalid empty selection set for composite type ${String(type)}`,
        );
      }
      if (typeof inputValue !== 'object') {
        throw new Error(
          `Invalid non-object value ${String(inputValue)} returned by subgraph for composite type ${String(type)}`,
        );
      }
      const object = inputValue as JsonObject;
      const inputTypename = object[typenameFieldName];
      if (inputTypename !== undefined && typeof inputTypename !== 'string') {
        throw new Error(
          `Invalid non-string value ${String(inputTypename)} for __typename at ${String(path)}`,
        );
      }
      let objectType: CompositeType = type;
      if (inputTypename) {
        const typenameType = this.typeNamed(inputTypename);
        if (!typenameType || !isCompositeType(typenameType)) {
          parameters.errors.push(
            ERRORS.INVALID_GRAPHQL.err(
              `Invalid __typename found for object at ${describeLast(path, type, parentType)}.`,
              { path: Array.from(path) },
            ),
          );
          this.errored = true;
          return null;
        }
        objectType = typenameType;
      }
      const outputObject =
        outputValue === undefined
          ? ({} as JsonObject)
          : (outputValue as JsonObject);
      const result = this.applySelectionSet(
        object,
        selectionSet,
        outputObject,
        parameters,
        path,
        objectType,
      );
      this.invalid = false;
      this.errored = result === NULL_BUBBLE_UP;
      return this.errored ? null : outputObject;
    }
    if (outputValue !== undefined) {
      throw new Error(
        `Excepted output to be undefined but got ${String(type)} for type ${String(type)}`,
      );
    }
    const valid = isValidLeafValue(
      parameters.schema,
      inputValue,
      type as LeafType,
    );
    if (!valid) {
      parameters.errors.push(
        ERRORS.INVALID_GRAPHQL.err(
          `Invalid value found for ${describeLast(path, type, parentType)}.`,
          { path: Array.from(path) },
        ),
      );
    }
    this.errored = !valid;
    return valid ? inputValue : null;
  }
}

function isSkipped(selection: Shaped, variables: JsonObject): boolean {
  return (
    (selection.skip !== undefined &&
      conditionValue(selection.skip, variables)) ||
    (selection.include !== undefined &&
      !conditionValue(selection.include, variables))
  );
}

function conditionValue(
  condition: boolean | string,
  variables: JsonObject,
): boolean {
  if (typeof condition === 'boolean') return condition;
  const value = variables[condition];
  if (typeof value !== 'boolean') {
    throw new Error(
      `Unexpected value ${String(value)} for variable $${condition} of @skip or @include`,
    );
  }
  return value;
}

function describeLast(
  path: (string | number)[],
  currentType: Type,
  parentType: CompositeType,
): string {
  const element = path[path.length - 1];
  return typeof element === 'string'
    ? `field ${String(parentType)}.${element}`
    : `array element of type ${String(currentType)} at index ${String(element)}`;
}
