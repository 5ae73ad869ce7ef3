import { spawn } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { emptyCounts, type StateCounts } from '../../src/cli/scope.js';
import type { StatesReport } from '../../src/cli/states.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import { ALL_TCP_STATES } from '../../src/tcp-states.js';
import { eventually } from '../support/telemetry.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { assertBuilt, CLI, json, runCli, socketInodes, ssTable, startProgram, type Program } from './support.js';

// `states` and `watch` on real processes: a server holding 3 CLOSE_WAIT (its peer half-closed
// them) and 2 ESTABLISHED connections (another peer keeps them open).

const skip = skipWithReason(process.platform === 'linux' ? missingTool('ss') : `needs Linux (this is ${process.platform})`);
const STATE_NAMES = ALL_TCP_STATES.map((s) => s.toUpperCase());

/** Rows of ss, counted per state. */
function countByState(rows: readonly KernelSocketRow[]): StateCounts {
  const counts = emptyCounts();
  for (const row of rows) counts[row.state] += 1;
  return counts;
}

/** Rows with the port at either end. */
const onPort = (rows: readonly KernelSocketRow[], port: number): KernelSocketRow[] => rows.filter((r) => r.local.port === port || r.peer.port === port);

function minus(counts: StateCounts, attributed: Partial<StateCounts>): StateCounts {
  const owned = { ...counts };
  for (const state of ALL_TCP_STATES) owned[state] -= attributed[state] ?? 0;
  return owned;
}

describe.skipIf(skip)('socklife states and watch on live processes', () => {
  let server: Program;
  let halfCloser: Program;
  let holder: Program;
  let port: number;

  beforeAll(async () => {
    assertBuilt();
    server = await startProgram('half-open-server.cjs');
    port = Number(server.ready.port);
    halfCloser = await startProgram('peer.cjs', ['--port', String(port), '--connections', '3', '--half-close']);
    holder = await startProgram('peer.cjs', ['--port', String(port), '--connections', '2']);
    await vi.waitFor(
      async () => {
        const rows = (await ssTable()).filter((r) => r.local.port === port);
        expect(rows.filter((r) => r.state === 'close_wait')).toHaveLength(3);
        expect(rows.filter((r) => r.state === 'established')).toHaveLength(2);
      },
      { timeout: 5000, interval: 50 },
    );
  });

  afterAll(async () => {
    await holder?.stop();
    await halfCloser?.stop();
    await server?.stop();
  });

  it('states --pid N --json counts, per state, what ss shows for the sockets of that process', async () => {
    const result = await runCli(['states', '--pid', String(server.pid), '--json']);
    const ssRows = await ssTable();
    expect(result.code, result.stderr).toBe(1); // CLOSE_WAIT > 0 is highlighted
    const report = json<StatesReport>(result);
    const inodes = socketInodes(server.pid);
    expect(minus(report.counts, report.attributed)).toEqual(countByState(ssRows.filter((r) => inodes.has(r.inode))));
    expect(report.counts).toMatchObject({ listen: 1, established: 2, close_wait: 3 });
    expect(report).toMatchObject({ command: 'states', pid: server.pid, port: null, source: 'proc', total: 6, highlighted: ['close_wait'] });
  });

  it('draws all 11 states, highlights CLOSE_WAIT, and writes no escape codes to a pipe', async () => {
    const result = await runCli(['states', '--pid', String(server.pid)]);
    expect(result.code).toBe(1);
    for (const name of STATE_NAMES) expect(result.stdout).toContain(name);
    expect(result.stdout).toMatch(/║ CLOSE_WAIT +3 ║/);
    expect(result.stdout).toMatch(/│ ESTABLISHED +2 │/);
    expect(result.stdout).toContain('! CLOSE_WAIT 3:');
    expect(result.stdout).not.toContain('\x1b');
  });

  it('--port P counts both ends of the port, whoever holds them, as ss shows them', async () => {
    // The kernel may hand the test's listener a port that an earlier connection elsewhere
    // still names in TIME_WAIT, so the count is checked against ss read around the run, and
    // the exact numbers against the sockets the three programs of this test own.
    const { run, rows } = await eventually(
      async () => {
        const before = onPort(await ssTable(), port);
        const result = json<StatesReport>(await runCli(['states', '--port', String(port), '--json']));
        const after = onPort(await ssTable(), port);
        return isDeepStrictEqual(countByState(before), countByState(after)) ? { run: result, rows: before } : undefined;
      },
      10_000,
      `ss to show port ${port} unchanged around one run of socklife states`,
    );
    expect(run.counts).toEqual(countByState(rows));
    expect(run).toMatchObject({ pid: null, port, attributed: {}, unattributedTimeWait: null });
    const ours = new Set([...socketInodes(server.pid), ...socketInodes(halfCloser.pid), ...socketInodes(holder.pid)]);
    expect(countByState(rows.filter((r) => ours.has(r.inode)))).toEqual({ ...emptyCounts(), listen: 1, established: 4, close_wait: 3, fin_wait_2: 3 });
  });

  it('without a target counts the whole network namespace', async () => {
    const report = json<StatesReport>(await runCli(['states', '--json']));
    expect(report.counts.close_wait).toBeGreaterThanOrEqual(3);
    expect(report.counts.fin_wait_2).toBeGreaterThanOrEqual(3);
    expect(report.total).toBeGreaterThanOrEqual(11);
  });

  it('watch --count 2 draws two frames and exits 0 by itself', async () => {
    const started = Date.now();
    const result = await runCli(['watch', '--pid', String(server.pid), '--count', '2', '--interval-ms', '100']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.match(/^socklife states: pid \d+/gm)).toHaveLength(2);
    expect(result.stdout).not.toContain('\x1b'); // no clear-screen on a pipe
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('watch --json prints one JSON object per frame', async () => {
    const result = await runCli(['watch', '--port', String(port), '--count', '3', '--interval-ms', '100', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const frames = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as StatesReport & { frame: number });
    expect(frames.map((f) => f.frame)).toEqual([1, 2, 3]);
    for (const f of frames) expect(f.counts.close_wait).toBe(3);
  });

  it('watch stops on SIGINT with exit code 0', async () => {
    const child = spawn(process.execPath, [CLI, 'watch', '--pid', String(server.pid), '--interval-ms', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await vi.waitFor(() => expect(stdout).toContain('socklife states:'), { timeout: 10_000 });
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    expect(await exited).toBe(0);
    clearTimeout(timer);
  });

  it('watch exits 2 when the process it watches exits', async () => {
    const doomed = await startProgram('half-open-server.cjs');
    const child = spawn(process.execPath, [CLI, 'watch', '--pid', String(doomed.pid), '--interval-ms', '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await vi.waitFor(() => expect(stdout).toContain('socklife states:'), { timeout: 10_000 });
    await doomed.stop();
    expect(await exited).toBe(2);
    clearTimeout(timer);
    expect(stderr).toMatch(new RegExp(`^socklife: (no process with pid ${doomed.pid}|pid ${doomed.pid} exited while its sockets were being read)`));
  });
});

describe.skipIf(skip)('socklife states on a terminal', () => {
  const noScript = skipWithReason(missingTool('script', ['--version']));
  let server: Program;

  beforeAll(async () => {
    assertBuilt();
    server = await startProgram('half-open-server.cjs');
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** Runs the CLI on a pseudo-terminal (util-linux `script`), as a person at a shell would. */
  function onTerminal(env: NodeJS.ProcessEnv): Promise<string> {
    // script(1) runs its command through $SHELL -c; every word here is a path or a number.
    const command = `${process.execPath} ${CLI} states --pid ${server.pid}`;
    return new Promise((resolve, reject) => {
      const child = spawn('script', ['-qec', command, '/dev/null'], {
        env: { ...process.env, SHELL: '/bin/sh', TERM: 'xterm-256color', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 20_000,
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.once('error', reject);
      child.once('close', () => resolve(out));
    });
  }

  it.skipIf(noScript)('colours the diagram, dimming zero counts, and leaves colour out with NO_COLOR', async () => {
    const coloured = await onTerminal({ NO_COLOR: undefined });
    expect(coloured).toContain('\x1b[2m│ CLOSED');
    expect(coloured).toContain('\x1b[1m│ LISTEN');
    const plain = await onTerminal({ NO_COLOR: '1' });
    expect(plain).toContain('LISTEN');
    expect(plain).not.toContain('\x1b[');
  });
});
