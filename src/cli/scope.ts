import { listenerCovers } from '../observe/kernel/address.js';
import type { Endpoint, KernelSocketRow } from '../observe/kernel/rows.js';
import { ALL_TCP_STATES, TcpState } from '../tcp-states.js';

/**
 * How a row was tied to the target:
 * - `inode`: one of the process's open sockets (/proc/N/fd);
 * - `listening_port`: no inode (TIME_WAIT, a SYN_RECEIVED request, an orphan the process
 *   closed), local side on one of the process's listeners;
 * - `destination`: no inode, peer is a destination the process has (or, in watch, had) a
 *   connection to;
 * - `port`: `--port` without `--pid`: local or peer port is the port, whoever owns the socket;
 * - `netns`: no target: every socket of the network namespace.
 */
export type Attribution = 'inode' | 'listening_port' | 'destination' | 'port' | 'netns';

export interface ScopedRow {
  readonly row: KernelSocketRow;
  readonly by: Attribution;
}

export type Scope =
  | { readonly kind: 'pid'; readonly pid: number; readonly inodes: ReadonlySet<number>; readonly port?: number }
  | { readonly kind: 'port'; readonly port: number }
  | { readonly kind: 'netns' };

export interface ScopedTable {
  readonly rows: readonly ScopedRow[];
  /** pid scope: TIME_WAIT of the namespace that none of the rules ties to the process. Empty otherwise. */
  readonly unattributedTimeWait: readonly KernelSocketRow[];
  /** pid scope: peers (`address port`) of the process's client connections, known ones included. */
  readonly destinations: ReadonlySet<string>;
}

export { listenerCovers };

export function endpointKey(e: Endpoint): string {
  return `${e.address} ${e.port}`;
}

function touchesPort(row: KernelSocketRow, port: number): boolean {
  return row.local.port === port || row.peer.port === port;
}

/**
 * The rows of the namespace's table that belong to the target. Sockets without an inode
 * cannot be tied to a process by inode, so they are tied by the process's listening ports
 * (server side) and by the peers of its connections (client side), and say so in `by`.
 */
export function selectScope(rows: readonly KernelSocketRow[], scope: Scope, knownDestinations: Iterable<string> = []): ScopedTable {
  switch (scope.kind) {
    case 'netns':
      return { rows: rows.map((row) => ({ row, by: 'netns' })), unattributedTimeWait: [], destinations: new Set() };
    case 'port':
      return {
        rows: rows.filter((row) => touchesPort(row, scope.port)).map((row) => ({ row, by: 'port' })),
        unattributedTimeWait: [],
        destinations: new Set(),
      };
    case 'pid':
      return selectProcessRows(rows, scope.inodes, scope.port, knownDestinations);
  }
}

function selectProcessRows(
  rows: readonly KernelSocketRow[],
  inodes: ReadonlySet<number>,
  port: number | undefined,
  knownDestinations: Iterable<string>,
): ScopedTable {
  const owned = rows.filter((r) => r.inode !== 0 && inodes.has(r.inode));
  const listeners = owned.filter((r) => r.state === TcpState.Listen).map((r) => r.local);
  const onListener = (local: Endpoint): boolean => listeners.some((l) => listenerCovers(l, local));
  const destinations = new Set(knownDestinations);
  for (const r of owned) {
    if (r.state !== TcpState.Listen && !onListener(r.local)) destinations.add(endpointKey(r.peer));
  }
  const scoped: ScopedRow[] = owned.map((row) => ({ row, by: 'inode' }));
  const unattributed: KernelSocketRow[] = [];
  for (const row of rows) {
    if (row.inode !== 0 || row.state === TcpState.Listen) continue;
    if (onListener(row.local)) scoped.push({ row, by: 'listening_port' });
    else if (destinations.has(endpointKey(row.peer))) scoped.push({ row, by: 'destination' });
    else if (row.state === TcpState.TimeWait) unattributed.push(row);
  }
  if (port === undefined) return { rows: scoped, unattributedTimeWait: unattributed, destinations };
  return {
    rows: scoped.filter((s) => touchesPort(s.row, port)),
    unattributedTimeWait: unattributed.filter((r) => touchesPort(r, port)),
    destinations,
  };
}

export type StateCounts = Record<TcpState, number>;

export function emptyCounts(): StateCounts {
  return Object.fromEntries(ALL_TCP_STATES.map((s) => [s, 0])) as StateCounts;
}

/** Sockets per state, all eleven present. */
export function countStates(rows: readonly ScopedRow[]): StateCounts {
  const counts = emptyCounts();
  for (const { row } of rows) counts[row.state]++;
  return counts;
}

/** Of `countStates`, how many per state were tied by port or destination rather than owned (only the states that have some). */
export function countAttributed(rows: readonly ScopedRow[]): Partial<StateCounts> {
  const counts: Partial<StateCounts> = {};
  for (const { row, by } of rows) {
    if (by === 'listening_port' || by === 'destination') counts[row.state] = (counts[row.state] ?? 0) + 1;
  }
  return counts;
}
