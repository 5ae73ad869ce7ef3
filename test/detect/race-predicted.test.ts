import { describe, expect, it } from 'vitest';
import { RacePredictedDetector } from '../../src/detect/race-predicted.js';
import { ListeningSockets } from '../../src/model/listening-sockets.js';
import { MAX_DESTINATIONS, MAX_SAMPLES } from '../../src/model/pool-destinations.js';
import { findingRecord } from '../../src/report/finding-log.js';
import { findingSpan } from '../../src/report/finding-reporter.js';
import { FakeSocket, model, SERVER_PORT, type Model } from '../model/fixture.js';

/** The keep-alive race predicted, without the world: fake sockets, the model's pool bookkeeping, a test clock. */

function detect(detector: RacePredictedDetector, m: Model) {
  return detector.fromEvents({ model: m.tracker, listeners: new ListeningSockets(), time: m.clock.time });
}

let nextPort = 41_000;

/**
 * One pooled connection: `reuses` requests after `reuseGapMs` idle each, then idle `idleMs`
 * until the peer's FIN (or this side's own close, when `closedBy` is 'pool').
 */
function pooledConnection(m: Model, options: { idleMs: number; reuseGapMs?: number; poolTimeoutMs?: number; closedBy?: 'peer' | 'pool'; agent?: boolean }) {
  const socket = new FakeSocket(nextPort++, SERVER_PORT);
  const { tracker, clock } = m;
  tracker.socketOpened(socket, 'client', undefined);
  tracker.socketEvent(socket, { type: 'connect_called', host: 'localhost', port: SERVER_PORT });
  tracker.socketEvent(socket, { type: 'connect' });
  const agent = options.agent ?? true;
  const request = () => {
    tracker.requestStarted(socket, 'client', 'GET', '/', undefined, undefined);
    clock.advance(5);
    if (agent) tracker.socketPooled(socket, options.poolTimeoutMs, undefined);
    else tracker.requestFinished(socket, false);
  };
  request();
  if (options.reuseGapMs !== undefined) {
    clock.advance(options.reuseGapMs);
    request();
  }
  clock.advance(options.idleMs);
  if (options.closedBy === 'pool') {
    tracker.socketEvent(socket, { type: 'timeout' });
    tracker.socketEvent(socket, { type: 'destroy_called', reset: false });
  } else {
    tracker.socketEvent(socket, { type: 'end' });
  }
  tracker.socketEvent(socket, { type: 'close' });
  clock.advance(500);
}

describe('RacePredictedDetector', () => {
  it('predicts the race from steady idle closes by the peer, with the distribution and the near reuses, once', () => {
    const m = model();
    const detector = new RacePredictedDetector();
    pooledConnection(m, { idleMs: 1010 });
    pooledConnection(m, { idleMs: 1002, reuseGapMs: 900 });
    expect(detect(detector, m)).toEqual([]);
    pooledConnection(m, { idleMs: 1030, reuseGapMs: 300 });
    const [finding, more] = detect(detector, m);
    expect(more).toBeUndefined();
    expect(finding).toMatchObject({
      type: 'keepalive_race_predicted',
      destination: { address: '127.0.0.1', host: 'localhost', port: SERVER_PORT },
      peerIdleClose: { count: 3, min: 1002, median: 1010, max: 1030 },
      poolIdleTimeoutMs: undefined,
      poolKnown: true,
      nearReuses: 1,
      closestReuseGapMs: 900,
    });
    const span = findingSpan(finding!);
    expect(span.name).toBe('tcp.keepalive.race_predicted');
    expect(span.attributes).toMatchObject({
      'server.address': 'localhost',
      'server.port': SERVER_PORT,
      'tcp.keepalive.peer_idle_close.count': 3,
      'tcp.keepalive.peer_idle_close.median_ms': 1010,
      'tcp.keepalive.pool_idle_timeout': 'none',
      'tcp.keepalive.near_reuse.count': 1,
      'tcp.keepalive.near_reuse.longest_gap_ms': 900,
    });
    expect(span.errorMessage).toMatch(/database or Redis pool/);
    // The JSON line; under redactPeerAddresses the destination's name and address are left out, its port stays.
    expect(findingRecord(finding!, false, false)).toMatchObject({ type: 'keepalive_race_predicted', attributes: { 'server.address': 'localhost' } });
    expect(findingRecord(finding!, true, false).attributes['server.address']).toBeUndefined();
    expect(findingRecord(finding!, true, false).attributes['server.port']).toBe(SERVER_PORT);
    pooledConnection(m, { idleMs: 1000 });
    expect(detect(detector, m)).toEqual([]);
    // The reuse ratio the TIME_WAIT finding reads, by the peer's address as the kernel prints it.
    expect(m.tracker.poolDestination('127.0.0.1', SERVER_PORT)).toMatchObject({ connections: 4, requests: 6 });
  });

  it('predicts it for a pool whose setting cannot be read (an undici without the fields socklife reads)', () => {
    const m = model();
    for (const idleMs of [1000, 1001, 1003]) pooledConnection(m, { idleMs, agent: false });
    const [finding] = detect(new RacePredictedDetector(), m);
    expect(finding).toMatchObject({ poolKnown: false, poolIdleTimeoutMs: undefined });
    expect(findingSpan(finding!).attributes['tcp.keepalive.pool_idle_timeout']).toBe('unknown');
  });

  it('reports nothing when the pool closes its idle connections first, or the peer closes them at scattered times', () => {
    const m = model();
    for (let i = 0; i < 5; i++) pooledConnection(m, { idleMs: 4000, poolTimeoutMs: 4000, closedBy: 'pool' });
    expect(detect(new RacePredictedDetector(), m)).toEqual([]);
    const scattered = model();
    for (const idleMs of [300, 2000, 9000]) pooledConnection(scattered, { idleMs });
    expect(detect(new RacePredictedDetector(), scattered)).toEqual([]);
  });

  it('reports nothing for a server that closes right after its response', () => {
    const m = model();
    for (let i = 0; i < 5; i++) pooledConnection(m, { idleMs: 2 });
    expect(detect(new RacePredictedDetector(), m)).toEqual([]);
  });

  it('keeps a bounded number of samples and destinations', () => {
    const m = model();
    for (let i = 0; i < MAX_SAMPLES + 5; i++) pooledConnection(m, { idleMs: 1000 + i });
    const [only] = [...m.tracker.poolDestinations()];
    expect(only?.idleCloses).toHaveLength(MAX_SAMPLES);
    expect(only?.idleCloses[0]).toBe(1005);
    for (let i = 0; i < MAX_DESTINATIONS + 3; i++) {
      const socket = new FakeSocket(nextPort++, 1000 + i);
      m.tracker.socketOpened(socket, 'client', undefined);
      m.tracker.socketEvent(socket, { type: 'connect_called', host: '127.0.0.1', port: 1000 + i });
      m.tracker.socketEvent(socket, { type: 'connect' });
      m.tracker.requestStarted(socket, 'client', 'GET', '/', undefined, undefined);
      m.tracker.requestFinished(socket, false);
      m.tracker.socketEvent(socket, { type: 'close' });
    }
    expect([...m.tracker.poolDestinations()]).toHaveLength(MAX_DESTINATIONS);
  });
});
