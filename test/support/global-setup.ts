import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import type { TestProject } from 'vitest/node';
import { createLogger } from '../../platform/logger.js';
import { startEmbeddedPostgres } from '../../platform/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** PostgreSQL server URL; each test file creates its own databases on it. */
    databaseServerUrl: string;
  }
}

async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Provides one PostgreSQL server to the whole run: the server named by
 * DATABASE_URL when it is set, otherwise a fresh embedded server in a
 * temporary folder, removed afterwards.
 */
export default async function setup(project: TestProject) {
  if (process.env.DATABASE_URL) {
    project.provide('databaseServerUrl', process.env.DATABASE_URL);
    return;
  }
  const logger = createLogger('test-postgres', 'warn');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'commerce-graph-test-'));
  // The cluster is owned by the `postgres` system user when running as root.
  await import('node:fs/promises').then((fs) => fs.chmod(dataDir, 0o777));
  const server = await startEmbeddedPostgres({
    dataDir,
    port: await findFreePort(),
    logger,
    // Two test files run at once, and a file can hold two stacks of five
    // processes with pools of up to 10 connections each: PostgreSQL's
    // default of 100 connections runs out under a burst of concurrent
    // mutations ("sorry, too many clients already").
    maxConnections: 300,
  });
  project.provide('databaseServerUrl', server.url);
  return async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
