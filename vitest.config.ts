import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Node resolves `graphql` to its CommonJS build, which @apollo/gateway
    // and @apollo/server load, but Vite would pick the ES module build. Two
    // copies make graphql's instanceof checks throw ("Cannot use
    // GraphQLObjectType from another module or realm") when project code
    // inspects the gateway's schema, so tests load the CommonJS build too.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    // Gateways started by tests must not send telemetry anywhere.
    env: { APOLLO_TELEMETRY_DISABLED: 'true' },
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each test file starts real services on its own databases; two files
    // at a time keep a two-core machine responsive.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
