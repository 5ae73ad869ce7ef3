import { FindingRateLimiter } from './rate-limiter.js';

/**
 * A finding said once per subject (a destination, a peer): the subjects already reported,
 * bounded (past `max`, the oldest is forgotten and may be reported again), and the one rate
 * limiter every report goes through.
 */
export class ReportOncePerKey {
  private readonly reported = new Set<string>();
  private readonly limiter = new FindingRateLimiter();

  constructor(private readonly max = 256) {}

  has(key: string): boolean {
    return this.reported.has(key);
  }

  /** Takes `key` for a report at `time`: false when the rate limiter holds it back. */
  claim(key: string, time: number): boolean {
    if (this.limiter.hold(key, time) === undefined) return false;
    if (this.reported.size >= this.max) this.reported.delete(this.reported.values().next().value as string);
    this.reported.add(key);
    return true;
  }

  /** Ends a poll's round of reports (the limiter's). */
  endRound(time: number): void {
    this.limiter.endRound(time);
  }
}
