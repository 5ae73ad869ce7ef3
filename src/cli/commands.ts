import { setTimeout as delay } from 'node:timers/promises';
import type { KernelQuery } from '../observe/kernel/query.js';
import { ALL_TCP_STATES } from '../tcp-states.js';
import type { DoctorInvocation, StatesInvocation, Target, WatchInvocation } from './args.js';
import { diagnose } from './diagnose.js';
import type { ProcessInfo } from './doctor-report.js';
import { readNamespaceFacts, readTable } from './kernel-table.js';
import { assertStillRunning, readProcessSockets, type ProcessSockets } from './process-sockets.js';
import { renderDoctorText, renderStatesText } from './render-text.js';
import { selectScope, type Scope } from './scope.js';
import { buildStatesReport, type StatesReport } from './states.js';
import { createStyle, shouldUseColor } from './style.js';

export interface CliIo {
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(text: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT or SIGTERM: watch stops before its next frame. */
  readonly signal?: AbortSignal;
}

/** Cursor home, clear screen: a watch frame replaces the one before it. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';
/** Destinations watch remembers for TIME_WAIT attribution; enough for any real client, bounded for a runaway one. */
const MAX_REMEMBERED_DESTINATIONS = 10_000;

const OWN_NET_DIR = '/proc/self/net';

interface ResolvedTarget {
  readonly scope: Scope;
  /** /proc/N/net: the target's network namespace; /proc/self/net without --pid. */
  readonly netDir: string;
  readonly process?: ProcessInfo;
  /** ss sees the sockets of the namespace it runs in, so only a target in ours can be read with it. */
  readonly sameNetns: boolean;
  readonly whyNotSs?: string;
}

function processInfo(p: ProcessSockets): ProcessInfo {
  return { name: p.name ?? null, netns: p.netnsId ?? null, netnsRelation: p.netns };
}

function whyNotSs(p: ProcessSockets): string | undefined {
  const tail =
    `so its table was read from /proc/${p.pid}/net/tcp and tcp6, which have no socket ages and no backlog limits. ` +
    `For those, run socklife inside its namespace: nsenter --target ${p.pid} --net socklife doctor --pid ${p.pid}`;
  switch (p.netns) {
    case 'same':
      return undefined;
    case 'other':
      return (
        `pid ${p.pid} is in another network namespace (${p.netnsId ?? '?'}; socklife runs in ${p.ownNetnsId ?? '?'}), where ss run here cannot look, ` +
        `${tail}. The ephemeral port range shown is this namespace's.`
      );
    case 'unknown':
      return `could not tell whether pid ${p.pid} shares socklife's network namespace (/proc/${p.pid}/ns/net unreadable), ${tail}.`;
  }
}

async function resolveTarget(target: Target): Promise<ResolvedTarget> {
  if (target.pid === undefined) {
    const scope: Scope = target.port === undefined ? { kind: 'netns' } : { kind: 'port', port: target.port };
    return { scope, netDir: OWN_NET_DIR, sameNetns: true };
  }
  const p = await readProcessSockets(target.pid);
  return {
    scope: { kind: 'pid', pid: target.pid, inodes: p.inodes, port: target.port },
    netDir: `/proc/${target.pid}/net`,
    process: processInfo(p),
    sameNetns: p.netns === 'same',
    whyNotSs: whyNotSs(p),
  };
}

function queryFor(target: Target): KernelQuery {
  // With --pid every row is needed (inodes, and TIME_WAIT tied by port); a port alone lets ss filter in the kernel.
  if (target.pid === undefined && target.port !== undefined) {
    return { states: ALL_TCP_STATES, localPorts: [target.port], peerPorts: [target.port] };
  }
  return { states: ALL_TCP_STATES };
}

export async function runDoctor(invocation: DoctorInvocation, io: CliIo): Promise<number> {
  const { target } = invocation;
  const resolved = await resolveTarget(target);
  const [table, facts] = await Promise.all([
    readTable({
      netDir: resolved.netDir,
      pid: target.pid,
      useSs: resolved.sameNetns,
      whyNotSs: resolved.whyNotSs,
      query: queryFor(target),
    }),
    readNamespaceFacts(resolved.netDir),
  ]);
  if (target.pid !== undefined) await assertStillRunning(target.pid);
  const report = diagnose({
    pid: target.pid,
    port: target.port,
    process: resolved.process,
    table: selectScope(table.rows, resolved.scope),
    source: table.source,
    thresholds: invocation.thresholds,
    portRange: facts.portRange,
    counters: facts,
  });
  if (invocation.json) io.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else io.stdout.write(renderDoctorText(report, createStyle(shouldUseColor(io.stdout, io.env))));
  return report.healthy ? 0 : 1;
}

/** One frame of states: always from /proc (the target's namespace, no child process). */
async function collectStates(invocation: StatesInvocation | WatchInvocation, destinations: Set<string>): Promise<StatesReport> {
  const { target } = invocation;
  const resolved = await resolveTarget(target);
  const [table, facts] = await Promise.all([
    readTable({ netDir: resolved.netDir, pid: target.pid, useSs: false, query: queryFor(target) }),
    readNamespaceFacts(resolved.netDir),
  ]);
  if (target.pid !== undefined) await assertStillRunning(target.pid);
  const scoped = selectScope(table.rows, resolved.scope, destinations);
  for (const d of scoped.destinations) {
    if (destinations.size >= MAX_REMEMBERED_DESTINATIONS) break;
    destinations.add(d);
  }
  return buildStatesReport({
    pid: target.pid,
    port: target.port,
    process: resolved.process,
    table: scoped,
    time: new Date(),
    timeWaitThreshold: invocation.timeWaitThreshold,
    counters: facts,
  });
}

export async function runStates(invocation: StatesInvocation, io: CliIo): Promise<number> {
  const report = await collectStates(invocation, new Set());
  if (invocation.json) io.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else io.stdout.write(renderStatesText(report, createStyle(shouldUseColor(io.stdout, io.env))));
  return report.highlighted.length === 0 ? 0 : 1;
}

/** Frames until --count, SIGINT/SIGTERM (io.signal) or an error (the process exited: exit code 2, from the caller). */
export async function runWatch(invocation: WatchInvocation, io: CliIo): Promise<number> {
  const style = createStyle(shouldUseColor(io.stdout, io.env));
  const clear = io.stdout.isTTY === true && !invocation.json;
  const destinations = new Set<string>();
  let previous: StatesReport | undefined;
  for (let frame = 1; !io.signal?.aborted; frame++) {
    const report = await collectStates(invocation, destinations);
    if (io.signal?.aborted) break;
    if (invocation.json) io.stdout.write(JSON.stringify({ ...report, frame }) + '\n');
    else io.stdout.write((clear ? CLEAR_SCREEN : frame > 1 ? '\n' : '') + renderStatesText(report, style, previous));
    previous = report;
    if (invocation.count !== undefined && frame >= invocation.count) break;
    await delay(invocation.intervalMs, undefined, { signal: io.signal }).catch(() => undefined);
  }
  return 0;
}
