import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { KernelReader } from '../../src/observe/kernel/kernel-reader.js';
import { NetstatSource } from '../../src/observe/kernel/netstat-source.js';
import { ProcNetSource } from '../../src/observe/kernel/proc-source.js';
import type { KernelQuery } from '../../src/observe/kernel/source.js';
import { SsSource } from '../../src/observe/kernel/ss-source.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { onServerSide } from '../support/server-side.js';
import { createTelemetry, waitFor, type Telemetry } from '../support/telemetry.js';
import { captureDiag, FakeTools, makeLeaks, processesInGroup, type DiagCapture, type Leaks } from './support.js';

// The faults of /proc/net and netstat, on the source classes pointed at what fails (a
// directory where a file should be, a binary that is not there), read through the
// KernelReader that falls back between them, as the poller reads it.

const QUERY: KernelQuery = { states: ['listen'] };
const notLinux = process.platform === 'linux' ? undefined : `needs Linux (this is ${process.platform})`;

let diagnostics: DiagCapture | undefined;
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  diagnostics?.dispose();
  diagnostics = undefined;
});

/** A /proc/net stand-in whose `tcp` cannot be read: it is a directory (EISDIR), which even root cannot read. */
function unreadableProcNet(): string {
  const dir = mkdtempSync(join(tmpdir(), 'socklife-procnet-'));
  mkdirSync(join(dir, 'tcp'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe.skipIf(skipWithReason(notLinux))('/proc/net and netstat faults', () => {
  it('/proc/net unreadable: proc is given up at once, said once, and netstat takes over', async (ctx) => {
    const noNetstat = missingTool('netstat', ['--version']);
    if (skipWithReason(noNetstat)) ctx.skip(noNetstat);
    diagnostics = captureDiag();
    const dir = unreadableProcNet();
    const reader = new KernelReader([new ProcNetSource(dir), new NetstatSource()]);
    for (let poll = 0; poll < 5; poll++) {
      const reading = await reader.read(QUERY);
      expect(reading?.source).toBe('netstat');
      expect(reading?.rows.length).toBeGreaterThan(0);
    }
    expect(diagnostics.socklife()).toEqual([`socklife: kernel source failed (proc: cannot read ${join(dir, 'tcp')} (EISDIR)); switching to netstat`]);
  });

  it('/proc/net missing: proc is given up at once, said once', async () => {
    diagnostics = captureDiag();
    const reader = new KernelReader([new ProcNetSource('/nonexistent/proc/net')]);
    for (let poll = 0; poll < 5; poll++) expect(await reader.read(QUERY)).toBeUndefined();
    expect(reader.current).toBeUndefined();
    expect(diagnostics.socklife()).toEqual([
      'socklife: kernel source failed (proc: cannot read /nonexistent/proc/net/tcp (ENOENT)); no source left, continuing with socket events only',
    ]);
  });

  it('netstat absent: no source left, said once, and later polls read nothing without a word', async () => {
    diagnostics = captureDiag();
    const reader = new KernelReader([new NetstatSource('/nonexistent/netstat')]);
    for (let poll = 0; poll < 5; poll++) expect(await reader.read(QUERY)).toBeUndefined();
    expect(diagnostics.socklife()).toEqual([
      'socklife: kernel source failed (netstat: /nonexistent/netstat not found on PATH); no source left, continuing with socket events only',
    ]);
  });

  it('every source fails in turn (ss hangs, /proc/net unreadable, netstat absent): one message per condition', async () => {
    diagnostics = captureDiag();
    const tools = new FakeTools();
    cleanups.push(() => {
      for (const run of tools.runs()) for (const pid of processesInGroup(run.pid)) process.kill(pid, 'SIGKILL');
      tools.dispose();
    });
    const ss = tools.write('ss', 'sleep 600');
    const dir = unreadableProcNet();
    const reader = new KernelReader([new SsSource(ss, 300), new ProcNetSource(dir), new NetstatSource('/nonexistent/netstat')]);
    const sources: Array<string | undefined> = [];
    for (let poll = 0; poll < 6; poll++) {
      expect(await reader.read(QUERY)).toBeUndefined();
      sources.push(reader.current);
    }
    // ss is tried three times (each read killed at its deadline), then proc and netstat fail at once.
    expect(sources).toEqual(['ss', 'ss', undefined, undefined, undefined, undefined]);
    expect(tools.runs()).toHaveLength(3);
    expect(diagnostics.socklife()).toEqual([
      `socklife: kernel source failed (ss: ${ss} did not finish within 300 ms; killed); trying it again at the next poll`,
      `socklife: kernel source failed (ss: ${ss} did not finish within 300 ms; killed); switching to proc`,
      `socklife: kernel source failed (proc: cannot read ${join(dir, 'tcp')} (EISDIR)); switching to netstat`,
      'socklife: kernel source failed (netstat: /nonexistent/netstat not found on PATH); no source left, continuing with socket events only',
    ]);
    for (const run of tools.runs()) {
      await waitFor(() => (processesInGroup(run.pid).length === 0 ? true : undefined), 3000, `process group ${run.pid} to be gone`);
    }
  });

  it('a failure that clears before the third try resets the count: a flaky source is kept', async () => {
    diagnostics = captureDiag();
    const tools = new FakeTools();
    cleanups.push(() => tools.dispose());
    // Fails on odd runs, works on even ones: never three failures in a row.
    const state = join(tools.dir, 'flip');
    const ss = tools.write('ss', `if [ -e '${state}' ]; then /usr/bin/rm '${state}'; exit 0; fi\n: > '${state}'\nexit 1`);
    const reader = new KernelReader([new SsSource(ss, 5000), new ProcNetSource()]);
    for (let poll = 0; poll < 8; poll++) await reader.read(QUERY);
    expect(reader.current).toBe('ss');
    expect(tools.runs()).toHaveLength(8);
    expect(diagnostics.socklife()).toEqual([`socklife: kernel source failed (ss: ${ss} exited with 1); trying it again at the next poll`]);
  });
});

describe.skipIf(skipWithReason(notLinux))('netstat absent under a running instrumentation', () => {
  let telemetry: Telemetry | undefined;
  let handle: SocklifeHandle | undefined;
  let leaks: Leaks | undefined;
  let tools: FakeTools | undefined;
  afterEach(async () => {
    handle?.stop();
    leaks?.close();
    tools?.dispose();
    await telemetry?.shutdown();
  });

  it("source 'netstat' with no netstat: says so once, reports 'none', and finds what socket events prove", async () => {
    diagnostics = captureDiag();
    tools = new FakeTools();
    tools.usePath(true); // nothing on PATH
    telemetry = createTelemetry();
    handle = instrument({
      tracerProvider: telemetry.tracerProvider,
      meterProvider: telemetry.meterProvider,
      pollIntervalMs: 100,
      closeWaitThresholdMs: 300,
      source: 'netstat',
    });
    leaks = await makeLeaks();
    const { halfOpen } = leaks;
    const leak = await waitFor(() => telemetry?.spans('tcp.close_wait.leak').find(onServerSide(halfOpen)), 5000, 'the end_not_called leak');
    expect(leak.attributes['tcp.close_wait.cause']).toBe('end_not_called');
    expect(handle.source).toBe('none');
    await new Promise((r) => setTimeout(r, 1000));
    // The unread stream needs a kernel source: not found, not invented.
    expect(telemetry.spans('tcp.close_wait.leak')).toHaveLength(1);
    expect(diagnostics.socklife()).toEqual([
      'socklife: kernel source failed (netstat: netstat not found on PATH); no source left, continuing with socket events only',
    ]);
  });
});
