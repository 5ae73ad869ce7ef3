import type { StallSource } from '../observe/event-loop-stalls.js';
import type { KernelCounters } from '../observe/kernel/kernel-counters.js';
import type { KernelSocketRow } from '../observe/kernel/rows.js';
import type { KernelNeed } from '../observe/kernel/query.js';
import { TcpState } from '../tcp-states.js';
import { CONTINUOUS_THRESHOLDS, REPORT_INTERVAL_MS } from '../thresholds.js';
import { CounterDelta } from './counter-delta.js';
import { acceptQueueNearsBacklog } from './kernel-rules.js';
import { distinct, figuresOf } from './listener-figures.js';
import { FindingRateLimiter } from './rate-limiter.js';
import type { KernelSnapshot, SnapshotListenPressure } from './snapshot.js';
import type { Detector, PollContext } from './detector.js';
import type { ListenerFigures, ListenPressure, ListenPressureReason } from './listen-pressure-finding.js';
import type { MeasurementSink } from './measurement.js';

export type { ListenerFigures, ListenFiguresSink, ListenPoll, ListenPressure, ListenPressureReason } from './listen-pressure-finding.js';

export interface ListenPressureOptions {
  /** SYN_RECEIVED sockets on one listener at which it is reported. */
  readonly synReceivedThreshold: number;
  /**
   * While the pressure lasts, a listener is reported at most once per this many ms, plus once
   * for each reason the reports of that interval did not name yet. Default 60 000.
   */
  readonly reportIntervalMs?: number;
  /** Event-loop stalls, read at each poll; the engine runs the observer while this detector is `observing` (the process listens). */
  readonly stalls?: Pick<StallSource, 'takeLongestMs'>;
  /** Where each poll's figures go (the metrics), whether or not anything is reported. */
  readonly measurements?: MeasurementSink;
  /** This process is a `cluster` worker. */
  readonly shared: boolean;
  /** The share of its backlog at which an accept queue nears it. Default the continuous `listenQueue` threshold. */
  readonly acceptQueueShare?: number;
}

export const DEFAULT_REPORT_INTERVAL_MS = REPORT_INTERVAL_MS;

export { acceptQueueNearsBacklog };

const LISTEN_STATES: readonly TcpState[] = [TcpState.Listen, TcpState.SynReceived];
/** The rate-limit key of reports that name no listener. */
const NAMESPACE = '*';

/** Counter rises (and the stall that came with them) not reported yet. */
interface Pending {
  overflows: number;
  drops: number;
  readonly since: number;
  stallMs: number | undefined;
}

/**
 * Finds listening sockets under pressure: SYN_RECEIVED piling up, an accept queue near its
 * backlog, and listen overflows or drops (the namespace's cumulative counters: the first read
 * is the baseline, so nothing from before socklife started is reported).
 *
 * While the process listens it reads the counters at every poll (file reads). It asks the
 * kernel for the LISTEN and SYN_RECEIVED rows of its listening ports (filtered in the kernel)
 * only when the counters show where pressure shows first (a SYN-ACK retransmitted, a SYN
 * cookie sent for a full SYN queue, an overflow, a drop), and then at every poll until its
 * listeners look idle again: a healthy server runs no `ss` for it.
 *
 * The counters cannot be pinned to a socket: with one listener an overflow is reported on it;
 * with several, once, on a finding that names no listener but all the ports.
 */
export class ListenPressureDetector implements Detector {
  readonly name = 'listen_pressure';
  readonly needs = ['event-loop-stalls'] as const;
  private readonly overflows = new CounterDelta();
  private readonly drops = new CounterDelta();
  private readonly synRetrans = new CounterDelta();
  private readonly synCookies = new CounterDelta();
  /** The last rows read showed a listener not idle (a handshake, or a connection waiting for accept()). */
  private busy = false;
  /** The last figures read for each listener, for the metrics: one per listener. */
  private readonly lastRead = new Map<string, ListenerFigures>();
  /** When the counters were last read: an overflow seen now happened after it. */
  private countersReadAt: number | undefined;
  private pending: Pending | undefined;
  /** One subject per listener of the last poll, and the namespace. */
  private readonly limiter: FindingRateLimiter;
  /** The ports the last `need` asked rows for: a listener that came after has no rows yet. */
  private askedPorts: ReadonlySet<number> = new Set();
  /** When this poll read the counters (just after `wantsCounters`). */
  private readAt: number | undefined;
  /** The stall measured at the previous poll. */
  private previousStall: number | undefined;

  private readonly acceptQueueShare: number;

  constructor(private readonly options: ListenPressureOptions) {
    this.limiter = new FindingRateLimiter(options.reportIntervalMs ?? DEFAULT_REPORT_INTERVAL_MS);
    this.acceptQueueShare = options.acceptQueueShare ?? CONTINUOUS_THRESHOLDS.listenQueue;
  }

  /**
   * Kernel-only mode: the listeners whose accept queue nears the backlog. One look judges the
   * accept queue only: the overflow and drop counters count since the namespace was made, so
   * a rise needs two reads, and SYN_RECEIVED has no snapshot threshold.
   */
  fromSnapshot(snapshot: KernelSnapshot): SnapshotListenPressure[] {
    const found: SnapshotListenPressure[] = [];
    if (!snapshot.backlogKnown) return found;
    for (const { row } of snapshot.rows) {
      if (row.state !== TcpState.Listen || !acceptQueueNearsBacklog(row.recvQ, row.sendQ, this.acceptQueueShare)) continue;
      found.push({
        type: 'listen_pressure',
        listener: row,
        reasons: ['accept_queue'],
        acceptQueue: row.recvQ,
        backlog: row.sendQ,
        share: this.acceptQueueShare,
      });
    }
    return found;
  }

  /** Stalls are measured while the process listens. */
  observing(context: Omit<PollContext, 'counters'>): boolean {
    return context.listeners.all().length > 0;
  }

  wantsCounters(context: Omit<PollContext, 'counters'>): boolean {
    const listening = context.listeners.all().length > 0;
    if (listening) this.readAt = context.time;
    else this.forget();
    return listening;
  }

  need(context: PollContext): KernelNeed | undefined {
    const ports = context.listeners.ports();
    const read = ports.length > 0 && (this.busy || this.countersSayLook(context.counters));
    this.askedPorts = new Set(read ? ports : []);
    return read ? { states: LISTEN_STATES, localPorts: ports } : undefined;
  }

  /** A rise, since the last poll, of a counter where listen pressure shows first. */
  private countersSayLook(counters: KernelCounters | undefined): boolean {
    if (counters === undefined) return false;
    return (
      this.synRetrans.rises(counters.synRetrans) ||
      this.synCookies.rises(counters.synQueueFullCookies) ||
      this.overflows.rises(counters.listenOverflows) ||
      this.drops.rises(counters.listenDrops)
    );
  }

  fromKernel(context: PollContext, rows: readonly KernelSocketRow[] | undefined): ListenPressure[] {
    const listeners = distinct(context.listeners.all());
    if (listeners.length === 0) {
      this.forget();
      return [];
    }
    const time = context.time;
    const overflows = this.overflows.take(context.counters?.listenOverflows);
    const drops = this.drops.take(context.counters?.listenDrops);
    this.synRetrans.take(context.counters?.synRetrans);
    this.synCookies.take(context.counters?.synQueueFullCookies);
    const readAt = this.readAt ?? time;
    this.readAt = undefined;
    // Taken after the reads, so that a stall that ended while they were out is in.
    const measured = this.options.stalls?.takeLongestMs();
    const stallMs = longest(measured, this.previousStall);
    this.previousStall = measured;
    const figures = figuresOf(listeners, rows, this.askedPorts);
    this.options.measurements?.record({ kind: 'listen', poll: { listeners: this.remember(figures), overflows, drops, shared: this.options.shared } });

    if ((overflows ?? 0) > 0 || (drops ?? 0) > 0) {
      this.pending ??= { overflows: 0, drops: 0, since: this.countersReadAt ?? readAt, stallMs: undefined };
      this.pending.overflows += overflows ?? 0;
      this.pending.drops += drops ?? 0;
    }
    if (this.pending !== undefined) this.pending.stallMs = longest(this.pending.stallMs, stallMs);
    if (context.counters?.listenOverflows !== undefined || context.counters?.listenDrops !== undefined) this.countersReadAt = readAt;

    const ports = [...new Set(figures.map((f) => f.port))].sort((a, b) => a - b);
    const pinned = figures.length === 1;
    const findings: ListenPressure[] = [];
    const seen = new Set<string>([NAMESPACE]);
    for (const f of figures) {
      const key = `${f.address} ${f.port}`;
      seen.add(key);
      const reasons: ListenPressureReason[] = [];
      if (f.synReceived !== undefined && f.synReceived >= this.options.synReceivedThreshold) reasons.push('syn_received');
      if (acceptQueueNearsBacklog(f.acceptQueue, f.backlog, this.acceptQueueShare)) reasons.push('accept_queue');
      if (pinned) reasons.push(...this.counterReasons());
      const finding = this.episode(key, reasons, time, (since) => {
        const carried = pinned ? this.takePending() : undefined;
        return {
          ...this.base(ports, reasons, time, since, carried, stallMs),
          listener: f,
          ...(pinned ? this.counterFields(carried) : { overflows: undefined, drops: undefined }),
        };
      });
      if (finding !== undefined) findings.push(finding);
    }
    if (!pinned) {
      const reasons = this.counterReasons();
      const finding = this.episode(NAMESPACE, reasons, time, (since) => {
        const carried = this.takePending();
        return { ...this.base(ports, reasons, time, since, carried, stallMs), listener: undefined, ...this.counterFields(carried) };
      });
      if (finding !== undefined) findings.push(finding);
    }
    for (const key of [...this.limiter.keys()]) if (!seen.has(key)) this.limiter.forget(key);
    return findings;
  }

  /** Keeps what this poll read (and whether it saw anything going on); returns the last figures read for each listener. */
  private remember(figures: readonly ListenerFigures[]): ListenerFigures[] {
    const read = figures.filter((f) => f.synReceived !== undefined);
    if (read.length > 0) this.busy = read.some((f) => (f.synReceived ?? 0) > 0 || (f.acceptQueue ?? 0) > 0);
    const known: ListenerFigures[] = [];
    const keys = new Set<string>();
    for (const f of figures) {
      const key = `${f.address} ${f.port}`;
      keys.add(key);
      if (f.synReceived !== undefined) this.lastRead.set(key, f);
      const last = this.lastRead.get(key);
      if (last !== undefined) known.push(last);
    }
    for (const key of this.lastRead.keys()) if (!keys.has(key)) this.lastRead.delete(key);
    return known;
  }

  /** Forgets everything: when nothing listens the counters are not read, so their next read is a new baseline. */
  private forget(): void {
    this.overflows.reset();
    this.drops.reset();
    this.synRetrans.reset();
    this.synCookies.reset();
    this.busy = false;
    this.lastRead.clear();
    this.countersReadAt = undefined;
    this.pending = undefined;
    this.previousStall = undefined;
    this.readAt = undefined;
    this.limiter.clear();
  }

  private counterReasons(): ListenPressureReason[] {
    const pending = this.pending;
    if (pending === undefined) return [];
    const reasons: ListenPressureReason[] = [];
    if (pending.overflows > 0) reasons.push('overflow');
    if (pending.drops > pending.overflows) reasons.push('drop');
    return reasons;
  }

  private takePending(): Pending | undefined {
    const pending = this.pending;
    this.pending = undefined;
    return pending;
  }

  /** The counters a finding carries: the pending rises, or 0 once a baseline exists. */
  private counterFields(carried: Pending | undefined): Pick<ListenPressure, 'overflows' | 'drops'> {
    return {
      overflows: carried?.overflows ?? (this.overflows.baselined ? 0 : undefined),
      drops: carried?.drops ?? (this.drops.baselined ? 0 : undefined),
    };
  }

  private base(
    ports: readonly number[],
    reasons: readonly ListenPressureReason[],
    time: number,
    since: number,
    carried: Pending | undefined,
    stallMs: number | undefined,
  ): Omit<ListenPressure, 'listener' | 'overflows' | 'drops'> {
    const stall = longest(carried?.stallMs, stallMs);
    return {
      type: 'listen_pressure',
      ports,
      reasons,
      synReceivedThreshold: this.options.synReceivedThreshold,
      stallMs: stall,
      shared: this.options.shared,
      since: Math.min(since, carried?.since ?? since),
      detectedAt: time,
    };
  }

  /**
   * Runs the rate limit for one subject: with `reasons`, it reports (`make`) when its last
   * interval is over, or when a reason comes up that this interval's reports did not name (an
   * accept queue that now overflows); without, its run of pressure ends.
   */
  private episode(key: string, reasons: readonly ListenPressureReason[], time: number, make: (since: number) => ListenPressure): ListenPressure | undefined {
    if (reasons.length === 0) {
      this.limiter.release(key);
      return undefined;
    }
    const since = this.limiter.hold(key, time, reasons);
    return since === undefined ? undefined : make(since);
  }
}

function longest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}
