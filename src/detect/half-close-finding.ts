import type { Connection } from '../model/connection.js';
import type { TcpState } from '../tcp-states.js';

/** Why our half-close has not finished. */
export type HalfCloseStuckCause =
  /** FIN_WAIT_2: the peer acknowledged our FIN but its application never closed (its CLOSE_WAIT leak, seen from here). */
  | 'peer_not_closing'
  /** FIN_WAIT_1: our FIN is not acknowledged (a zero window holds it behind data, or the peer is gone). */
  | 'fin_not_acknowledged';

/** The two states of an active closer waiting for the peer. */
export type FinWaitState = typeof TcpState.FinWait1 | typeof TcpState.FinWait2;

/** An open connection whose FIN went out and whose peer has not closed, past the threshold. */
export interface HalfCloseStuck {
  readonly type: 'half_close_stuck';
  readonly connection: Connection;
  readonly cause: HalfCloseStuckCause;
  /** The state the latest poll saw the socket in. */
  readonly state: FinWaitState;
  /** Epoch ms when our FIN went out (`'finish'`, or the first kernel FIN_WAIT sighting if earlier). */
  readonly since: number;
  readonly durationMs: number;
  readonly detectedAt: number;
}
