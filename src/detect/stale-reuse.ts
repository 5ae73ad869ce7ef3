import { keepAliveHintMs } from '../model/http-activity.js';
import type { KeepAliveRace } from '../model/keepalive-races.js';
import type { Detector, PollContext } from './detector.js';
import { FindingRateLimiter } from './rate-limiter.js';
import type { StaleReuse } from './stale-reuse-finding.js';

export type { StaleReuse } from './stale-reuse-finding.js';

/**
 * Finds the keep-alive race on the client side: a request written on a pooled connection
 * after the peer's FIN had arrived, or a request that failed with a reset, a broken pipe or
 * the peer's close on a reused connection. The model keeps the races it saw (the connection
 * is often gone by the next poll); this detector reads the ones after the last it read, one
 * finding per connection, rate-limited per destination.
 */
export class StaleReuseDetector implements Detector {
  readonly name = 'keepalive_stale_reuse';
  private lastSeq = 0;
  private readonly reported = new WeakSet<object>();
  private readonly limiter = new FindingRateLimiter();

  fromEvents(context: Omit<PollContext, 'counters'>): StaleReuse[] {
    const races = context.model.keepAliveRacesSince(this.lastSeq);
    const found: StaleReuse[] = [];
    for (const race of races) {
      this.lastSeq = race.seq;
      if (this.reported.has(race.connection)) continue;
      this.reported.add(race.connection);
      const finding = staleReuse(race, context.time);
      const key = `${finding.destination.address ?? ''}:${finding.destination.port ?? ''}`;
      if (this.limiter.hold(key, context.time) === undefined) continue;
      found.push(finding);
    }
    this.limiter.endRound(context.time);
    return found;
  }
}

function staleReuse(race: KeepAliveRace, time: number): StaleReuse {
  const c = race.connection;
  const h = c.http;
  const finBeforeReuse = h?.reusedAfterPeerFinAt !== undefined;
  return {
    type: 'keepalive_stale_reuse',
    connection: c,
    kind: race.kind,
    destination: { address: c.peer?.address ?? c.lookup?.address ?? c.target?.host, port: c.peer?.port ?? c.target?.port },
    idleMs: h?.idleBeforeReuseMs,
    peerFinAt: h?.reusedAfterPeerFinAt ?? c.peerFinAt,
    finBeforeReuse,
    poolIdleTimeoutMs: h?.poolIdleTimeoutMs,
    serverHintMs: keepAliveHintMs(h?.keepAliveHeader),
    errorType: race.errorType,
    since: h?.startedAt ?? race.at,
    detectedAt: time,
  };
}
