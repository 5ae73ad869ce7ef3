import { diag } from '@opentelemetry/api';
import { now as systemClock } from '../clock.js';
import type { CreationStack } from '../observe/creation-stack.js';
import { EndpointReader, isInetFamily } from '../observe/endpoints.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelQuery, KernelSourceName } from '../observe/kernel/source.js';
import type { SocketEvent, SocketSide, SocketSink } from '../observe/node-sockets.js';
import { TcpState, type StateSource } from '../tcp-states.js';
import { AfterCloseFollower } from './after-close.js';
import type { Connection, ConnectionEndpoint, FinMark, StateChange } from './connection.js';
import { closeReasonOf, finProvedByKernelState, kernelEntryTime, kernelMayHoldAfterClose, stateAfterLocalFin, stateAfterPeerFin } from './inference.js';
import { sayOnce } from './notify.js';
import type { ServerView, SocketView } from './socket-view.js';
import { canReach } from './transitions.js';
import { TupleIndex } from './tuple-index.js';

/** Who wants to know when connections open, change state and close (reporters). */
export interface ConnectionListener {
  /** Returns true when it records this connection (and so needs its endpoints at once). */
  opened(connection: Connection): boolean;
  /**
   * The kernel kept a closed connection for a while (TIME_WAIT, an orphaned FIN_WAIT) and a
   * poll saw it; `sightings` are the states it showed, oldest first, the last one `closed`.
   */
  afterClose(connection: Connection, sightings: readonly StateChange[]): void;
  /** A FIN went one way or the other (`connection.firstFin`, then `secondFin`). */
  finSeen(connection: Connection, fin: FinMark): void;
  /** A client resolved its host name (`connection.lookup`). */
  lookedUp(connection: Connection): void;
  stateChanged(connection: Connection, change: StateChange): void;
  /** Returns true when it wants to hear what the kernel does with the socket after close. */
  closed(connection: Connection): boolean;
}

/** What detectors read of the model: live connections, by state, with endpoints on demand. */
export interface ConnectionModel {
  /** Live connections currently in a state. */
  connectionsIn(state: TcpState): ReadonlySet<Connection>;
  liveConnections(): ReadonlySet<Connection>;
  /**
   * A live connection's endpoints: a question, answered lazily (the model learns them with two
   * system calls, once, and keeps them on its record). Undefined when they cannot be known.
   */
  endpointsOf(c: Connection): { readonly local: ConnectionEndpoint; readonly peer: ConnectionEndpoint } | undefined;
  /** The kernel query for this process's connections in `states`: its servers' ports and its clients' target ports. */
  portsQuery(states: readonly TcpState[]): KernelQuery | undefined;
  /**
   * True when a socket is not read (`readableFlowing` not true), so a FIN could sit in the
   * kernel with no `'end'`; a flowing socket emits `'end'` as soon as the FIN arrives.
   */
  hasUnreadSockets(): boolean;
}

/**
 * Owns every connection record: turns socket events and kernel rows into state changes,
 * all through `setState`, and keeps the indexes the poll and the detectors need.
 */
export class ConnectionTracker implements SocketSink, ConnectionModel {
  /**
   * Where a socket's record is kept: a property of the socket under this tracker's own
   * symbol, not a WeakMap entry. Setting a WeakMap entry whose key is a new socket takes
   * V8's ephemeron write barrier slow path and makes the socket an identity hash, on every
   * connection.
   */
  private readonly recordKey: symbol = Symbol('socklife.connection');
  private readonly live = new Set<Connection>();
  private readonly byTuple = new TupleIndex<IndexedConnection>();
  /**
   * Live connections per state, counted on every change; the sets themselves are built only
   * when a detector asks (once per poll at most), so a state change costs two counter updates
   * rather than two hash-set operations.
   */
  private readonly stateCount: Partial<Record<TcpState, number>> = {};
  /** The live connections by state, as of the last change; undefined until asked again. */
  private byState: Map<TcpState, Set<Connection>> | undefined;
  private readonly serverPorts = new Map<number, number>();
  private readonly clientPeerPorts = new Map<number, number>();
  private readonly endpoints = new EndpointReader();
  /** Closed connections the kernel may still hold. */
  readonly afterClose: AfterCloseFollower;
  private nextId = 1;
  private stopped = false;

  constructor(
    private readonly listener: ConnectionListener,
    /** Epoch milliseconds; a test gives its own clock to make races deterministic. */
    private readonly now: () => number = systemClock,
  ) {
    this.afterClose = new AfterCloseFollower((c, sightings) => listener.afterClose(c, sightings));
  }

  connectionsIn(state: TcpState): ReadonlySet<Connection> {
    if ((this.stateCount[state] ?? 0) === 0) return EMPTY;
    return this.stateIndex().get(state) ?? EMPTY;
  }

  liveConnections(): ReadonlySet<Connection> {
    return this.live;
  }

  hasUnreadSockets(): boolean {
    for (const c of this.live) {
      const socket = c.socket;
      if (socket !== undefined && socket.readableFlowing !== true) return true;
    }
    return false;
  }

  /**
   * How many live connections are in each state a connection has been in, zero included: a
   * metrics backend keeps the last value of a series that stops being observed, so a state
   * its connections all left must say 0 rather than fall silent.
   */
  stateCounts(): ReadonlyMap<TcpState, number> {
    const counts = new Map<TcpState, number>();
    for (const [state, count] of Object.entries(this.stateCount) as [TcpState, number][]) if (state !== TcpState.Closed) counts.set(state, count);
    return counts;
  }

  portsQuery(states: readonly TcpState[]): KernelQuery | undefined {
    if (this.serverPorts.size + this.clientPeerPorts.size === 0) return undefined;
    return { states, localPorts: [...this.serverPorts.keys()], peerPorts: [...this.clientPeerPorts.keys()] };
  }

  /** Forgets every live record; later events and rows are ignored. Returns the sockets it followed. */
  stop(): SocketView[] {
    this.stopped = true;
    const sockets: SocketView[] = [];
    for (const c of this.live) {
      if (c.socket === undefined) continue;
      sockets.push(c.socket);
      // Let go of the record: set, not deleted (a delete would turn every such socket into a slow dictionary object).
      (c.socket as RecordHolder)[this.recordKey] = undefined;
    }
    this.live.clear();
    this.byTuple.clear();
    for (const state of Object.keys(this.stateCount) as TcpState[]) delete this.stateCount[state];
    this.byState = undefined;
    this.serverPorts.clear();
    this.clientPeerPorts.clear();
    this.afterClose.clear();
    return sockets;
  }

  /** A server started listening (again): the sockets it accepts from now on are on its new endpoint. */
  serverListening(server: ServerView): void {
    this.endpoints.serverListening(server);
  }

  private recordOf(socket: SocketView): Connection | undefined {
    return (socket as RecordHolder)[this.recordKey];
  }

  isTracked(socket: SocketView): boolean {
    return this.recordOf(socket) !== undefined;
  }

  socketOpened(socket: SocketView, side: SocketSide, creationStack: CreationStack | undefined): boolean {
    if (this.stopped || this.recordOf(socket) !== undefined) return false;
    // A pipe server's sockets are not TCP (its listening port, read once per server, is absent).
    const listening = side === 'server' ? this.endpoints.listeningEndpoint(socket) : undefined;
    if (side === 'server' && listening === undefined) return false;
    const time = this.now();
    const connection = newConnection(this.nextId++, side, time, creationStack, socket);
    (socket as RecordHolder)[this.recordKey] = connection;
    this.live.add(connection);
    this.addToState(connection);
    if (listening !== undefined) this.setFilterPort(connection, listening.port);
    try {
      connection.recorded = this.listener.opened(connection);
    } catch (error) {
      listenerThrew(error);
    }
    if (connection.recorded && side === 'server') this.ensureEndpoints(connection);
    // A client has called connect() (its SYN is out); the kernel finished a server's handshake before accept().
    this.setState(connection, side === 'client' ? TcpState.SynSent : TcpState.Established, 'socket_event', time);
    return true;
  }

  socketEvent(socket: SocketView, event: SocketEvent): boolean {
    if (this.stopped) return false;
    const c = this.recordOf(socket);
    if (c === undefined) return false;
    // Closed, or forgotten (not TCP): its socket is no longer followed.
    if (c.socket === undefined) return true;
    const time = this.now();
    switch (event.type) {
      case 'connect':
        // A connect() with a port is TCP; only without one (a path) is the family worth a getpeername.
        if (c.filterPort === undefined && !isInetFamily(socket.remoteFamily)) {
          this.forget(c);
          return true;
        }
        c.connectedAt ??= time;
        if (c.recorded) this.ensureEndpoints(c);
        this.setState(c, TcpState.Established, 'socket_event', time);
        return true;
      case 'connect_called':
        if (c.target !== undefined) return true;
        c.target = { host: event.host, port: event.port };
        this.setFilterPort(c, event.port);
        return true;
      case 'lookup':
        c.lookup = { host: event.host, address: event.address, error: event.error, at: time };
        try {
          this.listener.lookedUp(c);
        } catch (error) {
          listenerThrew(error);
        }
        return true;
      case 'timeout':
        c.timeoutAt = time;
        return true;
      case 'end': {
        if (c.peerFinAt !== undefined) return true;
        const proved = stateAfterPeerFin(c);
        c.peerFinAt = time;
        this.markFin(c, socket, 'peer', time);
        if (proved !== undefined) this.setState(c, proved, 'socket_event', time);
        return true;
      }
      case 'finish': {
        if (c.localFinAt !== undefined) return true;
        c.localFinAt = time;
        this.markFin(c, socket, 'local', time);
        const proved = stateAfterLocalFin(c);
        if (proved !== undefined) this.setState(c, proved, 'socket_event', time);
        return true;
      }
      case 'end_called':
        c.endCalledAt ??= time;
        return true;
      case 'destroy_called':
        c.destroyCalledAt ??= time;
        if (event.reset) c.resetRequested = true;
        // A handshake that fails never had 'connect'; the handle still knows its local port here.
        if (c.side === 'client' && c.connectedAt === undefined && c.local === undefined) {
          const known = this.endpoints.unconnected(socket, c.lookup?.address ?? c.target?.host ?? 'localhost', c.target?.port);
          if (known !== undefined) {
            c.local = known.local;
            c.peer = known.peer;
          }
        }
        return true;
      case 'close':
        this.close(c, socket, event.error, time);
        return true;
    }
  }

  /**
   * Applies one poll's rows; rows of other processes find no record and are ignored here
   * (detectors that asked for them read them). A 4-tuple is unique within the network
   * namespace the source reads (this process's), so the tuple alone identifies the socket.
   */
  kernelRows(rows: readonly KernelSocketRow[], source: KernelSourceName, time: number): void {
    if (this.stopped) return;
    if (rows.length > 0) this.indexCandidates(rows);
    const seenInCloseWait = new Set<Connection>();
    for (const row of rows) {
      const c = this.byTuple.get(row.local, row.peer);
      if (c === undefined) continue;
      c.kernel = { source, row, seenAt: time };
      if (row.state === TcpState.CloseWait) seenInCloseWait.add(c);
      if (row.state === TcpState.Closing) c.sawClosing = true;
      if (row.state === c.state) continue;
      const at = kernelEntryTime(c, row, time);
      const changed = this.setState(c, row.state, 'kernel', at);
      // A FIN Node has not surfaced (a paused stream's, or ours still queued) is dated like the state.
      const finBy = finProvedByKernelState(row.state);
      if (changed && finBy !== undefined && c.socket !== undefined) this.markFin(c, c.socket, finBy, at);
    }
    for (const c of this.connectionsIn(TcpState.CloseWait)) {
      c.kernelCloseWaitPolls = seenInCloseWait.has(c) ? c.kernelCloseWaitPolls + 1 : 0;
    }
  }

  /**
   * Learns the endpoints of the live connections a poll's rows may belong to (same listening
   * or target port), so that matching costs system calls only when the kernel shows something.
   */
  private indexCandidates(rows: readonly KernelSocketRow[]): void {
    const localPorts = new Set<number>();
    const peerPorts = new Set<number>();
    for (const row of rows) {
      // A listening socket or a handshake not yet accepted is no connection of this process.
      if (row.state === TcpState.Listen || row.state === TcpState.SynReceived) continue;
      localPorts.add(row.local.port);
      peerPorts.add(row.peer.port);
    }
    for (const c of this.live) {
      if (c.local !== undefined || c.filterPort === undefined) continue;
      if (c.side === 'server' ? localPorts.has(c.filterPort) : peerPorts.has(c.filterPort)) this.ensureEndpoints(c);
    }
  }

  endpointsOf(c: Connection): { readonly local: ConnectionEndpoint; readonly peer: ConnectionEndpoint } | undefined {
    this.ensureEndpoints(c);
    return c.local === undefined || c.peer === undefined ? undefined : { local: c.local, peer: c.peer };
  }

  private ensureEndpoints(c: Connection): void {
    const socket = c.socket;
    if (c.local !== undefined || socket === undefined) return;
    const known = this.endpoints.connected(socket, c.side, c.side === 'server' ? c.filterPort : undefined);
    if (known === undefined) return;
    c.local = known.local;
    c.peer = known.peer;
    if (this.live.has(c)) this.byTuple.set(c as IndexedConnection);
  }

  private setFilterPort(c: Connection, port: number | undefined): void {
    if (port === undefined || c.filterPort !== undefined) return;
    c.filterPort = port;
    increment(c.side === 'server' ? this.serverPorts : this.clientPeerPorts, port);
  }

  /**
   * The one place a state changes. A move the table does not allow (a stale row after a
   * newer event) is logged and dropped.
   */
  setState(c: Connection, state: TcpState, source: StateSource, time: number): boolean {
    if (c.state === state) return false;
    if (!canReach(c.state, state)) {
      diag.debug(`socklife: connection ${c.id}: ${source} says ${state} after ${c.state}; ignored`);
      return false;
    }
    const live = this.live.has(c);
    if (live) this.removeFromState(c);
    c.state = state;
    c.stateSource = source;
    c.stateSince = time;
    if (live) this.addToState(c);
    if (state === TcpState.Closing) c.sawClosing = true;
    // try/catch in place of guarded(): no closure made per state change.
    try {
      this.listener.stateChanged(c, { state, source, time });
    } catch (error) {
      listenerThrew(error);
    }
    return true;
  }

  private close(c: Connection, socket: SocketView, error: Error | undefined, time: number): void {
    c.closedAt = time;
    c.error = error;
    c.bytesRead = socket.bytesRead;
    c.bytesWritten = socket.bytesWritten;
    c.closeReason = closeReasonOf(c, error);
    // Out of the live indexes first: CLOSED is then not added to a state set only to leave it.
    this.removeLive(c);
    // Node has let go. The kernel may keep the socket (TIME_WAIT, an orphan): the after-close
    // follow-up reports what a poll sees of it.
    this.setState(c, TcpState.Closed, 'socket_event', time);
    c.socket = undefined;
    let follow = false;
    try {
      follow = this.listener.closed(c);
    } catch (error) {
      listenerThrew(error);
    }
    // Only a recorded connection has a trace for the kernel's after-close story to join.
    if (follow && kernelMayHoldAfterClose(c)) this.afterClose.follow(c);
  }

  private markFin(c: Connection, socket: SocketView, by: 'local' | 'peer', at: number): void {
    // A direction's FIN counts once, whether the kernel or an event showed it first.
    if (c.firstFin?.by === by || c.secondFin !== undefined) return;
    const mark = { by, at, bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten };
    if (c.firstFin === undefined) c.firstFin = mark;
    else c.secondFin = mark;
    try {
      this.listener.finSeen(c, mark);
    } catch (error) {
      listenerThrew(error);
    }
  }

  /** A socket that turned out not to be TCP: its record stays on it, closed, so it is not adopted again. */
  private forget(c: Connection): void {
    this.removeLive(c);
    c.socket = undefined;
  }

  private removeLive(c: Connection): void {
    if (!this.live.delete(c)) return;
    this.removeFromState(c);
    if (c.filterPort !== undefined) decrement(c.side === 'server' ? this.serverPorts : this.clientPeerPorts, c.filterPort);
    if (c.local !== undefined && c.peer !== undefined) this.byTuple.delete(c as IndexedConnection);
  }

  private addToState(c: Connection): void {
    this.stateCount[c.state] = (this.stateCount[c.state] ?? 0) + 1;
    this.byState = undefined;
  }

  private removeFromState(c: Connection): void {
    this.stateCount[c.state] = (this.stateCount[c.state] ?? 1) - 1;
    this.byState = undefined;
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

const EMPTY: ReadonlySet<Connection> = new Set();

/** A socket as the tracker sees its own property on it. */
type RecordHolder = SocketView & { [key: symbol]: Connection | undefined };

/** What `guarded()` does, for the per-event paths that call the listener without a closure. */
function listenerThrew(error: unknown): void {
  sayOnce('a connection listener', error);
}

/** A connection whose endpoints are known, as the 4-tuple index holds it. */
type IndexedConnection = Connection & { local: ConnectionEndpoint; peer: ConnectionEndpoint };

function newConnection(id: number, side: SocketSide, time: number, creationStack: CreationStack | undefined, socket: SocketView): Connection {
  return {
    id,
    side,
    createdAt: time,
    creationStack,
    socket,
    state: TcpState.Closed,
    stateSource: 'socket_event',
    stateSince: time,
    sawClosing: false,
    local: undefined,
    peer: undefined,
    filterPort: undefined,
    recorded: false,
    report: undefined,
    target: undefined,
    lookup: undefined,
    connectedAt: undefined,
    timeoutAt: undefined,
    firstFin: undefined,
    secondFin: undefined,
    peerFinAt: undefined,
    localFinAt: undefined,
    endCalledAt: undefined,
    destroyCalledAt: undefined,
    resetRequested: false,
    closedAt: undefined,
    closeReason: undefined,
    error: undefined,
    bytesRead: 0,
    bytesWritten: 0,
    kernel: undefined,
    kernelCloseWaitPolls: 0,
  };
}

function increment(counts: Map<number, number>, key: number): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function decrement(counts: Map<number, number>, key: number): void {
  const n = (counts.get(key) ?? 0) - 1;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}
