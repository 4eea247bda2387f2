import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { postGraphQL } from './support/stack.js';

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

/** Lists every live process whose parent chain leads to `rootPid`, from /proc. */
function descendantsOf(rootPid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 is the parent PID; the command name in field 2 may contain spaces.
      const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(afterName[1]));
    } catch {
      // The process ended while /proc was read.
    }
  }
  const result: number[] = [];
  for (const pid of parentOf.keys()) {
    let current: number | undefined = pid;
    while (current !== undefined && current > 1) {
      current = parentOf.get(current);
      if (current === rootPid) {
        result.push(pid);
        break;
      }
    }
  }
  return result;
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

async function waitFor(
  predicate: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('npm start', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'commerce-graph-start-'));
  chmodSync(dataDir, 0o777);
  let child: ChildProcess | undefined;

  afterAll(() => {
    if (child?.pid && isAlive(child.pid)) process.kill(-child.pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the sample catalog and stops on SIGINT', async () => {
    const ports = await Promise.all(Array.from({ length: 6 }, freePort));
    const environment: NodeJS.ProcessEnv = {
      ...process.env,
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(ports[0]),
      GATEWAY_PORT: String(ports[1]),
      CATALOG_PORT: String(ports[2]),
      ORDERS_PORT: String(ports[3]),
      SHIPMENTS_PORT: String(ports[4]),
      MARKETPLACE_PORT: String(ports[5]),
      CATALOG_URL: `http://127.0.0.1:${ports[2]}/graphql`,
      ORDERS_URL: `http://127.0.0.1:${ports[3]}/graphql`,
      SHIPMENTS_URL: `http://127.0.0.1:${ports[4]}/graphql`,
      MARKETPLACE_URL: `http://127.0.0.1:${ports[5]}/graphql`,
      LOG_LEVEL: 'warn',
    };
    // A fresh data folder means the embedded server, whatever the run uses.
    delete environment.DATABASE_URL;

    // Its own process group, so the SIGINT below reaches every process of
    // the group as a terminal's Ctrl-C would.
    child = spawn('npm', ['start'], {
      env: environment,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exited = new Promise<string>((resolve) =>
      child!.once('exit', (code, signal) =>
        resolve(`code ${code}, signal ${signal}`),
      ),
    );

    await waitFor(
      () =>
        output.includes('Press Ctrl-C to stop.') || child!.exitCode !== null,
      150_000,
      `npm start to print its URLs; output so far:\n${output}`,
    );
    expect(output).toContain(
      `gateway      http://127.0.0.1:${ports[1]}/graphql`,
    );

    const result = await postGraphQL<any>(
      `http://127.0.0.1:${ports[1]}/graphql`,
      `{ variant(sku: "woo-hoodie-red") {
           price { amount currencyCode } compareAtPrice { amount }
           product { title listings { status price { amount } } }
         } }`,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data.variant.price).toEqual({
      amount: '42.00',
      currencyCode: 'USD',
    });
    expect(result.data.variant.compareAtPrice).toEqual({ amount: '45.00' });
    expect(result.data.variant.product.title).toBe('Hoodie');
    expect(result.data.variant.product.listings.length).toBeGreaterThan(0);

    const started = descendantsOf(child.pid!);
    // npm's shell, the supervisor, four subgraphs, the gateway and PostgreSQL.
    expect(started.length).toBeGreaterThanOrEqual(7);

    process.kill(-child.pid!, 'SIGINT');
    const exit = await Promise.race([
      exited,
      new Promise<string>((resolve) =>
        setTimeout(() => resolve('timed out'), 60_000),
      ),
    ]);
    // npm itself ends by the SIGINT it received, as it does in a terminal;
    // the supervisor's own clean exit shows in its last output line.
    expect(exit).toMatch(/^code 0|signal SIGINT$/);
    await waitFor(
      () => started.every((pid) => !isAlive(pid)),
      10_000,
      'every started process to end',
    );
    expect(started.filter(isAlive)).toEqual([]);
    expect(output).toContain('All services stopped.');
  }, 240_000);
});
