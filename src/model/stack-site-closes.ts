import type { StackSite, StackSiteHistory } from '../observe/stack-sampling.js';

/**
 * The closes of the connections to each destination whose stacks are sampled, counted by the
 * model as its connections close, and asked by the sampling at each connect(). Held weakly: a
 * destination the sampling forgot goes with its count.
 */
export class StackSiteCloses implements StackSiteHistory {
  private readonly closes = new WeakMap<StackSite, number>();

  /** A connection to `site` closed. */
  closed(site: StackSite): void {
    this.closes.set(site, (this.closes.get(site) ?? 0) + 1);
  }

  closesOf(site: StackSite): number {
    return this.closes.get(site) ?? 0;
  }
}
