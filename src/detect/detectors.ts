import type { StallSource } from '../observe/event-loop-stalls.js';
import { CONTINUOUS_THRESHOLDS, type Thresholds } from '../thresholds.js';
import { CloseWaitLeakDetector } from './close-wait-leak.js';
import type { Detector } from './detector.js';
import { HalfCloseStuckDetector } from './half-close-stuck.js';
import { ListenPressureDetector } from './listen-pressure.js';
import type { MeasurementSink } from './measurement.js';
import type { KernelSnapshot, SnapshotFinding } from './snapshot.js';
import { RacePredictedDetector } from './race-predicted.js';
import { ServerClosesFirstDetector } from './server-closes-first.js';
import { StaleReuseDetector } from './stale-reuse.js';
import { TimeWaitDetector } from './time-wait.js';

/** What the detectors are made with: their thresholds, and what the engine passes in. */
export interface DetectorSettings {
  readonly thresholds: Thresholds & { readonly synReceived: number };
  /** This process is a cluster worker: its listening sockets are shared with the other workers. */
  readonly sharedListeners: boolean;
  /** The event-loop stall observer the listen detector declares (`needs`), run by the engine. */
  readonly stalls?: Pick<StallSource, 'takeLongestMs'>;
  /** Where the detectors' measurements go (the metrics). */
  readonly measurements?: MeasurementSink;
}

/**
 * Every detector, the one list for the in-process instrumentation and for `socklife doctor`
 * (kernel-only mode): a new detector is added here.
 */
export function makeDetectors(settings: DetectorSettings): Detector[] {
  const { thresholds, sharedListeners, stalls, measurements } = settings;
  return [
    new CloseWaitLeakDetector(thresholds.closeWaitMs),
    new HalfCloseStuckDetector(thresholds.finWaitMs),
    new TimeWaitDetector({ threshold: thresholds.timeWait, sharedListeners, measurements }),
    new ListenPressureDetector({
      synReceivedThreshold: thresholds.synReceived,
      acceptQueueShare: thresholds.listenQueue,
      shared: sharedListeners,
      stalls,
      measurements,
    }),
    new StaleReuseDetector(),
    new RacePredictedDetector(),
    new ServerClosesFirstDetector(),
  ];
}

/** The detectors made for one look at a foreign process with these thresholds. */
export function snapshotDetectors(thresholds: Thresholds): Detector[] {
  // SYN_RECEIVED is not judged from one look; its threshold is the continuous one, unused.
  return makeDetectors({ thresholds: { ...thresholds, synReceived: CONTINUOUS_THRESHOLDS.synReceived }, sharedListeners: false });
}

/** Runs every detector's kernel-only mode over one snapshot: their findings, detector by detector. */
export function detectInSnapshot(snapshot: KernelSnapshot, thresholds: Thresholds): SnapshotFinding[] {
  return snapshotDetectors(thresholds).flatMap((d) => d.fromSnapshot?.(snapshot) ?? []);
}
