import { watch, type FSWatcher } from 'node:fs';
import { prepareSupergraph } from './authorization/index.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SupergraphSdlHook } from '@apollo/gateway';
import { Kind, parse, type ConstValueNode } from 'graphql';
import type { Logger } from '../platform/logger.js';

/** A subgraph as the supergraph names it, with its routing URL. */
export interface SubgraphEndpoint {
  name: string;
  url: string;
}

/** Time to wait after the last file event before reading the file. */
const RELOAD_DEBOUNCE_MS = 100;

/**
 * Reads the subgraphs and their routing URLs from the
 * `enum join__Graph { X @join__graph(name: "...", url: "...") }` of a
 * composed supergraph. Throws when the SDL does not parse.
 *
 * NOTE: assumes the join spec is linked under its default `join__` prefix,
 * which is what @apollo/composition writes.
 */
export function readSubgraphEndpoints(
  supergraphSdl: string,
): SubgraphEndpoint[] {
  const document = parse(supergraphSdl, { noLocation: true });
  const endpoints: SubgraphEndpoint[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.ENUM_TYPE_DEFINITION) continue;
    if (definition.name.value !== 'join__Graph') continue;
    for (const value of definition.values ?? []) {
      const directive = value.directives?.find(
        (node) => node.name.value === 'join__graph',
      );
      const argument = (name: string) =>
        stringValue(
          directive?.arguments?.find((a) => a.name.value === name)?.value,
        );
      const name = argument('name');
      const url = argument('url');
      if (name !== undefined && url !== undefined)
        endpoints.push({ name, url });
    }
  }
  return endpoints;
}

function stringValue(node: ConstValueNode | undefined): string | undefined {
  return node?.kind === Kind.STRING ? node.value : undefined;
}

/**
 * Creates the `supergraphSdl` function of an ApolloGateway that serves the
 * supergraph in `file` and reloads it when the file changes.
 *
 * The folder is watched rather than the file, because writers that replace
 * the file by a rename (editors, `npm run compose`) would end a watch on the
 * old file. Events are debounced, and a new text goes to the gateway only if
 * it differs from the last one read. The gateway validates a new supergraph
 * before it switches to it, so an invalid file is logged and the previous
 * supergraph keeps serving. Requests already executing finish on the plan
 * they started with.
 */
export function createSupergraphFileSource(
  file: string,
  logger: Logger,
): SupergraphSdlHook {
  return async ({ update }) => {
    let lastText = await readSupergraphFile(file);
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let reloading = Promise.resolve();

    const reload = async () => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        logger.error(
          { err: error, supergraphPath: file },
          'supergraph reload failed: the file could not be read. The previous supergraph is still served.',
        );
        return;
      }
      if (stopped || text === lastText) return;
      lastText = text;
      try {
        update(prepareSupergraph(text));
        logger.info({ supergraphPath: file }, 'supergraph reloaded');
      } catch (error) {
        logger.error(
          { err: error, supergraphPath: file },
          'supergraph reload failed: the file is not a valid supergraph. The previous supergraph is still served.',
        );
      }
    };

    const watcher: FSWatcher = watch(
      path.dirname(file),
      { persistent: false },
      () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          // Reloads run one at a time so an older read never wins.
          reloading = reloading.then(reload);
        }, RELOAD_DEBOUNCE_MS);
      },
    );
    watcher.on('error', (error) => {
      logger.error(
        { err: error, supergraphPath: file },
        'watching the supergraph file failed; changes will not be reloaded',
      );
    });

    return {
      supergraphSdl: prepareSupergraph(lastText),
      async cleanup() {
        stopped = true;
        clearTimeout(timer);
        watcher.close();
        await reloading;
      },
    };
  };
}

async function readSupergraphFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `Supergraph file not found: ${file}. Run \`npm run compose\` or pass --supergraph FILE.`,
        { cause: error },
      );
    }
    throw error;
  }
}
