/**
 * Why a listener is under pressure:
 * - `syn_received`: handshakes waiting for the client's final ACK reached the threshold;
 * - `accept_queue`: connections waiting for `accept()` near the backlog (`acceptQueueNearsBacklog`);
 * - `overflow`: the namespace's `ListenOverflows` rose: a SYN or a final ACK was dropped
 *   because an accept queue was full;
 * - `drop`: `ListenDrops` rose by more than `ListenOverflows`: other drops on a listener
 *   (a full SYN queue without SYN cookies, no memory).
 */
export type ListenPressureReason = 'syn_received' | 'accept_queue' | 'overflow' | 'drop';

/** What the kernel showed for one listening socket of this process at one poll. */
export interface ListenerFigures {
  /** The address it is bound to, as `listen()` made it (`::` or `0.0.0.0` for every address). */
  readonly address: string;
  readonly port: number;
  /** Its SYN_RECEIVED request sockets; undefined when no kernel rows were read for it. */
  readonly synReceived: number | undefined;
  /** Connections completed and waiting for `accept()` (Recv-Q of its LISTEN row). */
  readonly acceptQueue: number | undefined;
  /**
   * The accept-queue limit, min(backlog, `net.core.somaxconn`) (Send-Q of its LISTEN row);
   * undefined where the source does not print it (`/proc/net/tcp` and `netstat` print 0).
   */
  readonly backlog: number | undefined;
}

/** A listening socket under pressure, or a listen overflow of the namespace. */
export interface ListenPressure {
  readonly type: 'listen_pressure';
  /**
   * The listener; undefined for an overflow or a drop while this process has several
   * listeners: the kernel counts them for the whole network namespace, not per socket.
   */
  readonly listener: ListenerFigures | undefined;
  /** Every port this process listens on. */
  readonly ports: readonly number[];
  readonly reasons: readonly ListenPressureReason[];
  readonly synReceivedThreshold: number;
  /**
   * Rise of the namespace's `ListenOverflows` since the last report that carried it (the
   * previous poll, unless the rate limit held reports back); undefined when this finding does
   * not carry the counters (several listeners) or they could not be read yet.
   */
  readonly overflows: number | undefined;
  /** Rise of `ListenDrops`, likewise (it includes the overflows). */
  readonly drops: number | undefined;
  /**
   * The longest event-loop stall measured at this poll or the one before (or while the report
   * was held back), in ms. A stall can end before a poll reads the counters it raised, or while
   * a read is out, so that the counters show it one poll later: looking back one poll covers both.
   */
  readonly stallMs: number | undefined;
  /** True in a `cluster` worker: other workers share the listener and see the same figures. */
  readonly shared: boolean;
  /** Epoch ms: the first poll that saw the pressure, or the counters read before the overflow. */
  readonly since: number;
  readonly detectedAt: number;
}

/** What one poll knows about this process's listeners, for the metrics. */
export interface ListenPoll {
  /** The last figures read for each listener (this poll's, when it read the rows); none for a listener never read. */
  readonly listeners: readonly ListenerFigures[];
  /** Rise of `ListenOverflows` since the previous poll; undefined at the first read (the baseline) or when unreadable. */
  readonly overflows: number | undefined;
  readonly drops: number | undefined;
  readonly shared: boolean;
}

/** Where each poll's figures go (the metrics), whether or not anything is reported. */
export interface ListenFiguresSink {
  observe(poll: ListenPoll): void;
}
