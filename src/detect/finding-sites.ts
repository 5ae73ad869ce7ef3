import type { StackSamplingPolicy, StackSite } from '../observe/stack-sampling.js';
import type { Finding, FindingSink } from './finding.js';

/**
 * The destinations on whose connections a finding was reported, for the sampling of creation
 * stacks: the engine gives it to the observer at construction and puts it on the findings
 * path. It holds each destination's site weakly: a site the observer forgot goes with it.
 */
export class FindingSites implements StackSamplingPolicy, FindingSink {
  private readonly sites = new WeakSet<StackSite>();

  hadFinding(site: StackSite): boolean {
    return this.sites.has(site);
  }

  report(finding: Finding): void {
    const site = 'connection' in finding ? finding.connection.stackSite : undefined;
    if (site !== undefined) this.sites.add(site);
  }
}
