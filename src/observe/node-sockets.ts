import * as dc from 'node:diagnostics_channel';
import * as net from 'node:net';
import { sayOnce } from '../notify.js';
import type { SocketView } from './socket-view.js';
import { captureCreationStack, type CreationStack } from './creation-stack.js';

export type SocketSide = 'client' | 'server';

/** What Node tells about a socket, in the order it happens. */
export type SocketEvent =
  /** The client handshake finished (`'connect'`). */
  | { readonly type: 'connect' }
  /** The application called `connect()` towards this target (port and host as given). */
  | { readonly type: 'connect_called'; readonly host: string | undefined; readonly port: number | undefined }
  /** A host name was resolved before connecting (`'lookup'`). */
  | { readonly type: 'lookup'; readonly host: string; readonly address?: string; readonly error?: Error }
  /** The socket's idle timeout fired (`'timeout'`); the application decides what to do. */
  | { readonly type: 'timeout' }
  /** The peer's FIN was read (`'end'`). */
  | { readonly type: 'end' }
  /** Our FIN went out: `end()` flushed (`'finish'`). */
  | { readonly type: 'finish' }
  /** The application called `end()`. */
  | { readonly type: 'end_called' }
  /** The application called `destroy()` or `resetAndDestroy()`. */
  | { readonly type: 'destroy_called'; readonly reset: boolean }
  /** The handle closed (`'close'`); `error` is the stream's error, if it had one. */
  | { readonly type: 'close'; readonly error?: Error };

/** The model side of the observer: it decides which sockets it tracks. */
export interface SocketSink {
  /** True when the socket is already followed (a channel and a wrapper can both announce it). */
  isTracked(socket: SocketView): boolean;
  /** A TCP socket appeared; returns false when the sink does not want it. */
  socketOpened(socket: SocketView, side: SocketSide, stack: CreationStack | undefined): boolean;
  /** Returns false when the socket was never followed (one lookup serves both questions). */
  socketEvent(socket: SocketView, event: SocketEvent): boolean;
}

/** Where listening servers go: `requestedBacklog` as given to `listen()`, when it was. */
export type ListenSink = (server: net.Server, requestedBacklog: number | undefined) => void;

export interface NodeSocketObserverOptions {
  /** Capture the stack that created each socket. */
  readonly captureStacks: boolean;
  /** Subscribe to every socket of the process (diagnostics_channel); off: only `observeServer`. */
  readonly autoInstrument: boolean;
}

interface Subscription {
  readonly name: string;
  readonly unsubscribe: () => void;
}

type PatchedMethod = 'connect' | 'end' | 'destroy' | 'resetAndDestroy' | 'emit';

/** The socket events socklife follows. */
type ObservedEvent = 'connect' | 'lookup' | 'timeout' | 'end' | 'finish' | 'close';

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
  private readonly listenStacks = new WeakMap<net.Server, CreationStack>();
  /** end()/destroy() calls on accepted sockets not yet announced (inside a 'connection' handler). */
  private readonly earlyCalls = new WeakMap<net.Socket, SocketEvent[]>();
  /** The backlog each server's `listen()` was given, until it listens. */
  private readonly requestedBacklogs = new WeakMap<net.Server, number>();
  /** Servers given to `observeServer`, with their listeners, so that `disable()` can take them off. */
  private readonly observedServers = new Map<net.Server, { readonly connection: (socket: net.Socket) => void; readonly listening: () => void }>();
  private readonly originals = new Map<PatchedMethod, unknown>();
  private enabled = false;

  constructor(
    private readonly sink: SocketSink,
    private readonly options: NodeSocketObserverOptions,
    private readonly listenSink: ListenSink = () => {},
  ) {}

  enable(): void {
    if (this.enabled) return;
    this.enabled = true;
    if (this.options.autoInstrument) {
      // Node publishes listen() on this tracing channel: its options synchronously inside
      // Server.listen, then the server once it listens.
      for (const name of ['tracing:net.server.listen:start', 'tracing:net.server.listen:asyncStart']) {
        this.subscribe(name, (message) => this.onListen(message));
      }
      this.subscribe('tracing:net.server.listen:asyncEnd', (message) => this.onListenDone(message));
    } else if (this.options.captureStacks) {
      for (const name of ['tracing:net.server.listen:start', 'tracing:net.server.listen:asyncStart']) {
        this.subscribe(name, (message) => this.onListen(message));
      }
    }
    if (this.options.autoInstrument) {
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
    this.restoreSocketMethods();
  }

  /** Tracks the connections that one server accepts, from now on. */
  observeServer(server: net.Server): void {
    if (this.observedServers.has(server)) return;
    if (this.options.captureStacks && !this.listenStacks.has(server)) {
      this.listenStacks.set(server, captureCreationStack(this.observeServer));
    }
    const onConnection = (socket: net.Socket): void => {
      if (this.enabled) this.adopt(socket, 'server');
    };
    const onListening = (): void => {
      if (this.enabled) this.listening(server);
    };
    this.observedServers.set(server, { connection: onConnection, listening: onListening });
    // Prepended so that what the application's handler does to the socket is seen too.
    server.prependListener('connection', onConnection);
    // Listening now, or later (again after a close and a new listen()).
    server.on('listening', onListening);
    if (server.listening) this.listening(server);
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

  private onListen(message: unknown): void {
    const { server, options } = (message ?? {}) as { server?: unknown; options?: { backlog?: unknown } };
    if (!(server instanceof net.Server)) return;
    if (this.options.captureStacks && !this.listenStacks.has(server)) this.listenStacks.set(server, captureCreationStack());
    const backlog = options?.backlog;
    if (typeof backlog === 'number' && Number.isInteger(backlog)) this.requestedBacklogs.set(server, backlog);
  }

  private onListenDone(message: unknown): void {
    const server = (message as { server?: unknown } | undefined)?.server;
    if (server instanceof net.Server) this.listening(server);
  }

  private listening(server: net.Server): void {
    if (server.listening) this.listenSink(server, this.requestedBacklogs.get(server));
  }

  private onChannelSocket(message: unknown, side: SocketSide): void {
    const socket = (message as { socket?: unknown } | undefined)?.socket;
    if (socket instanceof net.Socket) this.adopt(socket, side);
  }

  /** `cutAbove`: socklife's own wrapper, whose frames (and those it calls) stay out of the stack. */
  private adopt(socket: net.Socket, side: SocketSide, cutAbove?: (...args: never[]) => unknown): void {
    if (this.sink.isTracked(socket)) return;
    let stack: CreationStack | undefined;
    if (this.options.captureStacks) {
      stack = side === 'client' ? captureCreationStack(cutAbove) : this.serverStack(socket);
    }
    if (!this.sink.socketOpened(socket, side, stack)) return;
    // Its events reach the sink through the emit wrapper, ahead of every listener (FIN byte
    // counts are taken before the application's handlers write).
    const early = this.earlyCalls.get(socket);
    if (early === undefined) return;
    this.earlyCalls.delete(socket);
    for (const called of early) this.sink.socketEvent(socket, called);
  }

  private serverStack(socket: net.Socket): CreationStack | undefined {
    const server = (socket as net.Socket & { server?: unknown }).server;
    return server instanceof net.Server ? this.listenStacks.get(server) : undefined;
  }

  /**
   * end()/destroy() are methods, not events: wrap them once on the prototype while enabled.
   * connect() is wrapped to adopt sockets no channel announces: `new net.Socket().connect()`
   * and `tls.connect()` on Node 20, when auto-instrumenting. emit() is wrapped to see the
   * events of followed sockets (`patchEmit`).
   */
  private patchSocketMethods(): void {
    const proto = net.Socket.prototype as unknown as SocketPrototype;
    const sink = this.sink;
    const events: Record<Exclude<PatchedMethod, 'emit'>, SocketEvent | undefined> = {
      connect: undefined,
      end: END_CALLED,
      destroy: DESTROY_CALLED,
      resetAndDestroy: RESET_CALLED,
    };
    this.patchEmit(proto);
    for (const method of Object.keys(events) as Exclude<PatchedMethod, 'emit'>[]) {
      if (method === 'connect' && !this.options.autoInstrument) continue;
      const target = this.callTarget(proto, method);
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
        this.adopt(socket, 'client', wrapper);
        sink.socketEvent(socket, { type: 'connect_called', ...connectTarget(args) });
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
      install(proto, method, wrapped, original);
    }
  }

  /**
   * What a wrapper of `method` calls through to, recorded for `restoreSocketMethods`: the
   * prototype's own method, or, for an inherited one (emit, destroy), the parent prototype,
   * whose method the wrapper looks up again at each call, so that a library wrapping it there
   * later (EventEmitter, Writable) still sees the sockets' calls.
   */
  private callTarget(proto: SocketPrototype, method: PatchedMethod): { original: SocketMethod; hadOwn: boolean; parent: SocketPrototype } | undefined {
    const original = proto[method];
    if (typeof original !== 'function') return undefined;
    const hadOwn = Object.prototype.hasOwnProperty.call(proto, method);
    this.originals.set(method, hadOwn ? original : undefined);
    return { original, hadOwn, parent: Object.getPrototypeOf(proto) as SocketPrototype };
  }

  /**
   * One wrapper of `emit` for every socket: the followed events of a followed socket go to the
   * sink before any listener runs; every other call goes straight through.
   */
  private patchEmit(proto: SocketPrototype): void {
    const target = this.callTarget(proto, 'emit');
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
    const wrapped = function (this: net.Socket, type: unknown): unknown {
      if (type === 'close' || type === 'end' || type === 'finish' || type === 'connect' || type === 'timeout' || type === 'lookup') {
        report(this, type, arguments);
      }
      return Reflect.apply(hadOwn ? original : parent.emit, this, arguments);
    };
    /* eslint-enable prefer-rest-params */
    install(proto, 'emit', wrapped, original);
  }

  private restoreSocketMethods(): void {
    const proto = net.Socket.prototype as unknown as Record<string, unknown>;
    for (const [method, original] of this.originals) {
      const current = proto[method] as { [SOCKLIFE_WRAPPED]?: unknown } | undefined;
      // Someone wrapped over us: leave their wrapper; ours turns into a pass-through via the sink.
      if (current?.[SOCKLIFE_WRAPPED] === undefined) continue;
      if (original === undefined) delete proto[method];
      else proto[method] = original;
    }
    this.originals.clear();
  }
}

const SOCKLIFE_WRAPPED = Symbol.for('socklife.wrapped');

type SocketMethod = (...args: unknown[]) => unknown;
type SocketPrototype = Record<PatchedMethod, SocketMethod>;

/** Puts socklife's wrapper in place, marked with what it wraps (`restoreSocketMethods` looks for the mark). */
function install(proto: SocketPrototype, method: PatchedMethod, wrapped: SocketMethod, original: SocketMethod): void {
  Object.defineProperty(wrapped, SOCKLIFE_WRAPPED, { value: original });
  proto[method] = wrapped;
}
/** end(), destroy(), resetAndDestroy(): a handler calls each at most a few times. */
const MAX_EARLY_CALLS = 4;
const CONNECT: SocketEvent = Object.freeze({ type: 'connect' });
const TIMEOUT: SocketEvent = Object.freeze({ type: 'timeout' });
const END: SocketEvent = Object.freeze({ type: 'end' });
const FINISH: SocketEvent = Object.freeze({ type: 'finish' });
const CLOSE: SocketEvent = Object.freeze({ type: 'close' });
const END_CALLED: SocketEvent = Object.freeze({ type: 'end_called' });
const DESTROY_CALLED: SocketEvent = Object.freeze({ type: 'destroy_called', reset: false });
const RESET_CALLED: SocketEvent = Object.freeze({ type: 'destroy_called', reset: true });

/** The sink's form of an emitted event (`args`: emit's arguments, the event name first). */
function eventOf(socket: net.Socket, type: ObservedEvent, args: IArguments): SocketEvent {
  switch (type) {
    case 'connect':
      return CONNECT;
    case 'lookup': {
      // emit('lookup', error, address, family, host)
      const error: unknown = args[1];
      const address: unknown = args[2];
      const host: unknown = args[4];
      return {
        type: 'lookup',
        host: typeof host === 'string' ? host : '',
        ...(typeof address === 'string' ? { address } : {}),
        ...(error instanceof Error ? { error } : {}),
      };
    }
    case 'timeout':
      return TIMEOUT;
    case 'end':
      return END;
    case 'finish':
      return FINISH;
    case 'close': {
      const error = socket.errored;
      return error instanceof Error ? { type: 'close', error } : CLOSE;
    }
  }
}

/** The port and host of `connect(options)`, `connect(port, host?)` or `connect([options, cb])`. */
function connectTarget(args: ArrayLike<unknown>): { host: string | undefined; port: number | undefined } {
  // net.connect() passes Node's normalized [options, callback] array as the only argument.
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  if (typeof first === 'object' && first !== null) {
    const { host, port } = first as { host?: unknown; port?: unknown };
    return { host: typeof host === 'string' ? host : undefined, port: toPort(port) };
  }
  return { host: typeof args[1] === 'string' ? args[1] : undefined, port: toPort(first) };
}

function toPort(value: unknown): number | undefined {
  const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}
