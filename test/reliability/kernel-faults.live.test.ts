import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { delimiter, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { onServerSide, type ServerSide } from '../support/server-side.js';
import { createTelemetry, hrToMs, waitFor, type Telemetry } from '../support/telemetry.js';
import { captureDiag, captureUncaught, echoRoundTrip, FakeTools, makeLeaks, onPath, processesInGroup, type DiagCapture, type Leaks } from './support.js';

// Each fault of the `ss` source, produced by a fake `ss` first on PATH, under a running
// instrumentation with source 'auto' and the real SDK. In every case: the leak socket events
// prove is reported on time, the kernel reads never overlap, each condition is said once
// through `diag`, no process of the fake tool is left, and the application's own work goes on.

const POLL_MS = 100;
const THRESHOLD_MS = 400;
/** The budget the README promises for a leak, plus a margin for a loaded machine. */
const ON_TIME_MS = THRESHOLD_MS + 2 * POLL_MS + 1500;
/** SsSource's hard deadline. */
const DEADLINE_MS = 5000;
/** Three deadlines in a row, each with its kill and settle, then the fallback and a leak threshold. */
const FALLBACK_WITHIN_MS = 3 * (DEADLINE_MS + 1000) + THRESHOLD_MS + 5000;
/** Every fake run waits this long before its fault, so reads that overlapped would start closer together. */
const MIN_RUN_MS = 300;

const skip = skipWithReason(missingTool('ss'));

interface Fault {
  readonly name: string;
  /** Writes the fake tool (or not) and sets PATH. */
  readonly setup: (tools: FakeTools, realSs: string) => void;
  /** Each run lasts at least this long: consecutive runs start at least this far apart when reads never overlap. */
  readonly runMs: number;
  /** The kernel read still hangs when the event-proved leak is reported. */
  readonly hangs: boolean;
  /** Runs of the fake tool before the next source takes over (undefined: it keeps being used). */
  readonly runsBeforeFallback: number | undefined;
  /** socklife's diag messages: each pattern exactly once, and no other message. */
  readonly diagnostics: readonly RegExp[];
  /** The source in use at the end. */
  readonly finalSource: 'ss' | 'proc';
}

const WAIT = `/bin/sleep ${MIN_RUN_MS / 1000}`;

const FAULTS: readonly Fault[] = [
  {
    name: 'ss missing from PATH',
    setup: (tools) => tools.usePath(true),
    runMs: 0,
    hangs: false,
    runsBeforeFallback: 0,
    diagnostics: [/^socklife: kernel source failed \(ss: ss not found on PATH\); switching to proc$/],
    finalSource: 'proc',
  },
  {
    name: 'ss not executable',
    setup: (tools) => {
      tools.write('ss', 'exit 0', 0o644);
      tools.usePath(true);
    },
    runMs: 0,
    hangs: false,
    runsBeforeFallback: 0,
    diagnostics: [/^socklife: kernel source failed \(ss: ss is not executable \(EACCES\)\); switching to proc$/],
    finalSource: 'proc',
  },
  {
    name: 'ss exits non-zero',
    setup: (tools) => {
      tools.write('ss', `${WAIT}\necho 'Cannot open netlink socket: Protocol not supported' >&2\nexit 2`);
      tools.usePath();
    },
    runMs: MIN_RUN_MS,
    hangs: false,
    runsBeforeFallback: 3,
    diagnostics: [
      /^socklife: kernel source failed \(ss: ss exited with 2: Cannot open netlink socket: Protocol not supported\); trying it again at the next poll$/,
      /^socklife: kernel source failed \(ss: ss exited with 2: Cannot open netlink socket: Protocol not supported\); switching to proc$/,
    ],
    finalSource: 'proc',
  },
  {
    name: 'ss hangs (the tool itself never exits)',
    setup: (tools) => {
      tools.write('ss', 'exec /bin/sleep 600');
      tools.usePath();
    },
    runMs: DEADLINE_MS,
    hangs: true,
    runsBeforeFallback: 3,
    diagnostics: [
      /^socklife: kernel source failed \(ss: ss did not finish within 5000 ms; killed\); trying it again at the next poll$/,
      /^socklife: kernel source failed \(ss: ss did not finish within 5000 ms; killed\); switching to proc$/,
    ],
    finalSource: 'proc',
  },
  {
    name: 'ss hangs in a child that never exits and keeps stdout open (#!/bin/sh, sleep 600)',
    setup: (tools) => {
      tools.write('ss', 'sleep 600');
      tools.usePath();
    },
    runMs: DEADLINE_MS,
    hangs: true,
    runsBeforeFallback: 3,
    diagnostics: [
      /^socklife: kernel source failed \(ss: ss did not finish within 5000 ms; killed\); trying it again at the next poll$/,
      /^socklife: kernel source failed \(ss: ss did not finish within 5000 ms; killed\); switching to proc$/,
    ],
    finalSource: 'proc',
  },
  {
    name: 'ss exits at once but leaves a background child holding stdout',
    setup: (tools) => {
      tools.write('ss', '/bin/sleep 600 &\nexit 0');
      tools.usePath();
    },
    runMs: DEADLINE_MS,
    hangs: true,
    runsBeforeFallback: 3,
    diagnostics: [
      /^socklife: kernel source failed \(ss: ss did not finish within 5000 ms; killed(?: and abandoned)?\); trying it again at the next poll$/,
      /^socklife: kernel source failed \(ss: ss did not finish within 5000 ms; killed(?: and abandoned)?\); switching to proc$/,
    ],
    finalSource: 'proc',
  },
  {
    name: 'ss prints garbage',
    setup: (tools) => {
      tools.write('ss', `${WAIT}\nprintf 'Usage: ss [ OPTIONS ]\\n       ss [ OPTIONS ] [ FILTER ]\\n-- garbage \\001\\002 --\\n'`);
      tools.usePath();
    },
    runMs: MIN_RUN_MS,
    hangs: false,
    runsBeforeFallback: 3,
    diagnostics: [
      /^socklife: kernel source failed \(ss: printed \d+ line\(s\), none of them a socket row\); trying it again at the next poll$/,
      /^socklife: kernel source failed \(ss: printed \d+ line\(s\), none of them a socket row\); switching to proc$/,
    ],
    finalSource: 'proc',
  },
  {
    name: 'ss output truncated in the middle of a row',
    setup: (tools, realSs) => {
      // Whenever there is output, its last row is cut short.
      tools.write('ss', `${WAIT}\nout=$('${realSs}' "$@")\n[ -n "$out" ] && printf '%s\\nESTAB 0      0      127.0.0.1:4' "$out"\nexit 0`);
      tools.usePath();
    },
    runMs: MIN_RUN_MS,
    hangs: false,
    runsBeforeFallback: undefined,
    diagnostics: [/^socklife: ss: skipped 1 malformed line\(s\)$/],
    finalSource: 'ss',
  },
  {
    name: 'ss prints without end (enormous output)',
    setup: (tools) => {
      tools.write('ss', `${WAIT}\n/usr/bin/yes 'CLOSE-WAIT 0 0 127.0.0.1:1 127.0.0.1:2'`);
      tools.usePath();
    },
    runMs: MIN_RUN_MS,
    hangs: false,
    runsBeforeFallback: 3,
    diagnostics: [
      /^socklife: kernel source failed \(ss: ss printed more than 64 MiB; killed\); trying it again at the next poll$/,
      /^socklife: kernel source failed \(ss: ss printed more than 64 MiB; killed\); switching to proc$/,
    ],
    finalSource: 'proc',
  },
];

let tools: FakeTools | undefined;
let telemetry: Telemetry | undefined;
let handle: SocklifeHandle | undefined;
let diagnostics: DiagCapture | undefined;
let leaks: Leaks | undefined;

afterEach(async () => {
  handle?.stop();
  leaks?.close();
  diagnostics?.dispose();
  await telemetry?.shutdown();
  // Nothing the fake tool started may outlive the test, whatever happened.
  for (const run of tools?.runs() ?? []) {
    for (const pid of processesInGroup(run.pid)) process.kill(pid, 'SIGKILL');
  }
  tools?.dispose();
  handle = telemetry = diagnostics = leaks = tools = undefined;
});

function leakSpan(of: ServerSide): ReadableSpan | undefined {
  return telemetry?.spans('tcp.close_wait.leak').find(onServerSide(of));
}

describe.skipIf(skip)('kernel source faults: the application keeps working and socklife says once what it cannot see', () => {
  it.each(FAULTS)(
    '$name',
    async (fault) => {
      const realSs = onPath('ss');
      tools = new FakeTools();
      fault.setup(tools, realSs);
      diagnostics = captureDiag();
      const uncaught = captureUncaught();
      try {
        telemetry = createTelemetry();
        handle = instrument({
          tracerProvider: telemetry.tracerProvider,
          meterProvider: telemetry.meterProvider,
          pollIntervalMs: POLL_MS,
          closeWaitThresholdMs: THRESHOLD_MS,
          source: 'auto',
        });
        const current = tools;
        leaks = await makeLeaks();
        const { halfOpen: halfOpenConnection, unread: unreadConnection, finAt } = leaks;

        // Detection from socket events runs on its own schedule: on time, whatever the kernel read does.
        const halfOpen = await waitFor(() => leakSpan(halfOpenConnection), ON_TIME_MS + 2000, 'the end_not_called leak');
        expect(halfOpen.attributes['tcp.close_wait.cause']).toBe('end_not_called');
        expect(hrToMs(halfOpen.endTime) - finAt).toBeLessThanOrEqual(ON_TIME_MS);
        if (fault.hangs) {
          // Reported while the read that hangs is still out: nothing waited for it.
          const out = current.runs().at(-1);
          expect(out, 'a fake ss run').toBeDefined();
          expect(processesInGroup(out?.pid ?? -1).length, 'the hanging ss is still running').toBeGreaterThan(0);
        }
        // The application's own work is unaffected meanwhile.
        expect(await echoRoundTrip('while the source fails')).toBe('while the source fails');

        // What the kernel alone can see: through the source that still works (the next one after 3 failures).
        const unread = await waitFor(() => leakSpan(unreadConnection), FALLBACK_WITHIN_MS, 'the not_read_to_eof leak');
        expect(unread.attributes['tcp.close_wait.cause']).toBe('not_read_to_eof');
        expect(unread.attributes['tcp.state.source']).toBe('kernel');
        expect(handle.source).toBe(fault.finalSource);

        if (fault.runsBeforeFallback !== undefined) {
          // Given up for good: no run after the switch.
          await new Promise((r) => setTimeout(r, 5 * POLL_MS));
          expect(current.runs()).toHaveLength(fault.runsBeforeFallback);
        } else {
          // Kept in use: it reads again while the unread leak stays (one read may have found it).
          await waitFor(() => (current.runs().length >= 2 ? true : undefined), 3 * (fault.runMs + POLL_MS) + 2000, 'a second run of the tool');
        }
        const runs = current.runs();
        // Kernel reads never overlap: each run starts after the previous one ended.
        for (let i = 1; i < runs.length; i++) {
          const gap = (runs[i]?.at ?? 0) - (runs[i - 1]?.at ?? 0);
          expect(gap, `run ${i} started ${gap} ms after run ${i - 1}`).toBeGreaterThanOrEqual(fault.runMs - 50);
        }
        // Each condition said once, however many polls met it.
        const said = diagnostics.socklife();
        for (const pattern of fault.diagnostics)
          expect(
            said.filter((m) => pattern.test(m)),
            `${pattern} in ${JSON.stringify(said)}`,
          ).toHaveLength(1);
        expect(said).toHaveLength(fault.diagnostics.length);
        // No process of the tool outlives its read.
        for (const run of runs) {
          await waitFor(() => (processesInGroup(run.pid).length === 0 ? true : undefined), 3000, `process group ${run.pid} to be gone`);
        }
        expect(uncaught.errors).toEqual([]);
      } finally {
        uncaught.dispose();
      }
    },
    FALLBACK_WITHIN_MS + 30_000,
  );
});

describe.skipIf(skip)('the application ends while ss hangs', () => {
  it.each([
    ['by process.exit()', 'explicit'],
    ['by running out of work', 'natural'],
  ])(
    '%s: it ends at once, and the hanging tool and its child go with it',
    async (_how, exit) => {
      const { execa } = await import('execa');
      tools = new FakeTools();
      tools.write('ss', 'sleep 600');
      const started = Date.now();
      const result = await execa(process.execPath, ['--require', 'socklife/register', join(__dirname, 'programs', 'short-lived.cjs')], {
        env: { PATH: `${tools.dir}${delimiter}${process.env.PATH ?? ''}`, EXIT: exit, WAIT_FOR: tools.log, SOCKLIFE_SOURCE: 'ss' },
        reject: false,
        timeout: 20_000,
      });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout).toBe('echo ping');
      // Not held until the tool's deadline.
      expect(Date.now() - started).toBeLessThan(DEADLINE_MS);
      const runs = tools.runs();
      expect(runs).toHaveLength(1);
      await waitFor(() => (processesInGroup(runs[0]?.pid ?? -1).length === 0 ? true : undefined), 3000, 'the fake ss process group to be gone');
    },
    30_000,
  );
});
