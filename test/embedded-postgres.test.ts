import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../platform/logger.js';
import {
  startEmbeddedPostgres,
  type EmbeddedServer,
} from '../platform/embedded-postgres.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function temporaryFolder(): string {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'commerce-graph-pg-'));
  chmodSync(folder, 0o777);
  return folder;
}

const logger = createLogger('test', 'silent');
const ownFolder = temporaryFolder();
const otherFolder = temporaryFolder();
let port: number;
let server: EmbeddedServer;

beforeAll(async () => {
  port = await freePort();
  server = await startEmbeddedPostgres({ dataDir: ownFolder, port, logger });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  rmSync(ownFolder, { recursive: true, force: true });
  rmSync(otherFolder, { recursive: true, force: true });
});

describe('startEmbeddedPostgres', () => {
  it('reuses a running server of the same folder', async () => {
    const second = await startEmbeddedPostgres({
      dataDir: ownFolder,
      port,
      logger,
    });
    expect(second.url).toBe(server.url);
    // Stopping the reused handle leaves the first process's server running.
    await second.stop();
    const third = await startEmbeddedPostgres({
      dataDir: ownFolder,
      port,
      logger,
    });
    expect(third.url).toBe(server.url);
  });

  it('rejects a server of another folder on the port', async () => {
    await expect(
      startEmbeddedPostgres({ dataDir: otherFolder, port, logger }),
    ).rejects.toThrow(
      `Port ${port} (EMBEDDED_PG_PORT) is used by a PostgreSQL server with data in ${path.join(ownFolder, 'postgres')}, not ${path.join(otherFolder, 'postgres')}. Stop that server or set EMBEDDED_PG_PORT to a free port.`,
    );
  });

  it('explains a data folder locked by another server', async () => {
    const otherPort = await freePort();
    const failure = startEmbeddedPostgres({
      dataDir: ownFolder,
      port: otherPort,
      logger,
    });
    await expect(failure).rejects.toThrow(
      `Embedded PostgreSQL failed to start on port ${otherPort} with data in ${path.join(ownFolder, 'postgres')}.`,
    );
    await expect(failure).rejects.toThrow('postmaster.pid');
  }, 60_000);
});
