import type { CloseWaitLeak } from './close-wait-leak.js';
import type { HalfCloseStuck } from './half-close-stuck.js';
import type { ListenPressure } from './listen-pressure.js';
import type { TimeWaitAccumulation } from './time-wait.js';

/**
 * Everything a detector can report, told apart by `type`. Each goes through the one findings
 * path (`FindingSink`): spans, metrics and the JSON log all read the same object.
 */
export type Finding = CloseWaitLeak | TimeWaitAccumulation | ListenPressure | HalfCloseStuck;

export type FindingType = Finding['type'];

/** Where findings go. */
export interface FindingSink {
  report(finding: Finding): void;
}
