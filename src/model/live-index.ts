import type { ConnectionEndpoint } from '../observe/endpoints.js';
import type { KernelQuery } from '../observe/kernel/source.js';
import { ALL_TCP_STATES, stateOrdinal, TcpState } from '../tcp-states.js';
import type { Connection, IndexedConnection } from './connection.js';
import { TupleIndex } from './tuple-index.js';

const EMPTY: ReadonlySet<Connection> = new Set();

/**
 * The live connections and what is counted and indexed about them: by state, by the port the
 * kernel query filters on, by 4-tuple. The tracker tells it of every change; it writes no record.
 */
export class LiveConnections {
  private readonly live = new Set<Connection>();
  private readonly byTuple = new TupleIndex<IndexedConnection>();
  /**
   * Live connections per state (by `stateOrdinal`), counted on every change; the sets
   * themselves are built only when a detector asks (once per poll at most), so a state change
   * costs two counter updates rather than two hash-set operations.
   */
  private readonly stateCount = new Int32Array(ALL_TCP_STATES.length);
  /** The states (by `stateOrdinal`, one bit each) a live connection has been in since the last `clear()`. */
  private statesEntered = 0;
  /** The live connections by state, as of the last change; undefined until asked again. */
  private byState: Map<TcpState, Set<Connection>> | undefined;
  private readonly serverPorts = new Map<number, number>();
  private readonly clientPeerPorts = new Map<number, number>();

  get all(): ReadonlySet<Connection> {
    return this.live;
  }

  has(c: Connection): boolean {
    return this.live.has(c);
  }

  add(c: Connection): void {
    this.live.add(c);
    this.entered(c.state);
  }

  /** Takes `c` out of every index; false when it was not live. */
  remove(c: Connection): boolean {
    if (!this.live.delete(c)) return false;
    this.left(c.state);
    if (c.filterPort !== undefined) decrement(c.side === 'server' ? this.serverPorts : this.clientPeerPorts, c.filterPort);
    if (c.local !== undefined && c.peer !== undefined) this.byTuple.delete(c as IndexedConnection);
    return true;
  }

  /** `c`, live, has moved from state `from` to its state: one call per change. */
  moved(c: Connection, from: TcpState): void {
    this.left(from);
    this.entered(c.state);
  }

  /** A live connection has entered `state` (at `add`, or by `moved`). */
  private entered(state: TcpState): void {
    const ordinal = stateOrdinal(state);
    this.stateCount[ordinal] = (this.stateCount[ordinal] ?? 0) + 1;
    this.statesEntered |= 1 << ordinal;
    this.byState = undefined;
  }

  /** A live connection has left `state` (at `remove`, or by `moved`). */
  private left(state: TcpState): void {
    const ordinal = stateOrdinal(state);
    this.stateCount[ordinal] = (this.stateCount[ordinal] ?? 0) - 1;
    this.byState = undefined;
  }

  /** `c` has its filter port now (set once). */
  filterPortSet(c: Connection & { filterPort: number }): void {
    increment(c.side === 'server' ? this.serverPorts : this.clientPeerPorts, c.filterPort);
  }

  /** `c` has its endpoints now: rows find it by 4-tuple, while it is live. */
  endpointsKnown(c: IndexedConnection): void {
    if (this.live.has(c)) this.byTuple.set(c);
  }

  byEndpoints(local: ConnectionEndpoint, peer: ConnectionEndpoint): Connection | undefined {
    return this.byTuple.get(local, peer);
  }

  connectionsIn(state: TcpState): ReadonlySet<Connection> {
    if (this.stateCount[stateOrdinal(state)] === 0) return EMPTY;
    return this.stateIndex().get(state) ?? EMPTY;
  }

  /** How many live connections are in each state one has been in, zero included; CLOSED left out. */
  stateCounts(): ReadonlyMap<TcpState, number> {
    const counts = new Map<TcpState, number>();
    for (const state of ALL_TCP_STATES) {
      const ordinal = stateOrdinal(state);
      if (state !== TcpState.Closed && (this.statesEntered & (1 << ordinal)) !== 0) counts.set(state, this.stateCount[ordinal] ?? 0);
    }
    return counts;
  }

  portsQuery(states: readonly TcpState[]): KernelQuery | undefined {
    if (this.serverPorts.size + this.clientPeerPorts.size === 0) return undefined;
    return { states, localPorts: [...this.serverPorts.keys()], peerPorts: [...this.clientPeerPorts.keys()] };
  }

  hasUnreadSockets(): boolean {
    for (const c of this.live) {
      const socket = c.socket;
      if (socket !== undefined && socket.readableFlowing !== true) return true;
    }
    return false;
  }

  clear(): void {
    this.live.clear();
    this.byTuple.clear();
    this.stateCount.fill(0);
    this.statesEntered = 0;
    this.byState = undefined;
    this.serverPorts.clear();
    this.clientPeerPorts.clear();
  }

  private stateIndex(): Map<TcpState, Set<Connection>> {
    if (this.byState !== undefined) return this.byState;
    const index = new Map<TcpState, Set<Connection>>();
    for (const c of this.live) {
      let set = index.get(c.state);
      if (set === undefined) index.set(c.state, (set = new Set()));
      set.add(c);
    }
    return (this.byState = index);
  }
}

function increment(counts: Map<number, number>, key: number): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function decrement(counts: Map<number, number>, key: number): void {
  const n = (counts.get(key) ?? 0) - 1;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}
