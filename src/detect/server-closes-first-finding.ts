import type { Distribution } from '../model/pool-destinations.js';

/**
 * A server that closes idle keep-alive connections its peer (a client, a load balancer)
 * still means to use: the peer came back right after each idle close. The server's idle
 * timeout is the shorter one, so the peer's requests race its closes.
 */
export interface ServerClosesFirst {
  readonly type: 'keepalive_server_closes_first';
  readonly peerAddress: string;
  /** The listening port the connections came to. */
  readonly listenPort: number | undefined;
  /** The server's `keepAliveTimeout` (ms), when it has one. */
  readonly keepAliveTimeoutMs: number | undefined;
  /** Idle closes the peer came right back after. */
  readonly reconnects: number;
  /** From the last response on a closed connection to the peer's next connection (ms). */
  readonly reuseGaps: Distribution;
  readonly since: number;
  readonly detectedAt: number;
}
