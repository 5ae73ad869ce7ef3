import type { Measurement, MeasurementSink } from '../detect/measurement.js';
import type { TimeWaitCount } from '../detect/time-wait-finding.js';
import { ListenMetrics } from './listen-metrics.js';
import type { Providers } from './providers.js';
import { bindTimeWaitMetrics } from './time-wait-metrics.js';

/**
 * The detectors' measurements as metrics: the one path from what detectors measure to the
 * instruments (listen figures and counters, TIME_WAIT counts and port use).
 */
export class MeasurementMetrics implements MeasurementSink {
  private readonly listen: ListenMetrics;
  private timeWait: readonly TimeWaitCount[] = [];

  constructor(providers: Providers, redactPeerAddresses: boolean) {
    this.listen = new ListenMetrics(providers);
    bindTimeWaitMetrics(providers, () => this.timeWait, redactPeerAddresses);
  }

  record(measurement: Measurement): void {
    switch (measurement.kind) {
      case 'listen':
        this.listen.observe(measurement.poll);
        return;
      case 'time_wait':
        this.timeWait = measurement.counts;
        return;
    }
  }
}
