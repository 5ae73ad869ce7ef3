import { distributionOf, type Distribution, type PoolDestination } from '../model/pool-destinations.js';
import type { Detector, PollContext } from './detector.js';
import type { RacePredicted } from './race-predicted-finding.js';
import { ReportOncePerKey } from './report-once.js';

export type { RacePredicted } from './race-predicted-finding.js';

/** Idle closes by the peer a destination needs before its idle timeout is judged: one sample is no timeout. */
export const MIN_IDLE_CLOSES = 3;
/** A reuse gap this share of the shortest idle close (or less) below it is "near" the race. */
export const NEAR_MARGIN = 0.25;

/**
 * Predicts the keep-alive race on the client side: a destination whose server closes idle
 * pooled connections (steadily, after about the same idle time) sooner than the pool keeps
 * them. Reported once per destination, before any request has lost the race, rate-limited.
 */
export class RacePredictedDetector implements Detector {
  readonly name = 'keepalive_race_predicted';
  /** Reported once per key (bounded: past its size the oldest may be reported again), rate-limited. */
  private readonly once = new ReportOncePerKey();

  fromEvents(context: Omit<PollContext, 'counters'>): RacePredicted[] {
    const found: RacePredicted[] = [];
    for (const d of context.model.poolDestinations()) {
      if (this.once.has(d.key)) continue;
      const finding = racePredicted(d, context.time);
      if (finding === undefined || !this.once.claim(d.key, context.time)) continue;
      found.push(finding);
    }
    this.once.endRound(context.time);
    return found;
  }
}

/** The finding for a destination, when its server closes idle connections steadily and sooner than its pool. */
export function racePredicted(d: PoolDestination, time: number): RacePredicted | undefined {
  const idle = distributionOf(d.idleCloses);
  if (idle === undefined || idle.count < MIN_IDLE_CLOSES || !steady(idle)) return undefined;
  // An agent that closes its idle sockets before the server does never sees the server's FIN; one with a longer timeout, or none, does.
  if (d.poolKnown && d.poolIdleTimeoutMs !== undefined && d.poolIdleTimeoutMs <= idle.min) return undefined;
  const near = idle.min * (1 - NEAR_MARGIN);
  let nearReuses = 0;
  let closest: number | undefined;
  for (const gap of d.reuseGaps) {
    if (gap < near) continue;
    nearReuses++;
    if (closest === undefined || gap > closest) closest = gap;
  }
  return {
    type: 'keepalive_race_predicted',
    destination: { address: d.address, host: d.host, port: d.port },
    peerIdleClose: idle,
    poolIdleTimeoutMs: d.poolIdleTimeoutMs,
    poolKnown: d.poolKnown,
    serverHintMs: d.serverHintMs,
    nearReuses,
    closestReuseGapMs: closest,
    since: d.firstIdleCloseAt ?? time,
    detectedAt: time,
  };
}

/** A server's idle timeout closes after about the same idle time each time; closes at scattered times are something else (restarts, limits). */
function steady(idle: Distribution): boolean {
  return idle.max - idle.min <= Math.max(idle.median / 2, 100);
}
