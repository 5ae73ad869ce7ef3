import type { ListeningSocket } from '../model/listening-sockets.js';
import { listenerCovers } from '../observe/kernel/address.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import { TcpState } from '../tcp-states.js';
import type { ListenerFigures } from './listen-pressure-finding.js';

/**
 * What the kernel rows say of each listening socket of this process: its SYN_RECEIVED
 * requests, its accept queue and its backlog. Matches rows to listeners (wildcards, and the
 * several LISTEN rows of an SO_REUSEPORT group).
 */

/** One entry per address and port: two servers can share a listener (a cluster worker's). */
export function distinct(listeners: readonly ListeningSocket[]): ListeningSocket[] {
  const byKey = new Map<string, ListeningSocket>();
  for (const l of listeners) {
    const key = `${l.address} ${l.port}`;
    if (!byKey.has(key)) byKey.set(key, l);
  }
  return [...byKey.values()];
}

/** `ss` prints a dual-stack wildcard as `*`; Node and `/proc` say `::`. */
function listenAddress(address: string): string {
  return address === '*' ? '::' : address;
}

interface Tally {
  synReceived: number;
  listenRow: KernelSocketRow | undefined;
}

/**
 * Each listener's figures from the rows, in one pass over them. A SYN_RECEIVED row belongs
 * to a listener on its port bound to its address or to every address. When several LISTEN
 * rows match one listener (an SO_REUSEPORT group), the fullest queue is the one that tells.
 */
export function figuresOf(
  listeners: readonly ListeningSocket[],
  rows: readonly KernelSocketRow[] | undefined,
  askedPorts: ReadonlySet<number>,
): ListenerFigures[] {
  const tallies = new Map<ListeningSocket, Tally>();
  const byPort = new Map<number, ListeningSocket[]>();
  for (const l of listeners) {
    if (rows === undefined || !askedPorts.has(l.port)) continue;
    tallies.set(l, { synReceived: 0, listenRow: undefined });
    const same = byPort.get(l.port);
    if (same === undefined) byPort.set(l.port, [l]);
    else same.push(l);
  }
  for (const row of rows ?? []) {
    const candidates = byPort.get(row.local.port);
    if (candidates === undefined) continue;
    for (const l of candidates) {
      const tally = tallies.get(l) as Tally;
      if (row.state === TcpState.SynReceived) {
        if (listenerCovers(l, row.local)) tally.synReceived++;
      } else if (row.state === TcpState.Listen && listenAddress(row.local.address) === l.address) {
        if (tally.listenRow === undefined || fill(row) > fill(tally.listenRow)) tally.listenRow = row;
      }
    }
  }
  return listeners.map((l) => {
    const tally = tallies.get(l);
    const row = tally?.listenRow;
    return {
      address: l.address,
      port: l.port,
      synReceived: tally?.synReceived,
      acceptQueue: row?.recvQ,
      backlog: row !== undefined && row.sendQ > 0 ? row.sendQ : undefined,
    };
  });
}

function fill(row: KernelSocketRow): number {
  return row.sendQ > 0 ? row.recvQ / row.sendQ : row.recvQ;
}
