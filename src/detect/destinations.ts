import { isIP } from 'node:net';
import type { Connection } from '../model/connection.js';
import type { ConnectionModel } from '../model/tracker.js';
import { normalizeAddress } from '../observe/kernel/address.js';

/** Where a client connects: the address (normalised as kernel rows are) and port. */
export interface Destination {
  readonly address: string;
  readonly port: number;
}

/** A remembered destination. */
export interface DestinationEntry extends Destination {
  /** Epoch ms when a live connection (or a TIME_WAIT socket) towards it was last seen. */
  lastSeen: number;
  /** This process's live connections towards it at the last scan. */
  open: number;
}

/**
 * Destinations remembered at once. Beyond this many, the one seen longest ago is forgotten:
 * the kernel query filters on at most 64 ports (`MAX_FILTER_PORTS`) anyway.
 */
export const MAX_DESTINATIONS = 64;

/**
 * How long a destination is remembered after its last live connection: TIME_WAIT lasts 60 s
 * on Linux after the close, so twice that covers every socket a connection can leave there.
 */
export const DESTINATION_RETENTION_MS = 120_000;

/**
 * The destinations this process connects to, learned from its live client connections and
 * remembered a while after they close, since their TIME_WAIT sockets outlive them. Bounded:
 * at most `MAX_DESTINATIONS`, each forgotten `DESTINATION_RETENTION_MS` after it was last seen.
 */
export class RecentDestinations {
  private readonly byPort = new Map<number, Map<string, DestinationEntry>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /**
   * Learns the destinations of the live client connections, and how many are open to each,
   * then forgets those not seen for `DESTINATION_RETENTION_MS`. A connection's destination is
   * its peer when known, else the address its host name resolved to or the literal address it
   * was given; failing all three, a connected socket is asked (getpeername, once).
   */
  learn(model: ConnectionModel, time: number): void {
    for (const entry of this.entries()) entry.open = 0;
    // No live client has a target port: nothing to learn (a server-only process skips the scan).
    if ((model.portsQuery(NO_STATES)?.peerPorts?.length ?? 0) > 0) {
      for (const c of model.liveConnections()) {
        if (c.side !== 'client') continue;
        const destination = destinationOf(c, model);
        if (destination === undefined) continue;
        this.touch(destination.address, destination.port, time).open++;
      }
    }
    this.expire(time);
  }

  /** The remembered entry for this address and port, if any. */
  get(address: string, port: number): DestinationEntry | undefined {
    return this.byPort.get(port)?.get(address);
  }

  /** Remembers a destination as seen now; returns its entry. */
  touch(address: string, port: number, time: number): DestinationEntry {
    let byAddress = this.byPort.get(port);
    let entry = byAddress?.get(address);
    if (entry !== undefined) {
      entry.lastSeen = Math.max(entry.lastSeen, time);
      return entry;
    }
    if (this.count >= MAX_DESTINATIONS) this.forgetOldest();
    entry = { address, port, lastSeen: time, open: 0 };
    if (byAddress === undefined) this.byPort.set(port, (byAddress = new Map()));
    byAddress.set(address, entry);
    this.count++;
    return entry;
  }

  *entries(): IterableIterator<DestinationEntry> {
    for (const byAddress of this.byPort.values()) yield* byAddress.values();
  }

  clear(): void {
    this.byPort.clear();
    this.count = 0;
  }

  private expire(time: number): void {
    for (const [port, byAddress] of this.byPort) {
      for (const [address, entry] of byAddress) {
        if (entry.open > 0 || time - entry.lastSeen < DESTINATION_RETENTION_MS) continue;
        byAddress.delete(address);
        this.count--;
      }
      if (byAddress.size === 0) this.byPort.delete(port);
    }
  }

  private forgetOldest(): void {
    let oldest: DestinationEntry | undefined;
    for (const entry of this.entries()) if (oldest === undefined || entry.lastSeen < oldest.lastSeen) oldest = entry;
    if (oldest !== undefined) this.delete(oldest);
  }

  private delete(entry: DestinationEntry): void {
    const byAddress = this.byPort.get(entry.port);
    if (byAddress?.delete(entry.address) !== true) return;
    this.count--;
    if (byAddress.size === 0) this.byPort.delete(entry.port);
  }
}

const NO_STATES: readonly never[] = [];

/** A live client connection's destination, when it can be known. */
function destinationOf(c: Connection, model: ConnectionModel): Destination | undefined {
  if (c.peer !== undefined) return c.peer;
  const port = c.target?.port;
  if (port === undefined) return undefined;
  const resolved = c.lookup?.address;
  if (resolved !== undefined && isIP(resolved) !== 0) return { address: normalizeAddress(resolved), port };
  const host = c.target?.host;
  if (host !== undefined && isIP(host) !== 0) return { address: normalizeAddress(host), port };
  // A host name tried on several addresses, with no single lookup answer: ask the socket.
  if (c.connectedAt === undefined) return undefined;
  return model.endpointsOf(c)?.peer;
}
