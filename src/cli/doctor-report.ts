import type { PortRange } from '../observe/kernel/kernel-counters.js';
import type { TcpState } from '../tcp-states.js';
import type { Thresholds } from '../thresholds.js';
import type { Attribution, StateCounts } from './scope.js';

/**
 * The JSON schema of `socklife doctor --json` (and what the text rendering reads): changes
 * only when the report's shape changes.
 */

/** An endpoint in the JSON: the address as the kernel table gives it (IPv4-mapped IPv6 unwrapped), `*` for a wildcard. */
export interface EndpointJson {
  readonly address: string;
  readonly port: number;
}

export interface SocketEntry {
  readonly state: TcpState;
  readonly local: EndpointJson;
  readonly peer: EndpointJson;
  /** 0 for a socket no process holds (TIME_WAIT, an orphan); see attributedBy. */
  readonly inode: number;
  readonly attributedBy: Attribution;
  /**
   * Milliseconds since the socket last received an ACK (tcp_info `lastack`). In CLOSE_WAIT
   * the peer's FIN carried it, in FIN_WAIT_2 the ACK of our FIN: unless data moved since,
   * this is how long the socket has been in its state, and never more. null: unknown
   * (read from /proc, which has no tcp_info).
   */
  readonly durationMs: number | null;
  /** Bytes received that the process has not read; a received FIN, which takes one unit of Recv-Q, is left out. */
  readonly unreadBytes: number;
  readonly recvQ: number;
  readonly sendQ: number;
  readonly timer: { readonly name: string; readonly expiresMs: number; readonly retransmits: number } | null;
}

export interface FindingText {
  /** One line: what was found. */
  readonly summary: string;
  /** What it means, in TCP terms and for the application. */
  readonly meaning: string;
  /** What to do about it. */
  readonly advice: string;
}

export interface SocketFinding extends FindingText {
  readonly type: 'close_wait' | 'fin_wait_2' | 'fin_wait_1';
  /** Sockets at or over the threshold, or of unknown age; oldest first. */
  readonly count: number;
  readonly thresholdMs: number;
  readonly sockets: readonly SocketEntry[];
}

export interface TimeWaitFinding extends FindingText {
  readonly type: 'time_wait';
  /** client: this side opened the connections (towards `peer`); server: they came in on `localPort`. */
  readonly side: 'client' | 'server';
  readonly count: number;
  readonly threshold: number;
  /** client side: the destination. */
  readonly peer: EndpointJson | null;
  /** server side: the listening port. */
  readonly localPort: number | null;
  /** client side: share of the ephemeral port range these hold (local ports inside it / its size). */
  readonly fractionOfPortRange: number | null;
  readonly attributedBy: Attribution;
}

export interface ListenQueueFinding extends FindingText {
  readonly type: 'listen_queue';
  readonly local: EndpointJson;
  readonly acceptQueue: number;
  readonly backlog: number;
  readonly threshold: number;
}

export type Finding = SocketFinding | TimeWaitFinding | ListenQueueFinding;
export type FindingType = Finding['type'];

export interface ListenerEntry {
  readonly local: EndpointJson;
  readonly inode: number;
  /** Connections handshaken and waiting for accept() (Recv-Q of the LISTEN row). */
  readonly acceptQueue: number;
  /** The accept queue's limit (Send-Q of the LISTEN row); null when read from /proc, which does not show it. */
  readonly backlog: number | null;
  /** Handshakes in progress on this listener (SYN_RECEIVED request sockets). */
  readonly synReceived: number;
}

export interface TimeWaitDestination {
  readonly peer: EndpointJson;
  readonly count: number;
  /** Of count, those whose local port is in the ephemeral range (explicitly bound ones are not). */
  readonly inEphemeralRange: number;
  readonly fractionOfPortRange: number | null;
}

export interface TimeWaitSummary {
  /** TIME_WAIT in scope. */
  readonly total: number;
  /** How these were tied to the target, in words. */
  readonly attribution: string;
  /** By destination, most first. */
  readonly clientSide: readonly TimeWaitDestination[];
  /** By listening port, most first. */
  readonly serverSide: ReadonlyArray<{ readonly localPort: number; readonly count: number }>;
  /** --pid: TIME_WAIT in the namespace that could not be tied to the process, with the busiest destinations. null otherwise. */
  readonly unattributed: { readonly total: number; readonly topDestinations: readonly TimeWaitDestination[] } | null;
}

export type TableSource = 'ss' | 'proc';

export interface SourceInfo {
  /** Where the rows came from: `ss` (netlink, with tcp_info) or `proc` (/proc/N/net/tcp and tcp6). */
  readonly table: TableSource;
  /** Whether socket ages (tcp_info) are known. */
  readonly durations: boolean;
  /** Whether the backlog limits of listeners are known. */
  readonly backlog: boolean;
  /** Why the table came from where it did, when that limits the report. */
  readonly notes: readonly string[];
}

export interface ProcessInfo {
  readonly name: string | null;
  /** `net:[4026531840]` */
  readonly netns: string | null;
  /** Whether it shares the CLI's network namespace: `same`, `other`, `unknown`. */
  readonly netnsRelation: string;
}

export interface KernelCountersJson {
  /** TcpExt ListenOverflows of the target's network namespace, since it was created. */
  readonly listenOverflows: number | null;
  /** TcpExt ListenDrops (includes the overflows). */
  readonly listenDrops: number | null;
}

export interface DoctorReport {
  readonly command: 'doctor';
  readonly pid: number | null;
  readonly port: number | null;
  readonly process: ProcessInfo | null;
  readonly source: SourceInfo;
  readonly thresholds: Thresholds;
  readonly portRange: PortRange | null;
  /** No findings: the exit code is 0. */
  readonly healthy: boolean;
  readonly findings: readonly Finding[];
  /** Sockets in scope per state, all eleven states. */
  readonly counts: StateCounts;
  /** Of counts, those tied by listening port or destination rather than owned (only states that have some). */
  readonly attributed: Partial<StateCounts>;
  readonly listeners: readonly ListenerEntry[];
  readonly timeWait: TimeWaitSummary;
  readonly kernelCounters: KernelCountersJson;
}
