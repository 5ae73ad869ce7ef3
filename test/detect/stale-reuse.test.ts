import { describe, expect, it } from 'vitest';
import { StaleReuseDetector } from '../../src/detect/stale-reuse.js';
import { ListeningSockets } from '../../src/model/listening-sockets.js';
import { findingSpan } from '../../src/report/finding-reporter.js';
import { findingRecord } from '../../src/report/finding-log.js';
import { clientEstablished, FakeSocket, model, SERVER_PORT, type Model } from '../model/fixture.js';

/** The keep-alive race detector without the world: fake sockets, the model's request bookkeeping, a test clock. */

const IDLE_MS = 1500;

function detect(detector: StaleReuseDetector, m: Model) {
  return detector.fromEvents({ model: m.tracker, listeners: new ListeningSockets(), time: m.clock.time });
}

/** A pooled client connection that carried one request and sat idle `IDLE_MS`. */
function pooled(m: Model = model(), options: { poolTimeoutMs?: number; hint?: string } = {}) {
  const f = clientEstablished(m);
  f.tracker.requestStarted(f.socket, 'client', 'GET', '/items/7?user=42', undefined, undefined);
  f.clock.advance(5);
  f.tracker.socketPooled(f.socket, options.poolTimeoutMs, options.hint);
  f.clock.advance(IDLE_MS);
  return f;
}

describe('StaleReuseDetector', () => {
  it('reports a request written after the peer’s FIN had arrived, with what the pool and the server said', () => {
    const f = pooled(model(), { poolTimeoutMs: 4000, hint: 'timeout=1' });
    const finAt = f.clock.time - 500;
    f.clock.time = finAt;
    f.tracker.socketEvent(f.socket, { type: 'end' });
    f.clock.advance(500);
    f.tracker.requestStarted(f.socket, 'client', 'GET', '/items/8', undefined, undefined);
    f.clock.advance(50);
    const [finding, more] = detect(new StaleReuseDetector(), f);
    expect(more).toBeUndefined();
    expect(finding).toMatchObject({
      type: 'keepalive_stale_reuse',
      kind: 'written_after_fin',
      idleMs: IDLE_MS,
      peerFinAt: finAt,
      finBeforeReuse: true,
      poolIdleTimeoutMs: 4000,
      serverHintMs: 1000,
      destination: { address: '127.0.0.1', port: SERVER_PORT },
    });
    const span = findingSpan(finding!);
    expect(span.name).toBe('tcp.keepalive.stale_reuse');
    expect(span.attributes).toMatchObject({
      'tcp.keepalive.race': 'written_after_fin',
      'tcp.keepalive.peer_fin': 'before_reuse',
      'tcp.keepalive.idle_ms': IDLE_MS,
      'tcp.keepalive.peer_close_after_idle_ms': IDLE_MS - 500,
      'tcp.keepalive.pool_idle_timeout_ms': 4000,
      'tcp.keepalive.server_hint_ms': 1000,
      'http.request.method': 'GET',
      'url.path': '/items/8',
      'tcp.connection.requests': 2,
    });
    expect(span.errorMessage).toMatch(/idle timeout shorter than the server's/);
    // The JSON line, with the path left out under redactUrlPaths.
    expect(findingRecord(finding!, false, true).attributes['url.path']).toBeUndefined();
    expect(findingRecord(finding!, false, true).attributes['http.request.method']).toBe('GET');
  });

  it('reports a request that failed with a reset on a reused connection, once per connection', () => {
    const f = pooled();
    f.tracker.requestStarted(f.socket, 'client', 'GET', '/', undefined, undefined);
    f.clock.advance(2);
    f.tracker.socketEvent(f.socket, { type: 'close', error: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    const detector = new StaleReuseDetector();
    const [finding] = detect(detector, f);
    expect(finding).toMatchObject({ kind: 'failed_on_reuse', errorType: 'ECONNRESET', finBeforeReuse: false, idleMs: IDLE_MS });
    expect(f.c.http?.closeReason).toBe('reused_after_peer_close');
    expect(detect(detector, f)).toEqual([]);
  });

  it('reports the peer closing under a request on a reused connection ("socket hang up")', () => {
    const f = pooled();
    f.tracker.requestStarted(f.socket, 'client', 'GET', '/', undefined, undefined);
    f.clock.advance(1);
    f.tracker.socketEvent(f.socket, { type: 'end' });
    f.tracker.socketEvent(f.socket, { type: 'destroy_called', reset: false });
    f.tracker.socketEvent(f.socket, { type: 'close' });
    const [finding] = detect(new StaleReuseDetector(), f);
    expect(finding).toMatchObject({ kind: 'failed_on_reuse', errorType: undefined });
    expect(findingSpan(finding!).attributes['tcp.keepalive.peer_fin']).toBe('after_reuse');
  });

  it('reports nothing for a first request that fails, or a reused request that succeeds', () => {
    const m = model();
    const first = clientEstablished(m);
    first.tracker.requestStarted(first.socket, 'client', 'GET', '/', undefined, undefined);
    first.tracker.socketEvent(first.socket, { type: 'close', error: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    const second = pooled(m);
    second.tracker.requestStarted(second.socket, 'client', 'GET', '/', undefined, undefined);
    second.tracker.requestFinished(second.socket, false);
    expect(detect(new StaleReuseDetector(), m)).toEqual([]);
  });

  it('reports one race per destination per interval', () => {
    const m = model();
    const detector = new StaleReuseDetector();
    for (const port of [40_001, 40_002]) {
      const socket = new FakeSocket(port, SERVER_PORT);
      m.tracker.socketOpened(socket, 'client', undefined);
      m.tracker.socketEvent(socket, { type: 'connect_called', host: '127.0.0.1', port: SERVER_PORT });
      m.tracker.socketEvent(socket, { type: 'connect' });
      m.tracker.requestStarted(socket, 'client', 'GET', '/', undefined, undefined);
      m.tracker.socketPooled(socket, undefined, undefined);
      m.clock.advance(IDLE_MS);
      m.tracker.requestStarted(socket, 'client', 'GET', '/', undefined, undefined);
      m.tracker.socketEvent(socket, { type: 'close', error: Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }) });
    }
    expect(detect(detector, m)).toHaveLength(1);
  });
});
