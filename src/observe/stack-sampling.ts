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
  /**
   * By port, then by host as given to connect(): no key string is built and hashed per
   * connection (a host is the caller's own string, the same one from one connection to the next).
   */
  private readonly byPort = new Map<number, Map<string, StackSite>>();
  /** Each site with where it is kept, in the order first met: the oldest is forgotten first. */
  private readonly order = new Map<StackSite, { readonly port: number; readonly host: string }>();

  constructor(
    private readonly limits: StackSamplingThresholds,
    private readonly policy: StackSamplingPolicy = NO_FINDINGS,
    /** The closes of each destination's connections, as the model counts them. */
    private readonly history: StackSiteHistory = NO_CLOSES,
  ) {}

  /** The site of a destination; past `maxDestinations` the one met first is forgotten. */
  siteOf(given: string | undefined, port: number): StackSite {
    // No host is connect()'s default, as an empty one is.
    const host = given ?? '';
    const known = this.byPort.get(port)?.get(host);
    if (known !== undefined) return known;
    // Forgetting may empty (and drop) this very port's map: looked up again after it.
    if (this.order.size >= this.limits.maxDestinations) this.forgetOldest();
    let hosts = this.byPort.get(port);
    if (hosts === undefined) this.byPort.set(port, (hosts = new Map()));
    const site = new StackSite(`${host}:${port}`);
    hosts.set(host, site);
    this.order.set(site, { port, host });
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
    return this.order.size;
  }

  private forgetOldest(): void {
    const oldest = this.order.entries().next();
    if (oldest.done === true) return;
    const [site, { port, host }] = oldest.value;
    this.order.delete(site);
    const hosts = this.byPort.get(port);
    hosts?.delete(host);
    if (hosts?.size === 0) this.byPort.delete(port);
  }
}
