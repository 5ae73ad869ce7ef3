import type { KernelSocketRow } from '../observe/kernel/rows.js';
import { TcpState } from '../tcp-states.js';
import { CONTINUOUS_THRESHOLDS } from '../thresholds.js';
import type { SnapshotSocket } from './snapshot.js';

/**
 * The rules that read one kernel row, written once for the in-process detectors and for the
 * kernel-only (snapshot) mode that `socklife doctor` runs: how old a socket is in its state,
 * how many of its unread bytes are data, and when an accept queue nears its backlog.
 */

/** States in which the peer's FIN has arrived: it is counted in Recv-Q until the application reads the end of the stream. */
const FIN_RECEIVED: ReadonlySet<TcpState> = new Set([TcpState.CloseWait, TcpState.LastAck, TcpState.Closing, TcpState.TimeWait]);

/**
 * Bytes received that the application has not read. Recv-Q is rcv_nxt − copied_seq, and the
 * peer's FIN takes one sequence number: where a FIN was received, any Recv-Q at all holds it.
 */
export function unreadDataBytes(row: Pick<KernelSocketRow, 'state' | 'recvQ'>): number {
  return FIN_RECEIVED.has(row.state) && row.recvQ > 0 ? row.recvQ - 1 : row.recvQ;
}

/**
 * How long the socket has been in its state, from tcp_info `lastack` (ms since the last ACK
 * received): in CLOSE_WAIT the peer's FIN carried it, in FIN_WAIT_2 the ACK of our FIN; unless
 * data moved since, that is the time in the state, never more. `ss` leaves out a zero field,
 * so a tcp_info line without it means under a millisecond. Undefined: unknown (no tcp_info).
 */
export function socketAgeMs(row: KernelSocketRow, agesKnown: boolean): number | undefined {
  if (!agesKnown || row.tcpInfo === undefined) return undefined;
  return row.tcpInfo.lastAckMs ?? 0;
}

/**
 * "Nears the backlog": at least `share` of it, or within one of it, whichever comes first, and
 * never below one waiting connection. The kernel refuses the next connection once the queue
 * holds more than the backlog, so a queue this full is one burst away from overflowing.
 */
export function acceptQueueNearsBacklog(acceptQueue: number | undefined, backlog: number | undefined, share = CONTINUOUS_THRESHOLDS.listenQueue): boolean {
  if (acceptQueue === undefined || backlog === undefined || backlog <= 0) return false;
  return acceptQueue >= Math.max(1, Math.min(Math.ceil(share * backlog), backlog - 1));
}

/** A socket as a kernel-only finding names it: its row, its age in its state, its unread data. */
export function agedSocket(row: KernelSocketRow, agesKnown: boolean): SnapshotSocket {
  return { row, ageMs: socketAgeMs(row, agesKnown), unreadBytes: unreadDataBytes(row) };
}

/** A socket at least `thresholdMs` in its state, or of unknown age (which cannot clear it). */
export function pastThreshold(ageMs: number | undefined, thresholdMs: number): boolean {
  return ageMs === undefined || ageMs >= thresholdMs;
}
