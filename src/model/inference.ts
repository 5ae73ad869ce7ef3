import type { KernelSocketRow } from '../observe/kernel/rows.js';
import { TcpState } from '../tcp-states.js';
import type { CloseReason, Connection } from './connection.js';

/**
 * The inference rules: which observation proves which state. Pure functions of the record
 * and the observation; `ConnectionTracker` applies them through its one `setState`.
 */

/** The peer's FIN was read (`'end'`). Before ours it proves CLOSE_WAIT; after ours the FINs may have crossed: no claim. */
export function stateAfterPeerFin(c: Pick<Connection, 'localFinAt'>): TcpState | undefined {
  return c.localFinAt === undefined ? TcpState.CloseWait : undefined;
}

/**
 * Our FIN went out (`'finish'`). After the peer's was read it proves LAST_ACK. Before it,
 * the kernel is in FIN_WAIT_1 or, if the peer's FIN was already there unread, LAST_ACK:
 * events cannot tell (a fast peer's FIN arrives within microseconds), so only the kernel says.
 */
export function stateAfterLocalFin(c: Pick<Connection, 'peerFinAt'>): TcpState | undefined {
  return c.peerFinAt !== undefined ? TcpState.LastAck : undefined;
}

/** Which side's FIN a kernel state proves was sent. */
const KERNEL_FIN_DIRECTION: ReadonlyMap<TcpState, 'local' | 'peer'> = new Map([
  [TcpState.CloseWait, 'peer'],
  [TcpState.FinWait1, 'local'],
  [TcpState.FinWait2, 'local'],
  [TcpState.Closing, 'local'],
]);

export function finProvedByKernelState(state: TcpState): 'local' | 'peer' | undefined {
  return KERNEL_FIN_DIRECTION.get(state);
}

/**
 * When a connection a poll finds in a new state got there. For CLOSE_WAIT the peer's FIN
 * carried the last ACK received, so tcp_info `lastack` dates it (any later segment only makes
 * it later: never an overstatement); otherwise, and without tcp_info, the poll's own time.
 */
export function kernelEntryTime(c: Pick<Connection, 'state' | 'stateSince'>, row: KernelSocketRow, pollTime: number): number {
  const lastAckMs = row.state === TcpState.CloseWait && c.state !== TcpState.CloseWait ? row.tcpInfo?.lastAckMs : undefined;
  if (lastAckMs === undefined) return pollTime;
  return Math.min(pollTime, Math.max(pollTime - lastAckMs, c.stateSince));
}

/** How a connection ended, from what Node showed of it. */
export function closeReasonOf(
  c: Pick<Connection, 'resetRequested' | 'peerFinAt' | 'localFinAt' | 'timeoutAt' | 'destroyCalledAt'>,
  error: Error | undefined,
): CloseReason {
  if (error !== undefined) {
    const code = (error as Error & { code?: unknown }).code;
    return code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : 'error';
  }
  if (c.resetRequested) return 'reset';
  if (c.peerFinAt !== undefined && c.localFinAt !== undefined) return 'fin';
  // An idle timeout fired and the application closed the socket because of it.
  if (c.timeoutAt !== undefined && c.destroyCalledAt !== undefined && c.destroyCalledAt >= c.timeoutAt) return 'timeout';
  return 'destroyed';
}

/** After Node's close the kernel keeps an active closer (TIME_WAIT) and an orphaned socket that still has a FIN to send. */
export function kernelMayHoldAfterClose(c: Pick<Connection, 'closeReason' | 'side' | 'connectedAt' | 'localFinAt' | 'peerFinAt'>): boolean {
  if (c.closeReason === 'reset' || c.closeReason === 'error' || (c.side === 'client' && c.connectedAt === undefined)) return false;
  const activeCloser = c.localFinAt !== undefined && (c.peerFinAt === undefined || c.localFinAt <= c.peerFinAt);
  return activeCloser || c.closeReason === 'destroyed' || c.closeReason === 'timeout';
}

/**
 * A half-close of ours that the peer has not answered: our FIN went out (Node's `'finish'`
 * or the kernel's FIN_WAIT) and no FIN of the peer's has been seen.
 */
export function awaitingPeerFin(c: Pick<Connection, 'localFinAt' | 'peerFinAt' | 'state'>): boolean {
  if (c.peerFinAt !== undefined) return false;
  return c.localFinAt !== undefined || c.state === TcpState.FinWait1 || c.state === TcpState.FinWait2;
}
