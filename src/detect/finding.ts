import type { CloseWaitLeak } from './close-wait-finding.js';
import type { HalfCloseStuck } from './half-close-finding.js';
import type { ListenPressure } from './listen-pressure-finding.js';
import type { RacePredicted } from './race-predicted-finding.js';
import type { ServerClosesFirst } from './server-closes-first-finding.js';
import type { StaleReuse } from './stale-reuse-finding.js';
import type { TimeWaitAccumulation } from './time-wait-finding.js';

/**
 * Everything a detector can report, told apart by `type`. Each goes through the one findings
 * path (`FindingSink`): spans, metrics and the JSON log all read the same object. The finding
 * types live in their own modules, below the detectors that make them.
 */
export type Finding = CloseWaitLeak | TimeWaitAccumulation | ListenPressure | HalfCloseStuck | StaleReuse | RacePredicted | ServerClosesFirst;

export type FindingType = Finding['type'];

/** Where findings go. */
export interface FindingSink {
  report(finding: Finding): void;
}
