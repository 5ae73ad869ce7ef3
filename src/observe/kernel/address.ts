import { isIP } from 'node:net';
import type { Endpoint } from './rows.js';

const V4_MAPPED_PREFIX = '::ffff:';
const DOTTED_QUAD = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * Normalises an address for matching Node's view against the kernel's: brackets and scope
 * removed, IPv4-mapped IPv6 unwrapped (a dual-stack server sees `::ffff:127.0.0.1`, `ss`
 * prints `[::ffff:127.0.0.1]`), IPv6 lower-cased.
 */
export function normalizeAddress(raw: string): string {
  let address = raw;
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  const percent = address.indexOf('%');
  if (percent !== -1) address = address.slice(0, percent);
  // Only an IPv6 address has letters (a dotted quad has none): the common IPv4 case copies nothing.
  if (address.includes(':')) address = address.toLowerCase();
  if (address.startsWith(V4_MAPPED_PREFIX)) {
    const tail = address.slice(V4_MAPPED_PREFIX.length);
    if (DOTTED_QUAD.test(tail)) return tail;
  }
  return address;
}

/**
 * Parses `host:port` as `ss` and Linux `netstat` print it: `127.0.0.1:80`, `[::1]:80`,
 * `[fe80::1]%eth0:22`, `[fe80::1%eth0]:22`, `*:80`, `0.0.0.0:*`, `:::80` (netstat).
 * The port is what follows the last colon, so IPv6 colons never split the host.
 * Returns undefined for anything else.
 */
export function parseHostPort(token: string): Endpoint | undefined {
  const colon = token.lastIndexOf(':');
  if (colon <= 0 || colon === token.length - 1) return undefined;
  const port = parsePort(token.slice(colon + 1));
  if (port === undefined) return undefined;
  let host = token.slice(0, colon);
  let scope: string | undefined;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close === -1) return undefined;
    const after = host.slice(close + 1);
    if (after !== '' && !after.startsWith('%')) return undefined;
    if (after.length > 1) scope = after.slice(1);
    host = host.slice(1, close);
  }
  const percent = host.indexOf('%');
  if (percent !== -1) {
    scope = host.slice(percent + 1) || scope;
    host = host.slice(0, percent);
  }
  if (host === '') return undefined;
  const address = checkedAddress(host);
  if (address === undefined) return undefined;
  return scope === undefined ? { address, port } : { address, port, scope };
}

/** Hosts already checked, with their normalised form (null: not an address); a poll repeats a few hosts thousands of times. */
const checkedHosts = new Map<string, string | null>();
const MAX_CHECKED_HOSTS = 1024;
/** The longest textual address: `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255` (INET6_ADDRSTRLEN - 1). */
const MAX_ADDRESS_LENGTH = 45;

function checkedAddress(host: string): string | undefined {
  // Longer is not an address, and must neither be checked nor kept as a key.
  if (host.length > MAX_ADDRESS_LENGTH) return undefined;
  let address = checkedHosts.get(host);
  if (address === undefined) {
    // Strict, not "looks like hex and colons": net-tools netstat without -W cuts long
    // addresses short, and a cut address must be dropped rather than matched.
    address = host === '*' ? '*' : isIP(host) === 0 ? null : own(normalizeAddress(host));
    if (checkedHosts.size >= MAX_CHECKED_HOSTS) checkedHosts.clear();
    // A host is a slice of a poll's output, and V8 keeps a long slice's parent alive: the
    // cache keeps copies, not a whole output per distinct host.
    checkedHosts.set(own(host), address);
  }
  return address ?? undefined;
}

/** A copy of a string that holds no reference to the string it was sliced from. */
function own(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** A port field: digits in 0..65535, or `*` for a wildcard (0). */
export function parsePort(text: string): number | undefined {
  if (text === '*') return 0;
  if (text.length === 0 || text.length > 5) return undefined;
  let port = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    port = port * 10 + digit;
  }
  return port <= 65535 ? port : undefined;
}

/**
 * Addresses that mean "every address": `0.0.0.0` and `::` as Node and `/proc` print them, `*`
 * as `ss` prints a dual-stack wildcard. Defined once for every listener match.
 */
export const WILDCARD_ADDRESSES: ReadonlySet<string> = new Set(['0.0.0.0', '::', '*']);

export function isWildcard(address: string): boolean {
  return WILDCARD_ADDRESSES.has(address);
}

/** True when a listener bound to `listener` accepts connections whose local side is `local`: same port, and its address or every address. */
export function listenerCovers(
  listener: { readonly address: string; readonly port: number },
  local: { readonly address: string; readonly port: number },
): boolean {
  return listener.port === local.port && (isWildcard(listener.address) || listener.address === local.address);
}
