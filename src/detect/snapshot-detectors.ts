import type { Thresholds } from '../thresholds.js';
import { CONTINUOUS_THRESHOLDS } from '../thresholds.js';
import { CloseWaitLeakDetector } from './close-wait-leak.js';
import type { Detector } from './detector.js';
import { HalfCloseStuckDetector } from './half-close-stuck.js';
import { ListenPressureDetector } from './listen-pressure.js';
import type { KernelSnapshot, SnapshotFinding } from './snapshot.js';
import { TimeWaitDetector } from './time-wait.js';

/** The detectors, made for one look at a foreign process with these thresholds. */
export function snapshotDetectors(thresholds: Thresholds): Detector[] {
  return [
    new CloseWaitLeakDetector(thresholds.closeWaitMs),
    new HalfCloseStuckDetector(thresholds.finWaitMs),
    new TimeWaitDetector({ threshold: thresholds.timeWait }),
    // SYN_RECEIVED is not judged from one look; its threshold is the continuous one, unused.
    new ListenPressureDetector({ synReceivedThreshold: CONTINUOUS_THRESHOLDS.synReceived, shared: false, acceptQueueShare: thresholds.listenQueue }),
  ];
}

/** Runs every detector's kernel-only mode over one snapshot: their findings, detector by detector. */
export function detectInSnapshot(snapshot: KernelSnapshot, thresholds: Thresholds): SnapshotFinding[] {
  return snapshotDetectors(thresholds).flatMap((d) => d.fromSnapshot?.(snapshot) ?? []);
}
