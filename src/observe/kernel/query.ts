import type { TcpState } from '../../tcp-states.js';
import type { KernelSocketRow } from './rows.js';

/** What one poll asks the kernel for; sources filter as much as they can before parsing. */
export interface KernelQuery {
  /** Only sockets in these states. */
  readonly states: readonly TcpState[];
  /**
   * Only sockets whose local port is one of `localPorts`, or whose peer port is one of
   * `peerPorts`, or whose (local port, peer port) is one of `portPairs`; all three undefined
   * means no port filter.
   */
  readonly localPorts?: readonly number[];
  readonly peerPorts?: readonly number[];
  readonly portPairs?: readonly PortPair[];
}

/** The ports of one connection, seen from this side. */
export interface PortPair {
  readonly localPort: number;
  readonly peerPort: number;
}

/** What one consumer of a poll (a detector, the after-close follower) asks the kernel for: a query. */
export type KernelNeed = KernelQuery;

/** Beyond this many distinct ports the union asks for the states only, not for each port. */
export const MAX_FILTER_PORTS = 64;

/**
 * The one query that covers every need: the union of their states, and of their ports
 * (a need without ports widens it to every port). The kernel filters by both; each consumer
 * then takes its own rows (`matcher`).
 */
export function unionOf(needs: readonly KernelNeed[]): KernelQuery | undefined {
  if (needs.length === 0) return undefined;
  const states = new Set<TcpState>();
  const localPorts = new Set<number>();
  const peerPorts = new Set<number>();
  const pairs = new Map<string, PortPair>();
  let everyPort = false;
  for (const need of needs) {
    for (const s of need.states) states.add(s);
    if (need.localPorts === undefined && need.peerPorts === undefined && need.portPairs === undefined) everyPort = true;
    for (const p of need.localPorts ?? []) localPorts.add(p);
    for (const p of need.peerPorts ?? []) peerPorts.add(p);
    for (const p of need.portPairs ?? []) pairs.set(`${p.localPort} ${p.peerPort}`, p);
  }
  if (everyPort || localPorts.size + peerPorts.size > MAX_FILTER_PORTS) return { states: [...states] };
  return {
    states: [...states],
    ...(localPorts.size > 0 ? { localPorts: [...localPorts] } : {}),
    ...(peerPorts.size > 0 ? { peerPorts: [...peerPorts] } : {}),
    ...(pairs.size > 0 ? { portPairs: [...pairs.values()] } : {}),
  };
}

/** A test for the rows one query asked for (a row matches its states, and any of its ports). */
export function matcher(need: KernelQuery): (row: KernelSocketRow) => boolean {
  const states = new Set(need.states);
  const local = need.localPorts === undefined ? undefined : new Set(need.localPorts);
  const peer = need.peerPorts === undefined ? undefined : new Set(need.peerPorts);
  const pairs = need.portPairs === undefined ? undefined : new Set(need.portPairs.map((p) => p.localPort * 65536 + p.peerPort));
  const anyPort = local === undefined && peer === undefined && pairs === undefined;
  return (row) =>
    states.has(row.state) &&
    (anyPort || (local?.has(row.local.port) ?? false) || (peer?.has(row.peer.port) ?? false) || (pairs?.has(row.local.port * 65536 + row.peer.port) ?? false));
}

/** The rows of a reading that one query asked for. */
export function rowsFor(rows: readonly KernelSocketRow[], need: KernelQuery): KernelSocketRow[] {
  const matches = matcher(need);
  return rows.filter(matches);
}
