import type { Distribution } from '../model/pool-destinations.js';

/**
 * A destination whose server closes idle pooled connections sooner than the pool keeps them:
 * the keep-alive race, predicted before a request loses it. Learned from the peer's FINs on
 * idle pooled connections (its idle timeout, as this side measured it).
 */
export interface RacePredicted {
  readonly type: 'keepalive_race_predicted';
  /** The peer's address (or the host asked, when no address is known) and port; `host`: the name the application asked for. */
  readonly destination: { readonly address: string | undefined; readonly host: string | undefined; readonly port: number | undefined };
  /** How long idle pooled connections had sat idle when the peer closed them (ms). */
  readonly peerIdleClose: Distribution;
  /** The pool's idle timeout (ms); undefined: none (`poolKnown`: kept forever) or not readable. */
  readonly poolIdleTimeoutMs: number | undefined;
  /** True when the pool's setting was read (an `http.Agent`); false for undici, whose setting is not readable. */
  readonly poolKnown: boolean;
  /** The server's `Keep-Alive: timeout=` hint (ms), when it sent one. */
  readonly serverHintMs: number | undefined;
  /** Connections whose longest reuse gap came within the margin of the shortest idle close (or beyond it) and still worked. */
  readonly nearReuses: number;
  /** The longest of those gaps (ms). */
  readonly closestReuseGapMs: number | undefined;
  /** Epoch ms of the first idle close seen. */
  readonly since: number;
  readonly detectedAt: number;
}
