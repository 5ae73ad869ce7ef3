import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** How often Node's delay monitor samples the loop: a stall is measured to within this. */
export const STALL_RESOLUTION_MS = 20;

/** A gap between two turns of the loop at least this long is a stall; shorter ones are ordinary work. */
export const STALL_MIN_MS = 100;

/** Where a detector learns how long the event loop stood still. */
export interface StallSource {
  /** Starts measuring (idempotent). */
  start(): void;
  /** Stops measuring and forgets (idempotent). */
  stop(): void;
  /**
   * The longest stall since the last stall it returned (or since `start()`), in milliseconds;
   * undefined when there was none, or when not measuring.
   */
  takeLongestMs(): number | undefined;
}

/**
 * Measures event-loop stalls with `perf_hooks.monitorEventLoopDelay`: a libuv timer in C++
 * (unref'd: it never keeps the process alive, and runs no JavaScript) records the gap between
 * its runs; a blocked loop shows as one long gap, recorded the next time the timer runs.
 *
 * The histogram is reset only after a stall was taken from it: Node drops the first gap after
 * a reset, so resetting at every poll would hide a stall that starts right after the poll.
 * While no stall happens its maximum stays below `STALL_MIN_MS`, and a stall raises it. Its
 * memory is fixed whatever the number of samples.
 */
export class EventLoopStalls implements StallSource {
  private histogram: IntervalHistogram | undefined;

  start(): void {
    if (this.histogram !== undefined) return;
    const histogram = monitorEventLoopDelay({ resolution: STALL_RESOLUTION_MS });
    histogram.enable();
    this.histogram = histogram;
  }

  stop(): void {
    this.histogram?.disable();
    this.histogram = undefined;
  }

  takeLongestMs(): number | undefined {
    const histogram = this.histogram;
    if (histogram === undefined || histogram.count === 0) return undefined;
    const maxMs = histogram.max / 1e6;
    if (maxMs < STALL_MIN_MS) return undefined;
    histogram.reset();
    return maxMs;
  }
}
