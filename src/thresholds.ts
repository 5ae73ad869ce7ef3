/**
 * Every threshold socklife judges by, defined once, with the reason for each value. Two sets:
 * the continuous ones of the in-process instrumentation, which watches a process for as long
 * as it runs and must never trip on a healthy server, and the snapshot ones of `socklife
 * doctor`, which looks once at a process someone already suspects. A leaf: anyone may import it.
 */

/** What the in-process instrumentation reports at (`instrument()` defaults). */
export interface ContinuousThresholds {
  /** CLOSE_WAIT (and our FIN awaiting the peer's) at least this long is a finding, ms. */
  readonly closeWaitMs: number;
  /** TIME_WAIT sockets on one listening port or towards one destination. */
  readonly timeWait: number;
  /** SYN_RECEIVED sockets on one listener. */
  readonly synReceived: number;
  /** Share of its backlog an accept queue holds when it "nears" it. */
  readonly listenQueue: number;
  /** A client handshake slower than this makes its connection notable, ms. */
  readonly slowHandshakeMs: number;
}

/** Thresholds a healthy server stays under; each is an option of `doctor` (and `--time-wait-threshold` of `states`). */
export interface Thresholds {
  /** CLOSE_WAIT at least this old (tcp_info lastack) is a finding. */
  readonly closeWaitMs: number;
  /** FIN_WAIT_1 / FIN_WAIT_2 at least this old is a finding. */
  readonly finWaitMs: number;
  /** This many TIME_WAIT towards one destination, or on one listening port, is a finding. */
  readonly timeWait: number;
  /** An accept queue at least this fraction of its backlog is a finding. */
  readonly listenQueue: number;
}

export const CONTINUOUS_THRESHOLDS: ContinuousThresholds = Object.freeze({
  // A closing application leaves CLOSE_WAIT within milliseconds: a minute there is a forgotten socket, never a slow close.
  closeWaitMs: 60_000,
  // TIME_WAIT lasts 60 s: this many on one port means a steady stream of connections closed first by this side, not a burst.
  timeWait: 5000,
  // The kernel's default SYN backlog per listener is of this order: a queue this long is handshakes the process cannot keep up with.
  synReceived: 128,
  // An accept queue this full is one burst away from overflowing (the kernel refuses once it holds more than the backlog).
  listenQueue: 0.9,
  // A handshake within a second is normal on any network; slower points at the path or the peer.
  slowHandshakeMs: 1000,
});

export const SNAPSHOT_THRESHOLDS: Thresholds = Object.freeze({
  // Far longer than any application needs to close a socket its peer closed, yet skips the ones caught mid-close.
  closeWaitMs: 1000,
  // A peer that has not closed five seconds after our FIN was acknowledged is not closing.
  finWaitMs: 5000,
  // 1000 within TIME_WAIT's 60 s towards one destination is a missing keep-alive before it is a shortage of ports.
  timeWait: 1000,
  // The same "nears the backlog" share as the continuous rule: one burst away from overflowing.
  listenQueue: CONTINUOUS_THRESHOLDS.listenQueue,
});

/**
 * While a condition lasts, one subject (a port, a destination, a listener) is reported at most
 * once per this interval: one TIME_WAIT lifetime on Linux, so a pile that stays is said again
 * as its sockets turn over, and a flapping count cannot report on every poll.
 */
export const REPORT_INTERVAL_MS = 60_000;

/** How creation stacks of client connections are sampled, per destination (`captureStacks`). */
export interface StackSamplingThresholds {
  /**
   * A destination is captured at every connection until this many of its connections have
   * closed; from then on at one connection in this many, unless a finding was reported on one.
   */
  readonly everyN: number;
  /** Destinations remembered at once; past this, the one remembered longest is forgotten. */
  readonly maxDestinations: number;
}

export const STACK_SAMPLING: StackSamplingThresholds = Object.freeze({
  // Past this many clean closes a destination is a steady stream from code already seen: one
  // capture in this many keeps a recent stack for its findings at a small share of a capture's
  // cost per connection, and its first leak still has a sibling's stack to show.
  everyN: 100,
  // Far more destinations than a service talks to; a crawler past it is sampled less well, never
  // unbounded: a destination forgotten and met again is new, and captured until it has closes again.
  maxDestinations: 1024,
});
