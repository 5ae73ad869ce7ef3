import { describe, expect, it } from 'vitest';
import { ServerClosesFirstDetector } from '../../src/detect/server-closes-first.js';
import { ListeningSockets } from '../../src/model/listening-sockets.js';
import { findingSpan } from '../../src/report/finding-reporter.js';
import { FakeSocket, model, SERVER_PORT, type Model } from '../model/fixture.js';

/** The server side of the keep-alive race, without the world: fake sockets, a test clock. */

function detect(detector: ServerClosesFirstDetector, m: Model) {
  return detector.fromEvents({ model: m.tracker, listeners: new ListeningSockets(), time: m.clock.time });
}

let nextPort = 42_000;

/** A server connection that answers one request and is then closed by this server's idle timeout (or by the peer: `peerCloses`). */
function servedThenIdleClosed(m: Model, idleMs: number, options: { peerCloses?: boolean; keepAliveTimeout?: number } = {}) {
  const socket = Object.assign(new FakeSocket(SERVER_PORT, nextPort++), { server: { keepAliveTimeout: options.keepAliveTimeout ?? 1000 } });
  const { tracker, clock } = m;
  tracker.socketOpened(socket, 'server', undefined);
  tracker.requestStarted(socket, 'server', 'GET', '/', undefined, undefined);
  clock.advance(3);
  tracker.requestFinished(socket, false);
  clock.advance(idleMs);
  if (options.peerCloses === true) tracker.socketEvent(socket, { type: 'end' });
  else tracker.socketEvent(socket, { type: 'timeout' });
  tracker.socketEvent(socket, { type: 'destroy_called', reset: false });
  tracker.socketEvent(socket, { type: 'close' });
}

describe('ServerClosesFirstDetector', () => {
  it('reports a peer that comes right back after each idle close, once, with the reuse gaps', () => {
    const m = model();
    const detector = new ServerClosesFirstDetector();
    for (let i = 0; i < 3; i++) {
      servedThenIdleClosed(m, 1000);
      m.clock.advance(200 + i * 100);
    }
    // The third reconnect is the next connection.
    expect(detect(detector, m)).toEqual([]);
    servedThenIdleClosed(m, 1000);
    const [finding, more] = detect(detector, m);
    expect(more).toBeUndefined();
    expect(finding).toMatchObject({
      type: 'keepalive_server_closes_first',
      peerAddress: '127.0.0.1',
      listenPort: SERVER_PORT,
      keepAliveTimeoutMs: 1000,
      reconnects: 3,
      reuseGaps: { count: 3, min: 1200, median: 1300, max: 1400 },
    });
    const span = findingSpan(finding!);
    expect(span.name).toBe('tcp.keepalive.server_closes_first');
    expect(span.attributes).toMatchObject({
      'client.address': '127.0.0.1',
      'server.port': SERVER_PORT,
      'tcp.keepalive.server_keep_alive_timeout_ms': 1000,
      'tcp.keepalive.reconnect.count': 3,
      'tcp.keepalive.reuse_gap.median_ms': 1300,
    });
    expect(span.errorMessage).toMatch(/keepAliveTimeout above the idle timeout/);
    m.clock.advance(100);
    servedThenIdleClosed(m, 1000);
    expect(detect(detector, m)).toEqual([]);
  });

  it('reports nothing when the peer closes first, or comes back long after', () => {
    const m = model();
    for (let i = 0; i < 5; i++) {
      servedThenIdleClosed(m, 1000, { peerCloses: true });
      m.clock.advance(100);
    }
    const late = model();
    for (let i = 0; i < 5; i++) {
      servedThenIdleClosed(late, 1000);
      late.clock.advance(30_000);
    }
    expect(detect(new ServerClosesFirstDetector(), m)).toEqual([]);
    expect(detect(new ServerClosesFirstDetector(), late)).toEqual([]);
  });
});
