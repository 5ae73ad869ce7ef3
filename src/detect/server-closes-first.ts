import { distributionOf } from '../model/pool-destinations.js';
import type { ServerIdlePeer } from '../model/server-idle-closes.js';
import type { Detector, PollContext } from './detector.js';
import { ReportOncePerKey } from './report-once.js';
import type { ServerClosesFirst } from './server-closes-first-finding.js';

export type { ServerClosesFirst } from './server-closes-first-finding.js';

/** Idle closes a peer must come right back after before it is reported: once may be chance. */
export const MIN_RECONNECTS = 3;

/**
 * Finds a server whose idle timeout is shorter than its peer's: a peer that opens a new
 * connection right after each of the server's idle keep-alive closes. Once per peer and
 * listening port, rate-limited.
 */
export class ServerClosesFirstDetector implements Detector {
  readonly name = 'keepalive_server_closes_first';
  /** Reported once per key (bounded: past its size the oldest may be reported again), rate-limited. */
  private readonly once = new ReportOncePerKey();

  fromEvents(context: Omit<PollContext, 'counters'>): ServerClosesFirst[] {
    const found: ServerClosesFirst[] = [];
    for (const peer of context.model.serverIdlePeers()) {
      if (this.once.has(peer.key)) continue;
      const finding = serverClosesFirst(peer, context.time);
      if (finding === undefined || !this.once.claim(peer.key, context.time)) continue;
      found.push(finding);
    }
    this.once.endRound(context.time);
    return found;
  }
}

export function serverClosesFirst(peer: ServerIdlePeer, time: number): ServerClosesFirst | undefined {
  const gaps = distributionOf(peer.reuseGaps);
  if (gaps === undefined || peer.reconnects < MIN_RECONNECTS) return undefined;
  return {
    type: 'keepalive_server_closes_first',
    peerAddress: peer.peerAddress,
    listenPort: peer.listenPort,
    keepAliveTimeoutMs: peer.keepAliveTimeoutMs,
    reconnects: peer.reconnects,
    reuseGaps: gaps,
    since: peer.firstAt ?? time,
    detectedAt: time,
  };
}
