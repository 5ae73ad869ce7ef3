import type { PortRange } from '../observe/kernel/kernel-counters.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { CloseWaitCause } from './close-wait-finding.js';
import type { Destination } from './destinations.js';
import type { FinWaitState, HalfCloseStuckCause } from './half-close-finding.js';

/**
 * The kernel-only mode of the detectors: one look at the sockets of a process that never
 * loaded socklife (`socklife doctor`). There are no Node records, only kernel rows; each
 * detector judges them by the same rules (`kernel-rules.ts`, `time-wait-rules.ts`) as it
 * judges the rows of its own process, against the thresholds it was made with.
 */

/** A row tied to the process looked at. */
export interface SnapshotRow {
  readonly row: KernelSocketRow;
  /**
   * For a socket no process holds (TIME_WAIT): the side of the process's connections it was
   * tied by, when the way it was tied says so; otherwise the listener rule decides (on one of
   * the process's listeners: server side; else client side).
   */
  readonly side?: 'client' | 'server';
}

/** One look at a process's sockets. */
export interface KernelSnapshot {
  readonly rows: readonly SnapshotRow[];
  /** Whether the rows carry tcp_info (`ss`): socket ages known. */
  readonly agesKnown: boolean;
  /** Whether LISTEN rows carry the backlog limit in Send-Q (`ss`; `/proc` prints 0). */
  readonly backlogKnown: boolean;
  /** The ephemeral port range, when readable. */
  readonly portRange: PortRange | undefined;
}

/** A socket as a kernel-only finding names it. */
export interface SnapshotSocket {
  readonly row: KernelSocketRow;
  /** Time in its state (tcp_info lastack); undefined when unknown. */
  readonly ageMs: number | undefined;
  /** Recv-Q without the received FIN. */
  readonly unreadBytes: number;
}

/** A socket in CLOSE_WAIT at least the threshold old, or of unknown age. */
export interface SnapshotCloseWait {
  readonly type: 'close_wait_leak';
  readonly socket: SnapshotSocket;
  /** Recv-Q empty: the application read the FIN (`'end'`) and did not close; else the FIN sits unread. */
  readonly cause: CloseWaitCause;
  readonly thresholdMs: number;
}

/** A socket in FIN_WAIT_1 or FIN_WAIT_2 at least the threshold old, or of unknown age. */
export interface SnapshotHalfClose {
  readonly type: 'half_close_stuck';
  readonly socket: SnapshotSocket;
  readonly state: FinWaitState;
  readonly cause: HalfCloseStuckCause;
  readonly thresholdMs: number;
}

/** TIME_WAIT sockets of one destination (client side) or one listening port (server side) at the threshold. */
export type SnapshotTimeWait =
  | {
      readonly type: 'time_wait_accumulation';
      readonly side: 'client';
      readonly destination: Destination;
      readonly count: number;
      /** Of count, those whose local port is in the ephemeral range (explicitly bound ones are not). */
      readonly inEphemeralRange: number;
      /** inEphemeralRange over the range's size, when the range is known. */
      readonly share: number | undefined;
      readonly threshold: number;
      readonly rows: readonly SnapshotRow[];
    }
  | {
      readonly type: 'time_wait_accumulation';
      readonly side: 'server';
      readonly port: number;
      readonly count: number;
      readonly threshold: number;
      readonly rows: readonly SnapshotRow[];
    };

/** A listener whose accept queue nears its backlog. */
export interface SnapshotListenPressure {
  readonly type: 'listen_pressure';
  /** Its LISTEN row. */
  readonly listener: KernelSocketRow;
  readonly reasons: readonly ['accept_queue'];
  readonly acceptQueue: number;
  readonly backlog: number;
  /** The share of the backlog the rule was judged at. */
  readonly share: number;
}

/** Everything the kernel-only mode can report, told apart by `type` (the in-process finding types' names). */
export type SnapshotFinding = SnapshotCloseWait | SnapshotHalfClose | SnapshotTimeWait | SnapshotListenPressure;
