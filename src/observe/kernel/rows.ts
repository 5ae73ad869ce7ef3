import type { TcpState } from '../../tcp-states.js';

/** One end of a connection as the kernel prints it, normalised for matching. */
export interface Endpoint {
  /** Address without brackets or scope; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) unwrapped to `a.b.c.d`; `*` for a wildcard. */
  readonly address: string;
  /** Port number; 0 for a wildcard (`*`). */
  readonly port: number;
  /** IPv6 scope (interface name or index) when one was printed (`fe80::1%eth0`). */
  readonly scope?: string;
}

/** A kernel timer on the socket (`ss -o` `timer:(name,time,retrans)`, `/proc/net/tcp` tr/tm->when/retrnsmt). */
export interface KernelTimer {
  /** on, keepalive, timewait, persist, or unknown. */
  readonly name: string;
  /** Time until it fires, in milliseconds. */
  readonly expiresMs: number;
  /** Retransmissions (or keepalive probes) so far. */
  readonly retransmits: number;
}

/** tcp_info fields as printed by `ss -i`, all optional because kernels and states print different sets. */
export interface TcpInfo {
  /** Smoothed round-trip time, ms. */
  readonly rttMs?: number;
  /** Round-trip time variance, ms. */
  readonly rttVarMs?: number;
  /** Retransmission timeout, ms. */
  readonly rtoMs?: number;
  /** Congestion window, segments. */
  readonly cwnd?: number;
  /** Slow-start threshold, segments. */
  readonly ssthresh?: number;
  /** Segments retransmitted now / in total (`retrans:a/b`): this is the total. */
  readonly retransTotal?: number;
  /** Segments currently being retransmitted. */
  readonly retransCurrent?: number;
  /** Segments lost. */
  readonly lost?: number;
  readonly bytesSent?: number;
  readonly bytesAcked?: number;
  readonly bytesReceived?: number;
  readonly bytesRetrans?: number;
  readonly segsOut?: number;
  readonly segsIn?: number;
  /** Milliseconds since the last data was sent. */
  readonly lastSndMs?: number;
  /** Milliseconds since the last data was received (in CLOSE_WAIT: since the peer's FIN). */
  readonly lastRcvMs?: number;
  /** Milliseconds since the last ACK was received. */
  readonly lastAckMs?: number;
  readonly mss?: number;
  readonly pmtu?: number;
  readonly minRttMs?: number;
}

/** One socket row from any kernel source, in one shape whatever printed it. */
export interface KernelSocketRow {
  readonly state: TcpState;
  /** Bytes received and not yet read by the application; on LISTEN, the accept-queue depth. */
  readonly recvQ: number;
  /** Bytes sent and not yet acknowledged; on LISTEN, the backlog limit. */
  readonly sendQ: number;
  readonly local: Endpoint;
  readonly peer: Endpoint;
  /** Socket inode; 0 where the kernel has none (TIME_WAIT, request sockets) or the source does not print it. */
  readonly inode: number;
  /** Owning uid when the source prints it. */
  readonly uid?: number;
  readonly timer?: KernelTimer;
  readonly tcpInfo?: TcpInfo;
}

/** What a parser returns: the rows it understood and how many lines it skipped as malformed. */
export interface ParseResult {
  readonly rows: KernelSocketRow[];
  readonly skipped: number;
}
