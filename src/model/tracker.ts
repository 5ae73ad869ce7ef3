import { diag } from '@opentelemetry/api';
import { now as systemClock } from '../clock.js';
import { sayOnce } from '../notify.js';
import type { CreationStack } from '../observe/creation-stack.js';
import { isInetFamily } from '../observe/endpoints.js';
import { idleReadEnd } from '../observe/idle-read.js';
import type { StackSiteCloses } from './stack-site-closes.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelQuery, KernelSourceName } from '../observe/kernel/source.js';
import type { SpanContext } from '@opentelemetry/api';
import type { RequestSink, RouteSource } from '../observe/http-requests.js';
import type { SocketEvent, SocketSide, SocketSink } from '../observe/socket-events.js';
import { requestHandlerNames, type ServerView, type SocketView } from '../observe/socket-view.js';
import { TcpState, type StateSource } from '../tcp-states.js';
import { AfterCloseFollower } from './after-close.js';
import { newConnection, openingState, type Connection, type ConnectionEndpoint, type StateChange } from './connection.js';
import type { ConnectionModel } from './connection-model.js';
import { EndpointLearning } from './endpoint-learning.js';
import { httpClientCloseReason, peerIdleCloseMs, requestFinished, requestStarted } from './http-activity.js';
import { PoolDestinations, type PoolDestination } from './pool-destinations.js';
import { ServerIdleCloses, type ServerIdlePeer } from './server-idle-closes.js';
import { KeepAliveRaces, lostKeepAliveRace, type KeepAliveRace, type KeepAliveRaceKind } from './keepalive-races.js';
import { closeReasonOf, kernelMayHoldAfterClose, stateAfterLocalFin, stateAfterPeerFin } from './inference.js';
import { KernelRowApplier } from './kernel-rows.js';
import type { ConnectionListener } from './listener.js';
import { LiveConnections } from './live-index.js';
import { RECORD_NOTHING, type RecordingPolicy } from './recording-policy.js';
import { canReach } from './transitions.js';

export type { ConnectionListener } from './listener.js';
export type { ConnectionModel } from './connection-model.js';

/**
 * Owns every connection record: turns socket events into state changes, all through
 * `setState`, and tells its listener. Kernel rows, endpoints, indexes and the after-close
 * follow-up are parts it owns (one module each); only they and it write a record.
 */
export class ConnectionTracker implements SocketSink, RequestSink, ConnectionModel {
  /**
   * Where a socket's record is kept: a property of the socket under this tracker's own
   * symbol, not a WeakMap entry. Setting a WeakMap entry whose key is a new socket takes
   * V8's ephemeron write barrier slow path and makes the socket an identity hash, on every
   * connection.
   */
  private readonly recordKey: symbol = Symbol('socklife.connection');
  private readonly index = new LiveConnections();
  private readonly endpoints = new EndpointLearning(this.index);
  private readonly rows: KernelRowApplier;
  /** Closed connections the kernel may still hold. */
  private readonly afterClose: AfterCloseFollower;
  /** What the last `kernelNeed()` asked for the after-close follow-up, until its rows come. */
  private afterCloseAsked: KernelQuery | undefined;
  /** Keep-alive races seen on reused client connections, for the detector to read. */
  private readonly races = new KeepAliveRaces();
  /** What client pools showed of their destinations: idle closes by the peer, reuse. */
  private readonly pools = new PoolDestinations();
  /** Idle keep-alive connections this process's servers closed, and the peers that came right back. */
  private readonly serverIdle = new ServerIdleCloses();
  private nextId = 1;
  private stopped = false;

  constructor(
    private readonly listener: ConnectionListener,
    /** Epoch milliseconds; a test gives its own clock to make races deterministic. */
    private readonly now: () => number = systemClock,
    /** What to record of each connection beyond its states (the engine builds it from the span policy). */
    private readonly policy: RecordingPolicy = RECORD_NOTHING,
    /** Where the closes of each sampled destination are counted, for the sampling of creation stacks. */
    private readonly siteCloses: StackSiteCloses | undefined = undefined,
  ) {
    this.afterClose = new AfterCloseFollower((c, sightings) => listener.afterClose(c, sightings));
    this.rows = new KernelRowApplier(this.index, this.endpoints, {
      setState: (c, state, source, time) => this.setState(c, state, source, time),
      markFin: (c, socket, by, at) => this.markFin(c, socket, by, at),
    });
  }

  connectionsIn(state: TcpState): ReadonlySet<Connection> {
    return this.index.connectionsIn(state);
  }

  liveConnections(): ReadonlySet<Connection> {
    return this.index.all;
  }

  hasUnreadSockets(): boolean {
    return this.index.hasUnreadSockets();
  }

  /**
   * How many live connections are in each state a connection has been in, zero included: a
   * metrics backend keeps the last value of a series that stops being observed, so a state
   * its connections all left must say 0 rather than fall silent.
   */
  stateCounts(): ReadonlyMap<TcpState, number> {
    return this.index.stateCounts();
  }

  portsQuery(states: readonly TcpState[]): KernelQuery | undefined {
    return this.index.portsQuery(states);
  }

  endpointsOf(c: Connection): { readonly local: ConnectionEndpoint; readonly peer: ConnectionEndpoint } | undefined {
    this.endpoints.learn(c);
    return c.local === undefined || c.peer === undefined ? undefined : { local: c.local, peer: c.peer };
  }

  requestHandlerOf(c: Connection): string | undefined {
    const h = c.http;
    if (h === undefined || c.side !== 'server') return undefined;
    if (h.handler === undefined && c.socket !== undefined) h.handler = requestHandlerNames(c.socket);
    return h.handler;
  }

  /** How many closed connections the model follows in the kernel. */
  get followedAfterClose(): number {
    return this.afterClose.size;
  }

  /**
   * What the next poll must ask the kernel for on the model's own account (the closed
   * connections it follows), or undefined; the rows come back through `kernelRows`.
   */
  kernelNeed(): KernelQuery | undefined {
    if (this.stopped) return undefined;
    return (this.afterCloseAsked = this.afterClose.need());
  }

  /** Applies one poll's rows: to the live connections, and to the closed ones the last `kernelNeed()` asked for. */
  kernelRows(rows: readonly KernelSocketRow[], source: KernelSourceName, time: number): void {
    if (this.stopped) return;
    this.rows.apply(rows, source, time);
    const asked = this.afterCloseAsked;
    this.afterCloseAsked = undefined;
    if (asked !== undefined) this.afterClose.apply(rows, time, asked);
  }

  /** Forgets every live record; later events and rows are ignored. Returns the sockets it followed. */
  stop(): SocketView[] {
    this.stopped = true;
    const sockets: SocketView[] = [];
    for (const c of this.index.all) {
      if (c.socket === undefined) continue;
      sockets.push(c.socket);
      // Let go of the record: set, not deleted (a delete would turn every such socket into a slow dictionary object).
      (c.socket as RecordHolder)[this.recordKey] = undefined;
    }
    this.index.clear();
    this.races.clear();
    this.pools.clear();
    this.serverIdle.clear();
    this.afterClose.clear();
    this.afterCloseAsked = undefined;
    return sockets;
  }

  /** A server started listening (again): the sockets it accepts from now on are on its new endpoint. */
  serverListening(server: ServerView): void {
    this.endpoints.serverListening(server);
  }

  private recordOf(socket: SocketView): Connection | undefined {
    return (socket as RecordHolder)[this.recordKey];
  }

  /** True when the socket is followed. */
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
    this.index.add(connection);
    if (listening !== undefined) this.setFilterPort(connection, listening.port);
    try {
      connection.recorded = this.policy.record(connection);
    } catch (error) {
      sayOnce('the recording policy', error);
    }
    if (connection.recorded && side === 'server') this.endpoints.learn(connection);
    // Only while one of its idle closes waits for the peer to come back does an accept need the peer.
    if (side === 'server' && this.serverIdle.waiting) {
      this.endpoints.learn(connection);
      this.serverIdle.accepted(connection, time);
    }
    try {
      this.listener.opened(connection);
    } catch (error) {
      listenerThrew(error);
    }
    this.setState(connection, openingState(side), 'socket_event', time);
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
        if (c.recorded) this.endpoints.learn(c);
        this.setState(c, TcpState.Established, 'socket_event', time);
        return true;
      case 'connect_called':
        if (c.target !== undefined) return true;
        c.target = { host: event.host, port: event.port };
        if (event.site !== undefined) {
          c.stackSite = event.site;
          c.creationStack ??= event.stack;
        }
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
        // A server's idle keep-alive connection timing out: its peer, while the socket can say it.
        if (c.side === 'server' && c.http !== undefined && !c.http.inFlight) this.endpoints.learn(c);
        return true;
      case 'end':
        if (c.peerFinAt === undefined) this.peerFinRead(c, socket, time);
        return true;
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
        // Node 24's http.Agent destroys an idle pooled socket from inside a read, before any
        // 'end': the peer's FIN when that read returned end of stream (asked only then).
        if (c.http?.pooled === true && c.peerFinAt === undefined && c.destroyCalledAt === undefined && idleReadEnd(socket, c.http.pooledBytesRead) === 'fin') {
          this.peerFinRead(c, socket, time);
        }
        c.destroyCalledAt ??= time;
        if (event.reset) c.resetRequested = true;
        this.endpoints.learnUnconnected(c, socket);
        return true;
      case 'close':
        this.close(c, socket, event.error, time);
        return true;
    }
  }

  /** The peer's FIN was read (`'end'`, or the read that destroyed an idle pooled socket returned it). */
  private peerFinRead(c: Connection, socket: SocketView, time: number): void {
    const proved = stateAfterPeerFin(c);
    c.peerFinAt = time;
    if (c.http !== undefined) this.peerFinOnHttp(c, time);
    this.markFin(c, socket, 'peer', time);
    if (proved !== undefined) this.setState(c, proved, 'socket_event', time);
  }

  /** A request began on a followed socket: a few field writes on the connection's HTTP sub-record. */
  requestStarted(socket: SocketView, _side: SocketSide, method: string, target: string, span: SpanContext | undefined, route: RouteSource | undefined): void {
    if (this.stopped) return;
    const c = this.recordOf(socket);
    if (c === undefined || c.socket === undefined) return;
    const time = this.now();
    const h = requestStarted(c, method, target, span, route, time);
    if (h.reusedAfterPeerFinAt !== undefined && c.side === 'client') this.raceSeen('written_after_fin', c, time);
  }

  requestFinished(socket: SocketView, failed: boolean): void {
    const h = this.recordOf(socket)?.http;
    if (h !== undefined && !this.stopped) requestFinished(h, failed, this.now());
  }

  requestFailed(socket: SocketView, error: unknown): void {
    const c = this.recordOf(socket);
    const h = c?.http;
    if (c === undefined || h === undefined || this.stopped || !h.inFlight) return;
    const time = this.now();
    if (lostKeepAliveRace(c, error)) this.raceSeen('failed_on_reuse', c, time, error);
    requestFinished(h, true, time);
  }

  /** A race on a client connection: kept for the detector, with the endpoints read while the socket can say them. */
  private raceSeen(kind: KeepAliveRaceKind, c: Connection, time: number, error?: unknown): void {
    this.endpoints.learn(c);
    if (c.http !== undefined) c.http.raced = true;
    this.races.add(kind, c, time, error);
  }

  keepAliveRacesSince(seq: number): readonly KeepAliveRace[] {
    return this.races.since(seq);
  }

  /** The peer's FIN on a connection that carried requests: an idle pooled client connection's is a sample of the server's idle timeout. */
  private peerFinOnHttp(c: Connection, time: number): void {
    const idle = peerIdleCloseMs(c, time);
    if (idle === undefined) return;
    // The endpoints while the socket can still say them: at the FIN, not per request.
    this.endpoints.learn(c);
    this.pools.peerClosedIdle(c, idle, time);
  }

  serverIdlePeers(): Iterable<ServerIdlePeer> {
    return this.serverIdle.all();
  }

  poolDestinations(): Iterable<PoolDestination> {
    return this.pools.all();
  }

  poolDestination(address: string, port: number): PoolDestination | undefined {
    return this.pools.get(address, port);
  }

  requestSpan(socket: SocketView, span: SpanContext, route: RouteSource | undefined): void {
    const h = this.recordOf(socket)?.http;
    if (h === undefined || !h.inFlight || h.spanContext !== undefined) return;
    h.spanContext = span;
    h.routeSource = route;
  }

  socketPooled(socket: SocketView, poolIdleTimeoutMs: number | undefined, keepAliveHeader: string | undefined): void {
    const h = this.recordOf(socket)?.http;
    if (h === undefined || this.stopped) return;
    h.poolIdleTimeoutMs = poolIdleTimeoutMs;
    h.keepAliveHeader = keepAliveHeader;
    h.agentPool = true;
    h.poolTimeoutRead = true;
    h.pooled = true;
    h.pooledBytesRead = socket.bytesRead;
    requestFinished(h, false, this.now());
  }

  poolIdleTimeout(socket: SocketView, poolIdleTimeoutMs: number): void {
    const h = this.recordOf(socket)?.http;
    if (h === undefined || this.stopped) return;
    h.poolIdleTimeoutMs = poolIdleTimeoutMs;
    h.poolTimeoutRead = true;
  }

  private setFilterPort(c: Connection, port: number | undefined): void {
    if (port === undefined || c.filterPort !== undefined) return;
    c.filterPort = port;
    this.index.filterPortSet(c as Connection & { filterPort: number });
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
    const from = c.state;
    c.state = state;
    c.stateSource = source;
    c.stateSince = time;
    if (this.index.has(c)) this.index.moved(c, from);
    if (state === TcpState.Closing) c.sawClosing = true;
    // try/catch in place of guarded(): no closure made per state change.
    try {
      this.listener.stateChanged(c);
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
    const h = c.http;
    if (h !== undefined) {
      const idleServerClose = serverIdleClose(c);
      if (h.inFlight && lostKeepAliveRace(c, error)) this.raceSeen('failed_on_reuse', c, time, error);
      h.closeReason = httpClientCloseReason(c, error);
      // A request still in flight when its connection closed never got its end: it failed.
      requestFinished(h, true, time);
      if (c.side === 'client') this.pools.connectionClosed(c);
      else if (idleServerClose !== undefined) this.serverIdle.closedIdle(c, idleServerClose, keepAliveTimeoutOf(socket), time);
    }
    // Out of the live indexes first: CLOSED is then not added to a state set only to leave it.
    this.index.remove(c);
    // Node has let go. The kernel may keep the socket (TIME_WAIT, an orphan): the after-close
    // follow-up reports what a poll sees of it.
    this.setState(c, TcpState.Closed, 'socket_event', time);
    c.socket = undefined;
    // The sampling of creation stacks counts its destination's closes.
    if (c.stackSite !== undefined) this.siteCloses?.closed(c.stackSite);
    if (c.recorded && kernelMayHoldAfterClose(c) && this.followsAfterClose(c)) c.followedAfterClose = this.afterClose.follow(c);
    try {
      this.listener.closed(c);
    } catch (error) {
      listenerThrew(error);
    }
  }

  private followsAfterClose(c: Connection): boolean {
    try {
      return this.policy.followAfterClose(c);
    } catch (error) {
      sayOnce('the recording policy', error);
      return false;
    }
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
    this.index.remove(c);
    c.socket = undefined;
  }
}

/**
 * When a server connection that carried requests went idle, if this server closed it for
 * that (its idle timeout fired after the last response, with nothing in flight and before the
 * peer's FIN); undefined otherwise.
 */
function serverIdleClose(c: Connection): number | undefined {
  const h = c.http;
  if (c.side !== 'server' || h === undefined || h.inFlight || h.idleSince === undefined || c.timeoutAt === undefined) return undefined;
  if (c.timeoutAt < h.idleSince || c.peerFinAt !== undefined || c.firstFin?.by === 'peer') return undefined;
  return h.idleSince;
}

/** The `keepAliveTimeout` (ms) of an accepted socket's HTTP server, when it has one. */
function keepAliveTimeoutOf(socket: SocketView): number | undefined {
  const timeout = (socket as { server?: { keepAliveTimeout?: unknown } | null }).server?.keepAliveTimeout;
  return typeof timeout === 'number' && timeout > 0 ? timeout : undefined;
}

/** A socket as the tracker sees its own property on it. */
type RecordHolder = SocketView & { [key: symbol]: Connection | undefined };

/** What `guarded()` does, for the per-event paths that call the listener without a closure. */
function listenerThrew(error: unknown): void {
  sayOnce('a connection listener', error);
}

export type { StateChange };
