/**
 * Composes schema/{catalog,orders,shipments,marketplace}.graphql into
 * schema/supergraph.graphql (`npm run compose`). On any error the output
 * file is left as it was and the process exits with status 1.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  composeSupergraph,
  SCHEMA_FOLDER,
  SUPERGRAPH_FILE,
} from '../gateway/compose.js';

const USAGE = `Usage: tsx scripts/compose.ts [--schema-folder DIR] [--output FILE]

Options:
  --schema-folder DIR  Folder of <subgraph>.graphql files (default: schema/)
  --output FILE        Supergraph file to write (default: schema/supergraph.graphql)
`;

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function parseFlags() {
  try {
    return parseArgs({
      options: {
        'schema-folder': { type: 'string', default: SCHEMA_FOLDER },
        output: { type: 'string', default: SUPERGRAPH_FILE },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

async function main(): Promise<number> {
  const values = parseFlags();
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const output = path.resolve(values.output);
  const result = await composeSupergraph({
    schemaFolder: path.resolve(values['schema-folder']),
  });
  const relativePath = path.relative(process.cwd(), output);
  const shownPath = relativePath.startsWith('..') ? output : relativePath;

  if (result.errors) {
    console.error(
      `Composition failed with ${result.errors.length} error(s):\n`,
    );
    for (const error of result.errors) console.error(`${error}\n`);
    console.error(`${shownPath} was not changed.`);
    return 1;
  }

  for (const hint of result.hints) console.error(`hint ${hint}\n`);
  if ((await readIfExists(output)) === result.supergraphSdl) {
    console.log(`${shownPath} is up to date.`);
    return 0;
  }

  // A running gateway reloads the file when it changes, so it is replaced
  // by a rename and never seen half-written.
  const temporaryFile = `${output}.${process.pid}.tmp`;
  await writeFile(temporaryFile, result.supergraphSdl, 'utf8');
  await rename(temporaryFile, output);
  console.log(`Wrote ${shownPath}.`);
  return 0;
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    console.error('Composition failed:', error);
    process.exit(1);
  },
);
