import {
  Kind,
  parse,
  print,
  valueFromASTUntyped,
  visit,
  type ConstDirectiveNode,
  type DirectiveNode,
  type DocumentNode,
} from 'graphql';
import { POLICIES } from './policies.js';
import {
  NO_REQUIREMENTS,
  type Requirement,
  type SupergraphRequirements,
} from './requirements.js';

/** The authorization specs that composition links `for: SECURITY`. */
const SPEC_URL =
  /^https:\/\/specs\.apollo\.dev\/(authenticated|requiresScopes|policy)\/v\d+\.\d+$/;

type SpecName = 'authenticated' | 'requiresScopes' | 'policy';

/** Names under which one authorization spec is linked into a supergraph. */
interface LinkedSpec {
  spec: SpecName;
  directiveName: string;
  /** Prefix of the spec's own types, such as `requiresScopes__`. */
  typePrefix: string;
  /** Types imported under a plain name, such as `Scope`. */
  importedTypes: Set<string>;
}

/**
 * First line of every prepared supergraph, followed by the requirements as
 * JSON. @apollo/gateway keeps the text it was given, so the requirements
 * reach `readRequirements` together with the schema they belong to.
 */
const REQUIREMENTS_COMMENT = '# authorization requirements: ';

/**
 * Prepares a supergraph text for @apollo/gateway, which rejects links
 * imported `for: SECURITY` (@apollo/gateway 2.14: "feature ... is for:
 * SECURITY but is unsupported"). Reads the `@authenticated`,
 * `@requiresScopes` and `@policy` applications, removes their links,
 * definitions and applications, and puts the requirements as JSON in a
 * comment on the first line.
 *
 * The comment makes a change of requirements alone a change of the text.
 * Without it, the gateway would take a reload whose only change is a
 * requirement for the supergraph it already serves, and keep enforcing the
 * old requirements.
 *
 * Throws when the text does not parse, when a directive has arguments of
 * the wrong shape, or when it names a policy that POLICIES does not define.
 */
export function prepareSupergraph(sdl: string): string {
  const document = parse(sdl, { noLocation: true });
  const specs = findLinkedSpecs(document);
  if (specs.length === 0) {
    return `${REQUIREMENTS_COMMENT}${JSON.stringify(NO_REQUIREMENTS)}\n${sdl}`;
  }
  const requirements = readDirectives(document, specs);
  const stripped = print(removeSpecs(document, specs));
  return `${REQUIREMENTS_COMMENT}${JSON.stringify(requirements)}\n${stripped}\n`;
}

/**
 * Returns the requirements that `prepareSupergraph` stored in `sdl`. A text
 * that did not pass through it has none: @apollo/gateway only accepts such a
 * text when it links no authorization spec.
 */
export function readRequirements(sdl: string): SupergraphRequirements {
  if (!sdl.startsWith(REQUIREMENTS_COMMENT)) return NO_REQUIREMENTS;
  const end = sdl.indexOf('\n');
  const json = sdl.slice(
    REQUIREMENTS_COMMENT.length,
    end === -1 ? undefined : end,
  );
  return JSON.parse(json) as SupergraphRequirements;
}

function findLinkedSpecs(document: DocumentNode): LinkedSpec[] {
  const specs: LinkedSpec[] = [];
  for (const definition of document.definitions) {
    if (
      definition.kind !== Kind.SCHEMA_DEFINITION &&
      definition.kind !== Kind.SCHEMA_EXTENSION
    ) {
      continue;
    }
    for (const directive of definition.directives ?? []) {
      const spec = linkedSpec(directive);
      if (spec) specs.push(spec);
    }
  }
  return specs;
}

/**
 * Reads one `@link` application. The spec's directive is named after the
 * link's `as:` (by default the spec name) unless `import:` renames it, and
 * its types are prefixed with that name and two underscores unless
 * imported.
 */
function linkedSpec(link: DirectiveNode): LinkedSpec | undefined {
  if (link.name.value !== 'link') return undefined;
  const url = argumentValue(link, 'url');
  const match = typeof url === 'string' ? SPEC_URL.exec(url) : null;
  if (!match) return undefined;

  const spec = match[1] as SpecName;
  const as = argumentValue(link, 'as');
  const namespace = typeof as === 'string' ? as : spec;
  let directiveName = namespace;
  const importedTypes = new Set<string>();
  const imports = argumentValue(link, 'import');
  for (const entry of Array.isArray(imports) ? imports : []) {
    const { name, alias } = importEntry(entry);
    if (name === `@${spec}`) directiveName = (alias ?? name).slice(1);
    else if (name && !name.startsWith('@')) importedTypes.add(alias ?? name);
  }
  return {
    spec,
    directiveName,
    typePrefix: `${namespace}__`,
    importedTypes,
  };
}

/** Reads an `import:` entry, either `"@name"` or `{ name: "@name", as: "@alias" }`. */
function importEntry(entry: unknown): { name?: string; alias?: string } {
  if (typeof entry === 'string') return { name: entry };
  if (typeof entry !== 'object' || entry === null) return {};
  const { name, as } = entry as { name?: unknown; as?: unknown };
  return {
    name: typeof name === 'string' ? name : undefined,
    alias: typeof as === 'string' ? as : undefined,
  };
}

function argumentValue(directive: DirectiveNode, name: string): unknown {
  const argument = directive.arguments?.find(
    (node) => node.name.value === name,
  );
  return argument ? valueFromASTUntyped(argument.value) : undefined;
}

/**
 * Reads the requirements of every object, interface, scalar and enum type,
 * and of every field of object and interface types.
 */
function readDirectives(
  document: DocumentNode,
  specs: LinkedSpec[],
): SupergraphRequirements {
  const specByDirective = new Map(specs.map((s) => [s.directiveName, s.spec]));
  const requirements: SupergraphRequirements = { fields: {}, types: {} };
  const add = (
    target: Record<string, Requirement>,
    coordinate: string,
    directives: readonly ConstDirectiveNode[] | undefined,
  ) => {
    const requirement = readRequirement(
      coordinate,
      directives ?? [],
      specByDirective,
    );
    if (requirement) {
      target[coordinate] = requireBoth(target[coordinate], requirement);
    }
  };

  for (const definition of document.definitions) {
    switch (definition.kind) {
      case Kind.OBJECT_TYPE_DEFINITION:
      case Kind.OBJECT_TYPE_EXTENSION:
      case Kind.INTERFACE_TYPE_DEFINITION:
      case Kind.INTERFACE_TYPE_EXTENSION:
        for (const field of definition.fields ?? []) {
          const coordinate = `${definition.name.value}.${field.name.value}`;
          add(requirements.fields, coordinate, field.directives);
        }
        add(requirements.types, definition.name.value, definition.directives);
        break;
      case Kind.SCALAR_TYPE_DEFINITION:
      case Kind.SCALAR_TYPE_EXTENSION:
      case Kind.ENUM_TYPE_DEFINITION:
      case Kind.ENUM_TYPE_EXTENSION:
        add(requirements.types, definition.name.value, definition.directives);
        break;
      default:
        break;
    }
  }
  return requirements;
}

/** Reads the authorization directives among `directives` of one element. */
function readRequirement(
  coordinate: string,
  directives: readonly ConstDirectiveNode[],
  specByDirective: Map<string, SpecName>,
): Requirement | undefined {
  let requirement: Requirement | undefined;
  for (const directive of directives) {
    const spec = specByDirective.get(directive.name.value);
    if (!spec) continue;
    let next: Requirement;
    if (spec === 'authenticated') {
      next = { authenticated: true };
    } else if (spec === 'requiresScopes') {
      next = { scopes: readAlternatives(coordinate, directive, 'scopes') };
    } else {
      const policies = readAlternatives(coordinate, directive, 'policies');
      for (const name of policies.flat()) {
        if (!POLICIES.has(name)) {
          throw new Error(
            `@${directive.name.value} on ${coordinate} names the policy "${name}", which the gateway does not define. ` +
              'Add it to gateway/authorization/policies.ts or remove it from the subgraph schema.',
          );
        }
      }
      next = { policies };
    }
    requirement = requireBoth(requirement, next);
  }
  return requirement;
}

/** Reads a `[[String!]!]!` argument such as `scopes: [["a", "b"], ["c"]]`. */
function readAlternatives(
  coordinate: string,
  directive: ConstDirectiveNode,
  argument: string,
): string[][] {
  const value = argumentValue(directive, argument);
  const isValid =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every(
      (all) =>
        Array.isArray(all) &&
        all.length > 0 &&
        all.every((item) => typeof item === 'string'),
    );
  if (!isValid) {
    throw new Error(
      `@${directive.name.value} on ${coordinate} has an invalid ${argument} argument: ` +
        `expected a non-empty list of non-empty lists of strings, got ${JSON.stringify(value)}.`,
    );
  }
  return value as string[][];
}

/** Combines two requirements into one that is met only when both are. */
function requireBoth(
  first: Requirement | undefined,
  second: Requirement,
): Requirement {
  if (!first) return second;
  const combined: Requirement = {};
  if (first.authenticated || second.authenticated)
    combined.authenticated = true;
  const scopes = bothAlternatives(first.scopes, second.scopes);
  if (scopes) combined.scopes = scopes;
  const policies = bothAlternatives(first.policies, second.policies);
  if (policies) combined.policies = policies;
  return combined;
}

/**
 * Returns alternatives met exactly when one of `first` and one of `second`
 * are met: every union of an alternative of each.
 */
function bothAlternatives(
  first: string[][] | undefined,
  second: string[][] | undefined,
): string[][] | undefined {
  if (!first || !second) return first ?? second;
  return first.flatMap((left) =>
    second.map((right) => [...new Set([...left, ...right])]),
  );
}

/**
 * Returns `document` without the links, directive definitions, types and
 * directive applications of `specs`.
 */
function removeSpecs(
  document: DocumentNode,
  specs: LinkedSpec[],
): DocumentNode {
  const directiveNames = new Set(specs.map((spec) => spec.directiveName));
  const isSpecType = (name: string) =>
    specs.some(
      (spec) =>
        name.startsWith(spec.typePrefix) || spec.importedTypes.has(name),
    );
  const removeSpecType = (node: { name: { value: string } }) =>
    isSpecType(node.name.value) ? null : undefined;

  return visit(document, {
    Directive: (node) =>
      directiveNames.has(node.name.value) || linkedSpec(node)
        ? null
        : undefined,
    DirectiveDefinition: (node) =>
      directiveNames.has(node.name.value) ? null : undefined,
    ScalarTypeDefinition: removeSpecType,
    EnumTypeDefinition: removeSpecType,
    InputObjectTypeDefinition: removeSpecType,
    ObjectTypeDefinition: removeSpecType,
  });
}
