import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * Returns the address of the client that sent `request`. With no trusted
 * proxies it is the socket's peer address, whatever `x-forwarded-for`
 * contains, because any client can send that header. With `trustedProxyHops`
 * proxies in front of the gateway, each appending the address it received
 * the request from, the client is the entry that many places from the
 * right of `x-forwarded-for`. Entries further left were written by the
 * client and are ignored. A header with fewer entries, or a malformed
 * entry, falls back to the socket address.
 */
export function clientAddress(
  request: IncomingMessage,
  trustedProxyHops: number,
): string {
  const socketAddress = normalizeAddress(request.socket.remoteAddress ?? '');
  if (trustedProxyHops === 0) return socketAddress;

  const header = request.headers['x-forwarded-for'];
  const joined = Array.isArray(header) ? header.join(',') : (header ?? '');
  const entries = joined
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const entry = entries[entries.length - trustedProxyHops];
  if (entry === undefined || isIP(entry) === 0) return socketAddress;
  return normalizeAddress(entry);
}

// NOTE: each IPv6 address gets its own bucket, so a client that controls a
// whole prefix (often a /64) can spread its requests over many buckets.

/** Writes an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as plain IPv4. */
function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address.toLowerCase();
}
