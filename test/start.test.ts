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

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

interface StartedGraph {
  child: ChildProcess;
  gatewayUrl: string;
  output: () => string;
  exited: Promise<string>;
}

const dataDirs: string[] = [];
const groups: number[] = [];
/** PostgreSQL servers, which run in process groups of their own. */
const databaseServers: number[] = [];

afterAll(() => {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // The group has ended.
    }
  }
  for (const pid of databaseServers) {
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      // The server has ended.
    }
  }
  for (const folder of dataDirs)
    rmSync(folder, { recursive: true, force: true });
});

/** Returns the PostgreSQL server process (the postmaster) among `pids`. */
function databaseServerOf(pids: number[]): number | undefined {
  return pids.find((pid) => /\/bin\/postgres -D /.test(commandLine(pid)));
}

/**
 * Runs `npm start` on a fresh data folder and free ports, in its own
 * process group so that a signal to the group reaches every process of it
 * as a terminal's Ctrl-C would. Only the ports are set: the supervisor
 * points the gateway at the subgraphs' ports by itself.
 */
async function startGraph(logLevel = 'warn'): Promise<StartedGraph> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'commerce-graph-start-'));
  chmodSync(dataDir, 0o777);
  dataDirs.push(dataDir);
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
    LOG_LEVEL: logLevel,
  };
  // A fresh data folder means the embedded server, whatever the run uses.
  delete environment.DATABASE_URL;
  for (const name of ['CATALOG', 'ORDERS', 'SHIPMENTS', 'MARKETPLACE']) {
    delete environment[`${name}_URL`];
  }

  const child = spawn('npm', ['start'], {
    env: environment,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  groups.push(child.pid!);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) =>
      resolve(`code ${code}, signal ${signal}`),
    ),
  );
  await waitFor(
    () => output.includes('Press Ctrl-C to stop.') || child.exitCode !== null,
    150_000,
    `npm start to print its URLs; output so far:\n${output}`,
  );
  const gatewayUrl = `http://127.0.0.1:${ports[1]}/graphql`;
  expect(output).toContain(`gateway      ${gatewayUrl}`);
  const databaseServer = databaseServerOf(descendantsOf(child.pid!));
  if (databaseServer !== undefined) databaseServers.push(databaseServer);
  return { child, gatewayUrl, output: () => output, exited };
}

describe('npm start', () => {
  it('serves the sample catalog and stops on SIGINT', async () => {
    // Level info, for the lines each service logs when it has stopped.
    const { child, gatewayUrl, output, exited } = await startGraph('info');

    const result = await postGraphQL<any>(
      gatewayUrl,
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

    // The banner prints a development admin and partner key that work.
    const origin = new URL(gatewayUrl).origin;
    const staff = /staff admin +(\S+) +password (\S+)/.exec(output());
    const partnerKey = /partner key +(cgk_\S+)/.exec(output());
    expect(staff).not.toBeNull();
    expect(partnerKey).not.toBeNull();
    const signIn = await fetch(`${origin}/auth/staff/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: staff![1], password: staff![2] }),
    });
    expect(signIn.status).toBe(200);
    const partner = await fetch(`${origin}/auth/whoami`, {
      headers: { 'x-api-key': partnerKey![1]! },
    });
    expect(((await partner.json()) as { kind: string }).kind).toBe('partner');

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
      20_000,
      'every started process to end',
    );
    expect(started.filter(isAlive)).toEqual([]);
    expect(output()).toContain('All services stopped.');

    // Nothing fails at shutdown: the database outlives every service.
    const lines = output().split('\n');
    expect(lines.filter((line) => line.includes('57P03'))).toEqual([]);
    expect(lines.filter((line) => line.includes('TypeError'))).toEqual([]);
    expect(lines.filter((line) => line.includes('"stack"'))).toEqual([]);
    expect(lines.filter((line) => /^\S*\s+at \S/.test(line))).toEqual([]);

    // The gateway stops first, then the subgraphs, then the database.
    const lineOf = (text: string) => {
      const index = lines.findIndex((line) => line.includes(text));
      expect(index, `a line containing "${text}"`).toBeGreaterThanOrEqual(0);
      return index;
    };
    const gatewayStopped = lineOf('"msg":"gateway stopped"');
    const databaseStopped = lineOf('"msg":"embedded PostgreSQL stopped"');
    for (const name of ['catalog', 'orders', 'shipments', 'marketplace']) {
      const subgraphStopped = lineOf(`"msg":"${name} subgraph stopped"`);
      expect(subgraphStopped).toBeGreaterThan(gatewayStopped);
      expect(subgraphStopped).toBeLessThan(databaseStopped);
    }
  }, 240_000);

  it('stops the services when the supervisor is killed', async () => {
    const { child } = await startGraph();
    const started = descendantsOf(child.pid!);
    const databaseServer = databaseServerOf(started);
    expect(databaseServer).toBeDefined();
    // The node process itself, not the `sh -c` that npm runs it through.
    const supervisor = started.find((pid) =>
      /^\S*node --import tsx scripts\/start\.ts/.test(commandLine(pid)),
    );
    const services = started.filter((pid) =>
      /(subgraphs\/\w+|gateway)\/index\.ts/.test(commandLine(pid)),
    );
    expect(supervisor).toBeDefined();
    expect(services).toHaveLength(5);

    // SIGKILL runs no handler, so only the closed IPC channel can stop them.
    process.kill(supervisor!, 'SIGKILL');
    await waitFor(
      () => services.every((pid) => !isAlive(pid)),
      30_000,
      'the services to stop after their supervisor died',
    );
    expect(services.filter(isAlive)).toEqual([]);

    // The server runs in a process group of its own, so it keeps running
    // for the next start on the data folder until it is stopped.
    expect(isAlive(databaseServer!)).toBe(true);
    process.kill(databaseServer!, 'SIGINT');
    await waitFor(
      () => !isAlive(databaseServer!),
      30_000,
      'the PostgreSQL server to stop',
    );
  }, 240_000);
});
