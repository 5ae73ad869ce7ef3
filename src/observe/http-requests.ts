import { context, createContextKey, ROOT_CONTEXT, trace, type Context, type SpanContext } from '@opentelemetry/api';
import * as dc from 'node:diagnostics_channel';
import * as http from 'node:http';
import * as https from 'node:https';
import { sayOnce } from '../notify.js';
import { PrototypeWrappers, type SocketMethod } from './prototype-wrappers.js';
import type { SocketSide } from './socket-events.js';
import type { SocketView } from './socket-view.js';

/**
 * Where the OpenTelemetry HTTP instrumentations keep a server request's route: the RPC
 * metadata `@opentelemetry/core` puts in the request's context, whose `route` a web
 * framework's instrumentation sets while routing (after socklife saw the request). The API
 * makes the same key from the same description.
 */
const RPC_METADATA_KEY = createContextKey('OpenTelemetry SDK Context Key RPC_METADATA');

/** What holds a request's route once routing set it (the RPC metadata): read when the route is wanted. */
export interface RouteSource {
  readonly route?: unknown;
}

/**
 * The model side of the request observer. Each call names the socket the request is on; the
 * model finds its record there (a socket it does not follow is ignored). The strings are
 * Node's own (no copy is made): the query is cut from `target` only when it is reported.
 */
export interface RequestSink {
  /**
   * A request began on `socket`: received by a server, or given a socket by a client.
   * `span`: the span context active when the application's code got it (the server span, or
   * the span around the outgoing request), undefined when none was; `route`: where its route
   * will be, when an instrumentation keeps one. Neither is copied: both are the SDK's own.
   */
  requestStarted(socket: SocketView, side: SocketSide, method: string, target: string, span: SpanContext | undefined, route: RouteSource | undefined): void;
  /** The last request on `socket` finished (its response ended, or it failed). */
  requestFinished(socket: SocketView, failed: boolean): void;
  /** The last request on `socket` failed with `error` (undici says so before its socket closes). */
  requestFailed(socket: SocketView, error: unknown): void;
  /** A server request started without a span in sight (socklife wraps outside the HTTP instrumentation): its span, found later. */
  requestSpan(socket: SocketView, span: SpanContext, route: RouteSource | undefined): void;
  /**
   * A client's pool keeps `socket` idle for the next request: the pool's own idle timeout
   * (ms, undefined when it has none) and the server's `Keep-Alive` header, as sent.
   */
  socketPooled(socket: SocketView, poolIdleTimeoutMs: number | undefined, keepAliveHeader: string | undefined): void;
  /** An undici pool's idle timeout (ms) for `socket`, read once per connection at its first request. */
  poolIdleTimeout(socket: SocketView, poolIdleTimeoutMs: number): void;
}

/** What socklife reads of an `http.Agent`. */
interface AgentView {
  readonly options?: { readonly timeout?: unknown };
}

/** What socklife reads of a socket an agent pools: the request it just carried, and that request's response. */
interface PooledSocket extends SocketView {
  readonly _httpMessage?: { readonly res?: { readonly headers?: Record<string, string | string[] | undefined> } | null } | null;
}

/** An undici request, as the channels give it; socklife keeps its context and socket on it until it ends. */
interface UndiciRequest {
  readonly method?: unknown;
  readonly path?: unknown;
  [key: symbol]: unknown;
}

const CONTEXT = Symbol('socklife.request.context');
const SOCKET = Symbol('socklife.request.socket');
/** Set on an undici socket once its pool's idle timeout was read: once per connection, not per request. */
const POOL_READ = Symbol('socklife.pool.read');

/**
 * Follows HTTP/1.1 requests on the connections the socket observer follows:
 *
 * - a server's requests through a wrapper of `emit('request')` on `http.Server` and
 *   `https.Server` (run inside `@opentelemetry/instrumentation-http`'s own wrapper, when that
 *   patched `http` after socklife started, so the server span is the active one), and the end
 *   of each response on `http.server.response.finish`;
 * - a client's requests through a wrapper of `ClientRequest.prototype.onSocket` (Node gives a
 *   request its socket there, synchronously inside `http.request()`: the span around the
 *   outgoing request is active), the end of each response on `http.client.response.finish`,
 *   and the pool through `http.Agent.prototype.keepSocketAlive` (a socket goes idle);
 * - `fetch` and undici through `undici:request:create`, `undici:client:sendHeaders`,
 *   `undici:request:headers`, `undici:request:trailers` and `undici:request:error`.
 *
 * Per request it reads a few fields and makes no object; nothing runs when socklife is off.
 */
export class HttpRequestObserver {
  private readonly subscriptions: Array<{ readonly name: string; readonly handler: (message: unknown) => void }> = [];
  private readonly servers = [
    new PrototypeWrappers<'emit'>(http.Server.prototype as unknown as Record<'emit', SocketMethod>),
    new PrototypeWrappers<'emit'>(https.Server.prototype as unknown as Record<'emit', SocketMethod>),
  ];
  private readonly clientRequest = new PrototypeWrappers<'onSocket'>(http.ClientRequest.prototype as unknown as Record<'onSocket', SocketMethod>);
  private readonly agent = new PrototypeWrappers<'keepSocketAlive'>(http.Agent.prototype as unknown as Record<'keepSocketAlive', SocketMethod>);
  private enabled = false;
  /**
   * True when something (the HTTP instrumentation) had wrapped a server prototype's `emit`
   * before socklife: socklife's wrapper then runs outside it, before the server span exists,
   * and a request's context is taken at the end of its response instead.
   */
  private outsideServerWrapper = false;

  constructor(private readonly sink: RequestSink) {}

  enable(): void {
    if (this.enabled) return;
    this.enabled = true;
    for (const wrappers of this.servers) this.wrapServerEmit(wrappers);
    this.wrapOnSocket();
    this.wrapKeepSocketAlive();
    const sink = this.sink;
    this.subscribe('http.server.response.finish', (m) => {
      const socket = (m as { socket?: SocketView }).socket;
      if (socket === undefined) return;
      // Outside the instrumentation's wrapper no span was in sight at 'request'; the response ends in its context.
      if (this.outsideServerWrapper) {
        const active = context.active();
        const span = active === ROOT_CONTEXT ? undefined : trace.getSpanContext(active);
        if (span !== undefined) sink.requestSpan(socket, span, routeSourceOf(active));
      }
      sink.requestFinished(socket, false);
    });
    this.subscribe('http.client.response.finish', (m) => {
      const socket = (m as { request?: { socket?: SocketView | null } }).request?.socket;
      if (socket !== undefined && socket !== null) sink.requestFinished(socket, false);
    });
    this.subscribe('undici:request:create', (m) => {
      const request = (m as { request?: UndiciRequest }).request;
      if (request === undefined) return;
      const active = context.active();
      if (active !== ROOT_CONTEXT) request[CONTEXT] = active;
    });
    this.subscribe('undici:client:sendHeaders', (m) => {
      const { request, socket } = m as { request?: UndiciRequest; socket?: SocketView };
      if (request === undefined || socket === undefined) return;
      request[SOCKET] = socket;
      const method = typeof request.method === 'string' ? request.method : 'GET';
      const target = typeof request.path === 'string' ? request.path : '/';
      const ctx = request[CONTEXT] as Context | undefined;
      sink.requestStarted(socket, 'client', method, target, ctx === undefined ? undefined : trace.getSpanContext(ctx), undefined);
      const holder = socket as SocketView & { [POOL_READ]?: boolean };
      if (holder[POOL_READ] === undefined) {
        holder[POOL_READ] = true;
        const timeout = undiciKeepAliveTimeout(socket);
        if (timeout !== undefined) sink.poolIdleTimeout(socket, timeout);
      }
    });
    this.subscribe('undici:request:trailers', (m) => this.undiciEnded(m, false));
    this.subscribe('undici:request:error', (m) => this.undiciEnded(m, true));
  }

  disable(): void {
    if (!this.enabled) return;
    this.enabled = false;
    this.outsideServerWrapper = false;
    for (const { name, handler } of this.subscriptions.splice(0)) dc.unsubscribe(name, handler);
    for (const wrappers of this.servers) wrappers.restore();
    this.clientRequest.restore();
    this.agent.restore();
  }

  private undiciEnded(message: unknown, failed: boolean): void {
    const { request, error } = message as { request?: UndiciRequest; error?: unknown };
    const socket = request?.[SOCKET] as SocketView | undefined;
    if (request === undefined || socket === undefined) return;
    // Let go of what was kept on the request (set, not deleted: the object keeps its shape).
    request[SOCKET] = undefined;
    request[CONTEXT] = undefined;
    if (failed) this.sink.requestFailed(socket, error);
    else this.sink.requestFinished(socket, false);
  }

  private subscribe(name: string, onMessage: (message: unknown) => void): void {
    const handler = (message: unknown): void => {
      if (!this.enabled) return;
      try {
        onMessage(message);
      } catch (error) {
        sayOnce('following an HTTP request', error);
      }
    };
    dc.subscribe(name, handler);
    this.subscriptions.push({ name, handler });
  }

  /** `emit('request', req, res)` of a server: the request, in the context its handlers run in. */
  private wrapServerEmit(wrappers: PrototypeWrappers<'emit'>): void {
    const target = wrappers.callTarget('emit');
    if (target === undefined) return;
    const { original, hadOwn, parent } = target;
    // The prototype's own emit is someone's wrapper (Node's servers inherit EventEmitter's).
    if (hadOwn) this.outsideServerWrapper = true;
    const sink = this.sink;
    const enabled = (): boolean => this.enabled;
    // `arguments` rather than rest parameters: emit runs for every event of every server.
    /* eslint-disable prefer-rest-params */
    const wrapped: SocketMethod = function (this: http.Server, type: unknown): unknown {
      if (type === 'request' && enabled()) {
        try {
          const req = arguments[1] as http.IncomingMessage;
          const active = context.active();
          const root = active === ROOT_CONTEXT;
          sink.requestStarted(
            req.socket,
            'server',
            req.method ?? 'GET',
            req.url ?? '/',
            root ? undefined : trace.getSpanContext(active),
            root ? undefined : routeSourceOf(active),
          );
        } catch (error) {
          sayOnce('following an HTTP request', error);
        }
      }
      return Reflect.apply(hadOwn ? original : parent.emit, this, arguments);
    };
    /* eslint-enable prefer-rest-params */
    wrappers.install('emit', wrapped, original);
  }

  /** `ClientRequest.prototype.onSocket(socket, err)`: a client request got its socket, new or pooled. */
  private wrapOnSocket(): void {
    const target = this.clientRequest.callTarget('onSocket');
    if (target === undefined) return;
    const { original } = target;
    const sink = this.sink;
    const enabled = (): boolean => this.enabled;
    /* eslint-disable prefer-rest-params */
    const wrapped: SocketMethod = function (this: http.ClientRequest, socket: unknown, error: unknown): unknown {
      if (enabled() && error === undefined && socket !== null && typeof socket === 'object') {
        try {
          const active = context.active();
          sink.requestStarted(
            socket as SocketView,
            'client',
            this.method,
            this.path,
            active === ROOT_CONTEXT ? undefined : trace.getSpanContext(active),
            undefined,
          );
        } catch (e) {
          sayOnce('following an HTTP request', e);
        }
      }
      return Reflect.apply(original, this, arguments);
    };
    /* eslint-enable prefer-rest-params */
    this.clientRequest.install('onSocket', wrapped, original);
  }

  /** `Agent.prototype.keepSocketAlive(socket)`: a request finished and the pool keeps its socket. */
  private wrapKeepSocketAlive(): void {
    const target = this.agent.callTarget('keepSocketAlive');
    if (target === undefined) return;
    const { original } = target;
    const sink = this.sink;
    const enabled = (): boolean => this.enabled;
    /* eslint-disable prefer-rest-params */
    const wrapped: SocketMethod = function (this: AgentView, socket: unknown): unknown {
      const kept = Reflect.apply(original, this, arguments);
      if (enabled() && kept !== false && socket !== null && typeof socket === 'object') {
        try {
          const timeout = this.options?.timeout;
          const hint = (socket as PooledSocket)._httpMessage?.res?.headers?.['keep-alive'];
          sink.socketPooled(
            socket as SocketView,
            typeof timeout === 'number' && timeout > 0 ? timeout : undefined,
            typeof hint === 'string' ? hint : undefined,
          );
        } catch (e) {
          sayOnce('following an HTTP request', e);
        }
      }
      return kept;
    };
    /* eslint-enable prefer-rest-params */
    this.agent.install('keepSocketAlive', wrapped, original);
  }
}

/**
 * The idle timeout of the undici client that owns `socket` (ms), when it can be read: undici
 * keeps its client on the socket, and the timeout on the client, under symbols of its own
 * that socklife finds by their descriptions. Undefined when undici changes them.
 */
function undiciKeepAliveTimeout(socket: SocketView): number | undefined {
  const client = symbolValue(socket, 'client');
  if (typeof client !== 'object' || client === null) return undefined;
  const timeout = symbolValue(client, 'keep alive timeout') ?? symbolValue(client, 'default keep alive timeout');
  return typeof timeout === 'number' && timeout > 0 ? timeout : undefined;
}

function symbolValue(target: object, description: string): unknown {
  for (const key of Object.getOwnPropertySymbols(target)) {
    if (key.description === description) return (target as Record<symbol, unknown>)[key];
  }
  return undefined;
}

/** The RPC metadata of a request's context, where an instrumentation keeps its route. */
function routeSourceOf(ctx: Context): RouteSource | undefined {
  const metadata = ctx.getValue(RPC_METADATA_KEY);
  return typeof metadata === 'object' && metadata !== null ? (metadata as RouteSource) : undefined;
}
