import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DoctorReport, SocketFinding, TimeWaitFinding } from '../../src/cli/doctor-report.js';
import type { FindingRecord } from '../../src/report/finding-log.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { assertBuilt, CLI, startProgram, type Program } from './support.js';

// One engine: a real Node process instrumented in-process by socklife leaks CLOSE_WAIT (and
// the FIN_WAIT_2 of its own clients) and piles up TIME_WAIT on a listening port; the built
// CLI then examines the same process from outside with the same thresholds. Both must find
// the same things: the same types, states and causes, the same sockets, the same counts.

const skip = skipWithReason(process.platform === 'linux' ? missingTool('ss') : `needs Linux (this is ${process.platform})`);
const THRESHOLD_MS = 500;
const LEAKS = 3;
const TIME_WAITS = 30;
const TIME_WAIT_THRESHOLD = 20;

/** `local port>peer port` of a socket, for comparing sets of sockets. */
const pair = (local: number, peer: number): string => `${local}>${peer}`;

describe.skipIf(skip)('socklife doctor and the in-process instrumentation on one leaking process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'socklife-one-engine-'));
  const log = join(dir, 'findings.jsonl');
  let program: Program;
  let inProcess: FindingRecord[];
  let report: DoctorReport;
  let exitCode: number | undefined;

  const records = (): FindingRecord[] => {
    let text: string;
    try {
      text = readFileSync(log, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as FindingRecord);
  };

  beforeAll(async () => {
    assertBuilt();
    program = await startProgram('instrumented-leaker.cjs', [
      '--log',
      log,
      '--threshold-ms',
      String(THRESHOLD_MS),
      '--time-wait-threshold',
      String(TIME_WAIT_THRESHOLD),
      '--leaks',
      String(LEAKS),
      '--time-waits',
      String(TIME_WAITS),
    ]);
    // Wait for the in-process findings: each leak once, and the TIME_WAIT pile on its port.
    inProcess = await vi.waitFor(
      () => {
        const found = records();
        expect(found.filter((f) => f.type === 'close_wait_leak')).toHaveLength(LEAKS);
        expect(found.filter((f) => f.type === 'half_close_stuck')).toHaveLength(LEAKS);
        expect(found.filter((f) => f.type === 'time_wait_accumulation')).toHaveLength(1);
        return found;
      },
      { timeout: 20_000, interval: 100 },
    );
    // The same thresholds for the CLI: the half-close is judged at the CLOSE_WAIT threshold in-process.
    const result = await execa(
      process.execPath,
      [
        CLI,
        'doctor',
        '--pid',
        String(program.pid),
        '--json',
        '--close-wait-threshold-ms',
        String(THRESHOLD_MS),
        '--fin-wait-threshold-ms',
        String(THRESHOLD_MS),
        '--time-wait-threshold',
        String(TIME_WAIT_THRESHOLD),
      ],
      { reject: false, timeout: 20_000 },
    );
    exitCode = result.exitCode;
    report = JSON.parse(result.stdout) as DoctorReport;
  }, 60_000);

  afterAll(async () => {
    await program?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the same kinds of finding, and doctor exits 1 for them', () => {
    expect(exitCode).toBe(1);
    expect(report.findings.map((f) => f.type)).toEqual(['close_wait', 'fin_wait_2', 'time_wait']);
    expect([...new Set(inProcess.map((f) => f.type))].sort()).toEqual(['close_wait_leak', 'half_close_stuck', 'time_wait_accumulation']);
  });

  it('finds the same CLOSE_WAIT sockets, with the same cause (the FIN was read, end() never called)', () => {
    const doctor = report.findings.find((f): f is SocketFinding => f.type === 'close_wait');
    const leaks = inProcess.filter((f) => f.type === 'close_wait_leak');
    expect(doctor?.count).toBe(leaks.length);
    const ports = (program.ready.leakClientPorts as number[]).map((p) => pair(Number(program.ready.leakPort), p)).sort();
    expect(doctor?.sockets.map((s) => pair(s.local.port, s.peer.port)).sort()).toEqual(ports);
    expect(leaks.map((f) => pair(f.local?.port ?? 0, f.peer?.port ?? 0)).sort()).toEqual(ports);
    // In-process the cause comes from the 'end' event; from outside, from an empty Recv-Q (the FIN was read).
    expect(leaks.every((f) => f.cause === 'end_not_called')).toBe(true);
    expect(doctor?.sockets.every((s) => s.recvQ === 0 && s.unreadBytes === 0)).toBe(true);
  });

  it('finds the same half-closes stuck in FIN_WAIT_2 (the peer never closing)', () => {
    const doctor = report.findings.find((f): f is SocketFinding => f.type === 'fin_wait_2');
    const stuck = inProcess.filter((f) => f.type === 'half_close_stuck');
    expect(doctor?.count).toBe(stuck.length);
    const ports = (program.ready.leakClientPorts as number[]).map((p) => pair(p, Number(program.ready.leakPort))).sort();
    expect(doctor?.sockets.map((s) => pair(s.local.port, s.peer.port)).sort()).toEqual(ports);
    expect(stuck.map((f) => pair(f.local?.port ?? 0, f.peer?.port ?? 0)).sort()).toEqual(ports);
    expect(stuck.map((f) => [f.attributes['network.connection.state'], f.cause])).toEqual(Array(LEAKS).fill(['fin_wait_2', 'peer_not_closing']));
  });

  it('finds the same TIME_WAIT pile: server side, on the same listening port, with the same count', () => {
    const doctor = report.findings.filter((f): f is TimeWaitFinding => f.type === 'time_wait');
    const [pile] = inProcess.filter((f) => f.type === 'time_wait_accumulation');
    expect(doctor).toHaveLength(1);
    expect(doctor[0]).toMatchObject({ side: 'server', localPort: program.ready.timeWaitPort, count: TIME_WAITS, threshold: TIME_WAIT_THRESHOLD });
    expect(pile).toMatchObject({ side: 'server', attributes: { 'server.port': program.ready.timeWaitPort, 'tcp.time_wait.count': TIME_WAITS } });
  });
});
