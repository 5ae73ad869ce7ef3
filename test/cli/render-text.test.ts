import { describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLDS } from '../../src/cli/args.js';
import { diagnose, type DoctorInput } from '../../src/cli/diagnose.js';
import { renderDoctorText, renderStatesText, SOCKETS_SHOWN } from '../../src/cli/render-text.js';
import { selectScope } from '../../src/cli/scope.js';
import { buildStatesReport } from '../../src/cli/states.js';
import { ANSI_PATTERN, createStyle } from '../../src/cli/style.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { ALL_TCP_STATES } from '../../src/tcp-states.js';
import { PROCESS_INODES, processTable } from './fixture.js';

const rows = processTable();
const plain = createStyle(false);

function doctorInput(overrides: Partial<DoctorInput> = {}): DoctorInput {
  return {
    pid: 4242,
    process: { name: 'node', netns: 'net:[4026531833]', netnsRelation: 'same' },
    table: selectScope(rows, { kind: 'pid', pid: 4242, inodes: PROCESS_INODES }),
    source: { table: 'ss', durations: true, backlog: true, notes: [] },
    thresholds: DEFAULT_THRESHOLDS,
    portRange: { low: 32768, high: 60999 },
    counters: { listenOverflows: 7, listenDrops: 9 },
    ...overrides,
  };
}

describe('renderDoctorText', () => {
  const report = diagnose(doctorInput());
  const text = renderDoctorText(report, plain);
  /** Prose is wrapped to 78 columns: compare it with whitespace runs as one space. */
  const prose = text.replace(/\s+/g, ' ');

  it('gives each finding its summary, sockets, meaning and advice', () => {
    for (const f of report.findings) {
      expect(text).toContain(f.summary.split(' ').slice(0, 6).join(' '));
    }
    expect(text).toMatch(/127\.0\.0\.1:8080 +127\.0\.0\.1:50001 +4\.0 s +5 bytes +101/);
    expect(text).toMatch(/127\.0\.0\.1:40012 +10\.0\.0\.8:80 +12\.0 s +0 bytes +107\n +1 byte unacknowledged, 3 retransmissions\n/);
    expect(text.match(/What it means:/g)).toHaveLength(report.findings.length);
    expect(text.match(/What to do:/g)).toHaveLength(report.findings.length);
  });

  it('lists listeners, the namespace counters, TIME_WAIT and how it was attributed, counts and the exit code', () => {
    expect(text).toMatch(/127\.0\.0\.1:8080 +accept queue 0 of 511, SYN_RECEIVED 1/);
    expect(prose).toContain('ListenOverflows 7, ListenDrops 9');
    expect(text).toContain('3 on listening port 8080 (server side)');
    expect(text).toContain('1 to 10.0.0.7:5432 (client side, 0.0 % of the ephemeral ports 32768-60999)');
    expect(prose).toMatch(/Not tied to pid 4242: 2 more in this network namespace \(busiest: 10\.0\.0\.9:443 ×2\)/);
    expect(prose).toContain('Sockets by state: LISTEN 2, SYN_RECEIVED 1, ESTABLISHED 2, FIN_WAIT_1 1, FIN_WAIT_2 1, CLOSE_WAIT 3, TIME_WAIT 4');
    expect(prose).toContain('of which without inode, tied by listening port or destination: SYN_RECEIVED 1, TIME_WAIT 4');
    expect(text.trimEnd().endsWith('4 findings (exit code 1).')).toBe(true);
  });

  it('fits 80 columns and has no escape codes without colour; has them with colour', () => {
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(text).not.toMatch(ANSI_PATTERN);
    expect(renderDoctorText(report, createStyle(true))).toMatch(ANSI_PATTERN);
  });

  it('says when ages are unknown and why', () => {
    const proc = renderDoctorText(
      diagnose(doctorInput({ source: { table: 'proc', durations: false, backlog: false, notes: ['pid 4242 is in another network namespace'] } })),
      plain,
    );
    expect(proc).toContain('read from /proc (net:[4026531833]); socket ages unknown');
    expect(proc).toContain('note: pid 4242 is in another network namespace');
    expect(proc).toMatch(/127\.0\.0\.1:8080 +127\.0\.0\.1:50002 +unknown/);
    expect(proc).toContain('accept queue 0 of an unknown limit');
  });

  it(`lists ${SOCKETS_SHOWN} sockets of a finding and counts the rest`, () => {
    const many: KernelSocketRow[] = Array.from({ length: 25 }, (_, i) => ({
      state: 'close_wait',
      recvQ: 0,
      sendQ: 0,
      local: { address: '127.0.0.1', port: 8080 },
      peer: { address: '127.0.0.1', port: 50100 + i },
      inode: 1000 + i,
    }));
    const out = renderDoctorText(
      diagnose(
        doctorInput({
          table: selectScope(many, { kind: 'port', port: 8080 }),
          pid: undefined,
          port: 8080,
          source: { table: 'proc', durations: false, backlog: false, notes: [] },
        }),
      ),
      plain,
    );
    expect(out).toContain('… and 5 more (--json lists them all)');
    expect(out.match(/127\.0\.0\.1:501\d\d/g)).toHaveLength(SOCKETS_SHOWN);
  });

  it('says plainly when there is nothing to report', () => {
    const healthy = renderDoctorText(diagnose(doctorInput({ table: selectScope([], { kind: 'pid', pid: 4242, inodes: new Set() }) })), plain);
    expect(healthy).toContain('No findings (exit code 0).');
    expect(healthy).toContain('Sockets by state: none');
  });
});

describe('renderStatesText', () => {
  const table = selectScope(rows, { kind: 'pid', pid: 4242, inodes: PROCESS_INODES });
  const report = (overflows: number) =>
    buildStatesReport({
      pid: 4242,
      table,
      time: new Date('2025-01-02T03:04:05Z'),
      timeWaitThreshold: 4,
      counters: { listenOverflows: overflows, listenDrops: overflows },
    });

  it('draws all eleven states and explains the highlighted ones', () => {
    const text = renderStatesText(report(7), plain);
    const prose = text.replace(/\s+/g, ' ');
    for (const state of ALL_TCP_STATES) expect(text).toContain(state.toUpperCase());
    expect(text).toContain('socklife states: pid 4242  14 sockets  03:04:05 UTC');
    expect(prose).toMatch(/! CLOSE_WAIT 3: peers closed and the application did not; socklife doctor --pid 4242/);
    expect(text).toMatch(/! TIME_WAIT 4 \(threshold 4\)/);
    expect(prose).toContain('Without inode, tied to the process by listening port or destination: SYN_RECEIVED 1, TIME_WAIT 4.');
    expect(prose).toContain('Not counted: 2 TIME_WAIT in this network namespace not tied to pid 4242.');
    expect(text).not.toMatch(ANSI_PATTERN);
  });

  it('shows how the namespace counters grew since the previous frame', () => {
    expect(renderStatesText(report(10), plain, report(7)).replace(/\s+/g, ' ')).toContain('ListenOverflows 10 (+3), ListenDrops 10 (+3)');
  });
});
