import { executionAsyncId } from 'node:async_hooks';
import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { keepAliveHintMs, pathOf, routeOf } from '../../src/model/http-activity.js';
import { TcpState } from '../../src/tcp-states.js';
import { clientEstablished, FakeSocket, row, serverEstablished } from './fixture.js';

const SPAN = trace.wrapSpanContext({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 });

describe('the model follows the HTTP requests of a connection', () => {
  it('makes no HTTP record for a connection that carries no request', () => {
    const { c } = serverEstablished();
    expect(c.http).toBeUndefined();
  });

  it('ignores a request on a socket it does not follow', () => {
    const { tracker, c } = serverEstablished();
    tracker.requestStarted(new FakeSocket(1, 2), 'server', 'GET', '/', undefined, undefined);
    expect(c.http).toBeUndefined();
  });

  it('keeps the last request: its method, target, span, and whether it is in flight', () => {
    const { tracker, socket, clock, c } = serverEstablished();
    tracker.requestStarted(socket, 'server', 'POST', '/uploads/batch?size=1', SPAN.spanContext(), undefined);
    expect(c.http).toMatchObject({
      requests: 1,
      method: 'POST',
      target: '/uploads/batch?size=1',
      inFlight: true,
      reused: false,
      spanContext: SPAN.spanContext(),
    });
    expect(c.http?.startedAt).toBe(clock.time);
    clock.advance(20);
    tracker.requestFinished(socket, false);
    expect(c.http).toMatchObject({ inFlight: false, failed: false, idleSince: clock.time });
    clock.advance(300);
    tracker.requestStarted(socket, 'server', 'GET', '/health', undefined, undefined);
    expect(c.http).toMatchObject({ requests: 2, method: 'GET', reused: true, idleBeforeReuseMs: 300, spanContext: undefined, reusedAfterPeerFinAt: undefined });
  });

  it("takes a server request's span when it comes later (socklife outside the HTTP instrumentation)", () => {
    const { tracker, socket, c } = serverEstablished();
    tracker.requestStarted(socket, 'server', 'GET', '/', undefined, undefined);
    tracker.requestSpan(socket, SPAN.spanContext(), undefined);
    expect(c.http?.spanContext).toBe(SPAN.spanContext());
    // Only the first span found is kept, and only while the request is in flight.
    tracker.requestSpan(socket, { ...SPAN.spanContext(), spanId: '1111111111111111' }, undefined);
    expect(c.http?.spanContext).toBe(SPAN.spanContext());
  });

  it('reads the route an instrumentation set while the request was in flight, and lets go of where it was kept at the end', () => {
    const { tracker, socket, c } = serverEstablished();
    const metadata: { route?: string } = {};
    tracker.requestStarted(socket, 'server', 'GET', '/orders/7', undefined, metadata);
    metadata.route = '/orders/:id';
    expect(routeOf(c.http!)).toBe('/orders/:id');
    tracker.requestFinished(socket, false);
    expect(c.http).toMatchObject({ route: '/orders/:id', routeSource: undefined });
    tracker.requestStarted(socket, 'server', 'GET', '/health', undefined, undefined);
    expect(routeOf(c.http!)).toBeUndefined();
  });

  it("records the pool's idle timeout and the server's hint when a client socket goes idle", () => {
    const { tracker, socket, clock, c } = clientEstablished();
    tracker.requestStarted(socket, 'client', 'GET', '/', undefined, undefined);
    clock.advance(5);
    tracker.socketPooled(socket, 4000, 'timeout=5, max=100');
    expect(c.http).toMatchObject({ inFlight: false, idleSince: clock.time, poolIdleTimeoutMs: 4000, keepAliveHeader: 'timeout=5, max=100' });
    expect(keepAliveHintMs(c.http?.keepAliveHeader)).toBe(5000);
  });

  it("marks a reuse after the peer's FIN: from 'end', or from the kernel's CLOSE_WAIT", () => {
    const a = clientEstablished();
    a.tracker.requestStarted(a.socket, 'client', 'GET', '/', undefined, undefined);
    a.tracker.socketPooled(a.socket, undefined, undefined);
    const finAt = a.clock.advance(1000);
    a.tracker.socketEvent(a.socket, { type: 'end' });
    a.clock.advance(5);
    a.tracker.requestStarted(a.socket, 'client', 'GET', '/', undefined, undefined);
    expect(a.c.http?.reusedAfterPeerFinAt).toBe(finAt);

    const b = clientEstablished();
    b.tracker.requestStarted(b.socket, 'client', 'GET', '/', undefined, undefined);
    b.tracker.socketPooled(b.socket, undefined, undefined);
    const seenAt = b.clock.advance(1000);
    b.tracker.kernelRows([row(b.socket, TcpState.CloseWait)], 'ss', seenAt);
    b.tracker.requestStarted(b.socket, 'client', 'GET', '/', undefined, undefined);
    expect(b.c.http?.reusedAfterPeerFinAt).toBe(seenAt);
  });

  it('ends a request in flight as failed when its connection closes', () => {
    const { tracker, socket, c } = clientEstablished();
    tracker.requestStarted(socket, 'client', 'GET', '/', undefined, undefined);
    tracker.socketEvent(socket, { type: 'close', error: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    expect(c.http).toMatchObject({ inFlight: false, failed: true });
  });

  it('says how a client connection ended: reset, idle closes by either side, destroyed under a request, none for a server', () => {
    const reset = clientEstablished();
    reset.tracker.requestStarted(reset.socket, 'client', 'GET', '/', undefined, undefined);
    reset.tracker.socketPooled(reset.socket, undefined, undefined);
    reset.tracker.socketEvent(reset.socket, { type: 'close', error: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    expect(reset.c.http?.closeReason).toBe('connection_reset');

    const peerIdle = clientEstablished();
    peerIdle.tracker.requestStarted(peerIdle.socket, 'client', 'GET', '/', undefined, undefined);
    peerIdle.tracker.socketPooled(peerIdle.socket, undefined, undefined);
    peerIdle.tracker.socketEvent(peerIdle.socket, { type: 'end' });
    peerIdle.tracker.socketEvent(peerIdle.socket, { type: 'close' });
    expect(peerIdle.c.http?.closeReason).toBe('peer_closed_idle');

    const timedOut = clientEstablished();
    timedOut.tracker.requestStarted(timedOut.socket, 'client', 'GET', '/', undefined, undefined);
    timedOut.tracker.socketPooled(timedOut.socket, 500, undefined);
    timedOut.clock.advance(500);
    timedOut.tracker.socketEvent(timedOut.socket, { type: 'timeout' });
    timedOut.tracker.socketEvent(timedOut.socket, { type: 'destroy_called', reset: false });
    timedOut.tracker.socketEvent(timedOut.socket, { type: 'close' });
    expect(timedOut.c.http?.closeReason).toBe('keep_alive_timeout');

    const aborted = clientEstablished();
    aborted.tracker.requestStarted(aborted.socket, 'client', 'GET', '/', undefined, undefined);
    aborted.tracker.socketEvent(aborted.socket, { type: 'destroy_called', reset: false });
    aborted.tracker.socketEvent(aborted.socket, { type: 'close' });
    expect(aborted.c.http?.closeReason).toBe('aborted_by_app');

    const served = serverEstablished();
    served.tracker.requestStarted(served.socket, 'server', 'GET', '/', undefined, undefined);
    served.tracker.socketEvent(served.socket, { type: 'close', error: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    expect(served.c.http?.closeReason).toBeUndefined();
  });

  it('cuts the query and fragment from a path, and reads a Keep-Alive timeout', () => {
    expect(pathOf('/a/b?c=d#e')).toBe('/a/b');
    expect(pathOf('/a#x')).toBe('/a');
    expect(pathOf('/plain')).toBe('/plain');
    expect(pathOf('http://example.test:8080/a?b')).toBe('/a');
    expect(pathOf('http://example.test?b')).toBe('/');
    expect(keepAliveHintMs('timeout=2')).toBe(2000);
    expect(keepAliveHintMs('max=5, timeout=30')).toBe(30000);
    expect(keepAliveHintMs('max=5')).toBeUndefined();
    expect(keepAliveHintMs(undefined)).toBeUndefined();
  });

  describe("Node 24's http.Agent destroys an idle pooled socket on a read, before any 'end'", () => {
    /**
     * A client connection that carried one request (124 bytes read) and sat pooled for 1 s,
     * whose socket's handle says what the destroy that comes next is: `inOwnRead`, called
     * from inside the socket's own read callback; `connected`, the kernel still names the peer.
     */
    function pooledThenDestroyed(options: { inOwnRead: boolean; connected: boolean; bytesAfter?: number; inFlight?: boolean }) {
      const f = clientEstablished();
      f.tracker.requestStarted(f.socket, 'client', 'GET', '/', undefined, undefined);
      f.socket.bytesRead = 124;
      f.tracker.socketPooled(f.socket, undefined, undefined);
      if (options.inFlight === true) f.tracker.requestStarted(f.socket, 'client', 'GET', '/', undefined, undefined);
      f.socket.bytesRead = options.bytesAfter ?? 124;
      Object.assign(f.socket, {
        _handle: { getAsyncId: () => (options.inOwnRead ? executionAsyncId() : executionAsyncId() + 1), getpeername: () => (options.connected ? 0 : -107) },
      });
      const at = f.clock.advance(1000);
      f.tracker.socketEvent(f.socket, { type: 'destroy_called', reset: false });
      f.tracker.socketEvent(f.socket, { type: 'close' });
      return { ...f, at, idleCloses: [...f.tracker.poolDestinations()].flatMap((d) => d.idleCloses) };
    }

    it("takes a destroy inside the socket's read, with no byte read and the peer still there, for the peer's FIN", () => {
      const { c, at, listener, idleCloses } = pooledThenDestroyed({ inOwnRead: true, connected: true });
      expect(c.peerFinAt).toBe(at);
      expect(listener.timeline(c.id)).toEqual(['syn_sent/socket_event', 'established/socket_event', 'close_wait/socket_event', 'closed/socket_event']);
      expect(listener.fins).toMatchObject([{ by: 'peer', at, bytesRead: 124 }]);
      expect(c.http?.closeReason).toBe('peer_closed_idle');
      // One sample of the server's idle timeout, as from 'end'.
      expect(idleCloses).toEqual([1000]);
    });

    it.each([
      ['data came (the read brought bytes)', { inOwnRead: true, connected: true, bytesAfter: 130 }],
      ['the read failed (the kernel no longer names the peer: a reset)', { inOwnRead: true, connected: false }],
      ['the destroy came from elsewhere (the application, agent.destroy())', { inOwnRead: false, connected: true }],
      ['a request was in flight (not pooled)', { inOwnRead: true, connected: true, inFlight: true }],
    ])('claims no FIN when %s', (_case, options) => {
      const { c, listener, idleCloses } = pooledThenDestroyed(options);
      expect(c.peerFinAt).toBeUndefined();
      expect(listener.fins).toEqual([]);
      expect(listener.timeline(c.id)).not.toContain('close_wait/socket_event');
      expect(c.http?.closeReason).not.toBe('peer_closed_idle');
      expect(idleCloses).toEqual([]);
    });
  });
});
