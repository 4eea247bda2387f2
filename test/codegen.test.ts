import { readFileSync } from 'node:fs';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import config from '../codegen.js';

describe('generated resolver types', () => {
  it('match the subgraph schemas', async () => {
    const outputs = await generate({ ...config, silent: true }, false);
    expect(outputs.length).toBe(4);
    for (const output of outputs) {
      const committed = readFileSync(output.filename, 'utf8');
      expect(
        committed,
        `${output.filename} is stale; run npm run codegen`,
      ).toBe(output.content);
    }
  }, 60_000);
});
