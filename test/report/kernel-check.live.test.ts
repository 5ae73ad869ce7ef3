/**
 * socklife's state timelines held against the kernel's own record. The scenarios run in a
 * Node child inside a private network namespace under `--require socklife/register`, while
 * bpftrace records the tracepoint `sock:inet_sock_set_state` for that namespace. Every state
 * in each connection's timeline (socket events, kernel polls, and the after-close follow-up)
 * must have been entered by the kernel for that 4-tuple, in the same order.
 */
import { execa } from 'execa';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { canTraceKernel, isSubsequence, startKernelStateRecorder, type KernelStateRecorder } from '../harness/kernel-states.js';
import { canUseNetns, createNetns, type Netns } from '../harness/netns.js';

const ROOT = join(__dirname, '..', '..');
const SCENARIOS = join(ROOT, 'test', 'programs', 'lifecycle-scenarios.cjs');
const DROPPED_PORT = 20000 + Math.floor(Math.random() * 5000);

interface PrintedSpan {
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
}
interface Marker {
  scenario: string;
  clientPort?: number;
}

let unavailable: string | undefined;
let netns: Netns | undefined;
let recorder: KernelStateRecorder | undefined;
let spans: PrintedSpan[] = [];
let markers: Marker[] = [];

beforeAll(async () => {
  unavailable = (await canUseNetns()) ?? (await canTraceKernel());
  if (unavailable !== undefined) {
    if (!process.env.CI) console.warn(`[socklife] skipping the kernel check: ${unavailable}`);
    return;
  }
  netns = await createNetns();
  // The connect-timeout scenario's SYNs are dropped on arrival, so the client stays in SYN_SENT.
  await netns.applyRuleset(
    `table inet socklife_check {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport ${DROPPED_PORT} tcp flags syn drop\n  }\n}\n`,
  );
  const inode = (await stat(`/run/netns/${netns.name}`)).ino;
  recorder = await startKernelStateRecorder({ processes: 'all', netns: inode });
  const run = await execa('ip', ['netns', 'exec', netns.name, process.execPath, '--require', 'socklife/register', SCENARIOS], {
    cwd: ROOT,
    env: {
      SOCKLIFE_POLL_INTERVAL_MS: '20',
      SOCKLIFE_SOURCE: 'ss',
      SOCKLIFE_SPANS: 'all',
      SCENARIO_DROPPED_PORT: String(DROPPED_PORT),
      SCENARIO_SETTLE_MS: '400',
    },
    reject: false,
    timeout: 60_000,
  });
  if (run.exitCode !== 0) throw new Error(`scenarios failed (${run.exitCode}): ${run.stderr}`);
  const lines = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as PrintedSpan & Marker);
  spans = lines.filter((l) => typeof l.name === 'string');
  markers = lines.filter((l) => typeof l.scenario === 'string');
  await recorder.sync();
}, 120_000);

afterAll(async () => {
  await recorder?.stop();
  await netns?.dispose();
});

function requireKernel(ctx: TestContext): KernelStateRecorder {
  if (unavailable !== undefined) {
    if (process.env.CI) throw new Error(`the kernel check must run under CI: ${unavailable}`);
    ctx.skip(unavailable);
  }
  return recorder as KernelStateRecorder;
}

function endpoints(span: PrintedSpan) {
  const a = span.attributes;
  return {
    local: { address: String(a['network.local.address']), port: Number(a['network.local.port']) },
    peer: { address: String(a['network.peer.address']), port: Number(a['network.peer.port']) },
  };
}

/**
 * The timeline socklife reported for a connection: its tcp.connection events, then what its
 * tcp.after_close span saw. The tracepoint never reports TIME_WAIT itself: entering it is the
 * full socket's change to CLOSE (the TIME_WAIT mini-socket takes over), so TIME_WAIT is held
 * against that CLOSE.
 */
function socklifeTimeline(connection: PrintedSpan): string[] {
  const { local, peer } = endpoints(connection);
  const after = spans.find(
    (s) => s.name === 'tcp.after_close' && s.attributes['network.local.port'] === local.port && s.attributes['network.peer.port'] === peer.port,
  );
  const states = [connection, ...(after ? [after] : [])]
    .flatMap((s) => s.events.filter((e) => e.name === 'tcp.state_change'))
    .map((e) => String(e.attributes['network.connection.state']))
    .map((state) => (state === 'time_wait' ? 'closed' : state));
  return states.filter((state, i) => state !== states[i - 1]);
}

function connectionsOf(scenario: string): PrintedSpan[] {
  const marker = markers.find((m) => m.scenario === scenario);
  if (marker?.clientPort === undefined) {
    // Failed handshakes: the client's span is found by the scenario's own error or reason.
    return spans.filter(
      (s) =>
        s.name === 'tcp.connection' &&
        s.attributes['tcp.connection.side'] === 'client' &&
        (scenario === 'refused' ? s.attributes['error.type'] === 'ECONNREFUSED' : s.attributes['tcp.close.reason'] === 'timeout'),
    );
  }
  return spans.filter(
    (s) => s.name === 'tcp.connection' && (s.attributes['network.local.port'] === marker.clientPort || s.attributes['network.peer.port'] === marker.clientPort),
  );
}

const EXPECTED: Record<string, number> = {
  'close-client-first': 2,
  'close-server-first': 2,
  'half-close-with-data': 2,
  'server-first-peer-holds': 2,
  'rst-from-client': 2,
  'rst-from-server': 2,
  refused: 1,
  'connect-timeout': 1,
  'simultaneous-close': 2,
};

describe('timelines against the kernel (bpftrace, sock:inet_sock_set_state)', () => {
  it.for(Object.keys(EXPECTED))('%s: every reported state was entered by the kernel, in order', (scenario, ctx) => {
    const rec = requireKernel(ctx);
    const connections = connectionsOf(scenario);
    expect(connections, `spans of ${scenario}`).toHaveLength(EXPECTED[scenario] as number);
    for (const connection of connections) {
      const { local, peer } = endpoints(connection);
      const kernel = rec.timeline(local, peer);
      const ours = socklifeTimeline(connection);
      expect(ours.length, `${scenario} ${connection.attributes['tcp.connection.side']}`).toBeGreaterThanOrEqual(2);
      expect(
        isSubsequence(ours, kernel),
        `${scenario} ${connection.attributes['tcp.connection.side']}: socklife ${JSON.stringify(ours)} vs kernel ${JSON.stringify(kernel)}`,
      ).toBe(true);
    }
  });

  it('server-first-peer-holds: polls put the kernel’s FIN_WAIT_2 in the open server’s timeline', (ctx) => {
    requireKernel(ctx);
    const server = connectionsOf('server-first-peer-holds').find((s) => s.attributes['tcp.connection.side'] === 'server');
    expect(server).toBeDefined();
    const finWait2 = (server as PrintedSpan).events.find((e) => e.name === 'tcp.state_change' && e.attributes['network.connection.state'] === 'fin_wait_2');
    expect(finWait2?.attributes['tcp.state.source']).toBe('kernel');
  });

  it('the connect timeout stayed in SYN_SENT until the application gave up', (ctx) => {
    const rec = requireKernel(ctx);
    const [client] = connectionsOf('connect-timeout');
    expect(client).toBeDefined();
    const { local, peer } = endpoints(client as PrintedSpan);
    expect(peer.port).toBe(DROPPED_PORT);
    expect(rec.timeline(local, peer)).toEqual(['syn_sent', 'closed']);
  });
});
