import { REPORT_INTERVAL_MS } from '../thresholds.js';

/** Subjects remembered at once; beyond, the one remembered longest is dropped (and may report again early). */
export const MAX_SUBJECTS = 256;

/** What is remembered of one subject. */
interface Subject {
  /** Epoch ms when the current run of the condition began; undefined between runs. */
  since: number | undefined;
  /** Epoch ms of the report that opened the current interval. */
  intervalStart: number | undefined;
  /** The tags (reasons) the reports of the current interval named. */
  readonly said: Set<string>;
  /** The round (`endRound` calls so far) that last named it. */
  round: number;
}

/**
 * The one rate limiter of findings: how often one subject (a port, a destination, a listener)
 * is reported while its condition lasts. It is reported when the condition starts, then at
 * most once per interval, plus at once for each tag (a reason) the reports of this interval
 * did not name yet. A subject whose condition ends and comes back within the interval waits
 * it out, so a figure hovering at its threshold cannot report on every poll.
 *
 * Memory: subjects whose condition holds, or reported less than an interval ago; at most
 * `maxSubjects` of them.
 */
export class FindingRateLimiter {
  private readonly subjects = new Map<string, Subject>();
  private round = 0;

  constructor(
    private readonly intervalMs: number = REPORT_INTERVAL_MS,
    private readonly maxSubjects: number = MAX_SUBJECTS,
  ) {}

  get size(): number {
    return this.subjects.size;
  }

  /**
   * The condition holds for `key` at `time`, for these reasons. Returns when its current run
   * began (epoch ms) when it is to be reported now; undefined when not.
   */
  hold(key: string, time: number, tags: readonly string[] = []): number | undefined {
    let subject = this.subjects.get(key);
    if (subject === undefined) {
      if (this.subjects.size >= this.maxSubjects) this.dropOldest();
      subject = { since: undefined, intervalStart: undefined, said: new Set(), round: this.round };
      this.subjects.set(key, subject);
    }
    subject.since ??= time;
    subject.round = this.round;
    if (subject.intervalStart === undefined || time - subject.intervalStart >= this.intervalMs) {
      subject.intervalStart = time;
      subject.said.clear();
    } else if (tags.every((t) => subject.said.has(t))) {
      return undefined;
    }
    for (const t of tags) subject.said.add(t);
    return subject.since;
  }

  /** The condition does not hold for `key` now: its run ends (the interval still applies). */
  release(key: string): void {
    const subject = this.subjects.get(key);
    if (subject === undefined) return;
    subject.since = undefined;
    subject.round = this.round;
  }

  /**
   * Ends a round (a poll): a subject the round did not name is no longer known to hold, and
   * one that does not hold is forgotten once its interval is over.
   */
  endRound(time: number): void {
    for (const [key, subject] of this.subjects) {
      if (subject.round !== this.round) subject.since = undefined;
      if (subject.since === undefined && (subject.intervalStart === undefined || time - subject.intervalStart >= this.intervalMs)) {
        this.subjects.delete(key);
      }
    }
    this.round++;
  }

  /** Forgets one subject at once (it is gone: a listener that closed). */
  forget(key: string): void {
    this.subjects.delete(key);
  }

  keys(): IterableIterator<string> {
    return this.subjects.keys();
  }

  clear(): void {
    this.subjects.clear();
  }

  private dropOldest(): void {
    const first = this.subjects.keys().next();
    if (first.done !== true) this.subjects.delete(first.value);
  }
}
