import { describe, expect, it } from 'vitest';
import type { PollContext } from '../../src/detect/detector.js';
import { HalfCloseStuckDetector, MAX_ENDPOINT_LOOKUPS, MAX_PORT_PAIRS, type HalfCloseStuck } from '../../src/detect/half-close-stuck.js';
import { ListeningSockets } from '../../src/model/listening-sockets.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { rowsFor, type KernelNeed } from '../../src/observe/kernel/query.js';
import { findingSpan } from '../../src/report/finding-reporter.js';
import { TcpState } from '../../src/tcp-states.js';
import {
  CLIENT_PORT,
  clientEstablished,
  FakeSocket,
  model,
  row,
  SERVER_PORT,
  serverCloseWait,
  serverEstablished,
  serverFinWait1,
  serverFinWait2,
  serverLastAck,
  type Model,
} from '../model/fixture.js';

/** The detector tested without the world: fake sockets, a kernel table made by hand, a test clock. */

const THRESHOLD_MS = 1000;

/**
 * One poll as the poller runs it: the detector's need, the kernel's answer to it (the table
 * filtered as a source filters), the rows applied to the model, then `fromKernel` with its rows.
 * `answer: false` is a poll whose kernel read failed.
 */
function poll(
  detector: HalfCloseStuckDetector,
  m: Model,
  table: readonly KernelSocketRow[],
  options: { answer?: boolean; duringRead?: () => void } = {},
): { need: KernelNeed | undefined; findings: HalfCloseStuck[] } {
  const context: PollContext = { model: m.tracker, listeners: new ListeningSockets(), time: m.clock.time, counters: undefined };
  const need = detector.need(context);
  if (need === undefined) return { need, findings: [] };
  options.duringRead?.();
  if (options.answer === false) return { need, findings: detector.fromKernel(context, undefined) };
  const rows = rowsFor(table, need);
  m.tracker.kernelRows(rows, 'ss', m.clock.time);
  return { need, findings: detector.fromKernel(context, rowsFor(rows, need)) };
}

/** A server that ended first: `end()` called and flushed (`'finish'`), no poll yet. */
function serverEnded(m: Model = model(), socket = new FakeSocket(SERVER_PORT, CLIENT_PORT)) {
  m.tracker.socketOpened(socket, 'server', undefined);
  const c = [...m.tracker.liveConnections()].find((x) => x.socket === socket);
  if (c === undefined) throw new Error('not tracked');
  m.clock.advance(10);
  m.tracker.socketEvent(socket, { type: 'end_called' });
  m.tracker.socketEvent(socket, { type: 'finish' });
  return { ...m, socket, c };
}

describe('the kernel need', () => {
  it('is none while no connection awaits the peer’s FIN: a healthy server costs no query', () => {
    const m = model();
    serverEstablished(m);
    clientEstablished(m);
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    expect(poll(detector, m, []).need).toBeUndefined();

    // Closed by the peer first, answered (LAST_ACK), or still in CLOSE_WAIT: the peer's FIN is here.
    for (const f of [serverCloseWait(), serverLastAck()]) expect(poll(detector, f, []).need).toBeUndefined();
    const closed = serverFinWait2();
    closed.tracker.socketEvent(closed.socket, { type: 'end' });
    closed.tracker.socketEvent(closed.socket, { type: 'close' });
    expect(poll(detector, closed, []).need).toBeUndefined();
  });

  it('asks for FIN_WAIT_1/2 of exactly the connections whose FIN went out, by port pair', () => {
    const m = model();
    const ended = serverEnded(m, new FakeSocket(SERVER_PORT, 40_001));
    const answered = serverEnded(m, new FakeSocket(SERVER_PORT, 40_002));
    const open = new FakeSocket(SERVER_PORT, 40_003);
    m.tracker.socketOpened(open, 'server', undefined);
    const peerFirst = new FakeSocket(SERVER_PORT, 40_004);
    m.tracker.socketOpened(peerFirst, 'server', undefined);
    m.tracker.socketEvent(peerFirst, { type: 'end' });
    const client = new FakeSocket(40_005, 9000);
    m.tracker.socketOpened(client, 'client', undefined);
    m.tracker.socketEvent(client, { type: 'connect_called', host: '127.0.0.1', port: 9000 });
    m.tracker.socketEvent(client, { type: 'connect' });
    m.tracker.socketEvent(client, { type: 'finish' });
    // The second ended server got its peer's FIN: it no longer waits.
    m.tracker.socketEvent(answered.socket, { type: 'end' });

    const { need } = poll(new HalfCloseStuckDetector(THRESHOLD_MS), m, []);
    expect(need).toEqual({
      states: [TcpState.FinWait1, TcpState.FinWait2],
      portPairs: [
        { localPort: SERVER_PORT, peerPort: 40_001 },
        { localPort: 40_005, peerPort: 9000 },
      ],
    });
    expect(ended.c.state).toBe(TcpState.Established);
  });

  it('asks by listening and target ports beyond the pair limit', () => {
    const m = model();
    for (let i = 0; i <= MAX_PORT_PAIRS; i++) serverEnded(m, new FakeSocket(SERVER_PORT, 41_000 + i));
    const client = new FakeSocket(40_005, 9000);
    m.tracker.socketOpened(client, 'client', undefined);
    m.tracker.socketEvent(client, { type: 'connect_called', host: '127.0.0.1', port: 9000 });
    m.tracker.socketEvent(client, { type: 'connect' });
    m.tracker.socketEvent(client, { type: 'finish' });
    const { need } = poll(new HalfCloseStuckDetector(THRESHOLD_MS), m, []);
    expect(need).toEqual({ states: [TcpState.FinWait1, TcpState.FinWait2], localPorts: [SERVER_PORT], peerPorts: [9000] });
  });

  it('learns unknown endpoints of its candidates, a bounded number per poll', () => {
    const m = model();
    // Not recorded (no SDK): nothing asked for the endpoints yet.
    m.listener.opened = () => false;
    const count = MAX_ENDPOINT_LOOKUPS + 10;
    const connections = Array.from({ length: count }, (_, i) => serverEnded(m, new FakeSocket(SERVER_PORT, 42_000 + i)).c);
    expect(connections.filter((c) => c.local !== undefined)).toHaveLength(0);
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    const table = connections.map((c) => row(c.socket as FakeSocket, TcpState.FinWait2));
    poll(detector, m, table);
    // The kernel's rows taught the tracker the rest (same listening port): every one now matches.
    expect(connections.filter((c) => c.state === TcpState.FinWait2)).toHaveLength(count);

    const m2 = model();
    m2.listener.opened = () => false;
    const more = Array.from({ length: count }, (_, i) => serverEnded(m2, new FakeSocket(SERVER_PORT, 43_000 + i)).c);
    poll(detector, m2, []);
    expect(more.filter((c) => c.local !== undefined)).toHaveLength(MAX_ENDPOINT_LOOKUPS);
  });
});

describe('the timeline', () => {
  it('takes the kernel’s FIN_WAIT states from the poll, source kernel, in the table’s order', () => {
    const f = serverEnded();
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    f.clock.advance(5);
    poll(detector, f, [row(f.socket, TcpState.FinWait1)]);
    f.clock.advance(100);
    poll(detector, f, [row(f.socket, TcpState.FinWait2)]);
    expect(f.listener.timeline(f.c.id)).toEqual(['established/socket_event', 'fin_wait_1/kernel', 'fin_wait_2/kernel']);
  });
});

describe('findings', () => {
  it('FIN_WAIT_2 past the threshold, measured from our FIN: peer_not_closing, once', () => {
    const f = serverEnded();
    const finAt = f.c.localFinAt as number;
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    const table = [row(f.socket, TcpState.FinWait2)];
    f.clock.advance(THRESHOLD_MS - 1);
    expect(poll(detector, f, table).findings).toEqual([]);
    f.clock.advance(1);
    const [stuck, ...rest] = poll(detector, f, table).findings;
    expect(rest).toEqual([]);
    expect(stuck).toMatchObject({
      type: 'half_close_stuck',
      cause: 'peer_not_closing',
      state: TcpState.FinWait2,
      since: finAt,
      durationMs: THRESHOLD_MS,
      detectedAt: f.clock.time,
    });
    expect(stuck?.connection).toBe(f.c);
    f.clock.advance(10_000);
    expect(poll(detector, f, table).findings).toEqual([]);
  });

  it('FIN_WAIT_1 past the threshold: fin_not_acknowledged; its later FIN_WAIT_2 is not reported again', () => {
    const f = serverFinWait1();
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    f.clock.advance(THRESHOLD_MS);
    const [stuck] = poll(detector, f, [row(f.socket, TcpState.FinWait1)]).findings;
    expect(stuck).toEqual({
      type: 'half_close_stuck',
      connection: f.c,
      cause: 'fin_not_acknowledged',
      state: TcpState.FinWait1,
      since: f.c.localFinAt,
      durationMs: f.clock.time - (f.c.localFinAt as number),
      detectedAt: f.clock.time,
    });
    expect(stuck?.durationMs).toBeGreaterThanOrEqual(THRESHOLD_MS);
    f.clock.advance(100);
    expect(poll(detector, f, [row(f.socket, TcpState.FinWait2)]).findings).toEqual([]);
    expect(f.c.state).toBe(TcpState.FinWait2);
  });

  it('dates our FIN by the kernel’s FIN_WAIT sighting when it came before Node’s finish', () => {
    const f = serverEstablished();
    f.tracker.socketEvent(f.socket, { type: 'end_called' });
    const seenAt = f.clock.advance(10);
    f.tracker.kernelRows([row(f.socket, TcpState.FinWait1)], 'ss', seenAt);
    f.clock.advance(500);
    f.tracker.socketEvent(f.socket, { type: 'finish' });
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    f.clock.advance(THRESHOLD_MS - 500);
    const [stuck] = poll(detector, f, [row(f.socket, TcpState.FinWait1)]).findings;
    expect(stuck).toEqual({
      type: 'half_close_stuck',
      connection: f.c,
      cause: 'fin_not_acknowledged',
      state: TcpState.FinWait1,
      since: seenAt,
      durationMs: THRESHOLD_MS,
      detectedAt: f.clock.time,
    });
  });

  it('none once the peer’s FIN arrives, and no more query for it', () => {
    const f = serverFinWait2();
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    f.tracker.socketEvent(f.socket, { type: 'end' });
    f.clock.advance(THRESHOLD_MS * 10);
    const { need, findings } = poll(detector, f, [row(f.socket, TcpState.FinWait2)]);
    expect(need).toBeUndefined();
    expect(findings).toEqual([]);
  });

  it('none when the peer’s FIN is read during the kernel read', () => {
    const f = serverFinWait2();
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    f.clock.advance(THRESHOLD_MS * 10);
    const { need, findings } = poll(detector, f, [row(f.socket, TcpState.FinWait2)], {
      duringRead: () => f.tracker.socketEvent(f.socket, { type: 'end' }),
    });
    expect(need?.portPairs).toEqual([{ localPort: SERVER_PORT, peerPort: CLIENT_PORT }]);
    expect(findings).toEqual([]);
  });

  it('none for a socket that closes during the read: its stale row is ignored', () => {
    const f = serverFinWait2();
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    f.clock.advance(THRESHOLD_MS * 10);
    const before = f.listener.changes.length;
    const { need, findings } = poll(detector, f, [row(f.socket, TcpState.FinWait2)], {
      duringRead: () => f.tracker.socketEvent(f.socket, { type: 'close' }),
    });
    expect(need).toEqual({ states: [TcpState.FinWait1, TcpState.FinWait2], portPairs: [{ localPort: SERVER_PORT, peerPort: CLIENT_PORT }] });
    expect(findings).toEqual([]);
    expect(f.listener.changes.slice(before).map((c) => c.state)).toEqual([TcpState.Closed]);
    // Closed: never asked for again.
    expect(poll(detector, f, [row(f.socket, TcpState.FinWait2)]).need).toBeUndefined();
  });

  it('none once destroy() was called', () => {
    const f = serverFinWait2();
    f.tracker.socketEvent(f.socket, { type: 'destroy_called', reset: false });
    f.clock.advance(THRESHOLD_MS * 10);
    expect(poll(new HalfCloseStuckDetector(THRESHOLD_MS), f, [row(f.socket, TcpState.FinWait2)]).need).toBeUndefined();
  });

  it('needs the latest poll to show FIN_WAIT: a peer FIN the stream never read moves the kernel on, and the query stops', () => {
    const f = serverFinWait2();
    f.socket.readableFlowing = false; // paused: the peer's FIN will never surface as 'end'
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    f.clock.advance(10);
    expect(poll(detector, f, [row(f.socket, TcpState.FinWait2)]).findings).toEqual([]);
    // The peer closed: the kernel went TIME_WAIT, and a FIN_WAIT query finds nothing.
    f.clock.advance(THRESHOLD_MS * 10);
    const { need, findings } = poll(detector, f, [row(f.socket, TcpState.TimeWait)]);
    expect(need).toEqual({ states: [TcpState.FinWait1, TcpState.FinWait2], portPairs: [{ localPort: SERVER_PORT, peerPort: CLIENT_PORT }] });
    expect(findings).toEqual([]);
    expect(f.c.state).toBe(TcpState.FinWait2);
    expect(poll(detector, f, []).need).toBeUndefined();
  });

  it('claims nothing from a row the model refused (FIN_WAIT_1 after FIN_WAIT_2)', () => {
    const f = serverFinWait2();
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    f.clock.advance(THRESHOLD_MS * 10);
    expect(poll(detector, f, [row(f.socket, TcpState.FinWait1)]).findings).toEqual([]);
    expect(f.c.state).toBe(TcpState.FinWait2);
  });

  it('claims nothing from a poll the kernel did not answer, and asks again', () => {
    const f = serverFinWait2();
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    f.clock.advance(THRESHOLD_MS * 10);
    expect(poll(detector, f, [], { answer: false }).findings).toEqual([]);
    const [stuck] = poll(detector, f, [row(f.socket, TcpState.FinWait2)]).findings;
    expect(stuck).toEqual({
      type: 'half_close_stuck',
      connection: f.c,
      cause: 'peer_not_closing',
      state: TcpState.FinWait2,
      since: f.c.localFinAt,
      durationMs: f.clock.time - (f.c.localFinAt as number),
      detectedAt: f.clock.time,
    });
  });

  it('reports each stuck connection of many, once each', () => {
    const m = model();
    const sockets = Array.from({ length: 3 }, (_, i) => new FakeSocket(SERVER_PORT, 44_000 + i));
    for (const s of sockets) serverEnded(m, s);
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    m.clock.advance(THRESHOLD_MS * 2);
    const table = sockets.map((s, i) => row(s, i === 0 ? TcpState.FinWait1 : TcpState.FinWait2));
    const found = poll(detector, m, table).findings;
    expect(found.map((s) => [s.connection.socket, s.cause])).toEqual([
      [sockets[0], 'fin_not_acknowledged'],
      [sockets[1], 'peer_not_closing'],
      [sockets[2], 'peer_not_closing'],
    ]);
    expect(poll(detector, m, table).findings).toEqual([]);
  });
});

describe('the finding span', () => {
  it('names the state, the cause, the duration in seconds and the endpoints, in the connection’s trace', () => {
    const f = serverEnded();
    const detector = new HalfCloseStuckDetector(THRESHOLD_MS);
    f.clock.advance(2500);
    const [stuck] = poll(detector, f, [row(f.socket, TcpState.FinWait1, { tcpInfo: { rttMs: 0.1, retransTotal: 4 } })]).findings;
    if (stuck === undefined) throw new Error('no finding');
    const span = findingSpan(stuck);
    expect(span).toMatchObject({ name: 'tcp.half_close.stuck', startTime: stuck.since, endTime: stuck.detectedAt, connection: f.c });
    expect(span.errorMessage).toMatch(/fin_wait_1 .*fin_not_acknowledged/);
    expect(span.attributes).toMatchObject({
      'network.transport': 'tcp',
      'network.connection.state': 'fin_wait_1',
      'tcp.state.source': 'kernel',
      'tcp.connection.side': 'server',
      'tcp.half_close.stuck.cause': 'fin_not_acknowledged',
      'tcp.half_close.duration': (f.clock.time - stuck.since) / 1000,
      'network.local.port': SERVER_PORT,
      'client.port': CLIENT_PORT,
      'tcp.info.retransmits': 4,
    });
  });
});
