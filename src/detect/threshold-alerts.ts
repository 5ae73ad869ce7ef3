import { REPORT_INTERVAL_MS } from '../thresholds.js';

/** How often one key is reported at most while it stays at or above its threshold. */
export const DEFAULT_REPEAT_MS = REPORT_INTERVAL_MS;

/** Keys remembered at once; beyond, the one remembered longest is dropped (and may report again early). */
export const MAX_ALERT_KEYS = 256;

/** What is remembered of one key. */
interface AlertState {
  /** Epoch ms of the poll at which the count last went to or above the threshold. */
  since: number;
  /** Epoch ms of the last report. */
  reportedAt: number | undefined;
  /** True while the last poll that counted it found it at or above the threshold. */
  above: boolean;
  /** The poll (`endPoll` calls so far) that last counted it. */
  poll: number;
}

/**
 * When a counted figure (TIME_WAIT sockets on a port, ...) is worth reporting: when it
 * reaches the threshold, then at most once per `repeatMs` while it stays there. A key that
 * drops below and climbs back within `repeatMs` of its last report waits out the interval, so
 * a count hovering at the threshold cannot report on every poll.
 *
 * Memory: only keys at or above the threshold, or reported less than `repeatMs` ago; at most
 * `maxKeys` of them.
 */
export class ThresholdAlerts {
  private readonly states = new Map<string, AlertState>();
  private polls = 0;

  constructor(
    private readonly threshold: number,
    private readonly repeatMs: number = DEFAULT_REPEAT_MS,
    private readonly maxKeys: number = MAX_ALERT_KEYS,
  ) {}

  get size(): number {
    return this.states.size;
  }

  /**
   * One poll's count for a key. Returns when the current stretch at or above the threshold
   * began (epoch ms) when it is to be reported now; undefined when not.
   */
  observe(key: string, count: number, time: number): number | undefined {
    let state = this.states.get(key);
    if (count < this.threshold) {
      if (state !== undefined) {
        state.above = false;
        state.poll = this.polls;
      }
      return undefined;
    }
    if (state === undefined) {
      if (this.states.size >= this.maxKeys) this.dropOldest();
      state = { since: time, reportedAt: undefined, above: true, poll: this.polls };
      this.states.set(key, state);
    } else if (!state.above) {
      state.since = time;
      state.above = true;
    }
    state.poll = this.polls;
    if (state.reportedAt !== undefined && time - state.reportedAt < this.repeatMs) return undefined;
    state.reportedAt = time;
    return state.since;
  }

  /**
   * Ends a poll: a key it did not count is no longer known to be above the threshold, and a
   * key below it is forgotten once its last report is `repeatMs` old.
   */
  endPoll(time: number): void {
    for (const [key, state] of this.states) {
      if (state.poll !== this.polls) state.above = false;
      if (!state.above && (state.reportedAt === undefined || time - state.reportedAt >= this.repeatMs)) this.states.delete(key);
    }
    this.polls++;
  }

  clear(): void {
    this.states.clear();
  }

  private dropOldest(): void {
    const first = this.states.keys().next();
    if (first.done !== true) this.states.delete(first.value);
  }
}
