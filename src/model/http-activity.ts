import type { SpanContext } from '@opentelemetry/api';
import type { RouteSource } from '../observe/http-requests.js';
import { TcpState } from '../tcp-states.js';
import type { Connection } from './connection.js';
import type { HttpActivity, HttpCloseReason } from './http-activity-record.js';

export type { HttpActivity } from './http-activity-record.js';

export { HTTP_CLOSE_REASONS, type HttpCloseReason } from './http-activity-record.js';

/** Why a client connection that carried requests ended, judged at its close (`error`: the stream's error); undefined when no reason fits. */
export function httpClientCloseReason(c: Connection, error: Error | undefined): HttpCloseReason | undefined {
  const h = c.http;
  if (h === undefined || c.side !== 'client') return undefined;
  if (h.raced) return 'reused_after_peer_close';
  if (c.closeReason === 'reset' || (error as { code?: unknown } | undefined)?.code === 'ECONNRESET') return 'connection_reset';
  if (h.inFlight) return c.destroyCalledAt !== undefined ? 'aborted_by_app' : undefined;
  if (c.firstFin?.by === 'peer') return 'peer_closed_idle';
  if (c.timeoutAt !== undefined && h.idleSince !== undefined && c.timeoutAt >= h.idleSince) return 'keep_alive_timeout';
  return undefined;
}

/** A request started on `c` at `time`: its sub-record made at the first one. */
export function requestStarted(
  c: Connection,
  method: string,
  target: string,
  spanContext: SpanContext | undefined,
  routeSource: RouteSource | undefined,
  time: number,
): HttpActivity {
  let h = c.http;
  if (h === undefined) {
    h = c.http = {
      requests: 0,
      method,
      target,
      inFlight: false,
      startedAt: time,
      idleSince: undefined,
      reused: false,
      idleBeforeReuseMs: undefined,
      longestReuseGapMs: undefined,
      reusedAfterPeerFinAt: undefined,
      failed: false,
      poolIdleTimeoutMs: undefined,
      agentPool: false,
      poolTimeoutRead: false,
      pooled: false,
      pooledBytesRead: 0,
      keepAliveHeader: undefined,
      spanContext: undefined,
      routeSource: undefined,
      route: undefined,
      handler: undefined,
      raced: false,
      closeReason: undefined,
    };
  }
  const reused = h.requests > 0;
  h.reused = reused;
  const gap = reused && h.idleSince !== undefined ? time - h.idleSince : undefined;
  h.idleBeforeReuseMs = gap;
  if (gap !== undefined && (h.longestReuseGapMs === undefined || gap > h.longestReuseGapMs)) h.longestReuseGapMs = gap;
  h.reusedAfterPeerFinAt = reused ? peerFinTime(c) : undefined;
  h.requests++;
  h.method = method;
  h.target = target;
  h.inFlight = true;
  h.pooled = false;
  h.startedAt = time;
  h.failed = false;
  h.spanContext = spanContext;
  h.routeSource = routeSource;
  h.route = undefined;
  return h;
}

/** Idle closes shorter than this are a server closing right after its response (`Connection: close`), not an idle timeout. */
export const MIN_IDLE_CLOSE_MS = 100;

/**
 * How long `c` had sat idle in its pool when the peer's FIN came at `time`: a client connection
 * that carried requests, with none in flight, that its pool kept (an `http.Agent` said so; for
 * undici, the last request ended well) and this side had not begun to close. Undefined when the
 * FIN was not an idle close.
 */
export function peerIdleCloseMs(c: Connection, time: number): number | undefined {
  const h = c.http;
  if (c.side !== 'client' || h === undefined || h.inFlight || h.idleSince === undefined || h.raced) return undefined;
  if (c.localFinAt !== undefined || c.destroyCalledAt !== undefined || c.endCalledAt !== undefined) return undefined;
  if (h.agentPool ? !h.pooled : h.failed) return undefined;
  const idle = time - h.idleSince;
  return idle >= MIN_IDLE_CLOSE_MS ? idle : undefined;
}

/** The last request on `c` ended at `time`. */
export function requestFinished(h: HttpActivity, failed: boolean, time: number): void {
  if (!h.inFlight) return;
  h.inFlight = false;
  h.failed = failed;
  h.idleSince = time;
  if (h.routeSource !== undefined) {
    h.route = routeOf(h);
    h.routeSource = undefined;
  }
}

/** The last request's route, when an instrumentation set one: read from where it keeps it while the request is in flight. */
export function routeOf(h: HttpActivity): string | undefined {
  if (h.route !== undefined) return h.route;
  const route = h.routeSource?.route;
  return typeof route === 'string' && route !== '' ? route : undefined;
}

/** When the peer's FIN arrived, as far as the model knows: `'end'`, or the kernel's CLOSE_WAIT. */
function peerFinTime(c: Connection): number | undefined {
  if (c.peerFinAt !== undefined) return c.peerFinAt;
  if (c.firstFin?.by === 'peer') return c.firstFin.at;
  return c.state === TcpState.CloseWait ? c.stateSince : undefined;
}

/** The path of a request target (origin form, or the absolute form a proxy gets): the query and fragment left out. */
export function pathOf(target: string): string {
  let path = target;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(path);
  if (scheme !== null) path = path.slice(scheme[0].length) || '/';
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end) || '/';
}

/** The idle timeout a server announced in `Keep-Alive: timeout=N` (ms), when it did. */
export function keepAliveHintMs(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(header);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1000;
}
