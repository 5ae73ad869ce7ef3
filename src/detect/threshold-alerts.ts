import { REPORT_INTERVAL_MS } from '../thresholds.js';
import { FindingRateLimiter, MAX_SUBJECTS } from './rate-limiter.js';

/** How often one key is reported at most while it stays at or above its threshold. */
export const DEFAULT_REPEAT_MS = REPORT_INTERVAL_MS;

/** Keys remembered at once; beyond, the one remembered longest is dropped (and may report again early). */
export const MAX_ALERT_KEYS = MAX_SUBJECTS;

/**
 * When a counted figure (TIME_WAIT sockets on a port, ...) is worth reporting: the condition
 * "at or above the threshold", rate-limited by the one findings rate limiter (reported when
 * it is reached, then at most once per `repeatMs` while it stays there).
 */
export class ThresholdAlerts {
  private readonly limiter: FindingRateLimiter;

  constructor(
    private readonly threshold: number,
    repeatMs: number = DEFAULT_REPEAT_MS,
    maxKeys: number = MAX_ALERT_KEYS,
  ) {
    this.limiter = new FindingRateLimiter(repeatMs, maxKeys);
  }

  get size(): number {
    return this.limiter.size;
  }

  /**
   * One poll's count for a key. Returns when the current stretch at or above the threshold
   * began (epoch ms) when it is to be reported now; undefined when not.
   */
  observe(key: string, count: number, time: number): number | undefined {
    if (count >= this.threshold) return this.limiter.hold(key, time);
    this.limiter.release(key);
    return undefined;
  }

  /**
   * Ends a poll: a key it did not count is no longer known to be above the threshold, and a
   * key below it is forgotten once its last report is `repeatMs` old.
   */
  endPoll(time: number): void {
    this.limiter.endRound(time);
  }

  clear(): void {
    this.limiter.clear();
  }
}
