import { describe, expect, it } from 'vitest';
import type { PollContext } from '../../src/detect/detector.js';
import {
  acceptQueueNearsBacklog,
  ListenPressureDetector,
  type ListenPoll,
  type ListenPressure,
  type ListenPressureOptions,
} from '../../src/detect/listen-pressure.js';
import { ListeningSockets, type ListeningServer } from '../../src/model/listening-sockets.js';
import { ConnectionTracker } from '../../src/model/tracker.js';
import type { StallSource } from '../../src/observe/event-loop-stalls.js';
import type { KernelCounters } from '../../src/observe/kernel/kernel-counters.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { rowsFor } from '../../src/observe/kernel/query.js';
import { DetectorObservers } from '../../src/poll/observers.js';
import { listenPressureAttributes, listenPressureMessage } from '../../src/report/listener-attributes.js';
import { TcpState } from '../../src/tcp-states.js';
import { Clock, FakeSocket, model, RecordingListener } from '../model/fixture.js';

/** The detector tested without the world: hand-made servers, kernel rows and counters, a test clock. */

class FakeServer implements ListeningServer {
  listening = true;
  constructor(
    readonly host: string,
    readonly port: number,
  ) {}
  address() {
    return this.listening ? { address: this.host, port: this.port } : null;
  }
}

/** A stall source that returns what the test sets, once. */
class FakeStalls implements StallSource {
  running = false;
  next: number | undefined;
  start(): void {
    this.running = true;
  }
  stop(): void {
    this.running = false;
  }
  takeLongestMs(): number | undefined {
    const next = this.next;
    this.next = undefined;
    return this.running ? next : undefined;
  }
}

function listenRow(address: string, port: number, acceptQueue: number, backlog: number): KernelSocketRow {
  return { state: TcpState.Listen, recvQ: acceptQueue, sendQ: backlog, local: { address, port }, peer: { address: '*', port: 0 }, inode: 1 };
}

let nextPeerPort = 40_000;
function synRows(address: string, port: number, count: number): KernelSocketRow[] {
  return Array.from({ length: count }, () => ({
    state: TcpState.SynReceived,
    recvQ: 0,
    sendQ: 0,
    local: { address, port },
    peer: { address: '10.0.0.9', port: nextPeerPort++ },
    inode: 0,
  }));
}

/**
 * A detector driven the way the poller drives it, the kernel's filter applied to the rows
 * given. Unless a test says otherwise the kernel keeps retransmitting SYN-ACKs (TCPSynRetrans
 * rises at every poll), which makes the detector read the rows at every poll after the first.
 */
function setup(options: Partial<ListenPressureOptions> = {}) {
  const clock = new Clock();
  const listeners = new ListeningSockets();
  const stalls = new FakeStalls();
  const polls: ListenPoll[] = [];
  const detector = new ListenPressureDetector({
    synReceivedThreshold: 5,
    reportIntervalMs: 1000,
    stalls,
    measurements: { record: (m) => m.kind === 'listen' && polls.push(m.poll) },
    shared: false,
    ...options,
  });
  // The engine runs the observers the detector declares.
  const observers = new DetectorObservers([detector], { 'event-loop-stalls': stalls });
  const { tracker } = model();
  const kernel = { retransmitting: true, synRetrans: 0 };
  /** Whether the last poll asked for rows. */
  let asked = false;
  const listen = (host: string, port: number): FakeServer => {
    const server = new FakeServer(host, port);
    listeners.add(server, undefined);
    return server;
  };
  /**
   * One poll; `rows: undefined` is a poll where no kernel source answered. `whileReading`
   * runs between the counters read and the answer of the rows (while `ss` runs).
   */
  const poll = (rows: KernelSocketRow[] | undefined, counters?: KernelCounters, advanceMs = 100, whileReading?: () => void): ListenPressure[] => {
    const time = clock.advance(advanceMs);
    const base = { model: tracker, listeners, time };
    observers.update(base);
    const wants = detector.wantsCounters(base);
    if (kernel.retransmitting) kernel.synRetrans++;
    const context: PollContext = { ...base, counters: wants ? { synRetrans: kernel.synRetrans, ...counters } : undefined };
    const need = detector.need(context);
    asked = need !== undefined;
    if (need === undefined && context.counters === undefined) return [];
    whileReading?.();
    return detector.fromKernel(context, need === undefined || rows === undefined ? undefined : rowsFor(rows, need));
  };
  return { clock, listeners, stalls, observers, polls, detector, kernel, listen, poll, asked: () => asked };
}

function counters(listenOverflows: number, listenDrops = listenOverflows): KernelCounters {
  return { listenOverflows, listenDrops };
}

describe('what it asks the kernel for', () => {
  it('nothing while the process does not listen: no rows, no counters, no stall monitor', () => {
    const s = setup();
    const base = { model: new ConnectionTracker(new RecordingListener()), listeners: s.listeners, time: 1 };
    s.observers.update(base);
    expect(s.detector.wantsCounters(base)).toBe(false);
    expect(s.detector.need({ ...base, counters: undefined })).toBeUndefined();
    expect(s.stalls.running).toBe(false);
  });

  it('the counters at every poll while it listens, and the stall monitor (declared, run by the engine)', () => {
    const s = setup();
    s.listen('::', 8080);
    const base = { model: new ConnectionTracker(new RecordingListener()), listeners: s.listeners, time: 1 };
    expect(s.detector.needs).toEqual(['event-loop-stalls']);
    s.observers.update(base);
    expect(s.detector.wantsCounters(base)).toBe(true);
    expect(s.stalls.running).toBe(true);
  });

  it('no rows while the counters show nothing: a healthy server runs no ss for it', () => {
    const s = setup();
    s.kernel.retransmitting = false;
    s.listen('::', 8080);
    for (let i = 0; i < 5; i++) {
      s.poll([listenRow('*', 8080, 0, 511)], counters(7, 9));
      expect(s.asked()).toBe(false);
    }
    // Nothing read, nothing to tell the metrics about the listener.
    expect(s.polls.at(-1)?.listeners).toEqual([]);
  });

  it.each([
    ['a SYN-ACK retransmitted', { synRetrans: 11 }],
    ['a SYN cookie sent for a full SYN queue', { synQueueFullCookies: 4 }],
    ['a listen overflow', { listenOverflows: 8, listenDrops: 8 }],
    ['a listen drop', { listenDrops: 1 }],
  ])('the LISTEN and SYN_RECEIVED rows of every listening port, filtered in the kernel, at the poll whose counters show %s', (_what, rise) => {
    const s = setup();
    s.kernel.retransmitting = false;
    s.listen('::', 8080);
    s.listen('127.0.0.1', 9090);
    const quiet = { synRetrans: 10, synQueueFullCookies: 3, listenOverflows: 7, listenDrops: 0 };
    s.poll([], quiet);
    s.poll([], quiet);
    expect(s.asked()).toBe(false);
    const base = { model: new ConnectionTracker(new RecordingListener()), listeners: s.listeners, time: s.clock.advance(100) };
    s.detector.wantsCounters(base);
    expect(s.detector.need({ ...base, counters: { ...quiet, ...rise } })).toEqual({ states: ['listen', 'syn_received'], localPorts: [8080, 9090] });
  });

  it('goes on reading the rows at every poll until its listeners look idle', () => {
    const s = setup({ synReceivedThreshold: 100 });
    s.listen('127.0.0.1', 8080);
    s.poll([]);
    s.poll([listenRow('127.0.0.1', 8080, 0, 511), ...synRows('127.0.0.1', 8080, 2)]);
    expect(s.asked()).toBe(true);
    s.kernel.retransmitting = false;
    s.poll([listenRow('127.0.0.1', 8080, 1, 511)]);
    expect(s.asked()).toBe(true);
    s.poll([listenRow('127.0.0.1', 8080, 0, 511)]);
    expect(s.asked()).toBe(true);
    s.poll([listenRow('127.0.0.1', 8080, 0, 511)]);
    expect(s.asked()).toBe(false);
  });

  it('stops the stall monitor once nothing listens', () => {
    const s = setup();
    const server = s.listen('::', 8080);
    s.poll([]);
    expect(s.stalls.running).toBe(true);
    server.listening = false;
    s.poll([]);
    expect(s.stalls.running).toBe(false);
  });

  it("costs the model nothing: LISTEN and SYN_RECEIVED rows on a server's port read no connection's endpoints", () => {
    // A listener that records nothing, so that endpoints are read only when a poll asks.
    const quiet = Object.assign(new RecordingListener(), { opened: () => false });
    const tracker = new ConnectionTracker(quiet, new Clock().now);
    const accepted = new FakeSocket(8080, 40_001);
    tracker.socketOpened(accepted, 'server', undefined);
    const [c] = tracker.liveConnections();
    tracker.kernelRows([listenRow('127.0.0.1', 8080, 0, 511), ...synRows('127.0.0.1', 8080, 3)], 'ss', 2);
    expect(c?.local).toBeUndefined();
    // A row that can be this process's connection still does.
    tracker.kernelRows([{ ...listenRow('127.0.0.1', 8080, 0, 0), state: TcpState.CloseWait, peer: { address: '127.0.0.1', port: 40_001 } }], 'ss', 3);
    expect(c?.local).toEqual({ address: '127.0.0.1', port: 8080 });
  });
});

describe('SYN_RECEIVED', () => {
  it('is reported when the count on a listener reaches the threshold, not before', () => {
    const s = setup({ synReceivedThreshold: 5 });
    s.listen('127.0.0.1', 8080);
    s.poll([]); // the counters' baseline: no rows yet
    expect(s.poll([listenRow('127.0.0.1', 8080, 0, 511), ...synRows('127.0.0.1', 8080, 4)])).toEqual([]);
    const [finding, ...more] = s.poll([listenRow('127.0.0.1', 8080, 0, 511), ...synRows('127.0.0.1', 8080, 5)]);
    expect(more).toEqual([]);
    expect(finding?.reasons).toEqual(['syn_received']);
    expect(finding?.listener).toEqual({ address: '127.0.0.1', port: 8080, synReceived: 5, acceptQueue: 0, backlog: 511 });
    expect(finding?.since).toBe(s.clock.time);
    expect(finding?.detectedAt).toBe(s.clock.time);
  });

  it("counts only its own listener's rows: the port, and the address unless it listens on every address", () => {
    const s = setup({ synReceivedThreshold: 3 });
    s.listen('127.0.0.1', 8080);
    s.listen('::', 9090);
    s.poll([]); // the counters' baseline: no rows yet
    const rows = [
      listenRow('127.0.0.1', 8080, 0, 511),
      listenRow('*', 9090, 0, 511),
      ...synRows('127.0.0.1', 8080, 2),
      ...synRows('10.1.1.1', 8080, 5), // another process's listener on another address
      ...synRows('127.0.0.1', 7070, 9), // another port: the kernel's filter leaves it out
      ...synRows('127.0.0.1', 9090, 2),
      ...synRows('::1', 9090, 2),
    ];
    const findings = s.poll(rows);
    expect(findings.map((f) => [f.listener?.port, f.listener?.synReceived])).toEqual([[9090, 4]]);
    expect(s.polls.at(-1)?.listeners.map((l) => [l.port, l.synReceived])).toEqual([
      [8080, 2],
      [9090, 4],
    ]);
  });
});

describe('accept queue near the backlog', () => {
  it.each([
    [3, 4, true],
    [2, 4, false],
    [9, 10, true],
    [8, 10, false],
    [460, 511, true],
    [459, 511, false],
    [1, 1, true],
    [0, 1, false],
    [0, 0, false],
    [5, undefined, false],
    [undefined, 4, false],
  ])('queue %s of backlog %s nears it: %s', (queue, backlog, nears) => {
    expect(acceptQueueNearsBacklog(queue, backlog)).toBe(nears);
  });

  it("is reported from the LISTEN row's Recv-Q against its Send-Q", () => {
    const s = setup();
    s.listen('::', 8080);
    s.poll([]); // the counters' baseline: no rows yet
    expect(s.poll([listenRow('*', 8080, 2, 4)])).toEqual([]);
    const [finding] = s.poll([listenRow('*', 8080, 3, 4)]);
    expect(finding?.reasons).toEqual(['accept_queue']);
    expect(finding?.listener).toMatchObject({ address: '::', port: 8080, acceptQueue: 3, backlog: 4 });
  });

  it('has no backlog where the source prints none (/proc/net/tcp: Send-Q 0 on LISTEN), and reports no near-full queue', () => {
    const s = setup();
    s.listen('0.0.0.0', 8080);
    s.poll([]); // the counters' baseline: no rows yet
    expect(s.poll([listenRow('0.0.0.0', 8080, 40, 0)])).toEqual([]);
    expect(s.polls.at(-1)?.listeners).toEqual([{ address: '0.0.0.0', port: 8080, synReceived: 0, acceptQueue: 40, backlog: undefined }]);
  });

  it('tells the fullest queue of an SO_REUSEPORT group on one address and port', () => {
    const s = setup();
    s.listen('127.0.0.1', 8080);
    s.poll([]); // the counters' baseline: no rows yet
    const [finding] = s.poll([listenRow('127.0.0.1', 8080, 1, 10), listenRow('127.0.0.1', 8080, 9, 10), listenRow('127.0.0.1', 8080, 0, 10)]);
    expect(finding?.listener).toMatchObject({ acceptQueue: 9, backlog: 10 });
  });
});

describe('listen overflows and drops (namespace counters)', () => {
  it('takes the first read as the baseline: nothing from before socklife started', () => {
    const s = setup();
    s.listen('127.0.0.1', 8080);
    const rows = [listenRow('127.0.0.1', 8080, 0, 511)];
    expect(s.poll(rows, counters(5000, 6000))).toEqual([]);
    expect(s.polls.at(-1)).toMatchObject({ overflows: undefined, drops: undefined });
    expect(s.poll(rows, counters(5000, 6000))).toEqual([]);
    expect(s.polls.at(-1)).toMatchObject({ overflows: 0, drops: 0 });
  });

  it('reports the rise since the last poll, starting at that poll, with the stall that came with it', () => {
    const s = setup();
    s.listen('127.0.0.1', 8080);
    const rows = [listenRow('127.0.0.1', 8080, 0, 4)];
    s.poll(rows, counters(10));
    const before = s.clock.time;
    s.stalls.next = 2010;
    const [finding, ...more] = s.poll(rows, counters(110), 2100);
    expect(more).toEqual([]);
    expect(finding).toMatchObject({ reasons: ['overflow'], overflows: 100, drops: 100, stallMs: 2010, since: before, detectedAt: s.clock.time });
    // With one listener the overflow is told on it, its own figures alongside.
    expect(finding?.listener).toEqual({ address: '127.0.0.1', port: 8080, synReceived: 0, acceptQueue: 0, backlog: 4 });
    expect(s.polls.at(-1)).toMatchObject({ overflows: 100, drops: 100 });
    expect(s.poll(rows, counters(110))).toEqual([]);
  });

  it('tells a stall that ended while a read was out with the overflow the next poll counts', () => {
    const s = setup();
    s.listen('127.0.0.1', 8080);
    s.poll([listenRow('127.0.0.1', 8080, 0, 4)], counters(0));
    // The counters are read, then the loop stalls while ss runs: ss sees the queue overflowing.
    const [during] = s.poll([listenRow('127.0.0.1', 8080, 5, 4)], counters(0), 100, () => (s.stalls.next = 2000));
    expect(during).toMatchObject({ reasons: ['accept_queue'], overflows: 0, stallMs: 2000 });
    // The next poll's counters show what the stall cost, and the stall goes with them.
    const [after] = s.poll([listenRow('127.0.0.1', 8080, 0, 4)], counters(90), 2100);
    expect(after).toMatchObject({ reasons: ['overflow'], overflows: 90, stallMs: 2000 });
    // Two polls on, that stall is no longer news.
    const [later] = s.poll([listenRow('127.0.0.1', 8080, 0, 4)], counters(95), 100);
    expect(later).toBeUndefined();
    const [next] = s.poll([listenRow('127.0.0.1', 8080, 0, 4)], counters(95), 60_000);
    expect(next).toMatchObject({ reasons: ['overflow'], overflows: 5, stallMs: undefined });
  });

  it('names drops beyond the overflows', () => {
    const s = setup();
    s.listen('127.0.0.1', 8080);
    s.poll([], counters(0, 0));
    const [finding] = s.poll([], counters(0, 7));
    expect(finding).toMatchObject({ reasons: ['drop'], overflows: 0, drops: 7 });
  });

  it('still reports overflows when no kernel source answers (counters are files)', () => {
    const s = setup();
    s.listen('127.0.0.1', 8080);
    s.poll(undefined, counters(0));
    const [finding] = s.poll(undefined, counters(3));
    expect(finding?.reasons).toEqual(['overflow']);
    expect(finding?.listener).toEqual({ address: '127.0.0.1', port: 8080, synReceived: undefined, acceptQueue: undefined, backlog: undefined });
  });

  it('with several listeners reports an overflow once, naming no listener but every port', () => {
    const s = setup({ synReceivedThreshold: 2 });
    s.listen('127.0.0.1', 9090);
    s.listen('::', 8080);
    const rows = [listenRow('127.0.0.1', 9090, 0, 511), listenRow('*', 8080, 0, 511)];
    expect(s.poll(rows, counters(0))).toEqual([]);
    const findings = s.poll([...rows, ...synRows('127.0.0.1', 9090, 2)], counters(40));
    expect(findings).toHaveLength(2);
    const [own, namespace] = findings;
    // The listener with its own pressure carries only its own figures.
    expect(own).toMatchObject({ reasons: ['syn_received'], overflows: undefined, drops: undefined, ports: [8080, 9090] });
    expect(own?.listener?.port).toBe(9090);
    expect(namespace).toMatchObject({ listener: undefined, reasons: ['overflow'], overflows: 40, drops: 40, ports: [8080, 9090] });
    expect(listenPressureAttributes(namespace as ListenPressure)).toEqual({
      'network.transport': 'tcp',
      'tcp.listen.pressure.reasons': ['overflow'],
      'tcp.listen.ports': [8080, 9090],
      'tcp.listen.counters_scope': 'namespace',
      'tcp.listen.overflows': 40,
      'tcp.listen.drops': 40,
    });
    expect(listenPressureMessage(namespace as ListenPressure)).toBe(
      'listen pressure on ports 8080, 9090 (counted for the whole network namespace): 40 listen overflows',
    );
  });

  it('starts a new baseline when the process listens again after a time without listeners', () => {
    const s = setup();
    const server = s.listen('127.0.0.1', 8080);
    s.poll([], counters(10));
    server.listening = false;
    s.poll([], counters(10));
    s.poll([], counters(500)); // nothing listens: the counters are not even read
    s.listen('127.0.0.1', 8081);
    expect(s.poll([], counters(900))).toEqual([]);
    expect(s.poll([], counters(901))[0]).toMatchObject({ overflows: 1 });
  });

  it('ignores a counter that fell, taking it as a new baseline', () => {
    const s = setup();
    s.listen('127.0.0.1', 8080);
    s.poll([], counters(100));
    expect(s.poll([], counters(20))).toEqual([]);
    expect(s.poll([], counters(25))[0]).toMatchObject({ overflows: 5 });
  });
});

describe('rate limit', () => {
  it('reports a listener at most once per interval while the pressure lasts', () => {
    const s = setup({ synReceivedThreshold: 3, reportIntervalMs: 1000 });
    s.listen('127.0.0.1', 8080);
    s.poll([]); // the counters' baseline: no rows yet
    const rows = [listenRow('127.0.0.1', 8080, 0, 511), ...synRows('127.0.0.1', 8080, 3)];
    const first = s.clock.time + 100;
    const reportedAt: number[] = [];
    for (let i = 0; i < 25; i++) for (const f of s.poll(rows)) reportedAt.push(f.detectedAt - first);
    expect(reportedAt).toEqual([0, 1000, 2000]);
  });

  it('reports at once, within the interval, a reason its reports did not name yet, and each only once', () => {
    const s = setup({ reportIntervalMs: 1000 });
    s.listen('127.0.0.1', 8080);
    const full = [listenRow('127.0.0.1', 8080, 4, 4)];
    const empty = [listenRow('127.0.0.1', 8080, 0, 4)];
    const reasons = (findings: ListenPressure[]) => findings.map((f) => f.reasons);
    s.poll([], counters(0));
    expect(reasons(s.poll(full, counters(0)))).toEqual([['accept_queue']]);
    expect(reasons(s.poll(full, counters(0)))).toEqual([]);
    expect(reasons(s.poll(empty, counters(9)))).toEqual([['overflow']]);
    expect(reasons(s.poll(full, counters(9)))).toEqual([]);
    expect(reasons(s.poll(full, counters(12)))).toEqual([]);
    expect(reasons(s.poll(empty, counters(12, 20)))).toEqual([['overflow', 'drop']]);
    expect(reasons(s.poll(empty, counters(13, 21)))).toEqual([]);
    const [next] = s.poll(full, counters(13, 21), 1000);
    expect(next).toMatchObject({ reasons: ['accept_queue', 'overflow'], overflows: 1, drops: 1 });
  });

  it('keeps the start of the pressure while reports are held back, and a new run starts anew', () => {
    const s = setup({ synReceivedThreshold: 3, reportIntervalMs: 1000 });
    s.listen('127.0.0.1', 8080);
    s.poll([]); // the counters' baseline: no rows yet
    const pressed = [listenRow('127.0.0.1', 8080, 0, 511), ...synRows('127.0.0.1', 8080, 3)];
    const [first] = s.poll(pressed);
    for (let i = 0; i < 9; i++) expect(s.poll(pressed)).toEqual([]);
    const [second] = s.poll(pressed);
    expect(second?.since).toBe(first?.since);
    s.poll([listenRow('127.0.0.1', 8080, 0, 511)]);
    const [third] = s.poll(pressed, undefined, 1000);
    expect(third?.since).toBe(s.clock.time);
  });

  it('adds the overflows it held back to the next report, none lost, none told twice', () => {
    const s = setup({ reportIntervalMs: 1000 });
    s.listen('127.0.0.1', 8080);
    s.poll([], counters(0));
    expect(s.poll([], counters(10))[0]).toMatchObject({ overflows: 10 });
    expect(s.poll([], counters(15))).toEqual([]);
    s.stalls.next = 400;
    expect(s.poll([], counters(17))).toEqual([]);
    const [next] = s.poll([], counters(17), 1000);
    expect(next).toMatchObject({ reasons: ['overflow'], overflows: 7, drops: 7, stallMs: 400 });
    expect(s.poll([], counters(17), 1000)).toEqual([]);
    // The metrics counted every rise at its poll.
    expect(s.polls.map((p) => p.overflows)).toEqual([undefined, 10, 5, 2, 0, 0]);
  });

  it('rate-limits each listener on its own, and forgets a listener that closed', () => {
    const s = setup({ synReceivedThreshold: 1, reportIntervalMs: 1000 });
    const a = s.listen('127.0.0.1', 8080);
    s.listen('127.0.0.1', 9090);
    s.poll([]); // the counters' baseline: no rows yet
    const rows = [...synRows('127.0.0.1', 8080, 1), ...synRows('127.0.0.1', 9090, 1)];
    expect(s.poll(rows).map((f) => f.listener?.port)).toEqual([8080, 9090]);
    expect(s.poll(rows)).toEqual([]);
    a.listening = false;
    s.poll(rows);
    // Listening again on that port is a new socket: reported at once.
    s.listen('127.0.0.1', 8080);
    expect(s.poll(rows).map((f) => f.listener?.port)).toEqual([8080]);
  });
});

describe('figures for the metrics', () => {
  it('hold the last figures read for each listener; one that came after the poll asked has none yet', () => {
    const s = setup();
    s.listen('127.0.0.1', 8080);
    s.poll([]);
    const tracker = new ConnectionTracker(new RecordingListener());
    const base = { model: tracker, listeners: s.listeners, time: s.clock.advance(100) };
    s.detector.wantsCounters(base);
    const counters = { synRetrans: s.kernel.synRetrans + 1 };
    const need = s.detector.need({ ...base, counters });
    // A listener that appears between the need and the answer.
    s.listen('127.0.0.1', 9090);
    const rows = [listenRow('127.0.0.1', 8080, 1, 511), listenRow('127.0.0.1', 9090, 0, 511)];
    s.detector.fromKernel({ ...base, counters }, rowsFor(rows, need ?? { states: [] }));
    const read = { address: '127.0.0.1', port: 8080, synReceived: 0, acceptQueue: 1, backlog: 511 };
    expect(s.polls.at(-1)?.listeners).toEqual([read]);
    // A poll that reads no rows: the metrics keep the last reading.
    s.kernel.retransmitting = false;
    s.poll(undefined);
    expect(s.polls.at(-1)?.listeners).toEqual([read]);
  });

  it('count two servers sharing one listener (a cluster worker) once', () => {
    const s = setup({ shared: true });
    s.listen('::', 8080);
    s.listen('::', 8080);
    s.poll([]); // the counters' baseline: no rows yet
    s.poll([listenRow('*', 8080, 0, 511)]);
    expect(s.polls.at(-1)).toMatchObject({ shared: true, listeners: [{ port: 8080, backlog: 511 }] });
  });
});

describe('span attributes', () => {
  it('name the listener, its figures, the counters and their scope, the stall in seconds, and the cluster mark', () => {
    const s = setup({ shared: true, synReceivedThreshold: 2 });
    s.listen('::', 8080);
    s.poll([], counters(1));
    s.stalls.next = 2040;
    const [finding] = s.poll([listenRow('*', 8080, 5, 5), ...synRows('127.0.0.1', 8080, 2)], counters(31, 33));
    expect(listenPressureAttributes(finding as ListenPressure)).toEqual({
      'network.transport': 'tcp',
      'server.address': '::',
      'server.port': 8080,
      'tcp.listener.shared': true,
      'tcp.listen.pressure.reasons': ['syn_received', 'accept_queue', 'overflow', 'drop'],
      'tcp.listen.ports': [8080],
      'tcp.listen.syn_received': 2,
      'tcp.listen.accept_queue': 5,
      'tcp.listen.backlog': 5,
      'tcp.listen.counters_scope': 'namespace',
      'tcp.listen.overflows': 30,
      'tcp.listen.drops': 32,
      'nodejs.event_loop.stall.duration': 2.04,
    });
    expect(listenPressureMessage(finding as ListenPressure)).toBe(
      'listen pressure on [::]:8080: 2 connections in SYN_RECEIVED (threshold 2), accept queue 5 of 5, 30 listen overflows, 32 listen drops, event loop stalled 2.04 s',
    );
  });

  it('leave the cluster mark out outside a cluster worker', () => {
    const s = setup({ shared: false, synReceivedThreshold: 1 });
    s.listen('127.0.0.1', 8080);
    s.poll([]); // the counters' baseline: no rows yet
    const [finding] = s.poll(synRows('127.0.0.1', 8080, 1));
    expect(listenPressureAttributes(finding as ListenPressure)).not.toHaveProperty('tcp.listener.shared');
  });
});
