import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, test } from 'vitest';
import {
  composeSupergraph,
  defaultRoutingUrls,
  SUPERGRAPH_FILE,
} from '../gateway/compose.js';
import { readSubgraphEndpoints } from '../gateway/supergraph-file.js';

/** Returns the 1-based number of the first line where two texts differ. */
function firstDifferentLine(left: string, right: string): number {
  const leftLines = left.split('\n');
  const rightLines = right.split('\n');
  let line = 0;
  while (line < leftLines.length && leftLines[line] === rightLines[line]) {
    line += 1;
  }
  return line + 1;
}

/** Runs `scripts/compose.ts` as `npm run compose` does, with both flags. */
function runComposeScript(schemaFolder: string, output: string) {
  const args = ['--schema-folder', schemaFolder, '--output', output];
  return promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'scripts/compose.ts', ...args],
    { cwd: path.join(import.meta.dirname, '..') },
  );
}

describe('committed supergraph', () => {
  test('matches a fresh composition', async () => {
    const result = await composeSupergraph();
    const committed = readFileSync(SUPERGRAPH_FILE, 'utf8');
    const fresh = result.supergraphSdl ?? '';

    expect(result.errors, 'schema/*.graphql do not compose').toBeUndefined();
    expect(
      committed === fresh,
      `schema/supergraph.graphql differs from a fresh composition of schema/<subgraph>.graphql from line ${firstDifferentLine(committed, fresh)}: run \`npm run compose\` and commit the result`,
    ).toBe(true);
  });

  test('routes to the default local ports', () => {
    const committed = readFileSync(SUPERGRAPH_FILE, 'utf8');

    expect(readSubgraphEndpoints(committed)).toEqual([
      { name: 'catalog', url: 'http://localhost:4001/graphql' },
      { name: 'marketplace', url: 'http://localhost:4004/graphql' },
      { name: 'orders', url: 'http://localhost:4002/graphql' },
      { name: 'shipments', url: 'http://localhost:4003/graphql' },
    ]);
  });
});

describe('composeSupergraph', () => {
  let folder: string | undefined;
  afterEach(() => {
    if (folder) rmSync(folder, { recursive: true, force: true });
    folder = undefined;
  });

  /** Writes four subgraph files; `files` replaces some of the defaults. */
  function writeSchemaFolder(files: Record<string, string>): string {
    folder = mkdtempSync(path.join(os.tmpdir(), 'compose-test-'));
    const link =
      'extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])\n';
    const defaults: Record<string, string> = {
      catalog: `${link}type Query { product: Product }\ntype Product @key(fields: "id") { id: ID! }\n`,
      orders: `${link}type Query { order: ID }\n`,
      shipments: `${link}type Query { shipment: ID }\n`,
      marketplace: `${link}type Query { listing: ID }\n`,
    };
    for (const [name, text] of Object.entries({ ...defaults, ...files })) {
      writeFileSync(path.join(folder, `${name}.graphql`), text);
    }
    return folder;
  }

  test('uses the given routing URLs', async () => {
    const schemaFolder = writeSchemaFolder({});
    const routingUrls = {
      catalog: 'http://127.0.0.1:5001/graphql',
      orders: 'http://127.0.0.1:5002/graphql',
      shipments: 'http://127.0.0.1:5003/graphql',
      marketplace: 'http://127.0.0.1:5004/graphql',
    };

    const result = await composeSupergraph({ schemaFolder, routingUrls });

    expect(result.errors).toBeUndefined();
    expect(readSubgraphEndpoints(result.supergraphSdl ?? '')).toEqual([
      { name: 'catalog', url: 'http://127.0.0.1:5001/graphql' },
      { name: 'marketplace', url: 'http://127.0.0.1:5004/graphql' },
      { name: 'orders', url: 'http://127.0.0.1:5002/graphql' },
      { name: 'shipments', url: 'http://127.0.0.1:5003/graphql' },
    ]);
  });

  test('default routing URLs use config ports', () => {
    expect(defaultRoutingUrls()).toEqual({
      catalog: 'http://localhost:4001/graphql',
      orders: 'http://localhost:4002/graphql',
      shipments: 'http://localhost:4003/graphql',
      marketplace: 'http://localhost:4004/graphql',
    });
  });

  test('reports a composition error with its location', async () => {
    const link =
      'extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])\n';
    const schemaFolder = writeSchemaFolder({
      orders: `${link}type Query { order: ID }\ntype Product @key(fields: "sku") { id: ID! }\n`,
    });

    const result = await composeSupergraph({ schemaFolder });

    expect(result.supergraphSdl).toBeUndefined();
    expect(result.errors).toHaveLength(1);
    const [error] = result.errors ?? [];
    expect(error).toMatch(
      /^KEY_INVALID_FIELDS: \[orders\] On type "Product", for @key\(fields: "sku"\)/,
    );
    expect(error).toContain(
      `\n  at ${path.join(schemaFolder, 'orders.graphql')}:3:14`,
    );
  });

  test('reports a syntax error with its location', async () => {
    const schemaFolder = writeSchemaFolder({
      shipments: 'type Query {\n  shipment: \n',
    });

    const result = await composeSupergraph({ schemaFolder });

    expect(result.errors).toEqual([
      `GRAPHQL_PARSE_FAILED: Syntax Error: Expected Name, found <EOF>.\n  at ${path.join(schemaFolder, 'shipments.graphql')}:3:1`,
    ]);
  });

  test('compose script exits 1 and keeps the file', async () => {
    const link =
      'extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])\n';
    const schemaFolder = writeSchemaFolder({
      orders: `${link}type Query { order: ID }\ntype Product @key(fields: "sku") { id: ID! }\n`,
    });
    const output = path.join(schemaFolder, 'supergraph.graphql');
    writeFileSync(output, 'previous supergraph\n');

    const failure = await runComposeScript(schemaFolder, output).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );

    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('Composition failed with 1 error(s):');
    expect(failure?.stderr).toContain(
      `KEY_INVALID_FIELDS: [orders] On type "Product", for @key(fields: "sku")`,
    );
    expect(failure?.stderr).toContain(
      `  at ${path.join(schemaFolder, 'orders.graphql')}:3:14`,
    );
    expect(failure?.stderr).toContain(`${output} was not changed.`);
    expect(readFileSync(output, 'utf8')).toBe('previous supergraph\n');
  });

  test('compose script writes the output', async () => {
    const schemaFolder = writeSchemaFolder({});
    const output = path.join(schemaFolder, 'supergraph.graphql');

    const { stdout } = await runComposeScript(schemaFolder, output);

    const expected = await composeSupergraph({ schemaFolder });
    expect(stdout).toBe(`Wrote ${output}.\n`);
    expect(readFileSync(output, 'utf8')).toBe(expected.supergraphSdl);
  });
});
