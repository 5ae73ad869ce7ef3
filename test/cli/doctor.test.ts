import { describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLDS, type Thresholds } from '../../src/cli/args.js';
import { diagnose, durationOf, unreadBytes, type DoctorInput } from '../../src/cli/diagnose.js';
import type { Finding, ListenQueueFinding, SocketFinding, SourceInfo, TimeWaitFinding } from '../../src/cli/doctor-report.js';
import { formatDuration } from '../../src/cli/doctor-text.js';
import { selectScope } from '../../src/cli/scope.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { PROCESS_INODES, processTable } from './fixture.js';

const rows = processTable();
const SS: SourceInfo = { table: 'ss', durations: true, backlog: true, notes: [] };
const PROC: SourceInfo = { table: 'proc', durations: false, backlog: false, notes: ['pid 1 is in another network namespace'] };

function input(overrides: Partial<DoctorInput> = {}, thresholds: Partial<Thresholds> = {}): DoctorInput {
  return {
    pid: 1,
    table: selectScope(rows, { kind: 'pid', pid: 1, inodes: PROCESS_INODES }),
    source: SS,
    thresholds: { ...DEFAULT_THRESHOLDS, ...thresholds },
    portRange: { low: 32768, high: 60999 },
    counters: { listenOverflows: 7, listenDrops: 9 },
    ...overrides,
  };
}

type FindingOf<T extends Finding['type']> = T extends SocketFinding['type'] ? SocketFinding : T extends 'time_wait' ? TimeWaitFinding : ListenQueueFinding;

function finding<T extends Finding['type']>(findings: readonly Finding[], type: T): FindingOf<T>[] {
  return findings.filter((f) => f.type === type) as FindingOf<T>[];
}

describe('diagnose, from ss rows (ages known)', () => {
  const report = diagnose(input({}, { timeWait: 3 }));

  it('reports CLOSE_WAIT at or over the threshold, oldest first, with age, unread bytes and peer', () => {
    const [closeWait] = finding(report.findings, 'close_wait');
    expect(closeWait?.count).toBe(2); // the one 500 ms old is under 1 s
    expect(closeWait?.sockets.map((s) => [s.peer.port, s.durationMs, s.unreadBytes, s.recvQ, s.inode])).toEqual([
      [50001, 4000, 5, 6, 101], // Recv-Q 6: five bytes and the FIN
      [50003, 2500, 0, 1, 103], // Recv-Q 1: the FIN alone
    ]);
    expect(closeWait?.sockets[0]).toMatchObject({ local: { address: '127.0.0.1', port: 8080 }, state: 'close_wait', attributedBy: 'inode' });
    expect(closeWait?.summary).toBe('2 sockets in CLOSE_WAIT for at least 1.0 s: the peer closed, pid 1 did not');
    expect(closeWait?.meaning).toMatch(/FIN/);
    expect(closeWait?.advice).toMatch(/socket\.end\(\)|destroy\(\)/);
  });

  it('reports FIN_WAIT_2 (the peer never closes) and FIN_WAIT_1 (our FIN unacknowledged, with retransmissions)', () => {
    const [finWait2] = finding(report.findings, 'fin_wait_2');
    expect(finWait2?.sockets.map((s) => [s.peer.address, s.peer.port, s.durationMs])).toEqual([['10.0.0.8', 80, 7000]]);
    expect(finWait2?.meaning).toMatch(/CLOSE_WAIT/);
    const [finWait1] = finding(report.findings, 'fin_wait_1');
    expect(finWait1?.sockets[0]).toMatchObject({ durationMs: 12000, sendQ: 1, timer: { name: 'on', expiresMs: 400, retransmits: 3 } });
  });

  it('reports TIME_WAIT on a listening port (server side) at the threshold, and by destination against the port range', () => {
    const timeWait = finding(report.findings, 'time_wait');
    expect(timeWait).toHaveLength(1);
    expect(timeWait[0]).toMatchObject({ side: 'server', localPort: 8080, count: 3, threshold: 3, attributedBy: 'listening_port', peer: null });
    expect(report.timeWait.total).toBe(4);
    expect(report.timeWait.serverSide).toEqual([{ localPort: 8080, count: 3 }]);
    expect(report.timeWait.clientSide).toEqual([
      { peer: { address: '10.0.0.7', port: 5432 }, count: 1, inEphemeralRange: 1, fractionOfPortRange: 0 }, // 1 / 28232, rounded
    ]);
    expect(report.timeWait.unattributed).toEqual({
      total: 2,
      topDestinations: [{ peer: { address: '10.0.0.9', port: 443 }, count: 2, inEphemeralRange: 2, fractionOfPortRange: 0.0001 }],
    });
    expect(report.timeWait.attribution).toMatch(/listening ports .* destinations/);
  });

  it('reports client-side TIME_WAIT per destination with its share of the ephemeral port range', () => {
    const narrow = diagnose(input({ portRange: { low: 40020, high: 40023 } }, { timeWait: 1 }));
    const client = finding(narrow.findings, 'time_wait').filter((f): f is TimeWaitFinding => f.side === 'client');
    expect(client).toEqual([
      expect.objectContaining({ peer: { address: '10.0.0.7', port: 5432 }, count: 1, fractionOfPortRange: 0.25, attributedBy: 'destination' }),
    ]);
    expect(client[0]?.summary).toBe(
      '1 connection to 10.0.0.7:5432 in TIME_WAIT (25.0 % of the ephemeral port range): this side opens and closes them one after another',
    );
  });

  it('reports a full accept queue, with the namespace counters, and lists every listener', () => {
    const [queue] = finding(report.findings, 'listen_queue');
    expect(queue).toMatchObject({ local: { address: '*', port: 9090 }, acceptQueue: 10, backlog: 10, threshold: 0.9 });
    expect(queue?.meaning).toContain('7 ListenOverflows and 9 ListenDrops');
    expect(queue?.advice).toMatch(/somaxconn/);
    expect(report.listeners).toEqual([
      { local: { address: '127.0.0.1', port: 8080 }, inode: 100, acceptQueue: 0, backlog: 511, synReceived: 1 },
      { local: { address: '*', port: 9090 }, inode: 108, acceptQueue: 10, backlog: 10, synReceived: 0 },
    ]);
    expect(report.kernelCounters).toEqual({ listenOverflows: 7, listenDrops: 9 });
  });

  it('orders findings by kind and is not healthy', () => {
    expect(report.findings.map((f) => f.type)).toEqual(['close_wait', 'fin_wait_2', 'fin_wait_1', 'time_wait', 'listen_queue']);
    expect(report.healthy).toBe(false);
    expect(report.counts.close_wait).toBe(3); // counts are every socket, under the threshold too
    expect(report.attributed).toEqual({ time_wait: 4, syn_received: 1 });
  });

  it('is healthy when every threshold is above what it sees', () => {
    const calm = diagnose(input({}, { closeWaitMs: 5000, finWaitMs: 60_000, timeWait: 100, listenQueue: 1 }));
    expect(calm.findings.map((f) => f.type)).toEqual(['listen_queue']); // 10 of 10 is full at any threshold
    const healthyRows = rows.filter((r) => r.inode !== 108);
    const healthy = diagnose(
      input({ table: selectScope(healthyRows, { kind: 'pid', pid: 1, inodes: PROCESS_INODES }) }, { closeWaitMs: 5000, finWaitMs: 60_000, timeWait: 100 }),
    );
    expect(healthy.findings).toEqual([]);
    expect(healthy.healthy).toBe(true);
  });

  it('judges the accept queue by the library\u2019s rule: the share of the backlog, or within one of it', () => {
    const listener = (queue: number, backlog: number): KernelSocketRow => ({
      state: 'listen',
      recvQ: queue,
      sendQ: backlog,
      local: { address: '0.0.0.0', port: 7000 },
      peer: { address: '0.0.0.0', port: 0 },
      inode: 200,
    });
    const queues = [listener(4, 5), listener(3, 5)].map(
      (row) => finding(diagnose(input({ table: selectScope([row], { kind: 'pid', pid: 1, inodes: new Set([200]) }) })).findings, 'listen_queue').length,
    );
    expect(queues).toEqual([1, 0]); // 4 of 5 is within one of the backlog; 3 of 5 is neither 90 % nor that
  });
});

describe('diagnose, from /proc rows (ages and backlog unknown)', () => {
  const report = diagnose(input({ source: PROC }));

  it('keeps every CLOSE_WAIT and FIN_WAIT, whatever the threshold, with an unknown age, and says so', () => {
    const [closeWait] = finding(report.findings, 'close_wait');
    expect(closeWait?.count).toBe(3);
    expect(closeWait?.sockets.every((s) => s.durationMs === null)).toBe(true);
    expect(closeWait?.summary).toBe('3 sockets in CLOSE_WAIT (age unknown): the peer closed, pid 1 did not');
    expect(report.source.notes).toEqual(['pid 1 is in another network namespace']);
  });

  it('reports listeners without a backlog, so no accept-queue finding', () => {
    expect(report.listeners.map((l) => l.backlog)).toEqual([null, null]);
    expect(finding(report.findings, 'listen_queue')).toEqual([]);
  });
});

describe('diagnose --port', () => {
  it('sees both ends on the port, and TIME_WAIT on it as server side', () => {
    const report = diagnose(input({ pid: undefined, port: 8080, table: selectScope(rows, { kind: 'port', port: 8080 }) }, { timeWait: 3 }));
    expect(report.pid).toBeNull();
    expect(report.port).toBe(8080);
    expect(finding(report.findings, 'close_wait')[0]?.summary).toMatch(/the process holding it did not$/);
    expect(finding(report.findings, 'time_wait')).toEqual([expect.objectContaining({ side: 'server', localPort: 8080, count: 3, attributedBy: 'port' })]);
    expect(report.timeWait.unattributed).toBeNull();
    expect(report.listeners.map((l) => l.local.port)).toEqual([8080]);
  });
});

describe('row helpers', () => {
  const row = (state: KernelSocketRow['state'], recvQ: number): KernelSocketRow => ({
    state,
    recvQ,
    sendQ: 0,
    local: { address: '127.0.0.1', port: 1 },
    peer: { address: '127.0.0.1', port: 2 },
    inode: 1,
  });

  it('leaves the FIN out of unread bytes only where a FIN was received', () => {
    expect(unreadBytes(row('close_wait', 0))).toBe(0);
    expect(unreadBytes(row('close_wait', 1))).toBe(0);
    expect(unreadBytes(row('close_wait', 101))).toBe(100);
    expect(unreadBytes(row('last_ack', 3))).toBe(2);
    expect(unreadBytes(row('established', 3))).toBe(3);
    expect(unreadBytes(row('fin_wait_2', 3))).toBe(3);
  });

  it('takes the age from lastack, a missing lastack in a tcp_info line as 0, no tcp_info as unknown', () => {
    expect(durationOf({ ...row('close_wait', 0), tcpInfo: { lastAckMs: 1500, lastRcvMs: 9000 } }, true)).toBe(1500);
    expect(durationOf({ ...row('close_wait', 0), tcpInfo: { rttMs: 1 } }, true)).toBe(0);
    expect(durationOf(row('close_wait', 0), true)).toBeNull();
    expect(durationOf({ ...row('close_wait', 0), tcpInfo: { lastAckMs: 1500 } }, false)).toBeNull();
  });

  it('formats durations for people', () => {
    expect([0, 999, 1000, 59_999, 60_000, 3_599_000, 3_600_000, 49 * 3_600_000].map(formatDuration)).toEqual([
      '0 ms',
      '999 ms',
      '1.0 s',
      '60.0 s',
      '1 min 0 s',
      '59 min 59 s',
      '1 h 0 min',
      '2 d 1 h',
    ]);
  });
});
