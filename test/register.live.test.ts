import { execa } from 'execa';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingTool, skipWithReason } from './support/requirements.js';

const PROGRAM = join(__dirname, 'programs', 'leak-reporter.cjs');
const ENV = { SOCKLIFE_POLL_INTERVAL_MS: '100', SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: '300', RUN_MS: '2000' };

interface PrintedSpan {
  name: string;
  attributes: Record<string, unknown>;
}

async function run(preload: string[], env: Record<string, string>) {
  const result = await execa(process.execPath, [...preload, PROGRAM], {
    env: { ...ENV, ...env },
    extendEnv: true,
    reject: false,
    timeout: 15_000,
  });
  expect(result.exitCode, result.stderr).toBe(0);
  const spans = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as PrintedSpan);
  return { spans, leaks: spans.filter((s) => s.name === 'tcp.close_wait.leak'), stderr: result.stderr };
}

function causes(leaks: PrintedSpan[]): string[] {
  return leaks.map((l) => String(l.attributes['tcp.close_wait.cause'])).sort();
}

const skip = skipWithReason(missingTool('ss'));

describe.skipIf(skip)('socklife/register', () => {
  it.each([['--require'], ['--import']])('%s socklife/register finds both leaks, configured from the environment', async (flag) => {
    const { leaks, stderr } = await run([flag, 'socklife/register'], {});
    expect(causes(leaks)).toEqual(['end_not_called', 'not_read_to_eof']);
    const functions = leaks.map((l) => l.attributes['code.function.name']).sort();
    expect(functions).toEqual(['startHalfOpenServer', 'startNeverReadingServer']);
    for (const leak of leaks) expect(String(leak.attributes['code.file.path'])).toMatch(/two-leaks\.cjs$/);
    expect(stderr).not.toMatch(/socklife/);
  });

  it('warns once about a bad variable, naming it, and still runs on the default', async () => {
    const { leaks, stderr } = await run(['--require', 'socklife/register'], { SOCKLIFE_SOURCE: 'lsof' });
    const warnings = stderr.split('\n').filter((line) => line.includes('SOCKLIFE_SOURCE'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/environment variable SOCKLIFE_SOURCE="lsof" is not one of .*; using the default "auto"/);
    expect(causes(leaks)).toEqual(['end_not_called', 'not_read_to_eof']);
  });

  it('without ss on PATH falls back to /proc/net/tcp once and still finds the unread stream', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'socklife-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const { leaks, stderr } = await run(['--require', 'socklife/register'], { PATH: bin, SOCKLIFE_SOURCE: 'auto' });
    const diagnostics = stderr.split('\n').filter((line) => line.includes('socklife'));
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatch(/kernel source failed \(ss: ss not found on PATH\); switching to proc/);
    expect(causes(leaks)).toEqual(['end_not_called', 'not_read_to_eof']);
    const unread = leaks.find((l) => l.attributes['tcp.close_wait.cause'] === 'not_read_to_eof');
    expect(unread?.attributes['tcp.state.source']).toBe('kernel');
  });

  it('with only ss allowed and no ss on PATH, says so once and keeps reporting what socket events show', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'socklife-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const { leaks, stderr } = await run(['--require', 'socklife/register'], { PATH: bin, SOCKLIFE_SOURCE: 'ss' });
    const diagnostics = stderr.split('\n').filter((line) => line.includes('socklife'));
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatch(/ss: ss not found on PATH\); no source left, continuing with socket events only/);
    // The half-open leak is visible from events alone; the unread stream needs a kernel source.
    expect(causes(leaks)).toEqual(['end_not_called']);
  });
});

describe.skipIf(skip)('SOCKLIFE_LOG: findings as JSON lines, no SDK registered', () => {
  interface Line {
    time: string;
    type: string;
    cause: string;
    side: string;
    message: string;
    local: { address: string; port: number };
    peer: { address: string; port: number };
    frame: { function: string; file: string; line: number };
    attributes: Record<string, unknown>;
  }

  async function runNoSdk(flag: string, log: string) {
    const result = await execa(process.execPath, [flag, 'socklife/register', join(__dirname, 'programs', 'two-leaks.cjs')], {
      env: { ...ENV, SOCKLIFE_LOG: log },
      reject: false,
      timeout: 15_000,
    });
    expect(result.exitCode, result.stderr).toBe(0);
    // "client <local port> -> <server port>" for each of the two connections.
    const clients = result.stdout.split('\n').flatMap((l) => {
      const m = /^client (\d+) -> (\d+)$/.exec(l);
      return m === null ? [] : [{ clientPort: Number(m[1]), serverPort: Number(m[2]) }];
    });
    const text = log === 'stderr' ? result.stderr : readFileSync(log, 'utf8');
    const lines = text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line);
    return { lines, clients, stderr: result.stderr };
  }

  function check(all: Line[], clients: Array<{ clientPort: number; serverPort: number }>) {
    // Each client waits for a FIN its leaking server never sends: a stuck half-close on that side.
    const stuck = all.filter((l) => l.type === 'half_close_stuck');
    expect(stuck.map((l) => [l.side, l.cause])).toEqual(stuck.map(() => ['client', 'peer_not_closing']));
    for (const line of stuck) expect(clients).toContainEqual({ clientPort: line.local.port, serverPort: line.peer.port });
    const lines = all.filter((l) => l.type !== 'half_close_stuck');
    expect(lines.map((l) => l.cause).sort()).toEqual(['end_not_called', 'not_read_to_eof']);
    for (const line of lines) {
      expect(line.type).toBe('close_wait_leak');
      expect(Number.isNaN(Date.parse(line.time))).toBe(false);
      expect(line.side).toBe('server');
      expect(line.message).toMatch(/^socket in CLOSE_WAIT for \d+ ms: /);
      expect(line.frame.file).toMatch(/two-leaks\.cjs$/);
      expect(['startHalfOpenServer', 'startNeverReadingServer']).toContain(line.frame.function);
      // The endpoints are the real ones: the server's port, the client's port as the peer.
      expect(clients).toContainEqual({ clientPort: line.peer.port, serverPort: line.local.port });
      expect(line.attributes['tcp.close_wait.duration_ms']).toBeTypeOf('number');
      expect(line.attributes['code.stacktrace']).toBeUndefined();
    }
  }

  it.each([['--require'], ['--import']])('%s socklife/register with SOCKLIFE_LOG=stderr', async (flag) => {
    const { lines, clients } = await runNoSdk(flag, 'stderr');
    expect(clients).toHaveLength(2);
    check(lines, clients);
  });

  it('SOCKLIFE_LOG=<file> appends to the file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'socklife-log-')), 'findings.jsonl');
    const { lines, clients, stderr } = await runNoSdk('--require', file);
    check(lines, clients);
    expect(stderr).toBe('');
  });
});

describe.skipIf(skip)('a second start: SocklifeInstrumentation enabled while the drop-in runs', () => {
  it('warns once naming both; its options are ignored and its disable() leaves the drop-in running', async () => {
    const result = await execa(process.execPath, ['--require', 'socklife/register', join(__dirname, 'programs', 'second-start.cjs')], {
      env: { ...ENV, RUN_MS: '5000' },
      reject: false,
      timeout: 15_000,
    });
    // The program exits 0 once the drop-in reported the leak made after disable(), on the drop-in's threshold.
    expect(result.exitCode, result.stderr).toBe(0);
    const leak = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as PrintedSpan)
      .find((span) => span.name === 'tcp.close_wait.leak');
    expect(leak?.attributes['tcp.close_wait.cause']).toBe('end_not_called');
    const warnings = result.stderr.split('\n').filter((line) => line.includes('socklife'));
    expect(warnings).toEqual([
      'socklife: SocklifeInstrumentation.enable() while the drop-in (socklife/register) is running: its options are ignored and disable() will not stop the drop-in',
    ]);
  });
});
