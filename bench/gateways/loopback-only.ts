/**
 * Makes every outgoing TCP connection to a host other than the loopback
 * addresses throw. The processes of the gateway comparison import it
 * first, so no gateway under test reaches another host, and neither does a
 * telemetry or update check in one of its libraries. Unix sockets are
 * allowed. Hosts in BENCH_ALLOWED_HOSTS (comma-separated) are allowed too,
 * for a PostgreSQL server that DATABASE_URL puts elsewhere.
 */
import net from 'node:net';

const allowedHosts = new Set([
  '127.0.0.1',
  'localhost',
  '::1',
  ...(process.env.BENCH_ALLOWED_HOSTS ?? '').split(',').filter(Boolean),
]);

function connectionHost(args: unknown[]): string | undefined {
  const [first, second] = args;
  if (Array.isArray(first)) return connectionHost(first);
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: string; path?: string };
    if (options.path) return undefined;
    return options.host ?? 'localhost';
  }
  if (typeof first === 'number' || /^\d+$/.test(String(first))) {
    return typeof second === 'string' ? second : 'localhost';
  }
  // A string first argument that is not a port is a Unix socket path.
  return undefined;
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (
  this: net.Socket,
  ...args: unknown[]
): net.Socket {
  const host = connectionHost(args);
  if (host !== undefined && !allowedHosts.has(host)) {
    throw new Error(
      `Connection to ${host} rejected: processes of the gateway comparison may connect only to 127.0.0.1`,
    );
  }
  return (connect as (...values: unknown[]) => net.Socket).apply(this, args);
} as typeof net.Socket.prototype.connect;
