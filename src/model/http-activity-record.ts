import type { SpanContext } from '@opentelemetry/api';
import type { RouteSource } from '../observe/http-requests.js';

/**
 * The HTTP requests a connection carried, made at its first request: a connection that
 * carries none costs nothing. Only the model writes it; it keeps the last request, and what
 * the client's pool said of the connection.
 */
export interface HttpActivity {
  /** Requests started on the connection. */
  requests: number;
  /** The last request's method, as Node gives it. */
  method: string;
  /** The last request's target as Node gives it (path and query): the query is cut when it is reported. */
  target: string;
  /** True from the start of the last request to its end. */
  inFlight: boolean;
  /** Epoch ms: when the last request started. */
  startedAt: number;
  /** Epoch ms: when the connection last went idle (a request ended); undefined before the first ended. */
  idleSince: number | undefined;
  /** True when the last request came on a connection that had carried one before. */
  reused: boolean;
  /** How long the connection sat idle before the last request reused it (ms). */
  idleBeforeReuseMs: number | undefined;
  /** The longest any request waited on it idle before reusing it (ms); undefined before a reuse. */
  longestReuseGapMs: number | undefined;
  /**
   * When the last request reused the connection after the peer's FIN had arrived (`'end'` read,
   * or the kernel said CLOSE_WAIT): the time of that FIN (the kernel's sighting when no `'end'`
   * came). Undefined otherwise.
   */
  reusedAfterPeerFinAt: number | undefined;
  /** True when the last request failed (its connection errored, or undici said so). */
  failed: boolean;
  /** The client pool's idle timeout (ms), when the agent has one. */
  poolIdleTimeoutMs: number | undefined;
  /** True once an `http.Agent` pooled it (its idle timeout, or none, was read). */
  agentPool: boolean;
  /** True once its pool's idle timeout was read (an `http.Agent`'s, or undici's). */
  poolTimeoutRead: boolean;
  /** True while an `http.Agent` keeps it idle after the last request (false from the next request on). */
  pooled: boolean;
  /** `socket.bytesRead` when an `http.Agent` last pooled it: a read while pooled that brought no byte was the peer's FIN or an error. */
  pooledBytesRead: number;
  /** The server's `Keep-Alive` header on the last response, as sent (`timeout=5`). */
  keepAliveHeader: string | undefined;
  /**
   * The span context active when the application's code got the last request (the server
   * span, or the span around the outgoing request), as the SDK holds it; undefined when none
   * was. Only this small object is kept, not the span.
   */
  spanContext: SpanContext | undefined;
  /**
   * Where an instrumentation keeps the last request's route (its RPC metadata), while the
   * request is in flight: routing sets it after the request is seen. Read into `route` and let
   * go when the request ends (it holds the span).
   */
  routeSource: RouteSource | undefined;
  /** The last request's route, once it ended, when an instrumentation set one. */
  route: string | undefined;
  /** A server connection's request handlers by name, once something asked (`ConnectionModel.requestHandlerOf`). */
  handler: string | undefined;
  /** True once a request on it lost the keep-alive race (client). */
  raced: boolean;
  /** How a client connection ended, set at close (`httpClientCloseReason`). */
  closeReason: HttpCloseReason | undefined;
}

/**
 * How an HTTP client connection ended, in the words .NET's Kestrel uses for `error.type`
 * where one fits: the peer closed it while idle; we closed it idle after the pool's timeout;
 * a request reused it after the peer's FIN; it was reset; the application destroyed it under
 * a request.
 */
export const HTTP_CLOSE_REASONS = ['peer_closed_idle', 'keep_alive_timeout', 'reused_after_peer_close', 'connection_reset', 'aborted_by_app'] as const;
export type HttpCloseReason = (typeof HTTP_CLOSE_REASONS)[number];
