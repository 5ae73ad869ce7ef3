import type { Attributes } from '@opentelemetry/api';
import type { RacePredicted } from '../detect/race-predicted-finding.js';
import type { ServerClosesFirst } from '../detect/server-closes-first-finding.js';
import type { StaleReuse } from '../detect/stale-reuse-finding.js';
import { ATTR, endpointAttributes } from './attributes.js';

/** Attribute names of the keep-alive findings. */
export const KEEPALIVE_ATTR = {
  race: 'tcp.keepalive.race',
  idleMs: 'tcp.keepalive.idle_ms',
  peerFin: 'tcp.keepalive.peer_fin',
  peerCloseAfterIdleMs: 'tcp.keepalive.peer_close_after_idle_ms',
  poolIdleTimeoutMs: 'tcp.keepalive.pool_idle_timeout_ms',
  serverHintMs: 'tcp.keepalive.server_hint_ms',
  poolIdleTimeout: 'tcp.keepalive.pool_idle_timeout',
  peerIdleCloseCount: 'tcp.keepalive.peer_idle_close.count',
  peerIdleCloseMinMs: 'tcp.keepalive.peer_idle_close.min_ms',
  peerIdleCloseMedianMs: 'tcp.keepalive.peer_idle_close.median_ms',
  peerIdleCloseMaxMs: 'tcp.keepalive.peer_idle_close.max_ms',
  nearReuseCount: 'tcp.keepalive.near_reuse.count',
  nearReuseGapMs: 'tcp.keepalive.near_reuse.longest_gap_ms',
  serverKeepAliveTimeoutMs: 'tcp.keepalive.server_keep_alive_timeout_ms',
  reconnectCount: 'tcp.keepalive.reconnect.count',
  reuseGapMinMs: 'tcp.keepalive.reuse_gap.min_ms',
  reuseGapMedianMs: 'tcp.keepalive.reuse_gap.median_ms',
  reuseGapMaxMs: 'tcp.keepalive.reuse_gap.max_ms',
} as const;

/** Attributes of a `tcp.keepalive.stale_reuse` span. */
export function staleReuseAttributes(f: StaleReuse): Attributes {
  const c = f.connection;
  const attributes: Attributes = {
    [ATTR.networkTransport]: 'tcp',
    [ATTR.socketSide]: 'client',
    ...endpointAttributes(c),
    [KEEPALIVE_ATTR.race]: f.kind,
    // Seen before the request went out, only after it (Node had not read it yet), or not at all (a reset).
    [KEEPALIVE_ATTR.peerFin]: f.finBeforeReuse ? 'before_reuse' : f.peerFinAt !== undefined ? 'after_reuse' : 'unseen',
  };
  if (attributes[ATTR.serverAddress] === undefined && f.destination.address !== undefined) attributes[ATTR.serverAddress] = f.destination.address;
  if (attributes[ATTR.serverPort] === undefined && f.destination.port !== undefined) attributes[ATTR.serverPort] = f.destination.port;
  if (f.idleMs !== undefined) attributes[KEEPALIVE_ATTR.idleMs] = Math.round(f.idleMs);
  if (f.finBeforeReuse && f.peerFinAt !== undefined && f.idleMs !== undefined) {
    // The server's idle timeout, as this connection measured it: from going idle to the peer's FIN.
    const wentIdle = f.since - f.idleMs;
    if (f.peerFinAt >= wentIdle) attributes[KEEPALIVE_ATTR.peerCloseAfterIdleMs] = Math.round(f.peerFinAt - wentIdle);
  }
  if (f.poolIdleTimeoutMs !== undefined) attributes[KEEPALIVE_ATTR.poolIdleTimeoutMs] = f.poolIdleTimeoutMs;
  if (f.serverHintMs !== undefined) attributes[KEEPALIVE_ATTR.serverHintMs] = f.serverHintMs;
  if (f.errorType !== undefined) attributes[ATTR.errorType] = f.errorType;
  return attributes;
}

/** What the finding says, with what to do. */
export function staleReuseMessage(f: StaleReuse): string {
  const what =
    f.kind === 'written_after_fin'
      ? 'a request was written on a pooled connection after the server had closed it'
      : `a request failed on a reused pooled connection (${f.errorType ?? 'the server closed it under the request'})`;
  const idle = f.idleMs === undefined ? '' : ` after ${Math.round(f.idleMs)} ms idle`;
  const pool = f.poolIdleTimeoutMs === undefined ? 'no idle timeout' : `an idle timeout of ${f.poolIdleTimeoutMs} ms`;
  const hint = f.serverHintMs === undefined ? 'sent no Keep-Alive hint' : `announced ${f.serverHintMs} ms`;
  return (
    `keep-alive race: ${what}${idle}; the pool has ${pool}, the server ${hint}. ` +
    "Give the agent an idle timeout shorter than the server's, and retry idempotent requests that fail on req.reusedSocket"
  );
}

/** Attributes of a `tcp.keepalive.race_predicted` span. */
export function racePredictedAttributes(f: RacePredicted): Attributes {
  const attributes: Attributes = {
    [ATTR.networkTransport]: 'tcp',
    [ATTR.socketSide]: 'client',
    [KEEPALIVE_ATTR.peerIdleCloseCount]: f.peerIdleClose.count,
    [KEEPALIVE_ATTR.peerIdleCloseMinMs]: Math.round(f.peerIdleClose.min),
    [KEEPALIVE_ATTR.peerIdleCloseMedianMs]: Math.round(f.peerIdleClose.median),
    [KEEPALIVE_ATTR.peerIdleCloseMaxMs]: Math.round(f.peerIdleClose.max),
    [KEEPALIVE_ATTR.poolIdleTimeout]: f.poolIdleTimeoutMs !== undefined ? 'set' : f.poolKnown ? 'none' : 'unknown',
    [KEEPALIVE_ATTR.nearReuseCount]: f.nearReuses,
  };
  if (f.destination.host !== undefined) attributes[ATTR.serverAddress] = f.destination.host;
  if (f.destination.address !== undefined && f.destination.address !== f.destination.host) attributes[ATTR.networkPeerAddress] = f.destination.address;
  if (f.destination.port !== undefined) attributes[ATTR.serverPort] = f.destination.port;
  if (f.poolIdleTimeoutMs !== undefined) attributes[KEEPALIVE_ATTR.poolIdleTimeoutMs] = f.poolIdleTimeoutMs;
  if (f.serverHintMs !== undefined) attributes[KEEPALIVE_ATTR.serverHintMs] = f.serverHintMs;
  if (f.closestReuseGapMs !== undefined) attributes[KEEPALIVE_ATTR.nearReuseGapMs] = Math.round(f.closestReuseGapMs);
  return attributes;
}

/** What the prediction says, with what to do. */
export function racePredictedMessage(f: RacePredicted): string {
  const d = f.peerIdleClose;
  const pool =
    f.poolIdleTimeoutMs !== undefined
      ? `an idle timeout of ${f.poolIdleTimeoutMs} ms`
      : f.poolKnown
        ? 'no idle timeout (it keeps them until the server closes them)'
        : 'an idle timeout socklife cannot read, longer than that';
  const near = f.nearReuses === 0 ? 'no reuse came near it yet' : `${f.nearReuses} connection(s) were reused after nearly that long idle`;
  return (
    `keep-alive race ahead: the server closed ${d.count} idle pooled connections after ${Math.round(d.min)}-${Math.round(d.max)} ms idle ` +
    `(median ${Math.round(d.median)} ms); the pool has ${pool}; ${near}. ` +
    "Give the pool an idle timeout shorter than the server's, or the server a longer one; the same holds for a database or Redis pool whose server drops idle connections"
  );
}

/** Attributes of a `tcp.keepalive.server_closes_first` span. */
export function serverClosesFirstAttributes(f: ServerClosesFirst): Attributes {
  const attributes: Attributes = {
    [ATTR.networkTransport]: 'tcp',
    [ATTR.socketSide]: 'server',
    [ATTR.clientAddress]: f.peerAddress,
    [KEEPALIVE_ATTR.reconnectCount]: f.reconnects,
    [KEEPALIVE_ATTR.reuseGapMinMs]: Math.round(f.reuseGaps.min),
    [KEEPALIVE_ATTR.reuseGapMedianMs]: Math.round(f.reuseGaps.median),
    [KEEPALIVE_ATTR.reuseGapMaxMs]: Math.round(f.reuseGaps.max),
  };
  if (f.listenPort !== undefined) attributes[ATTR.serverPort] = f.listenPort;
  if (f.keepAliveTimeoutMs !== undefined) attributes[KEEPALIVE_ATTR.serverKeepAliveTimeoutMs] = f.keepAliveTimeoutMs;
  return attributes;
}

/** What the server-side finding says, with what to do. */
export function serverClosesFirstMessage(f: ServerClosesFirst): string {
  const timeout = f.keepAliveTimeoutMs === undefined ? 'its idle timeout' : `its keepAliveTimeout of ${f.keepAliveTimeoutMs} ms`;
  return (
    `keep-alive idle timeout shorter than the peer's: this server closed ${f.reconnects} idle connections (${timeout}) ` +
    `and the peer came right back each time, ${Math.round(f.reuseGaps.min)}-${Math.round(f.reuseGaps.max)} ms after the last response. ` +
    "Set the server's keepAliveTimeout above the idle timeout of the client or load balancer in front of it"
  );
}
