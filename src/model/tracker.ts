import { diag } from '@opentelemetry/api';
import { isIP } from 'node:net';
import type * as net from 'node:net';
import { now } from '../clock.js';
import { compactStack, isRawStack, type CreationStack } from '../observe/creation-stack.js';
import { normalizeAddress } from '../observe/kernel/address.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelQuery, KernelSourceName } from '../observe/kernel/source.js';
import type { SocketEvent, SocketSide, SocketSink } from '../observe/node-sockets.js';
import { TcpState, type StateSource } from '../tcp-states.js';
import type { CloseReason, Connection, ConnectionEndpoint, FinMark, StateChange } from './connection.js';
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

/** Beyond this many distinct ports a poll asks for the states only, not for each port. */
const MAX_FILTER_PORTS = 64;
/**
 * Closed connections followed in the kernel at once; each poll asks for all their port pairs.
 * A close while the list is full is not followed: under churn this samples, at no cost per connection.
 */
const MAX_AFTER_CLOSE = 64;
/** The states a socket can be in after Node closed it. */
export const AFTER_CLOSE_STATES: readonly TcpState[] = [
  TcpState.FinWait1,
  TcpState.FinWait2,
  TcpState.Closing,
  TcpState.TimeWait,
  TcpState.LastAck,
];

/** A closed connection the kernel may still hold, and what polls saw of it. */
interface AfterClose {
  readonly sightings: StateChange[];
}

/**
 * Owns every connection record: turns socket events and kernel rows into state changes,
 * all through `setState`, and keeps the indexes the poll and the detectors need.
 */
export class ConnectionTracker implements SocketSink {
  private readonly bySocket = new WeakMap<net.Socket, Connection>();
  private readonly live = new Set<Connection>();
  private readonly byTuple = new TupleIndex<IndexedConnection>();
  private readonly inState = new Map<TcpState, Set<Connection>>();
  private readonly serverPorts = new Map<number, number>();
  private readonly clientPeerPorts = new Map<number, number>();
  /** Listening endpoint per server, read once (getsockname) for all its connections. */
  private readonly listeningEndpoints = new WeakMap<object, ListeningEndpoint>();
  /** Bounded by MAX_AFTER_CLOSE. */
  private readonly afterClose = new Map<Connection, AfterClose>();
  private readonly afterCloseByTuple = new TupleIndex<IndexedConnection>();
  /** Where an unfinished `compactStacks` stopped. */
  private stackSweep: Iterator<Connection> | undefined;
  private nextId = 1;
  private stopped = false;

  constructor(
    private readonly listener: ConnectionListener,
    /** Called when a socket turns out not to be TCP (a pipe), so its observer can let go. */
    private readonly onForget: (socket: net.Socket) => void = () => {},
  ) {}

  /** Live connections currently in a state. */
  connectionsIn(state: TcpState): ReadonlySet<Connection> {
    return this.inState.get(state) ?? EMPTY;
  }

  liveConnections(): ReadonlySet<Connection> {
    return this.live;
  }

  /**
   * True when a poll of the routine states can teach something: a live connection is in
   * CLOSE_WAIT (the kernel adds its unread bytes and confirms it), or its socket is not read
   * (`readableFlowing` not true), so a FIN could sit in the kernel with no `'end'`. A flowing
   * socket emits `'end'` as soon as the FIN arrives, so the kernel has nothing to add.
   */
  hasKernelCandidates(): boolean {
    for (const c of this.live) {
      if (c.state === TcpState.CloseWait) return true;
      const socket = c.socket;
      if (socket !== undefined && socket.readableFlowing !== true) return true;
    }
    return false;
  }

  /** How many live connections are in each state. */
  stateCounts(): ReadonlyMap<TcpState, number> {
    const counts = new Map<TcpState, number>();
    for (const [state, set] of this.inState) if (set.size > 0) counts.set(state, set.size);
    return counts;
  }

  /** The kernel query that covers this process's connections in the given states. */
  queryFor(states: readonly TcpState[]): KernelQuery {
    const ports = this.serverPorts.size + this.clientPeerPorts.size;
    if (ports === 0 || ports > MAX_FILTER_PORTS) return { states };
    return { states, localPorts: [...this.serverPorts.keys()], peerPorts: [...this.clientPeerPorts.keys()] };
  }

  /** The kernel query that follows recently closed connections, or undefined when there are none. */
  afterCloseQuery(): KernelQuery | undefined {
    if (this.afterClose.size === 0) return undefined;
    const portPairs = [...this.afterClose.keys()].flatMap((c) => (c.local && c.peer ? [{ localPort: c.local.port, peerPort: c.peer.port }] : []));
    return { states: AFTER_CLOSE_STATES, portPairs };
  }

  /**
   * Applies a poll of recently closed connections. One that the poll no longer shows has
   * left the kernel: if a poll saw it before, its after-close timeline is complete.
   */
  kernelAfterCloseRows(rows: readonly KernelSocketRow[], time: number, asked: KernelQuery): void {
    if (this.stopped) return;
    const askedPairs = new Set((asked.portPairs ?? []).map((p) => `${p.localPort} ${p.peerPort}`));
    const seen = new Set<Connection>();
    for (const row of rows) {
      const c = this.afterCloseByTuple.get(row.local, row.peer);
      const entry = c === undefined ? undefined : this.afterClose.get(c);
      if (c === undefined || entry === undefined) continue;
      seen.add(c);
      // Node's view ended at 'close'; from here only the kernel's own order counts.
      const last = entry.sightings.at(-1)?.state;
      if (last === undefined || (row.state !== last && canReach(last, row.state))) {
        entry.sightings.push({ state: row.state, source: 'kernel', time });
      }
    }
    for (const [c, entry] of this.afterClose) {
      if (seen.has(c) || c.local === undefined || c.peer === undefined) continue;
      if (!askedPairs.has(`${c.local.port} ${c.peer.port}`)) continue;
      this.finishAfterClose(c, entry, time);
    }
  }

  /**
   * Trades the raw creation stacks of connections opened before `openedBefore` for their
   * shared formatted form, until `deadline` (epoch ms). Returns false when time ran out first;
   * the next call goes on where this one stopped.
   */
  compactStacks(openedBefore: number, deadline: number): boolean {
    this.stackSweep ??= this.live.values();
    let n = 0;
    for (let next = this.stackSweep.next(); !next.done; next = this.stackSweep.next()) {
      const c = next.value;
      if (c.createdAt < openedBefore && isRawStack(c.creationStack)) c.creationStack = compactStack(c.creationStack);
      // Reading the clock costs too: look every 16 connections.
      if (++n % 16 === 0 && now() > deadline) return false;
    }
    this.stackSweep = undefined;
    return true;
  }

  /** Forgets every live record; later events and rows are ignored. */
  stop(): net.Socket[] {
    this.stopped = true;
    const sockets: net.Socket[] = [];
    for (const c of this.live) if (c.socket !== undefined) sockets.push(c.socket);
    this.live.clear();
    this.byTuple.clear();
    this.inState.clear();
    this.serverPorts.clear();
    this.clientPeerPorts.clear();
    this.afterClose.clear();
    this.afterCloseByTuple.clear();
    return sockets;
  }

  isTracked(socket: net.Socket): boolean {
    return this.bySocket.has(socket);
  }

  socketOpened(socket: net.Socket, side: SocketSide, creationStack: CreationStack | undefined): boolean {
    if (this.stopped || this.bySocket.has(socket)) return false;
    // A pipe server's sockets are not TCP (its listening port, read once per server, is absent).
    const listening = side === 'server' ? this.listeningEndpoint(socket) : undefined;
    if (side === 'server' && listening === undefined) return false;
    const time = now();
    const connection: Connection = {
      id: this.nextId++,
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
      leakReported: false,
    };
    this.bySocket.set(socket, connection);
    this.live.add(connection);
    this.addToState(connection);
    if (listening !== undefined) this.setFilterPort(connection, listening.port);
    try {
      connection.recorded = this.listener.opened(connection);
    } catch (error) {
      diag.error('socklife: a listener threw', error);
    }
    if (connection.recorded && side === 'server') this.ensureEndpoints(connection);
    // A client has called connect() (its SYN is out); the kernel finished a server's handshake before accept().
    this.setState(connection, side === 'client' ? TcpState.SynSent : TcpState.Established, 'socket_event', time);
    return true;
  }

  socketEvent(socket: net.Socket, event: SocketEvent): void {
    if (this.stopped) return;
    const c = this.bySocket.get(socket);
    if (c === undefined || c.closedAt !== undefined) return;
    const time = now();
    switch (event.type) {
      case 'connect':
        // A connect() with a port is TCP; only without one (a path) is the family worth a getpeername.
        if (c.filterPort === undefined && !isInetFamily(socket.remoteFamily)) {
          this.forget(c, socket);
          return;
        }
        c.connectedAt ??= time;
        if (c.recorded) this.ensureEndpoints(c);
        this.setState(c, TcpState.Established, 'socket_event', time);
        return;
      case 'connect_called':
        if (c.target !== undefined) return;
        c.target = { host: event.host, port: event.port };
        this.setFilterPort(c, event.port);
        return;
      case 'lookup':
        c.lookup = { host: event.host, address: event.address, error: event.error, at: time };
        try {
          this.listener.lookedUp(c);
        } catch (error) {
          diag.error('socklife: a listener threw', error);
        }
        return;
      case 'timeout':
        c.timeoutAt = time;
        return;
      case 'end':
        if (c.peerFinAt !== undefined) return;
        c.peerFinAt = time;
        this.markFin(c, socket, 'peer', time);
        // The peer's FIN before ours: CLOSE_WAIT for certain (we had sent nothing). After ours,
        // no claim: the FINs may have crossed (see 'finish').
        if (c.localFinAt === undefined) this.setState(c, TcpState.CloseWait, 'socket_event', time);
        return;
      case 'finish':
        if (c.localFinAt !== undefined) return;
        c.localFinAt = time;
        this.markFin(c, socket, 'local', time);
        // Our FIN after the peer's was read: LAST_ACK for certain. Before it, the kernel is in
        // FIN_WAIT_1 or, if the peer's FIN was already there unread, LAST_ACK: events cannot
        // tell (a fast peer's FIN arrives within microseconds), so only the kernel source says.
        if (c.peerFinAt !== undefined) this.setState(c, TcpState.LastAck, 'socket_event', time);
        return;
      case 'end_called':
        c.endCalledAt ??= time;
        return;
      case 'destroy_called':
        c.destroyCalledAt ??= time;
        if (event.reset) c.resetRequested = true;
        // A handshake that fails never had 'connect'; the handle still knows its local port here.
        if (c.side === 'client' && c.connectedAt === undefined) this.learnUnconnectedEndpoints(c, socket);
        return;
      case 'close':
        this.close(c, socket, event.error, time);
        return;
    }
  }

  /**
   * Applies one poll's rows; rows of other processes find no record and are ignored. A
   * 4-tuple is unique within the network namespace `ss` runs in (this process's), so the tuple
   * alone identifies the socket.
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
      const at = this.entryTime(c, row, time);
      const changed = this.setState(c, row.state, 'kernel', at);
      // A FIN Node has not surfaced (a paused stream's, or ours still queued) is dated like the state.
      const finBy = KERNEL_FIN_DIRECTION.get(row.state);
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
      localPorts.add(row.local.port);
      peerPorts.add(row.peer.port);
    }
    for (const c of this.live) {
      if (c.local !== undefined || c.filterPort === undefined) continue;
      if (c.side === 'server' ? localPorts.has(c.filterPort) : peerPorts.has(c.filterPort)) this.ensureEndpoints(c);
    }
  }

  /**
   * Learns a live connection's endpoints (getpeername, and getsockname unless the server
   * listens on one address) and indexes it by 4-tuple.
   */
  ensureEndpoints(c: Connection): void {
    const socket = c.socket;
    if (c.local !== undefined || socket === undefined) return;
    const { remoteAddress, remotePort } = socket;
    if (remoteAddress === undefined || remotePort === undefined) return;
    const server = c.side === 'server' ? serverOf(socket) : undefined;
    const listening = server === undefined ? undefined : this.listeningEndpoints.get(server);
    if (listening?.address !== undefined) {
      c.local = { address: listening.address, port: listening.port };
    } else {
      const { localAddress, localPort } = socket;
      if (localAddress === undefined || localPort === undefined) return;
      c.local = { address: normalizeAddress(localAddress), port: localPort };
    }
    c.peer = { address: normalizeAddress(remoteAddress), port: remotePort };
    if (this.live.has(c)) this.byTuple.set(c as IndexedConnection);
  }

  private setFilterPort(c: Connection, port: number | undefined): void {
    if (port === undefined || c.filterPort !== undefined) return;
    c.filterPort = port;
    increment(c.side === 'server' ? this.serverPorts : this.clientPeerPorts, port);
  }

  /**
   * The listening endpoint of the server that accepted a socket, read once per server
   * (getsockname); undefined for a pipe server. Sockets without a server ask themselves.
   */
  private listeningEndpoint(socket: net.Socket): ListeningEndpoint | undefined {
    const server = serverOf(socket);
    const ownPort = (): ListeningEndpoint | undefined => {
      const port = isInetFamily(socket.remoteFamily) ? socket.localPort : undefined;
      return port === undefined ? undefined : { port, address: undefined };
    };
    if (server === undefined) return ownPort();
    let endpoint = this.listeningEndpoints.get(server);
    if (endpoint === undefined) {
      const address = server.address();
      // A closed server has no address any more: ask the socket instead.
      if (address === null) return ownPort();
      if (typeof address !== 'object' || typeof address.port !== 'number') return undefined;
      // Bound to one address, every accepted socket's local address is that one.
      const specific = typeof address.address === 'string' && !WILDCARDS.has(address.address);
      endpoint = { port: address.port, address: specific ? normalizeAddress(address.address as string) : undefined };
      this.listeningEndpoints.set(server, endpoint);
    }
    return endpoint;
  }

  /**
   * When a connection a poll finds in CLOSE_WAIT got there. The peer's FIN carried the last
   * ACK received, so tcp_info `lastack` dates it (any later segment only makes it later:
   * never an overstatement); without tcp_info, the poll's own time.
   */
  private entryTime(c: Connection, row: KernelSocketRow, time: number): number {
    const lastAckMs = row.tcpInfo?.lastAckMs;
    if (row.state !== TcpState.CloseWait || c.state === TcpState.CloseWait || lastAckMs === undefined) return time;
    return Math.min(time, Math.max(time - lastAckMs, c.stateSince));
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
    try {
      this.listener.stateChanged(c, { state, source, time });
    } catch (error) {
      diag.error('socklife: a listener threw', error);
    }
    return true;
  }

  private close(c: Connection, socket: net.Socket, error: Error | undefined, time: number): void {
    c.closedAt = time;
    c.error = error;
    c.bytesRead = socket.bytesRead;
    c.bytesWritten = socket.bytesWritten;
    c.closeReason = closeReasonOf(c, error);
    // Node has let go. The kernel may keep the socket (TIME_WAIT, an orphan): the after-close
    // follow-up reports what a poll sees of it.
    this.setState(c, TcpState.Closed, 'socket_event', time);
    this.removeLive(c);
    c.socket = undefined;
    let follow = false;
    try {
      follow = this.listener.closed(c);
    } catch (error) {
      diag.error('socklife: a listener threw', error);
    }
    // Only a recorded connection has a trace for the kernel's after-close story to join.
    if (follow && this.afterClose.size < MAX_AFTER_CLOSE && kernelMayHold(c)) this.followAfterClose(c);
  }

  /** Keeps a closed connection on the poll list while the kernel may still hold it. */
  private followAfterClose(c: Connection): void {
    if (c.local === undefined || c.peer === undefined) return;
    this.afterClose.set(c, { sightings: [] });
    this.afterCloseByTuple.set(c as IndexedConnection);
  }

  private finishAfterClose(c: Connection, entry: AfterClose, time: number): void {
    this.dropAfterClose(c);
    if (entry.sightings.length === 0) return;
    entry.sightings.push({ state: TcpState.Closed, source: 'kernel', time });
    try {
      this.listener.afterClose(c, entry.sightings);
    } catch (error) {
      diag.error('socklife: a listener threw', error);
    }
  }

  private dropAfterClose(c: Connection): void {
    this.afterClose.delete(c);
    this.afterCloseByTuple.delete(c as IndexedConnection);
  }

  private markFin(c: Connection, socket: net.Socket, by: 'local' | 'peer', at: number): void {
    // A direction's FIN counts once, whether the kernel or an event showed it first.
    if (c.firstFin?.by === by || c.secondFin !== undefined) return;
    const mark = { by, at, bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten };
    if (c.firstFin === undefined) c.firstFin = mark;
    else c.secondFin = mark;
    try {
      this.listener.finSeen(c, mark);
    } catch (error) {
      diag.error('socklife: a listener threw', error);
    }
  }

  private forget(c: Connection, socket: net.Socket): void {
    this.removeLive(c);
    c.socket = undefined;
    this.onForget(socket);
  }

  private removeLive(c: Connection): void {
    if (!this.live.delete(c)) return;
    this.removeFromState(c);
    if (c.filterPort !== undefined) decrement(c.side === 'server' ? this.serverPorts : this.clientPeerPorts, c.filterPort);
    if (c.local !== undefined && c.peer !== undefined) {
      this.byTuple.delete(c as IndexedConnection);
    }
  }

  /** The endpoints of a client whose handshake failed: getsockname() and the connect() target. */
  private learnUnconnectedEndpoints(c: Connection, socket: net.Socket): void {
    const target = c.target;
    const host = c.lookup?.address ?? target?.host ?? 'localhost';
    const peerAddress = isIP(host) !== 0 ? normalizeAddress(host) : undefined;
    let local: { address?: string; port?: number } = {};
    try {
      local = socket.address() as { address?: string; port?: number };
    } catch {
      // No handle any more: the local end stays unknown.
    }
    if (local.address === undefined || !local.port || peerAddress === undefined || target?.port === undefined) return;
    c.local = { address: normalizeAddress(local.address), port: local.port };
    c.peer = { address: peerAddress, port: target.port };
  }

  private addToState(c: Connection): void {
    let set = this.inState.get(c.state);
    if (set === undefined) this.inState.set(c.state, (set = new Set()));
    set.add(c);
  }

  private removeFromState(c: Connection): void {
    this.inState.get(c.state)?.delete(c);
  }
}

const EMPTY: ReadonlySet<Connection> = new Set();

/** A connection whose endpoints are known, as the 4-tuple index holds it. */
type IndexedConnection = Connection & { local: ConnectionEndpoint; peer: ConnectionEndpoint };

/** A server's listening port, and its address unless it listens on every address. */
interface ListeningEndpoint {
  readonly port: number;
  readonly address: string | undefined;
}

const WILDCARDS: ReadonlySet<string> = new Set(['0.0.0.0', '::']);

interface ServerLike {
  address(): { port?: unknown; address?: unknown } | string | null;
}

/** The server that accepted a socket, when Node recorded one. */
function serverOf(socket: net.Socket): ServerLike | undefined {
  const server = (socket as net.Socket & { server?: { address?: unknown } | null }).server;
  return server !== undefined && server !== null && typeof server.address === 'function' ? (server as ServerLike) : undefined;
}

/** Which side's FIN a kernel state proves was sent. */
const KERNEL_FIN_DIRECTION: ReadonlyMap<TcpState, 'local' | 'peer'> = new Map([
  [TcpState.CloseWait, 'peer'],
  [TcpState.FinWait1, 'local'],
  [TcpState.FinWait2, 'local'],
  [TcpState.Closing, 'local'],
]);

function isInetFamily(family: string | undefined): boolean {
  return family === 'IPv4' || family === 'IPv6';
}

/** After Node's close the kernel keeps an active closer (TIME_WAIT) and an orphaned socket that still has a FIN to send. */
function kernelMayHold(c: Connection): boolean {
  if (c.closeReason === 'reset' || c.closeReason === 'error' || (c.side === 'client' && c.connectedAt === undefined)) return false;
  const activeCloser = c.localFinAt !== undefined && (c.peerFinAt === undefined || c.localFinAt <= c.peerFinAt);
  return activeCloser || c.closeReason === 'destroyed' || c.closeReason === 'timeout';
}

function closeReasonOf(c: Connection, error: Error | undefined): CloseReason {
  if (error !== undefined) {
    const code = (error as Error & { code?: unknown }).code;
    return code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : 'error';
  }
  if (c.resetRequested) return 'reset';
  if (c.peerFinAt !== undefined && c.localFinAt !== undefined) return 'fin';
  // An idle timeout fired and the application closed the socket because of it.
  if (c.timeoutAt !== undefined && c.destroyCalledAt !== undefined && c.destroyCalledAt >= c.timeoutAt) return 'timeout';
  return 'destroyed';
}

function increment(counts: Map<number, number>, key: number): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function decrement(counts: Map<number, number>, key: number): void {
  const n = (counts.get(key) ?? 0) - 1;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}
