import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import type { Logger } from '../platform/logger.js';

/** A service process started by `npm start`. */
export interface ChildService {
  name: string;
  process: ChildProcess;
  exited: Promise<number | null>;
}

/**
 * Starts a TypeScript entry point under Node with tsx, in its own process
 * group so that a terminal's Ctrl-C reaches only the supervisor, which then
 * stops the services in order. Output lines are prefixed with the name.
 *
 * The child gets an IPC channel as a lifeline: when the supervisor ends in
 * any way, even by SIGKILL, the channel closes and the child stops itself
 * (see `stopOnSignals` in platform/main.ts).
 */
export function startChildService(
  name: string,
  entry: string,
  environment: NodeJS.ProcessEnv,
  args: string[] = [],
): ChildService {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    env: environment,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    detached: true,
  });
  const prefix = `[${name}]`.padEnd(14);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => {
      process.stdout.write(`${prefix}${line}\n`);
    });
  }
  // 'close' comes after 'exit' once the output pipes are read to the end,
  // so a service's last lines print before the next service is stopped.
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => resolve(code));
  });
  return { name, process: child, exited };
}

/** Sends SIGTERM and waits; sends SIGKILL to a process still running after `graceMs`. */
export async function stopChildService(
  service: ChildService,
  graceMs: number,
  logger: Logger,
): Promise<void> {
  const { process: child } = service;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    logger.warn(
      { service: service.name },
      'service did not stop in time; killing it',
    );
    child.kill('SIGKILL');
  }, graceMs);
  await service.exited;
  clearTimeout(timer);
}

/** Polls `url` until it returns 200, the child exits, or `timeoutMs` passes. */
export async function waitUntilReady(
  service: ChildService,
  url: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void service.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) {
      throw new Error(
        `${service.name} exited before it became ready; see its log above.`,
      );
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(
    `${service.name} was not ready at ${url} after ${timeoutMs} ms.`,
  );
}

/** Throws a clear error when `host:port` is already in use. */
export async function assertPortFree(
  host: string,
  port: number,
  variable: string,
): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `Port ${port} (${variable}) is already in use on ${host}. Stop the process using it, or set ${variable} to a free port.`,
            )
          : error,
      );
    });
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
