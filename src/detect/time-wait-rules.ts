import type { PortRange } from '../observe/kernel/kernel-counters.js';
import { listenerCovers } from '../observe/kernel/address.js';
import type { Endpoint, KernelSocketRow } from '../observe/kernel/rows.js';
import { TcpState } from '../tcp-states.js';
import type { Destination } from './destinations.js';
import { rangeSize, utilization } from './port-exhaustion.js';
import type { SnapshotRow } from './snapshot.js';

/**
 * How TIME_WAIT sockets are tied to a process's connections, from kernel rows alone: a socket
 * on one of its listeners is server side (it closed an accepted connection first), any other
 * client side, counted per destination with the share of the ephemeral range its local ports
 * take. TIME_WAIT sockets belong to no process, so the port or the destination is the tie.
 */

/** The TIME_WAIT sockets towards one destination. */
export interface DestinationGroup {
  readonly destination: Destination;
  readonly count: number;
  /** Of count, those whose local port is in the ephemeral range (explicitly bound ones are not). */
  readonly inEphemeralRange: number;
  /** inEphemeralRange over the size of the range; undefined when the range is unknown. */
  readonly share: number | undefined;
  readonly rows: readonly SnapshotRow[];
}

/** The TIME_WAIT sockets on one listening port. */
export interface ListeningPortGroup {
  readonly port: number;
  readonly count: number;
  readonly rows: readonly SnapshotRow[];
}

/** The side a TIME_WAIT row is on: as it was tied, else on a listener of the process (server) or not (client). */
export function timeWaitSide(r: SnapshotRow, listeners: readonly Endpoint[]): 'client' | 'server' {
  if (r.side !== undefined) return r.side;
  return listeners.some((l) => listenerCovers(l, r.row.local)) ? 'server' : 'client';
}

/** The TIME_WAIT rows, split by side; listeners are the process's LISTEN rows. */
export function splitTimeWait(rows: readonly SnapshotRow[]): { client: SnapshotRow[]; server: SnapshotRow[] } {
  const listeners = rows.filter((r) => r.row.state === TcpState.Listen).map((r) => r.row.local);
  const client: SnapshotRow[] = [];
  const server: SnapshotRow[] = [];
  for (const r of rows) {
    if (r.row.state !== TcpState.TimeWait) continue;
    (timeWaitSide(r, listeners) === 'client' ? client : server).push(r);
  }
  return { client, server };
}

/** Rows grouped by destination (peer address and port), most first, then by address and port. */
export function byDestination(rows: readonly SnapshotRow[], range: PortRange | undefined): DestinationGroup[] {
  const groups = new Map<string, { destination: Destination; inEphemeralRange: number; rows: SnapshotRow[] }>();
  for (const r of rows) {
    const { peer, local } = r.row;
    const key = `${peer.address} ${peer.port}`;
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { destination: { address: peer.address, port: peer.port }, inEphemeralRange: 0, rows: [] }));
    g.rows.push(r);
    if (range !== undefined && local.port >= range.low && local.port <= range.high) g.inEphemeralRange++;
  }
  const size = range === undefined ? undefined : rangeSize(range);
  return [...groups.values()]
    .map((g) => ({ ...g, count: g.rows.length, share: size === undefined ? undefined : utilization(g.inEphemeralRange, size) }))
    .sort((a, b) => b.count - a.count || a.destination.address.localeCompare(b.destination.address) || a.destination.port - b.destination.port);
}

/** Rows grouped by local (listening) port, most first, then by port. */
export function byListeningPort(rows: readonly SnapshotRow[]): ListeningPortGroup[] {
  const groups = new Map<number, SnapshotRow[]>();
  for (const r of rows) {
    const same = groups.get(r.row.local.port);
    if (same === undefined) groups.set(r.row.local.port, [r]);
    else same.push(r);
  }
  return [...groups.entries()].map(([port, rs]) => ({ port, count: rs.length, rows: rs })).sort((a, b) => b.count - a.count || a.port - b.port);
}

/** Plain rows as snapshot rows whose side the listener rule decides. */
export function untied(rows: readonly KernelSocketRow[]): SnapshotRow[] {
  return rows.map((row) => ({ row }));
}
