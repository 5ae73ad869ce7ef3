import type { Endpoint } from '../observe/kernel/rows.js';

type Ends = { readonly local: Pick<Endpoint, 'address' | 'port'>; readonly peer: Pick<Endpoint, 'address' | 'port'> };

/**
 * Connections by 4-tuple, looked up once per kernel row. Keyed by local port, then peer port
 * (small integers: no key string is built per row), with the addresses compared on a hit;
 * two connections share a port pair only when their addresses differ.
 */
export class TupleIndex<T extends Ends> {
  private readonly byLocalPort = new Map<number, Map<number, T | T[]>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(local: Pick<Endpoint, 'address' | 'port'>, peer: Pick<Endpoint, 'address' | 'port'>): T | undefined {
    const slot = this.byLocalPort.get(local.port)?.get(peer.port);
    if (slot === undefined) return undefined;
    if (!Array.isArray(slot)) return sameAddresses(slot, local.address, peer.address) ? slot : undefined;
    return slot.find((item) => sameAddresses(item, local.address, peer.address));
  }

  /** Adds `item` under its tuple; an item already there with the same tuple is replaced. */
  set(item: T): void {
    let byPeerPort = this.byLocalPort.get(item.local.port);
    if (byPeerPort === undefined) this.byLocalPort.set(item.local.port, (byPeerPort = new Map()));
    const slot = byPeerPort.get(item.peer.port);
    if (slot === undefined) {
      byPeerPort.set(item.peer.port, item);
    } else if (!Array.isArray(slot)) {
      if (sameAddresses(slot, item.local.address, item.peer.address)) {
        byPeerPort.set(item.peer.port, item);
        return;
      }
      byPeerPort.set(item.peer.port, [slot, item]);
    } else {
      const at = slot.findIndex((other) => sameAddresses(other, item.local.address, item.peer.address));
      if (at !== -1) {
        slot[at] = item;
        return;
      }
      slot.push(item);
    }
    this.count++;
  }

  /** Removes `item` if it is the one indexed under its tuple. */
  delete(item: T): void {
    const byPeerPort = this.byLocalPort.get(item.local.port);
    const slot = byPeerPort?.get(item.peer.port);
    if (byPeerPort === undefined || slot === undefined) return;
    if (!Array.isArray(slot)) {
      if (slot !== item) return;
      byPeerPort.delete(item.peer.port);
    } else {
      const at = slot.indexOf(item);
      if (at === -1) return;
      slot.splice(at, 1);
      if (slot.length === 1) byPeerPort.set(item.peer.port, slot[0] as T);
    }
    if (byPeerPort.size === 0) this.byLocalPort.delete(item.local.port);
    this.count--;
  }

  clear(): void {
    this.byLocalPort.clear();
    this.count = 0;
  }
}

function sameAddresses(item: Ends, local: string, peer: string): boolean {
  return item.local.address === local && item.peer.address === peer;
}
