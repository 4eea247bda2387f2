import {
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** The measures of an operation that the shape limits apply to. */
export interface OperationShape {
  /** Fields on the longest path, the root field included. */
  depth: number;
  aliases: number;
  /** Fields selected on the root type. */
  rootFields: number;
  directives: number;
}

/** The measures of one selection set, as if its fragments were inlined. */
interface SelectionSummary {
  /** Fields selected directly in the set, fragments inlined. */
  fields: number;
  depth: number;
  aliases: number;
  directives: number;
}

const EMPTY: SelectionSummary = {
  fields: 0,
  depth: 0,
  aliases: 0,
  directives: 0,
};

/**
 * Introspection fields whose subtree is left out of the depth, because the
 * standard introspection query of graphql-js 16.15 is 15 fields deep. What
 * makes such a subtree large is nesting the lists `fields`, `inputFields`,
 * `interfaces` and `possibleTypes`, which validation already limits: the
 * specified rules of graphql-js 16.15 include MaxIntrospectionDepthRule,
 * which rejects them nested 3 deep.
 */
const INTROSPECTION_ROOT_FIELDS = new Set(['__schema', '__type']);

/**
 * Measures depth, aliases, root fields and directives of one operation, as
 * if every fragment spread were replaced by the fragment's selections.
 *
 * Each fragment is measured once and its summary reused, so the time is
 * linear in the document's size even when fragments spread each other
 * many times. The counts still grow as large as the expansion would be. A
 * fragment that spreads itself, directly or through others, counts as empty
 * where it recurs, so the walk ends even before validation rejects the
 * cycle. Spreads of unknown fragments count as empty too.
 */
export function measureOperation(
  document: DocumentNode,
  operation: OperationDefinitionNode,
): OperationShape {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments.set(definition.name.value, definition);
    }
  }
  const summaries = new Map<string, SelectionSummary>();
  const inProgress = new Set<string>();

  function summarizeFragment(name: string): SelectionSummary {
    const known = summaries.get(name);
    if (known) return known;
    const fragment = fragments.get(name);
    if (!fragment || inProgress.has(name)) return EMPTY;

    inProgress.add(name);
    const summary = summarize(fragment.selectionSet);
    inProgress.delete(name);
    summaries.set(name, summary);
    return summary;
  }

  function summarize(selectionSet: SelectionSetNode): SelectionSummary {
    const total = { ...EMPTY };
    for (const selection of selectionSet.selections) {
      total.directives += selection.directives?.length ?? 0;

      if (selection.kind === Kind.FIELD) {
        total.fields += 1;
        if (selection.alias) total.aliases += 1;
        const child = selection.selectionSet
          ? summarize(selection.selectionSet)
          : EMPTY;
        total.aliases += child.aliases;
        total.directives += child.directives;
        const childDepth = INTROSPECTION_ROOT_FIELDS.has(selection.name.value)
          ? 0
          : child.depth;
        total.depth = Math.max(total.depth, 1 + childDepth);
        continue;
      }

      // Inline fragments and fragment spreads add their fields to this
      // level; a spread also brings the directives of its definition.
      let inner: SelectionSummary;
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        inner = summarize(selection.selectionSet);
      } else {
        const name = selection.name.value;
        inner = summarizeFragment(name);
        total.directives += fragments.get(name)?.directives?.length ?? 0;
      }
      total.fields += inner.fields;
      total.aliases += inner.aliases;
      total.directives += inner.directives;
      total.depth = Math.max(total.depth, inner.depth);
    }
    return total;
  }

  const root = summarize(operation.selectionSet);
  let operationDirectives = operation.directives?.length ?? 0;
  for (const variable of operation.variableDefinitions ?? []) {
    operationDirectives += variable.directives?.length ?? 0;
  }
  return {
    depth: root.depth,
    aliases: root.aliases,
    rootFields: root.fields,
    directives: root.directives + operationDirectives,
  };
}
