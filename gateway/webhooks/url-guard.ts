import { lookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Protection against server-side request forgery: webhook URLs may not
 * reach the gateway's own network. A URL is rejected when it is not https
 * (outside development), carries credentials, or its host resolves to an
 * address that is loopback, private, link-local (which includes the
 * 169.254.169.254 cloud metadata address), shared, reserved or multicast.
 * Loopback is accepted only with `allowLoopback`, for development receivers
 * on 127.0.0.1.
 */

/** A webhook URL that the guard rejects; the message says why. */
export class WebhookUrlError extends Error {}

export interface UrlGuardSettings {
  /** Accept `http:` as well as `https:`; false in production. */
  allowHttp: boolean;
  /** Accept loopback addresses; false in production. */
  allowLoopback: boolean;
  /** Resolves a host name to its addresses; `dns.lookup` unless given. */
  resolve?: (hostname: string) => Promise<string[]>;
}

const blocked = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * Returns the IPv4 address inside an IPv4-mapped IPv6 address such as
 * `::ffff:127.0.0.1` or `::ffff:7f00:1`, or the address unchanged.
 */
function unmapAddress(address: string): string {
  const lower = address.toLowerCase();
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1]!;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const high = parseInt(hex[1]!, 16);
    const low = parseInt(hex[2]!, 16);
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  return address;
}

/** Throws WebhookUrlError when `address` is one the guard does not send to. */
export function checkAddress(
  address: string,
  settings: Pick<UrlGuardSettings, 'allowLoopback'>,
): void {
  const unmapped = unmapAddress(address);
  const family = isIP(unmapped) === 6 ? 'ipv6' : 'ipv4';
  if (loopback.check(unmapped, family)) {
    if (settings.allowLoopback) return;
    throw new WebhookUrlError(
      `The webhook URL resolves to the loopback address ${address}, which is not allowed. Use a public receiver, or in development set WEBHOOK_ALLOW_LOOPBACK=true.`,
    );
  }
  if (blocked.check(unmapped, family)) {
    throw new WebhookUrlError(
      `The webhook URL resolves to ${address}, a private, link-local or reserved address, which is not allowed.`,
    );
  }
}

async function resolveHost(hostname: string): Promise<string[]> {
  const records = await lookup(hostname, { all: true, verbatim: true });
  return records.map((record) => record.address);
}

/**
 * Parses `text` and checks its scheme, credentials and every address its
 * host resolves to. Returns the parsed URL; throws WebhookUrlError. It opens
 * no connection.
 */
export async function checkWebhookUrl(
  text: string,
  settings: UrlGuardSettings,
): Promise<URL> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new WebhookUrlError(`The webhook URL "${text}" is not a valid URL.`);
  }
  const schemes = settings.allowHttp ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(url.protocol)) {
    throw new WebhookUrlError(
      `The webhook URL must use ${schemes.join(' or ')}, not ${url.protocol}.`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new WebhookUrlError(
      'The webhook URL must not contain a user name or password.',
    );
  }
  // URL keeps IPv6 literals in brackets.
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (isIP(hostname) !== 0) {
    addresses = [hostname];
  } else {
    try {
      addresses = await (settings.resolve ?? resolveHost)(hostname);
    } catch {
      throw new WebhookUrlError(
        `The host name "${hostname}" of the webhook URL could not be resolved.`,
      );
    }
    if (addresses.length === 0) {
      throw new WebhookUrlError(
        `The host name "${hostname}" of the webhook URL has no addresses.`,
      );
    }
  }
  for (const address of addresses) checkAddress(address, settings);
  return url;
}

/**
 * Returns a `lookup` for sockets that resolves like `dns.lookup` and fails
 * when any resolved address is rejected, so the address a delivery
 * connects to is the one that was checked, even if DNS changed since the
 * URL was checked. Sockets to IP literals skip `lookup`, so callers check
 * the URL with checkWebhookUrl as well.
 */
export function guardedLookup(
  settings: Pick<UrlGuardSettings, 'allowLoopback'>,
): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { all: true, verbatim: true, family: options.family })
      .then((records) => {
        for (const record of records) checkAddress(record.address, settings);
        if (records.length === 0) {
          throw new WebhookUrlError(
            `The host name "${hostname}" has no addresses.`,
          );
        }
        if (options.all) {
          callback(null, records);
        } else {
          callback(null, records[0]!.address, records[0]!.family);
        }
      })
      .catch((error: NodeJS.ErrnoException) => callback(error, '', 0));
  };
}
