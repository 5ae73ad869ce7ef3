import type { TcpState } from '../../tcp-states.js';
import type { ParseResult } from './rows.js';

/** Names of the kernel sources, in the order `source: 'auto'` tries them. */
export const KERNEL_SOURCE_NAMES = ['ss', 'proc', 'netstat'] as const;
export type KernelSourceName = (typeof KERNEL_SOURCE_NAMES)[number];

/** What one poll asks the kernel for; sources filter as much as they can before parsing. */
export interface KernelQuery {
  /** Only sockets in these states. */
  readonly states: readonly TcpState[];
  /**
   * Only sockets whose local port is one of `localPorts` or whose peer port is one of
   * `peerPorts`; both undefined means no port filter.
   */
  readonly localPorts?: readonly number[];
  readonly peerPorts?: readonly number[];
  /** Only sockets with one of these (local port, peer port) pairs; replaces the port lists. */
  readonly portPairs?: readonly PortPair[];
}

/** The ports of one connection, seen from this side. */
export interface PortPair {
  readonly localPort: number;
  readonly peerPort: number;
}

/** A way to read the kernel's TCP table. Implementations do I/O; parsing is in pure functions. */
export interface KernelSource {
  readonly name: KernelSourceName;
  /** Reads the rows the query asks for. Rejects with `KernelSourceError` when the source cannot run. */
  read(query: KernelQuery): Promise<ParseResult>;
}

/** The source could not be used (tool missing, permission, timeout, unreadable file). */
export class KernelSourceError extends Error {
  constructor(
    readonly source: KernelSourceName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${message}`, options);
    this.name = 'KernelSourceError';
  }
}

/** Keeps the rows a source could not filter itself (a port filter that `/proc` has no way to apply). */
export function filterRows(result: ParseResult, query: KernelQuery): ParseResult {
  const states = new Set(query.states);
  if (query.portPairs !== undefined) {
    const pairs = new Set(query.portPairs.map((p) => `${p.localPort} ${p.peerPort}`));
    return { rows: result.rows.filter((r) => states.has(r.state) && pairs.has(`${r.local.port} ${r.peer.port}`)), skipped: result.skipped };
  }
  const local = query.localPorts === undefined ? undefined : new Set(query.localPorts);
  const peer = query.peerPorts === undefined ? undefined : new Set(query.peerPorts);
  const portFilter = local !== undefined || peer !== undefined;
  const rows = result.rows.filter(
    (r) =>
      states.has(r.state) &&
      (!portFilter || (local?.has(r.local.port) ?? false) || (peer?.has(r.peer.port) ?? false)),
  );
  return { rows, skipped: result.skipped };
}
