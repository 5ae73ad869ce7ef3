import type { ListenPoll } from './listen-pressure-finding.js';
import type { TimeWaitCount } from './time-wait-finding.js';

/**
 * What detectors measure at each poll, whether or not they report anything: the one declared
 * output beside the findings, which the report layer turns into metrics.
 */
export type Measurement =
  /** What one poll knew of this process's listeners and the namespace's listen counters. */
  | { readonly kind: 'listen'; readonly poll: ListenPoll }
  /** Each port's and destination's TIME_WAIT count at the last poll that counted it (replaces the previous counts). */
  | { readonly kind: 'time_wait'; readonly counts: readonly TimeWaitCount[] };

/** Where measurements go (the metrics). */
export interface MeasurementSink {
  record(measurement: Measurement): void;
}
