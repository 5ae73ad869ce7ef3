import * as dc from 'node:diagnostics_channel';
import * as net from 'node:net';
import { sayOnce } from '../notify.js';
import { STACK_SAMPLING } from '../thresholds.js';
import { captureCreationStack, type CreationStack } from './creation-stack.js';
import { PrototypeWrappers, type PatchedMethod, type SocketMethod, type SocketPrototype } from './prototype-wrappers.js';
import { ServerListening } from './server-listening.js';
import { StackSampler, type StackSamplingPolicy, type StackSiteHistory } from './stack-sampling.js';
import {
  connectTarget,
  DESTROY_CALLED,
  END_CALLED,
  eventOf,
  RESET_CALLED,
  type ListenSink,
  type ObservedEvent,
  type SocketEvent,
  type SocketSide,
  type SocketSink,
} from './socket-events.js';

export type { ListenSink, SocketEvent, SocketSide, SocketSink } from './socket-events.js';

export interface NodeSocketObserverOptions {
  /** Capture the stack that created each socket: a client's sampled per destination (`StackSampler`). */
  readonly captureStacks: boolean;
  /** Which destinations had findings, for the sampling of client stacks (none known when absent). */
  readonly stackSampling?: StackSamplingPolicy;
  /** How many of each destination's connections closed, for the same sampling (none known when absent). */
  readonly stackHistory?: StackSiteHistory;
  /** Subscribe to every socket of the process (diagnostics_channel); off: only `observeServer`. */
  readonly autoInstrument: boolean;
}

interface Subscription {
  readonly name: string;
  readonly unsubscribe: () => void;
}

/**
 * Observes Node's TCP sockets: the diagnostics channels `net.client.socket` and
 * `net.server.socket` for every socket, `observeServer()` for one server, socket events,
 * and the `end()`/`destroy()` calls. Events are seen through one wrapper of
 * `net.Socket.prototype.emit`, before any listener runs, rather than through listeners added
 * to each socket: four to six `prependListener` calls per connection turned each event's
 * single listener into an array that `emit` copies on every event. It never adds an `'error'`
 * listener (that would stop an unhandled error from surfacing) and never changes a stream's
 * flowing mode.
 */
export class NodeSocketObserver {
  private readonly subscriptions: Subscription[] = [];
  private readonly servers: ServerListening;
  /** end()/destroy() calls on accepted sockets not yet announced (inside a 'connection' handler). */
  private readonly earlyCalls = new WeakMap<net.Socket, SocketEvent[]>();
  /** Servers given to `observeServer`, with their listeners, so that `disable()` can take them off. */
  private readonly observedServers = new Map<net.Server, { readonly connection: (socket: net.Socket) => void; readonly listening: () => void }>();
  private readonly wrappers = new PrototypeWrappers(net.Socket.prototype as unknown as SocketPrototype);
  /** Decides, at connect(), whether a client connection's stack is captured; absent without stacks. */
  private readonly sampler: StackSampler | undefined;
  private enabled = false;

  constructor(
    private readonly sink: SocketSink,
    private readonly options: NodeSocketObserverOptions,
    listenSink: ListenSink = () => {},
  ) {
    this.servers = new ServerListening(options.captureStacks, listenSink);
    this.sampler = options.captureStacks ? new StackSampler(STACK_SAMPLING, options.stackSampling, options.stackHistory) : undefined;
  }

  enable(): void {
    if (this.enabled) return;
    this.enabled = true;
    if (this.options.autoInstrument || this.options.captureStacks) {
      // Node publishes listen() on this tracing channel: its options synchronously inside
      // Server.listen, then the server once it listens.
      for (const name of ['tracing:net.server.listen:start', 'tracing:net.server.listen:asyncStart']) {
        this.subscribe(name, (message) => this.servers.listenCalled(message));
      }
    }
    if (this.options.autoInstrument) {
      this.subscribe('tracing:net.server.listen:asyncEnd', (message) => this.servers.listenDone(message));
      this.subscribe('net.client.socket', (message) => this.onChannelSocket(message, 'client'));
      this.subscribe('net.server.socket', (message) => this.onChannelSocket(message, 'server'));
    }
    this.patchSocketMethods();
  }

  disable(): void {
    if (!this.enabled) return;
    this.enabled = false;
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
    for (const [server, listeners] of this.observedServers) {
      server.removeListener('connection', listeners.connection);
      server.removeListener('listening', listeners.listening);
    }
    this.observedServers.clear();
    this.wrappers.restore();
  }

  /** Tracks the connections that one server accepts, from now on. */
  observeServer(server: net.Server): void {
    if (this.observedServers.has(server)) return;
    this.servers.observed(server, this.observeServer);
    const onConnection = (socket: net.Socket): void => {
      if (this.enabled) this.adopt(socket, 'server');
    };
    const onListening = (): void => {
      if (this.enabled) this.servers.listening(server);
    };
    this.observedServers.set(server, { connection: onConnection, listening: onListening });
    // Prepended so that what the application's handler does to the socket is seen too.
    server.prependListener('connection', onConnection);
    // Listening now, or later (again after a close and a new listen()).
    server.on('listening', onListening);
    if (server.listening) this.servers.listening(server);
  }

  private subscribe(name: string, onMessage: (message: unknown) => void): void {
    const handler = (message: unknown): void => {
      try {
        onMessage(message);
      } catch {
        // Instrumentation never throws into the code that made the socket.
      }
    };
    dc.subscribe(name, handler);
    this.subscriptions.push({ name, unsubscribe: () => dc.unsubscribe(name, handler) });
  }

  private onChannelSocket(message: unknown, side: SocketSide): void {
    const socket = (message as { socket?: unknown } | undefined)?.socket;
    if (socket instanceof net.Socket) this.adopt(socket, side);
  }

  /**
   * A client's stack is not taken here but at its connect() (`connectCalled`), where its
   * destination is known: on Node 20 the channel announces a socket before connect() is called.
   */
  private adopt(socket: net.Socket, side: SocketSide): void {
    // The sink refuses a socket it already follows: no lookup of its own first.
    const stack = side === 'server' && this.options.captureStacks ? this.servers.stackOf(socket) : undefined;
    if (!this.sink.socketOpened(socket, side, stack)) return;
    // Its events reach the sink through the emit wrapper, ahead of every listener (FIN byte
    // counts are taken before the application's handlers write).
    const early = this.earlyCalls.get(socket);
    if (early === undefined) return;
    this.earlyCalls.delete(socket);
    for (const called of early) this.sink.socketEvent(socket, called);
  }

  /**
   * connect() was called: its target, and the creation stack when the sampling of its
   * destination says to capture it. `wrapper` is socklife's wrapper of connect(): the stack
   * starts below it (the frames of Node's net.connect(), then the caller's), and socklife's
   * own frames are never walked.
   */
  private connectCalled(socket: net.Socket, args: ArrayLike<unknown>, wrapper: (...args: never[]) => unknown): void {
    const { host, port } = connectTarget(args);
    const sampler = this.sampler;
    // A path (a pipe) is no TCP connection: no site, no stack.
    const site = sampler === undefined || port === undefined ? undefined : sampler.siteOf(host, port);
    let stack: CreationStack | undefined;
    if (site !== undefined && sampler?.shouldCapture(site) === true) {
      stack = captureCreationStack(wrapper);
      site.lastStack = stack;
    }
    this.sink.socketEvent(socket, { type: 'connect_called', host, port, stack, site });
  }

  /**
   * end()/destroy() are methods, not events: wrap them once on the prototype while enabled.
   * connect() is wrapped to adopt sockets no channel announces: `new net.Socket().connect()`
   * and `tls.connect()` on Node 20, when auto-instrumenting. emit() is wrapped to see the
   * events of followed sockets (`patchEmit`).
   */
  private patchSocketMethods(): void {
    const sink = this.sink;
    const events: Record<Exclude<PatchedMethod, 'emit'>, SocketEvent | undefined> = {
      connect: undefined,
      end: END_CALLED,
      destroy: DESTROY_CALLED,
      resetAndDestroy: RESET_CALLED,
    };
    this.patchEmit();
    for (const method of Object.keys(events) as Exclude<PatchedMethod, 'emit'>[]) {
      if (method === 'connect' && !this.options.autoInstrument) continue;
      const target = this.wrappers.callTarget(method);
      if (target === undefined) continue;
      const { original, hadOwn, parent } = target;
      const event = events[method];
      // An accepted socket is announced only after the 'connection' handlers ran: what they
      // called on it (end(), resetAndDestroy()) waits here and is told at adoption.
      const earlyCall = (socket: net.Socket, called: SocketEvent): void => {
        if (!this.enabled || (socket as net.Socket & { server?: unknown }).server === undefined) return;
        const pending = this.earlyCalls.get(socket);
        if (pending === undefined) this.earlyCalls.set(socket, [called]);
        else if (pending.length < MAX_EARLY_CALLS) pending.push(called);
      };
      const adoptClient = (socket: net.Socket, args: ArrayLike<unknown>, wrapper: (...args: never[]) => unknown): void => {
        if (!this.enabled) return;
        this.adopt(socket, 'client');
        this.connectCalled(socket, args, wrapper);
      };
      // `arguments` rather than rest parameters: no array made per call.
      /* eslint-disable prefer-rest-params */
      const wrapped = function (this: net.Socket): unknown {
        try {
          if (event === undefined) adoptClient(this, arguments, wrapped);
          else if (!sink.socketEvent(this, event)) earlyCall(this, event);
        } catch {
          // Never let bookkeeping break the application's call.
        }
        return Reflect.apply(hadOwn ? original : parent[method], this, arguments);
      };
      /* eslint-enable prefer-rest-params */
      this.wrappers.install(method, wrapped, original);
    }
  }

  /**
   * One wrapper of `emit` for every socket: the followed events of a followed socket go to the
   * sink before any listener runs; every other call goes straight through.
   */
  private patchEmit(): void {
    const target = this.wrappers.callTarget('emit');
    if (target === undefined) return;
    const { original, hadOwn, parent } = target;
    const sink = this.sink;
    // Runs inside the application's event emission: nothing may escape it.
    const report = (socket: net.Socket, type: ObservedEvent, args: IArguments): void => {
      try {
        sink.socketEvent(socket, eventOf(socket, type, args));
      } catch (error) {
        sayOnce('recording a socket event', error);
      }
    };
    // `arguments` rather than rest parameters: emit runs for every event of every socket.
    /* eslint-disable prefer-rest-params */
    const wrapped: SocketMethod = function (this: net.Socket, type: unknown): unknown {
      if (type === 'close' || type === 'end' || type === 'finish' || type === 'connect' || type === 'timeout' || type === 'lookup') {
        report(this, type, arguments);
      }
      return Reflect.apply(hadOwn ? original : parent.emit, this, arguments);
    };
    /* eslint-enable prefer-rest-params */
    this.wrappers.install('emit', wrapped, original);
  }
}

/** end(), destroy(), resetAndDestroy(): a handler calls each at most a few times. */
const MAX_EARLY_CALLS = 4;
