import { describe, expect, it } from 'vitest';
import { CloseWaitLeakDetector } from '../../src/detect/close-wait-leak.js';
import { ListeningSockets } from '../../src/model/listening-sockets.js';
import { ConnectionTracker } from '../../src/model/tracker.js';
import { TcpState } from '../../src/tcp-states.js';
import {
  Clock,
  CLIENT_PORT,
  FakeSocket,
  RecordingListener,
  clientEstablished,
  clientSynSent,
  model,
  row,
  SERVER_PORT,
  serverCloseWait,
  serverEstablished,
  serverFinWait1,
  serverFinWait2,
  serverLastAck,
} from './fixture.js';

/** The model tested without the world: fake sockets, kernel rows made by hand, a test clock. */

function leaks(tracker: ConnectionTracker, time: number, thresholdMs = 1000) {
  const detector = new CloseWaitLeakDetector(thresholdMs);
  return detector.fromEvents({ model: tracker, listeners: new ListeningSockets(), time });
}

describe('SYN_SENT', () => {
  it('is where a client starts, from connect()', () => {
    const f = clientSynSent();
    expect(f.c.state).toBe(TcpState.SynSent);
    expect(f.listener.timeline(f.c.id)).toEqual(['syn_sent/socket_event']);
  });

  it("moves to ESTABLISHED on 'connect' and learns both endpoints", () => {
    const f = clientEstablished();
    expect(f.c.state).toBe(TcpState.Established);
    expect(f.c.local).toEqual({ address: '127.0.0.1', port: CLIENT_PORT });
    expect(f.c.peer).toEqual({ address: '127.0.0.1', port: SERVER_PORT });
  });

  it('closes without a handshake: endpoints from getsockname and the connect() target', () => {
    const f = clientSynSent();
    f.tracker.socketEvent(f.socket, { type: 'destroy_called', reset: false });
    const refused = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    f.tracker.socketEvent(f.socket, { type: 'close', error: refused });
    expect(f.c.state).toBe(TcpState.Closed);
    expect(f.c.closeReason).toBe('error');
    expect(f.c.peer).toEqual({ address: '127.0.0.1', port: SERVER_PORT });
    // A failed handshake leaves nothing in the kernel to follow.
    expect(f.tracker.followedAfterClose).toBe(0);
  });
});

describe('ESTABLISHED', () => {
  it('is where an accepted connection starts', () => {
    const f = serverEstablished();
    expect(f.listener.timeline(f.c.id)).toEqual(['established/socket_event']);
  });

  it("a stale SYN_SENT row after 'connect' is dropped", () => {
    const f = clientEstablished();
    f.tracker.kernelRows([row(f.socket, TcpState.SynSent)], 'ss', f.clock.advance(1));
    expect(f.c.state).toBe(TcpState.Established);
  });

  it('a CLOSE_WAIT row behind a paused stream is CLOSE_WAIT from the kernel, dated by lastack', () => {
    const f = serverEstablished();
    f.socket.readableFlowing = false;
    const pollTime = f.clock.advance(5000);
    f.tracker.kernelRows([row(f.socket, TcpState.CloseWait, { recvQ: 11, tcpInfo: { lastAckMs: 1200 } })], 'ss', pollTime);
    expect(f.c.state).toBe(TcpState.CloseWait);
    expect(f.c.stateSource).toBe('kernel');
    expect(f.c.stateSince).toBe(pollTime - 1200);
    expect(f.c.firstFin).toMatchObject({ by: 'peer', at: pollTime - 1200 });
    expect(f.c.kernelCloseWaitPolls).toBe(1);
  });

  it('a reset closes it with reason reset and nothing to follow after close', () => {
    const f = serverEstablished();
    const reset = Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    f.tracker.socketEvent(f.socket, { type: 'close', error: reset });
    expect(f.c.closeReason).toBe('reset');
    expect(f.tracker.followedAfterClose).toBe(0);
    expect(f.tracker.liveConnections().size).toBe(0);
  });
});

describe('CLOSE_WAIT', () => {
  it("comes from 'end' before our FIN", () => {
    const f = serverCloseWait();
    expect(f.listener.timeline(f.c.id)).toEqual(['established/socket_event', 'close_wait/socket_event']);
    expect(f.tracker.connectionsIn(TcpState.CloseWait).has(f.c)).toBe(true);
  });

  it('is an end_not_called leak once past the threshold, reported from events alone, once', () => {
    const f = serverCloseWait();
    expect(leaks(f.tracker, f.clock.advance(999))).toEqual([]);
    const detector = new CloseWaitLeakDetector(1000);
    const context = { model: f.tracker, listeners: new ListeningSockets(), time: f.clock.advance(1) };
    const [leak] = detector.fromEvents(context);
    expect(leak).toMatchObject({ type: 'close_wait_leak', cause: 'end_not_called', durationMs: 1000, readMode: 'flowing' });
    expect(detector.fromEvents({ ...context, time: f.clock.advance(5000) })).toEqual([]);
  });

  it('is no leak once end() was called, even while CLOSE_WAIT lasts', () => {
    const f = serverCloseWait();
    f.tracker.socketEvent(f.socket, { type: 'end_called' });
    expect(leaks(f.tracker, f.clock.advance(10_000))).toEqual([]);
  });

  it('a not_read_to_eof leak needs the latest poll to still show CLOSE_WAIT', () => {
    const f = serverEstablished();
    f.socket.readableFlowing = null;
    f.tracker.kernelRows([row(f.socket, TcpState.CloseWait, { recvQ: 1 })], 'ss', f.clock.advance(10));
    // The next poll no longer lists it (a stale or failed read): no claim.
    f.tracker.kernelRows([], 'ss', f.clock.advance(2000));
    expect(leaks(f.tracker, f.clock.time)).toEqual([]);
    f.tracker.kernelRows([row(f.socket, TcpState.CloseWait, { recvQ: 1 })], 'ss', f.clock.advance(10));
    const [leak] = leaks(f.tracker, f.clock.time);
    expect(leak).toMatchObject({ cause: 'not_read_to_eof', unreadKernelBytes: 0, readMode: 'not_started' });
  });

  it("moves to LAST_ACK when our FIN follows ('finish')", () => {
    const f = serverLastAck();
    expect(f.c.state).toBe(TcpState.LastAck);
    expect(f.c.secondFin?.by).toBe('local');
  });

  it("a stale ESTABLISHED row after 'end' is dropped", () => {
    const f = serverCloseWait();
    f.tracker.kernelRows([row(f.socket, TcpState.Established)], 'ss', f.clock.advance(1));
    expect(f.c.state).toBe(TcpState.CloseWait);
  });
});

describe('LAST_ACK', () => {
  it("ends in CLOSED at 'close', with reason fin, and the kernel is not followed (passive closer)", () => {
    const f = serverLastAck();
    f.tracker.socketEvent(f.socket, { type: 'close' });
    expect(f.c.state).toBe(TcpState.Closed);
    expect(f.c.closeReason).toBe('fin');
    expect(f.tracker.followedAfterClose).toBe(0);
  });
});

describe('FIN_WAIT_1', () => {
  it("'finish' before 'end' claims no state: FIN_WAIT_1 comes from the kernel only", () => {
    const f = serverEstablished();
    f.tracker.socketEvent(f.socket, { type: 'finish' });
    expect(f.c.state).toBe(TcpState.Established);
    f.tracker.kernelRows([row(f.socket, TcpState.FinWait1)], 'ss', f.clock.advance(1));
    expect(f.listener.timeline(f.c.id)).toEqual(['established/socket_event', 'fin_wait_1/kernel']);
  });

  it('a CLOSING row marks a simultaneous close', () => {
    const f = serverFinWait1();
    f.tracker.kernelRows([row(f.socket, TcpState.Closing)], 'ss', f.clock.advance(1));
    expect(f.c.sawClosing).toBe(true);
  });
});

describe('FIN_WAIT_2', () => {
  it('comes from the kernel, after FIN_WAIT_1', () => {
    const f = serverFinWait2();
    expect(f.listener.timeline(f.c.id)).toEqual(['established/socket_event', 'fin_wait_1/kernel', 'fin_wait_2/kernel']);
  });

  it("the peer's late FIN ('end') claims no state: the FINs may have crossed", () => {
    const f = serverFinWait2();
    f.tracker.socketEvent(f.socket, { type: 'end' });
    expect(f.c.state).toBe(TcpState.FinWait2);
    expect(f.c.secondFin?.by).toBe('peer');
  });
});

describe('TIME_WAIT and after close', () => {
  it('an active closer is followed after close, and its kernel states become a timeline ending in closed', () => {
    const f = serverFinWait2();
    f.tracker.socketEvent(f.socket, { type: 'end' });
    f.tracker.socketEvent(f.socket, { type: 'close' });
    expect(f.tracker.followedAfterClose).toBe(1);
    expect(f.c.followedAfterClose).toBe(true);
    const need = f.tracker.kernelNeed();
    expect(need?.portPairs).toEqual([{ localPort: SERVER_PORT, peerPort: CLIENT_PORT }]);
    const t1 = f.clock.advance(100);
    f.tracker.kernelRows([row(f.socket, TcpState.TimeWait)], 'ss', t1);
    expect(f.listener.afterCloses).toEqual([]);
    f.tracker.kernelNeed();
    const t2 = f.clock.advance(60_000);
    f.tracker.kernelRows([], 'ss', t2);
    expect(f.listener.afterCloses).toEqual([
      {
        id: f.c.id,
        sightings: [
          { state: 'time_wait', source: 'kernel', time: t1 },
          { state: 'closed', source: 'kernel', time: t2 },
        ],
      },
    ]);
    expect(f.tracker.followedAfterClose).toBe(0);
  });

  it('a row for a socket closed during the poll is ignored by the live model', () => {
    const f = serverCloseWait();
    const stale = row(f.socket, TcpState.CloseWait);
    f.tracker.socketEvent(f.socket, { type: 'end_called' });
    f.tracker.socketEvent(f.socket, { type: 'close' });
    f.tracker.kernelRows([stale], 'ss', f.clock.advance(1));
    expect(f.c.state).toBe(TcpState.Closed);
    expect(f.c.kernel).toBeUndefined();
  });
});

describe('CLOSED', () => {
  it('takes no events after close', () => {
    const f = serverCloseWait();
    f.tracker.socketEvent(f.socket, { type: 'close' });
    const before = f.listener.changes.length;
    f.tracker.socketEvent(f.socket, { type: 'finish' });
    expect(f.listener.changes.length).toBe(before);
  });

  it('stop() forgets every record and returns the sockets it followed', () => {
    const m = model();
    const a = serverEstablished(m);
    const sockets = m.tracker.stop();
    expect(sockets).toEqual([a.socket]);
    expect(m.tracker.liveConnections().size).toBe(0);
    m.tracker.socketEvent(a.socket, { type: 'end' });
    expect(a.c.state).toBe(TcpState.Established);
    // The socket no longer holds the record: nothing of a stopped instrumentation stays reachable from it.
    expect(m.tracker.isTracked(a.socket)).toBe(false);
    expect(Object.getOwnPropertySymbols(a.socket).map((key) => (a.socket as unknown as Record<symbol, unknown>)[key])).not.toContain(a.c);
  });
});

describe('a listener that throws', () => {
  it('costs neither the state change nor the next listener call', () => {
    const m = model();
    m.listener.stateChanged = () => {
      throw new Error('exporter down');
    };
    const f = serverCloseWait(m);
    expect(f.c.state).toBe(TcpState.CloseWait);
  });
});

describe('what the model records: its recording policy, given at construction', () => {
  function withPolicy(record: boolean, follow: boolean) {
    const listener = new RecordingListener();
    const clock = new Clock();
    const asked: string[] = [];
    const tracker = new ConnectionTracker(listener, clock.now, {
      record: (c) => {
        asked.push(`record ${c.side}`);
        return record;
      },
      followAfterClose: (c) => {
        asked.push(`follow ${c.closeReason ?? ''}`);
        return follow;
      },
    });
    return { tracker, listener, clock, asked };
  }

  /** A server connection that closes first (the kernel may keep it in TIME_WAIT). */
  function activeClose(m: ReturnType<typeof withPolicy>) {
    const socket = new FakeSocket(SERVER_PORT, CLIENT_PORT);
    m.tracker.socketOpened(socket, 'server', undefined);
    const [c] = m.tracker.liveConnections();
    m.tracker.socketEvent(socket, { type: 'finish' });
    m.tracker.socketEvent(socket, { type: 'end' });
    m.tracker.socketEvent(socket, { type: 'close' });
    if (c === undefined) throw new Error('no record');
    return c;
  }

  it('a recorded connection has its endpoints at open and is followed after close when the policy says so', () => {
    const m = withPolicy(true, true);
    const c = activeClose(m);
    expect(c.recorded).toBe(true);
    expect(c.local).toEqual({ address: '127.0.0.1', port: SERVER_PORT });
    expect(c.followedAfterClose).toBe(true);
    expect(m.tracker.followedAfterClose).toBe(1);
    expect(m.asked).toEqual(['record server', 'follow fin']);
  });

  it('a recorded connection the policy does not follow after close is not followed', () => {
    const m = withPolicy(true, false);
    const c = activeClose(m);
    expect(c.followedAfterClose).toBe(false);
    expect(m.tracker.kernelNeed()).toBeUndefined();
  });

  it('an unrecorded connection: no endpoints read, never followed, the follow-up never asked', () => {
    const m = withPolicy(false, true);
    const c = activeClose(m);
    expect(c.recorded).toBe(false);
    expect(c.local).toBeUndefined();
    expect(c.followedAfterClose).toBe(false);
    expect(m.asked).toEqual(['record server']);
  });

  it('the listener hears of every connection, recorded or not, and answers nothing', () => {
    const m = withPolicy(false, false);
    activeClose(m);
    expect(m.listener.closedIds).toEqual([1]);
  });
});
