import type { Connection } from '../model/connection.js';
import type { KeepAliveRaceKind } from '../model/keepalive-races.js';
import type { Destination } from './destinations.js';

/**
 * A request sent on a pooled client connection the server had already closed: the keep-alive
 * race. The server closed the idle connection (its idle timeout, no hint or a hint the pool
 * ignored) while the pool still held it, and the pool handed it to a request.
 */
export interface StaleReuse {
  readonly type: 'keepalive_stale_reuse';
  readonly connection: Connection;
  readonly kind: KeepAliveRaceKind;
  /** Where the connection goes: its peer, or the address or host name it was asked for. */
  readonly destination: { readonly address: string | undefined; readonly port: number | undefined };
  /** How long the connection sat idle in the pool before the request reused it (ms), when known. */
  readonly idleMs: number | undefined;
  /** Epoch ms when the peer's FIN was seen (`'end'` read, or the kernel's CLOSE_WAIT), when it was. */
  readonly peerFinAt: number | undefined;
  /** True when the FIN had been seen before the request was written. */
  readonly finBeforeReuse: boolean;
  /** The pool's idle timeout (ms), when the agent has one. */
  readonly poolIdleTimeoutMs: number | undefined;
  /** The server's `Keep-Alive: timeout=` hint (ms), when it sent one. */
  readonly serverHintMs: number | undefined;
  /** The request's error code, when it failed with one. */
  readonly errorType: string | undefined;
  /** Epoch ms when the request started on the reused connection. */
  readonly since: number;
  readonly detectedAt: number;
}

export type { Destination };
