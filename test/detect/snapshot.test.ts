import { describe, expect, it } from 'vitest';
import { CloseWaitLeakDetector } from '../../src/detect/close-wait-leak.js';
import { HalfCloseStuckDetector } from '../../src/detect/half-close-stuck.js';
import { acceptQueueNearsBacklog, socketAgeMs, unreadDataBytes } from '../../src/detect/kernel-rules.js';
import { ListenPressureDetector } from '../../src/detect/listen-pressure.js';
import type { KernelSnapshot, SnapshotRow } from '../../src/detect/snapshot.js';
import { detectInSnapshot } from '../../src/detect/detectors.js';
import { TimeWaitDetector } from '../../src/detect/time-wait.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { TcpState } from '../../src/tcp-states.js';
import { SNAPSHOT_THRESHOLDS } from '../../src/thresholds.js';

// The kernel-only mode of the detectors (what socklife doctor runs): rows of a foreign
// process, no Node records, judged by the same rules as the in-process detectors.

function row(state: TcpState, local: [string, number], peer: [string, number], extra: Partial<KernelSocketRow> = {}): KernelSocketRow {
  return { state, recvQ: 0, sendQ: 0, local: { address: local[0], port: local[1] }, peer: { address: peer[0], port: peer[1] }, inode: 1, ...extra };
}

function snapshot(rows: readonly (KernelSocketRow | SnapshotRow)[], overrides: Partial<KernelSnapshot> = {}): KernelSnapshot {
  return {
    rows: rows.map((r) => ('row' in r ? r : { row: r })),
    agesKnown: true,
    backlogKnown: true,
    portRange: { low: 40000, high: 40099 },
    ...overrides,
  };
}

const aged = (ms: number | undefined): Partial<KernelSocketRow> => (ms === undefined ? {} : { tcpInfo: { lastAckMs: ms } });

describe('the kernel row rules', () => {
  it('leave the FIN out of Recv-Q where one was received, take the age from lastack, and judge the accept queue', () => {
    expect(unreadDataBytes({ state: TcpState.CloseWait, recvQ: 6 })).toBe(5);
    expect(unreadDataBytes({ state: TcpState.Established, recvQ: 6 })).toBe(6);
    expect(socketAgeMs(row(TcpState.CloseWait, ['a', 1], ['b', 2], aged(1500)), true)).toBe(1500);
    expect(socketAgeMs(row(TcpState.CloseWait, ['a', 1], ['b', 2], { tcpInfo: {} }), true)).toBe(0);
    expect(socketAgeMs(row(TcpState.CloseWait, ['a', 1], ['b', 2], aged(1500)), false)).toBeUndefined();
    // At least the share of the backlog, or within one of it, and never below one.
    expect([acceptQueueNearsBacklog(9, 10, 0.9), acceptQueueNearsBacklog(8, 10, 0.9), acceptQueueNearsBacklog(4, 5, 0.9)]).toEqual([true, false, true]);
    expect([acceptQueueNearsBacklog(0, 1, 0.9), acceptQueueNearsBacklog(1, 1, 0.9), acceptQueueNearsBacklog(5, 0, 0.9)]).toEqual([false, true, false]);
  });
});

describe('CloseWaitLeakDetector, kernel-only', () => {
  const detector = new CloseWaitLeakDetector(1000);

  it('reports CLOSE_WAIT at or over the threshold or of unknown age, with the cause Recv-Q shows', () => {
    const found = detector.fromSnapshot(
      snapshot([
        row(TcpState.CloseWait, ['127.0.0.1', 80], ['127.0.0.1', 50001], { ...aged(4000), recvQ: 6 }),
        row(TcpState.CloseWait, ['127.0.0.1', 80], ['127.0.0.1', 50002], aged(1000)),
        row(TcpState.CloseWait, ['127.0.0.1', 80], ['127.0.0.1', 50003], aged(999)),
        row(TcpState.Established, ['127.0.0.1', 80], ['127.0.0.1', 50004], aged(9000)),
      ]),
    );
    expect(found.map((f) => [f.socket.row.peer.port, f.cause, f.socket.ageMs, f.socket.unreadBytes])).toEqual([
      [50001, 'not_read_to_eof', 4000, 5],
      [50002, 'end_not_called', 1000, 0],
    ]);
    const unknown = detector.fromSnapshot(snapshot([row(TcpState.CloseWait, ['127.0.0.1', 80], ['127.0.0.1', 50003], aged(1))], { agesKnown: false }));
    expect(unknown.map((f) => f.socket.ageMs)).toEqual([undefined]);
  });
});

describe('HalfCloseStuckDetector, kernel-only', () => {
  it('reports FIN_WAIT_1 (FIN not acknowledged) and FIN_WAIT_2 (peer not closing) past the threshold', () => {
    const found = new HalfCloseStuckDetector(5000).fromSnapshot(
      snapshot([
        row(TcpState.FinWait1, ['10.0.0.1', 40001], ['10.0.0.8', 80], aged(12_000)),
        row(TcpState.FinWait2, ['10.0.0.1', 40002], ['10.0.0.8', 80], aged(7000)),
        row(TcpState.FinWait2, ['10.0.0.1', 40003], ['10.0.0.8', 80], aged(4999)),
      ]),
    );
    expect(found.map((f) => [f.state, f.cause, f.socket.row.local.port])).toEqual([
      ['fin_wait_1', 'fin_not_acknowledged', 40001],
      ['fin_wait_2', 'peer_not_closing', 40002],
    ]);
  });
});

describe('TimeWaitDetector, kernel-only', () => {
  const tw = (local: [string, number], peer: [string, number]): KernelSocketRow => row(TcpState.TimeWait, local, peer, { inode: 0 });

  it('counts server side on a listener (a wildcard covers every address), client side per destination with its share of the range', () => {
    const rows = [
      row(TcpState.Listen, ['*', 8080], ['*', 0]),
      tw(['127.0.0.1', 8080], ['127.0.0.1', 50001]),
      tw(['10.0.0.1', 8080], ['10.0.0.9', 50002]),
      tw(['10.0.0.1', 40001], ['10.0.0.7', 5432]),
      tw(['10.0.0.1', 40002], ['10.0.0.7', 5432]),
      tw(['10.0.0.1', 50000], ['10.0.0.7', 5432]), // bound outside the ephemeral range
      tw(['10.0.0.1', 40003], ['10.0.0.6', 443]),
    ];
    const found = new TimeWaitDetector({ threshold: 2 }).fromSnapshot(snapshot(rows));
    expect(found).toEqual([
      expect.objectContaining({ side: 'client', destination: { address: '10.0.0.7', port: 5432 }, count: 3, inEphemeralRange: 2, share: 0.02 }),
      expect.objectContaining({ side: 'server', port: 8080, count: 2 }),
    ]);
  });

  it('takes the side a row was tied by over the listener rule', () => {
    const rows: SnapshotRow[] = [{ row: tw(['10.0.0.1', 40001], ['10.0.0.7', 5432]), side: 'server' }];
    expect(new TimeWaitDetector({ threshold: 1 }).fromSnapshot(snapshot(rows))).toEqual([expect.objectContaining({ side: 'server', port: 40001 })]);
  });
});

describe('ListenPressureDetector, kernel-only', () => {
  const listen = (port: number, queue: number, backlog: number) => row(TcpState.Listen, ['0.0.0.0', port], ['0.0.0.0', 0], { recvQ: queue, sendQ: backlog });

  it('reports an accept queue near its backlog, at the share it was made with; nothing where the backlog is unknown', () => {
    const detector = new ListenPressureDetector({ synReceivedThreshold: 128, shared: false, acceptQueueShare: 0.5 });
    const rows = [listen(8080, 5, 10), listen(8081, 4, 10), listen(8082, 0, 511)];
    expect(detector.fromSnapshot(snapshot(rows)).map((f) => [f.listener.local.port, f.acceptQueue, f.backlog, f.share, f.reasons])).toEqual([
      [8080, 5, 10, 0.5, ['accept_queue']],
    ]);
    expect(detector.fromSnapshot(snapshot(rows, { backlogKnown: false }))).toEqual([]);
  });
});

describe('detectInSnapshot', () => {
  it('runs every detector with the snapshot thresholds', () => {
    const rows = [
      row(TcpState.CloseWait, ['127.0.0.1', 80], ['127.0.0.1', 50001], aged(SNAPSHOT_THRESHOLDS.closeWaitMs)),
      row(TcpState.FinWait2, ['127.0.0.1', 50001], ['127.0.0.1', 80], aged(SNAPSHOT_THRESHOLDS.finWaitMs - 1)),
      row(TcpState.Listen, ['0.0.0.0', 81], ['0.0.0.0', 0], { recvQ: 10, sendQ: 10 }),
    ];
    expect(detectInSnapshot(snapshot(rows), SNAPSHOT_THRESHOLDS).map((f) => f.type)).toEqual(['close_wait_leak', 'listen_pressure']);
  });
});
