import type { StackSamplingThresholds } from '../thresholds.js';
import type { CreationStack } from './creation-stack.js';

/**
 * Which client connections have their creation stack captured. A stack costs more to take
 * than the rest of what socklife does for a connection, and connections to one destination
 * are, nearly always, made by the same code: a destination is captured at every connection
 * while it is new, then at one connection in `everyN` once `everyN` of its connections have
 * closed, and at every connection again once a finding was reported on one of them. A
 * connection with no stack of its own shows the last one captured for its destination.
 */

/** What the sampling asks of the findings: given at construction by the engine, answered above. */
export interface StackSamplingPolicy {
  /** True once a finding was reported on a connection to this destination. */
  hadFinding(site: StackSite): boolean;
}

/** No finding is ever known: sampling by closes alone. */
export const NO_FINDINGS: StackSamplingPolicy = Object.freeze({ hadFinding: () => false });

/** What the sampling asks of the model: how many of a destination's connections have closed. */
export interface StackSiteHistory {
  closesOf(site: StackSite): number;
}

/** No close is ever known: every connection is captured (a destination stays new). */
export const NO_CLOSES: StackSiteHistory = Object.freeze({ closesOf: () => 0 });

/** One destination (host and port as given to `connect()`), shared by its connections. */
export class StackSite {
  /** The last stack captured for a connection to this destination. */
  lastStack: CreationStack | undefined = undefined;
  /** Connections not captured since the last one that was. */
  skipped = 0;

  constructor(readonly destination: string) {}
}

/** The destinations' sites, bounded, and the rule that says whether to capture. */
export class StackSampler {
  /** By destination, in the order they were first met. */
  private readonly sites = new Map<string, StackSite>();

  constructor(
    private readonly limits: StackSamplingThresholds,
    private readonly policy: StackSamplingPolicy = NO_FINDINGS,
    /** The closes of each destination's connections, as the model counts them. */
    private readonly history: StackSiteHistory = NO_CLOSES,
  ) {}

  /** The site of a destination; past `maxDestinations` the one met first is forgotten. */
  siteOf(host: string | undefined, port: number): StackSite {
    const key = `${host ?? ''}:${port}`;
    let site = this.sites.get(key);
    if (site === undefined) {
      if (this.sites.size >= this.limits.maxDestinations) {
        const oldest = this.sites.keys().next();
        if (oldest.done !== true) this.sites.delete(oldest.value);
      }
      site = new StackSite(key);
      this.sites.set(key, site);
    }
    return site;
  }

  /** Capture this connection's stack? Counts the connections it lets go by. */
  shouldCapture(site: StackSite): boolean {
    const everyN = this.limits.everyN;
    if (this.history.closesOf(site) < everyN || this.policy.hadFinding(site) || ++site.skipped >= everyN) {
      site.skipped = 0;
      return true;
    }
    return false;
  }

  /** Destinations remembered now. */
  get size(): number {
    return this.sites.size;
  }
}
