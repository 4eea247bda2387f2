import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { composeServices } from '@apollo/composition';
import {
  getLocation,
  GraphQLError,
  parse,
  Source,
  type ASTNode,
  type SourceLocation,
} from 'graphql';
import {
  loadConfig,
  SERVICE_NAMES,
  servicePort,
  type ServiceName,
} from '../platform/config.js';

const repositoryRoot = fileURLToPath(new URL('../', import.meta.url));

/** Folder of `<subgraph>.graphql` files and of the composed supergraph. */
export const SCHEMA_FOLDER = path.join(repositoryRoot, 'schema');

/** The committed supergraph that `npm run compose` writes. */
export const SUPERGRAPH_FILE = path.join(SCHEMA_FOLDER, 'supergraph.graphql');

export interface ComposeOptions {
  /** Folder that contains `<subgraph>.graphql`, by default `schema/`. */
  schemaFolder?: string;
  /** Routing URL per subgraph, by default `defaultRoutingUrls()`. */
  routingUrls?: Record<ServiceName, string>;
}

export type ComposeResult =
  | { supergraphSdl: string; hints: string[]; errors?: undefined }
  | { errors: string[]; supergraphSdl?: undefined; hints?: undefined };

/**
 * Returns the routing URL of each subgraph on the default local ports
 * (`http://localhost:<port>/graphql`). The committed supergraph uses these
 * URLs whatever the environment sets, so it is the same on every machine.
 * The gateway overrides them at run time instead.
 */
export function defaultRoutingUrls(): Record<ServiceName, string> {
  const defaults = loadConfig({});
  const urls = {} as Record<ServiceName, string>;
  for (const name of SERVICE_NAMES) {
    urls[name] = `http://localhost:${servicePort(defaults, name)}/graphql`;
  }
  return urls;
}

/** The parts of a GraphQLError or a CompositionHint that locate it. */
interface LocatedMessage {
  message: string;
  nodes?: readonly ASTNode[] | undefined;
  source?: Source | undefined;
  locations?: readonly SourceLocation[] | undefined;
}

/**
 * Formats a composition error or hint as its code and message, followed by
 * one `at <file>:<line>:<column>` line per schema location it points to.
 */
export function formatCompositionError(
  error: LocatedMessage,
  code: unknown,
): string {
  const lines = [
    `${typeof code === 'string' ? code : 'ERROR'}: ${error.message}`,
  ];
  for (const location of sourceLocations(error)) lines.push(`  at ${location}`);
  return lines.join('\n');
}

function sourceLocations(error: LocatedMessage): string[] {
  const locations: string[] = [];
  for (const node of error.nodes ?? []) {
    if (!node.loc) continue;
    const { line, column } = getLocation(node.loc.source, node.loc.start);
    locations.push(`${node.loc.source.name}:${line}:${column}`);
  }
  // Syntax errors carry a source and locations but no AST nodes.
  if (locations.length === 0 && error.source) {
    for (const { line, column } of error.locations ?? []) {
      locations.push(`${error.source.name}:${line}:${column}`);
    }
  }
  return locations;
}

async function readSubgraphSource(
  schemaFolder: string,
  name: ServiceName,
): Promise<Source> {
  const file = path.join(schemaFolder, `${name}.graphql`);
  const text = await readFile(file, 'utf8');
  // The source name ends up in error locations: a path relative to the
  // repository root when the file is inside it, otherwise the full path.
  const relative = path.relative(repositoryRoot, file);
  const isInside = relative !== '' && !relative.startsWith('..');
  return new Source(text, isInside ? relative : file);
}

/**
 * Reads `schema/<subgraph>.graphql` of the four subgraphs and composes them
 * into a Federation 2 supergraph. Returns the supergraph SDL and the
 * composition hints, or every error found (a file that does not parse, or
 * a composition error), each formatted by `formatCompositionError`.
 */
export async function composeSupergraph(
  options: ComposeOptions = {},
): Promise<ComposeResult> {
  const schemaFolder = options.schemaFolder ?? SCHEMA_FOLDER;
  const routingUrls = options.routingUrls ?? defaultRoutingUrls();

  const services = [];
  const errors: string[] = [];
  for (const name of SERVICE_NAMES) {
    const source = await readSubgraphSource(schemaFolder, name);
    try {
      services.push({ name, url: routingUrls[name], typeDefs: parse(source) });
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      errors.push(formatCompositionError(error, 'GRAPHQL_PARSE_FAILED'));
    }
  }
  if (errors.length > 0) return { errors };

  const result = composeServices(services);
  if (result.errors) {
    return {
      errors: result.errors.map((error) =>
        formatCompositionError(error, error.extensions.code),
      ),
    };
  }
  const hints = result.hints.map((hint) =>
    formatCompositionError(hint, hint.definition.code),
  );
  return { supergraphSdl: `${result.supergraphSdl}\n`, hints };
}
