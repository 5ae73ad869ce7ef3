import { describe, expect, it } from 'vitest';
import { DESTINATION_RETENTION_MS, MAX_DESTINATIONS } from '../../src/detect/destinations.js';
import { rangeSize, secondsToExhaustion, utilization } from '../../src/detect/port-exhaustion.js';
import { MAX_ALERT_KEYS, ThresholdAlerts } from '../../src/detect/threshold-alerts.js';
import { MAX_TOP_PEERS, TimeWaitDetector, topPeers, type ClientTimeWait, type ServerTimeWait, type TimeWaitAccumulation } from '../../src/detect/time-wait.js';
import { ListeningSockets, type ListeningServer } from '../../src/model/listening-sockets.js';
import type { KernelCounters } from '../../src/observe/kernel/kernel-counters.js';
import type { Endpoint, KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { rowsFor, type KernelNeed } from '../../src/observe/kernel/query.js';
import { TcpState } from '../../src/tcp-states.js';
import { FakeSocket, model, type Model } from '../model/fixture.js';

/** The detector without the world: a model of fake sockets, hand-made kernel rows and counters, a test clock. */

const THRESHOLD = 1000;
const RANGE = { low: 32768, high: 60999 };
const RANGE_SIZE = 28232;
const SERVER_PORT = 8080;
const DB = { address: '10.0.0.7', port: 5432 };
const T0 = 1_000_000;

function listeningOn(port: number, address = '0.0.0.0'): ListeningServer {
  return { listening: true, address: () => ({ port, address }) };
}

function counters(timeWaitNow: number | undefined): KernelCounters {
  return { timeWaitNow, ephemeralPortRange: RANGE };
}

function row(state: TcpState, local: Endpoint, peer: Endpoint): KernelSocketRow {
  return { state, recvQ: 0, sendQ: 0, local, peer, inode: 0 };
}

/** `n` TIME_WAIT rows on `local`, each from its own port of the peer addresses given in turn. */
function timeWaitOn(local: Endpoint, n: number, peers: readonly string[] = ['192.0.2.1']): KernelSocketRow[] {
  return Array.from({ length: n }, (_, i) => row(TcpState.TimeWait, local, { address: peers[i % peers.length] as string, port: 40_000 + (i % 20_000) }));
}

/** `n` TIME_WAIT rows of clients towards `peer`, from successive local ports. */
function timeWaitTowards(peer: Endpoint, n: number, from = 32_768): KernelSocketRow[] {
  return Array.from({ length: n }, (_, i) => row(TcpState.TimeWait, { address: '10.0.0.1', port: from + i }, peer));
}

interface Env extends Model {
  readonly listeners: ListeningSockets;
  readonly detector: TimeWaitDetector;
}

function env(options: { sharedListeners?: boolean; repeatIntervalMs?: number } = {}): Env {
  const m = model();
  m.clock.time = T0;
  return { ...m, listeners: new ListeningSockets(), detector: new TimeWaitDetector({ threshold: THRESHOLD, ...options }) };
}

interface Poll {
  readonly wantsCounters: boolean;
  readonly need: KernelNeed | undefined;
  readonly findings: TimeWaitAccumulation[];
}

/**
 * One poll as the poller runs it: the event pass, the counters if wanted, the need, and the
 * kernel's answer to it (`rows` filtered by the need's states and ports, as the kernel filters).
 * `rows: 'failed'` is a kernel read that failed.
 */
function poll(e: Env, host: { timeWaitNow?: number; rows?: readonly KernelSocketRow[] | 'failed' } = {}): Poll {
  const base = { model: e.tracker, listeners: e.listeners, time: e.clock.time };
  e.detector.fromEvents(base);
  const wantsCounters = e.detector.wantsCounters(base);
  const context = { ...base, counters: wantsCounters ? counters(host.timeWaitNow) : undefined };
  const need = e.detector.need(context);
  const kernel = host.rows ?? [];
  const rows = need === undefined || kernel === 'failed' ? undefined : rowsFor(kernel, need);
  return { wantsCounters, need, findings: e.detector.fromKernel(context, rows) };
}

function server(findings: readonly TimeWaitAccumulation[]): ServerTimeWait[] {
  return findings.filter((f): f is ServerTimeWait => f.side === 'server');
}

function client(findings: readonly TimeWaitAccumulation[]): ClientTimeWait[] {
  return findings.filter((f): f is ClientTimeWait => f.side === 'client');
}

/** A live client connection of this process to `peer` (its endpoints known, as a recorded one's are). */
function connectTo(e: Env, peer: Endpoint, localPort: number): FakeSocket {
  const socket = new FakeSocket(localPort, peer.port);
  socket.remoteAddress = peer.address;
  e.tracker.socketOpened(socket, 'client', undefined);
  e.tracker.socketEvent(socket, { type: 'connect_called', host: peer.address, port: peer.port });
  e.tracker.socketEvent(socket, { type: 'connect' });
  return socket;
}

function close(e: Env, socket: FakeSocket): void {
  e.tracker.socketEvent(socket, { type: 'close' });
}

describe('what it asks of the kernel', () => {
  it('wants the counters only when the process listens or connects somewhere', () => {
    const e = env();
    expect(poll(e).wantsCounters).toBe(false);
    e.listeners.add(listeningOn(SERVER_PORT), undefined);
    expect(poll(e).wantsCounters).toBe(true);

    const c = env();
    const socket = connectTo(c, DB, 40_001);
    expect(poll(c).wantsCounters).toBe(true);
    close(c, socket);
    // Remembered after the close: its TIME_WAIT sockets outlive it.
    c.clock.advance(DESTINATION_RETENTION_MS - 1);
    expect(poll(c).wantsCounters).toBe(true);
    c.clock.advance(1);
    expect(poll(c).wantsCounters).toBe(false);
  });

  it('asks for nothing while the namespace holds fewer TIME_WAIT sockets than the threshold, or says nothing', () => {
    const e = env();
    e.listeners.add(listeningOn(SERVER_PORT), undefined);
    connectTo(e, DB, 40_001);
    const rows = timeWaitOn({ address: '10.0.0.1', port: SERVER_PORT }, 2 * THRESHOLD);
    expect(poll(e, { timeWaitNow: THRESHOLD - 1, rows }).need).toBeUndefined();
    expect(poll(e, { timeWaitNow: undefined, rows }).need).toBeUndefined();
    expect(e.detector.counts()).toEqual([]);
  });

  it('at the threshold asks for TIME_WAIT on its listening ports and towards its destination ports, nothing wider', () => {
    const e = env();
    e.listeners.add(listeningOn(SERVER_PORT), undefined);
    e.listeners.add(listeningOn(SERVER_PORT, '::'), undefined);
    e.listeners.add(listeningOn(9090, '127.0.0.1'), undefined);
    connectTo(e, DB, 40_001);
    connectTo(e, { address: '10.0.0.8', port: DB.port }, 40_002);
    connectTo(e, { address: '10.0.0.9', port: 6379 }, 40_003);
    const { need } = poll(e, { timeWaitNow: THRESHOLD });
    expect(need?.states).toEqual([TcpState.TimeWait]);
    expect([...(need?.localPorts ?? [])].sort()).toEqual([SERVER_PORT, 9090]);
    expect([...(need?.peerPorts ?? [])].sort()).toEqual([DB.port, 6379]);
    expect(need?.portPairs).toBeUndefined();
  });

  it('a server-only process asks by local port only; a client-only process by peer port only', () => {
    const s = env();
    s.listeners.add(listeningOn(SERVER_PORT), undefined);
    expect(poll(s, { timeWaitNow: THRESHOLD }).need).toEqual({ states: [TcpState.TimeWait], localPorts: [SERVER_PORT] });
    const c = env();
    connectTo(c, DB, 40_001);
    expect(poll(c, { timeWaitNow: THRESHOLD }).need).toEqual({ states: [TcpState.TimeWait], peerPorts: [DB.port] });
  });

  it("a host full of other ports' TIME_WAIT costs the filtered query and finds nothing", () => {
    const e = env();
    e.listeners.add(listeningOn(SERVER_PORT), undefined);
    connectTo(e, DB, 40_001);
    const others = [
      ...timeWaitOn({ address: '10.0.0.1', port: 443 }, 5000),
      ...timeWaitTowards({ address: '10.0.0.99', port: 80 }, 5000),
      // Same destination port, another address: not this process's destination.
      ...timeWaitTowards({ address: '10.0.0.99', port: DB.port }, 2000),
    ];
    const { need, findings } = poll(e, { timeWaitNow: others.length, rows: others });
    // The query names this process's ports only: its listening port, its destination's port.
    expect(need).toEqual({ states: [TcpState.TimeWait], localPorts: [SERVER_PORT], peerPorts: [DB.port] });
    // What it costs: the kernel answers with the rows towards that port number alone.
    expect(rowsFor(others, need as KernelNeed)).toHaveLength(2000);
    expect(findings).toEqual([]);
    expect(e.detector.counts()).toEqual([
      { side: 'server', port: SERVER_PORT, count: 0, sharedListener: false },
      { side: 'client', destination: DB, count: 0, utilization: 1 / RANGE_SIZE },
    ]);
  });
});

describe('server side: TIME_WAIT on a listening port', () => {
  it('is reported when the count reaches the threshold, with the peers holding the most', () => {
    const e = env();
    e.listeners.add(listeningOn(SERVER_PORT), undefined);
    const local = { address: '10.0.0.1', port: SERVER_PORT };
    expect(poll(e, { timeWaitNow: 5000, rows: timeWaitOn(local, THRESHOLD - 1) }).findings).toEqual([]);
    expect(e.detector.counts()).toEqual([{ side: 'server', port: SERVER_PORT, count: THRESHOLD - 1, sharedListener: false }]);

    e.clock.advance(5000);
    // 7 peers: 400 from .1, 200 from .2, 100 each from the rest; .7 and .6 tie, .6 comes first.
    const peers = [
      ...Array(4).fill('198.51.100.1'),
      ...Array(2).fill('198.51.100.2'),
      '198.51.100.7',
      '198.51.100.6',
      '198.51.100.5',
      '198.51.100.4',
      '198.51.100.3',
    ];
    const rows = [...timeWaitOn(local, 1100, peers), row(TcpState.TimeWait, { address: '10.0.0.1', port: 8081 }, { address: '198.51.100.1', port: 1 })];
    const [finding, ...more] = server(poll(e, { timeWaitNow: 5000, rows }).findings);
    expect(more).toEqual([]);
    expect(finding).toEqual({
      type: 'time_wait_accumulation',
      side: 'server',
      port: SERVER_PORT,
      count: 1100,
      threshold: THRESHOLD,
      since: e.clock.time,
      detectedAt: e.clock.time,
      hostCount: 5000,
      ephemeralPortRange: RANGE_SIZE,
      topPeers: [
        { address: '198.51.100.1', count: 400 },
        { address: '198.51.100.2', count: 200 },
        { address: '198.51.100.3', count: 100 },
        { address: '198.51.100.4', count: 100 },
        { address: '198.51.100.5', count: 100 },
      ],
      sharedListener: false,
    });
  });

  it('says the listening socket is shared in a cluster worker', () => {
    const e = env({ sharedListeners: true });
    e.listeners.add(listeningOn(SERVER_PORT), undefined);
    const [finding] = server(poll(e, { timeWaitNow: 5000, rows: timeWaitOn({ address: '10.0.0.1', port: SERVER_PORT }, THRESHOLD) }).findings);
    expect(finding?.sharedListener).toBe(true);
    expect(e.detector.counts()).toEqual([{ side: 'server', port: SERVER_PORT, count: THRESHOLD, sharedListener: true }]);
  });

  it('counts only the local address a listener is bound to, every address for a wildcard one', () => {
    const e = env();
    e.listeners.add(listeningOn(SERVER_PORT, '127.0.0.1'), undefined);
    e.listeners.add(listeningOn(9090, '::'), undefined);
    const rows = [
      ...timeWaitOn({ address: '127.0.0.1', port: SERVER_PORT }, 1000, ['192.0.2.1']),
      ...timeWaitOn({ address: '10.0.0.1', port: SERVER_PORT }, 1000, ['192.0.2.2']),
      ...timeWaitOn({ address: '10.0.0.1', port: 9090 }, 300),
      ...timeWaitOn({ address: '::1', port: 9090 }, 300),
    ];
    const findings = server(poll(e, { timeWaitNow: 5000, rows }).findings);
    expect(e.detector.counts()).toEqual([
      { side: 'server', port: SERVER_PORT, count: 1000, sharedListener: false },
      { side: 'server', port: 9090, count: 600, sharedListener: false },
    ]);
    expect(findings.map((f) => [f.port, f.topPeers])).toEqual([[SERVER_PORT, [{ address: '192.0.2.1', count: 1000 }]]]);
  });

  it('ignores rows in other states, should a source return them', () => {
    const e = env();
    e.listeners.add(listeningOn(SERVER_PORT), undefined);
    const local = { address: '10.0.0.1', port: SERVER_PORT };
    const base = { model: e.tracker, listeners: e.listeners, time: e.clock.time, counters: counters(5000) };
    e.detector.need(base);
    const rows = [row(TcpState.Established, local, { address: '192.0.2.1', port: 1 }), ...timeWaitOn(local, 2)];
    e.detector.fromKernel(base, rows);
    expect(e.detector.counts()).toEqual([{ side: 'server', port: SERVER_PORT, count: 2, sharedListener: false }]);
  });
});

describe('how often it is reported', () => {
  const local = { address: '10.0.0.1', port: SERVER_PORT };
  const above = { timeWaitNow: 5000, rows: timeWaitOn(local, THRESHOLD + 100) };
  const below = { timeWaitNow: 5000, rows: timeWaitOn(local, THRESHOLD - 100) };

  it('once when it crosses, then once a minute while it stays above', () => {
    const e = env();
    e.listeners.add(listeningOn(SERVER_PORT), undefined);
    const crossed = e.clock.time;
    expect(server(poll(e, above).findings)).toHaveLength(1);
    for (let t = 5000; t < 60_000; t += 5000) {
      e.clock.time = crossed + t;
      expect(poll(e, above).findings).toEqual([]);
    }
    e.clock.time = crossed + 60_000;
    const [again] = server(poll(e, above).findings);
    expect(again?.since).toBe(crossed);
    expect(again?.detectedAt).toBe(crossed + 60_000);
  });

  it('a count that dips and climbs back within the minute waits it out; a new stretch dates from its own crossing', () => {
    const e = env();
    e.listeners.add(listeningOn(SERVER_PORT), undefined);
    expect(poll(e, above).findings).toHaveLength(1);
    e.clock.advance(10_000);
    expect(poll(e, below).findings).toEqual([]);
    e.clock.advance(10_000);
    const climbedBack = e.clock.time;
    expect(poll(e, above).findings).toEqual([]);
    e.clock.advance(40_000);
    const [next] = server(poll(e, above).findings);
    expect(next?.since).toBe(climbedBack);
  });

  it('after the minute, a new crossing is reported at once', () => {
    const e = env();
    e.listeners.add(listeningOn(SERVER_PORT), undefined);
    expect(poll(e, above).findings).toHaveLength(1);
    e.clock.advance(5000);
    poll(e, below);
    e.clock.advance(60_000);
    poll(e, below);
    e.clock.advance(5000);
    const [next] = server(poll(e, above).findings);
    expect(next?.since).toBe(e.clock.time);
  });

  it('the namespace falling below the threshold ends the stretch; the gauges keep the last count while the port listens', () => {
    const e = env();
    const listener = { listening: true, address: () => ({ port: SERVER_PORT, address: '0.0.0.0' }) };
    e.listeners.add(listener, undefined);
    const crossed = e.clock.time;
    poll(e, above);
    const counted = [{ side: 'server', port: SERVER_PORT, count: THRESHOLD + 100, sharedListener: false }];
    expect(e.detector.counts()).toEqual(counted);
    e.clock.advance(30_000);
    expect(poll(e, { timeWaitNow: THRESHOLD - 1 }).need).toBeUndefined();
    expect(e.detector.counts()).toEqual(counted);
    e.clock.advance(30_000);
    const [next] = server(poll(e, above).findings);
    expect(next?.since).toBe(crossed + 60_000);
    listener.listening = false;
    poll(e, { timeWaitNow: THRESHOLD - 1 });
    expect(e.detector.counts()).toEqual([]);
  });

  it('a failed kernel read reports nothing and forgets nothing', () => {
    const e = env();
    e.listeners.add(listeningOn(SERVER_PORT), undefined);
    const crossed = e.clock.time;
    poll(e, above);
    e.clock.advance(30_000);
    expect(poll(e, { timeWaitNow: 5000, rows: 'failed' }).findings).toEqual([]);
    expect(e.detector.counts()).toEqual([{ side: 'server', port: SERVER_PORT, count: THRESHOLD + 100, sharedListener: false }]);
    e.clock.advance(10_000);
    expect(poll(e, above).findings).toEqual([]);
    e.clock.advance(20_000);
    expect(server(poll(e, above).findings)[0]?.since).toBe(crossed);
  });
});

describe('client side: TIME_WAIT towards a destination', () => {
  it('is reported with the share of the ephemeral range in use towards it', () => {
    const e = env();
    connectTo(e, DB, 40_001);
    connectTo(e, DB, 40_002);
    connectTo(e, { address: '10.0.0.8', port: DB.port }, 40_003);
    const rows = [
      ...timeWaitTowards(DB, 1500),
      ...timeWaitTowards({ address: '10.0.0.8', port: DB.port }, 10),
      ...timeWaitTowards({ address: '10.0.0.99', port: DB.port }, 3000),
    ];
    const [finding, ...more] = client(poll(e, { timeWaitNow: 4510, rows }).findings);
    expect(more).toEqual([]);
    expect(finding).toEqual({
      type: 'time_wait_accumulation',
      side: 'client',
      destination: DB,
      count: 1500,
      threshold: THRESHOLD,
      since: T0,
      detectedAt: T0,
      hostCount: 4510,
      ephemeralPortRange: RANGE_SIZE,
      openConnections: 2,
      utilization: 1502 / RANGE_SIZE,
      secondsToExhaustion: undefined,
    });
    expect(e.detector.counts()).toContainEqual({
      side: 'client',
      destination: { address: '10.0.0.8', port: DB.port },
      count: 10,
      utilization: 11 / RANGE_SIZE,
    });
  });

  it('says the reuse ratio of the destination’s HTTP clients, once enough connections closed', () => {
    const e = env();
    // A poll while one is open remembers the destination.
    const open = connectTo(e, DB, 40_099);
    poll(e);
    close(e, open);
    for (let i = 0; i < 12; i++) {
      const socket = connectTo(e, DB, 40_100 + i);
      e.tracker.requestStarted(socket, 'client', 'GET', '/', undefined, undefined);
      e.tracker.requestFinished(socket, false);
      close(e, socket);
    }
    const [finding] = client(poll(e, { timeWaitNow: 1500, rows: timeWaitTowards(DB, 1200) }).findings);
    // The connection that carried no request is not an HTTP client connection.
    expect(finding?.requestsPerConnection).toBe(1);
  });

  it('says when the range runs out at the rate the use grew over the last five samples, only while it grows', () => {
    const e = env({ repeatIntervalMs: 1 });
    connectTo(e, DB, 40_001);
    const secondsAt = (timeWait: number, afterMs = 2000): number | undefined => {
      e.clock.advance(afterMs);
      return client(poll(e, { timeWaitNow: 5000, rows: timeWaitTowards(DB, timeWait) }).findings)[0]?.secondsToExhaustion;
    };
    // First poll: no rate yet. One open connection throughout.
    expect(secondsAt(1000)).toBeUndefined();
    // 1001 → 1501 ports in 2 s: 250 a second.
    expect(secondsAt(1500)).toBeCloseTo((RANGE_SIZE - 1501) / 250, 9);
    // A poll with no growth of its own does not hide the growth before it: 500 ports in 4 s.
    expect(secondsAt(1500)).toBeCloseTo((RANGE_SIZE - 1501) / (500 / 4), 9);
    expect(secondsAt(1600)).toBeCloseTo((RANGE_SIZE - 1601) / (600 / 6), 9);
    expect(secondsAt(1600)).toBeCloseTo((RANGE_SIZE - 1601) / (600 / 8), 9);
    // Five samples kept: measured from the first poll (1001), then from the second (1501).
    expect(secondsAt(1700)).toBeCloseTo((RANGE_SIZE - 1701) / (700 / 10), 9);
    expect(secondsAt(1700)).toBeCloseTo((RANGE_SIZE - 1701) / (200 / 10), 9);
    // Flat across all five: no exhaustion ahead.
    for (let i = 0; i < 3; i++) secondsAt(1700);
    expect(secondsAt(1700)).toBeUndefined();
    // Falling: none either.
    expect(secondsAt(1200)).toBeUndefined();
  });

  it('samples fast polls at most every 2 s, so the rate spans about 10 s', () => {
    const e = env({ repeatIntervalMs: 1 });
    connectTo(e, DB, 40_001);
    const secondsAt = (timeWait: number): number | undefined => {
      e.clock.advance(100);
      return client(poll(e, { timeWaitNow: 5000, rows: timeWaitTowards(DB, timeWait) }).findings)[0]?.secondsToExhaustion;
    };
    // 20 ports every 100 ms for 12 s: 200 a second, measured from 10 s (5 samples 2 s apart) back at most.
    let last: number | undefined;
    for (let i = 0; i < 120; i++) last = secondsAt(1000 + 20 * i);
    expect(last).toBeCloseTo((RANGE_SIZE - (1000 + 20 * 119 + 1)) / 200, 6);
    // Then a stall of a whole second: the rate still spans the ten seconds before it.
    for (let i = 0; i < 10; i++) last = secondsAt(1000 + 20 * 119);
    expect(last).toBeDefined();
    expect(last).toBeGreaterThan((RANGE_SIZE - 3381) / 200);
  });

  it('has no rate across a poll that did not count', () => {
    const e = env({ repeatIntervalMs: 1 });
    connectTo(e, DB, 40_001);
    poll(e, { timeWaitNow: 5000, rows: timeWaitTowards(DB, 1000) });
    e.clock.advance(2000);
    poll(e, { timeWaitNow: 10 });
    e.clock.advance(2000);
    expect(client(poll(e, { timeWaitNow: 5000, rows: timeWaitTowards(DB, 2000) }).findings)[0]?.secondsToExhaustion).toBeUndefined();
  });

  it('keeps counting a destination after its connections closed, while TIME_WAIT remains there', () => {
    const e = env();
    const socket = connectTo(e, DB, 40_001);
    poll(e);
    close(e, socket);
    e.clock.advance(DESTINATION_RETENTION_MS - 1000);
    expect(client(poll(e, { timeWaitNow: 5000, rows: timeWaitTowards(DB, 1200) }).findings)[0]?.count).toBe(1200);
    // Its TIME_WAIT sockets were seen: remembered for another retention period from here.
    e.clock.advance(DESTINATION_RETENTION_MS - 1000);
    expect(poll(e, { timeWaitNow: 5000, rows: timeWaitTowards(DB, 1200) }).need?.peerPorts).toEqual([DB.port]);
    e.clock.advance(DESTINATION_RETENTION_MS);
    expect(poll(e, { timeWaitNow: 5000 }).wantsCounters).toBe(false);
    // Forgotten: its last count leaves the gauges.
    expect(e.detector.counts()).toEqual([]);
  });

  it('learns the destination of a connection not yet connected from its literal address or its lookup, unwrapping IPv4-mapped', () => {
    const e = env();
    const literal = new FakeSocket(40_001, 5432);
    e.tracker.socketOpened(literal, 'client', undefined);
    e.tracker.socketEvent(literal, { type: 'connect_called', host: '10.0.0.7', port: 5432 });
    const named = new FakeSocket(40_002, 6379);
    e.tracker.socketOpened(named, 'client', undefined);
    e.tracker.socketEvent(named, { type: 'connect_called', host: 'cache.internal', port: 6379 });
    e.tracker.socketEvent(named, { type: 'lookup', host: 'cache.internal', address: '::ffff:10.0.0.9' });
    const rows = [...timeWaitTowards(DB, 1000), ...timeWaitTowards({ address: '10.0.0.9', port: 6379 }, 1000)];
    const findings = client(poll(e, { timeWaitNow: 5000, rows }).findings);
    expect(findings.map((f) => f.destination)).toEqual([DB, { address: '10.0.0.9', port: 6379 }]);
    expect(findings.map((f) => f.openConnections)).toEqual([1, 1]);
  });

  it('a connected socket known only by host name is asked for its peer', () => {
    const e = env();
    const socket = new FakeSocket(40_001, 5432);
    socket.remoteAddress = '10.0.0.7';
    e.tracker.socketOpened(socket, 'client', undefined);
    e.tracker.socketEvent(socket, { type: 'connect_called', host: 'db.internal', port: 5432 });
    const [c] = e.tracker.liveConnections();
    if (c === undefined) throw new Error('no connection');
    c.connectedAt = e.clock.time; // connected, endpoints not read yet (an unrecorded connection)
    expect(client(poll(e, { timeWaitNow: 5000, rows: timeWaitTowards(DB, 1000) }).findings)[0]?.destination).toEqual(DB);
  });
});

describe('bounded memory', () => {
  it('remembers at most MAX_DESTINATIONS destinations, forgetting the one seen longest ago', () => {
    const e = env();
    for (let i = 0; i < MAX_DESTINATIONS + 36; i++) {
      const socket = connectTo(e, { address: `10.1.0.${i}`, port: 10_000 + i }, 40_000 + i);
      poll(e);
      close(e, socket);
      e.clock.advance(10);
    }
    const { need } = poll(e, { timeWaitNow: 5000 });
    expect(need?.peerPorts).toHaveLength(MAX_DESTINATIONS);
    expect(need?.peerPorts).toContain(10_000 + MAX_DESTINATIONS + 35);
    expect(need?.peerPorts).not.toContain(10_000);
  });

  it('keeps alert state only for keys above the threshold or reported within the interval, at most MAX_ALERT_KEYS', () => {
    const alerts = new ThresholdAlerts(10, 60_000);
    for (let i = 0; i < MAX_ALERT_KEYS + 50; i++) expect(alerts.observe(`k${i}`, 10, T0)).toBe(T0);
    expect(alerts.size).toBe(MAX_ALERT_KEYS);
    alerts.endPoll(T0);
    for (let i = 0; i < 5; i++) alerts.observe(`k${i + 100}`, 3, T0 + 1000);
    alerts.endPoll(T0 + 1000);
    expect(alerts.size).toBe(MAX_ALERT_KEYS);
    // A minute after their report, the keys no longer above are forgotten.
    alerts.endPoll(T0 + 60_000);
    expect(alerts.size).toBe(0);
    expect(alerts.observe('k0', 9, T0 + 60_000)).toBeUndefined();
    expect(alerts.size).toBe(0);
  });
});

describe('top peers', () => {
  it(`names at most ${MAX_TOP_PEERS}, most first, ties by address`, () => {
    const peers = new Map(Array.from({ length: 50 }, (_, i) => [`192.0.2.${i}`, i % 10] as const));
    const top = topPeers(peers);
    expect(top).toHaveLength(MAX_TOP_PEERS);
    expect(top).toEqual([
      { address: '192.0.2.19', count: 9 },
      { address: '192.0.2.29', count: 9 },
      { address: '192.0.2.39', count: 9 },
      { address: '192.0.2.49', count: 9 },
      { address: '192.0.2.9', count: 9 },
    ]);
    expect(topPeers(new Map([['a', 1]]))).toEqual([{ address: 'a', count: 1 }]);
    expect(topPeers(new Map())).toEqual([]);
  });
});

describe('port exhaustion arithmetic', () => {
  it('the range holds high − low + 1 ports', () => {
    expect(rangeSize(RANGE)).toBe(RANGE_SIZE);
    expect(rangeSize({ low: 1024, high: 1024 })).toBe(1);
  });

  it('utilization is the share in use, within 0..1', () => {
    expect(utilization(0, 100)).toBe(0);
    expect(utilization(25, 100)).toBe(0.25);
    expect(utilization(150, 100)).toBe(1);
  });

  it('seconds to exhaustion: remaining ports over the growth per second; none without growth; zero when used up', () => {
    expect(secondsToExhaustion({ time: 0, used: 1000 }, { time: 10_000, used: 2000 }, 28_000)).toBe(260);
    expect(secondsToExhaustion(undefined, { time: 10_000, used: 2000 }, 28_000)).toBeUndefined();
    expect(secondsToExhaustion({ time: 0, used: 2000 }, { time: 10_000, used: 2000 }, 28_000)).toBeUndefined();
    expect(secondsToExhaustion({ time: 0, used: 2000 }, { time: 10_000, used: 1000 }, 28_000)).toBeUndefined();
    expect(secondsToExhaustion({ time: 10_000, used: 1000 }, { time: 10_000, used: 2000 }, 28_000)).toBeUndefined();
    expect(secondsToExhaustion({ time: 0, used: 27_000 }, { time: 1000, used: 29_000 }, 28_000)).toBe(0);
  });
});
