import type { Finding, FindingSink } from '../detect/finding.js';
import { guarded } from '../notify.js';

/** The one findings path: each finding to every sink, each on its own, so one that throws costs the others nothing. */
export class FindingFanOut implements FindingSink {
  constructor(private readonly sinks: readonly FindingSink[]) {}

  report(finding: Finding): void {
    for (const sink of this.sinks) guarded('a findings reporter', () => sink.report(finding), undefined);
  }
}
