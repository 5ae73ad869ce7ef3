import type { Attributes } from '@opentelemetry/api';
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
