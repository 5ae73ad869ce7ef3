import type { Endpoint } from '../observe/kernel/rows.js';

type Ends = { readonly local: Pick<Endpoint, 'address' | 'port'>; readonly peer: Pick<Endpoint, 'address' | 'port'> };

/**
 * Connections by 4-tuple, looked up once per kernel row. One map keyed by the port pair as one
 * integer (`portPair`): no key string is built per row, and there is no map per local port,
 * which every client, each on its own ephemeral port, would otherwise cost. The addresses are
 * compared on a hit; two connections share a port pair only when their addresses differ.
 */
export class TupleIndex<T extends Ends> {
  private readonly byPorts = new Map<number, T | T[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(local: Pick<Endpoint, 'address' | 'port'>, peer: Pick<Endpoint, 'address' | 'port'>): T | undefined {
    const slot = this.byPorts.get(portPair(local.port, peer.port));
    if (slot === undefined) return undefined;
    if (!Array.isArray(slot)) return sameAddresses(slot, local.address, peer.address) ? slot : undefined;
    return slot.find((item) => sameAddresses(item, local.address, peer.address));
  }

  /** Adds `item` under its tuple; an item already there with the same tuple is replaced. */
  set(item: T): void {
    const key = portPair(item.local.port, item.peer.port);
    const slot = this.byPorts.get(key);
    if (slot === undefined) {
      this.byPorts.set(key, item);
    } else if (!Array.isArray(slot)) {
      if (sameAddresses(slot, item.local.address, item.peer.address)) {
        this.byPorts.set(key, item);
        return;
      }
      this.byPorts.set(key, [slot, item]);
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
    const key = portPair(item.local.port, item.peer.port);
    const slot = this.byPorts.get(key);
    if (slot === undefined) return;
    if (!Array.isArray(slot)) {
      if (slot !== item) return;
      this.byPorts.delete(key);
    } else {
      const at = slot.indexOf(item);
      if (at === -1) return;
      slot.splice(at, 1);
      if (slot.length === 1) this.byPorts.set(key, slot[0] as T);
    }
    this.count--;
  }

  clear(): void {
    this.byPorts.clear();
    this.count = 0;
  }
}

/**
 * Ports are 0–65535: the pair is one exact 32-bit integer, taken as signed (`| 0`, one to one)
 * so that it stays a small integer for V8 instead of a boxed number per key.
 */
function portPair(localPort: number, peerPort: number): number {
  return (localPort * 65536 + peerPort) | 0;
}

function sameAddresses(item: Ends, local: string, peer: string): boolean {
  return item.local.address === local && item.peer.address === peer;
}
