/**
 * Listen pressure on real listeners: the instrumented server runs in a child inside a private
 * network namespace (its own loopback, its own kernel counters), under
 * `node --require ./otel-preload.cjs --require socklife/register`, with the real SDK printing
 * spans as JSON lines and a real metric reader it collects on demand. Clients run in another
 * process in the same namespace; nftables drops the final ACKs where a test needs connections
 * held half-open. Every figure is held against `ss` (or `/proc/<pid>/net/netstat`) there.
 */
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { canUseNetns, createNetns, listNetns, loadExeca, NETNS_PREFIX, removeStaleNetns, type Netns } from '../harness/netns.js';
import { skipWithReason } from '../support/requirements.js';
import { epochMs, eventually, waitFor } from '../support/telemetry.js';

const ROOT = join(__dirname, '..', '..');
const PROGRAMS = join(ROOT, 'test', 'programs');
const POLL_MS = 100;
const TEST_TIMEOUT_MS = 60_000;

/** One JSON line a child printed. */
interface Line {
  readonly type: string;
  readonly [key: string]: unknown;
}
interface SpanLine extends Line {
  readonly role: string;
  readonly name: string;
  readonly attributes: Record<string, unknown>;
  readonly start: number;
  readonly end: number;
}
interface MetricPoint {
  readonly attributes: Record<string, unknown>;
  readonly value: number;
}
interface MetricsLine extends Line {
  readonly role?: string;
  readonly metrics: Record<string, MetricPoint[]>;
  readonly accepted?: number;
}

/** A child process inside the namespace whose stdout is JSON lines, driven through stdin. */
class Child {
  readonly lines: Line[] = [];
  private stderr = '';

  constructor(
    readonly what: string,
    private readonly subprocess: Subprocess,
  ) {
    createInterface({ input: subprocess.stdout }).on('line', (text) => {
      if (!text.startsWith('{')) return;
      try {
        this.lines.push({ ...(JSON.parse(text) as Line), receivedAt: epochMs() });
      } catch {
        // a line cut by another process's write: not ours to judge
      }
    });
    subprocess.stderr.setEncoding('utf8');
    subprocess.stderr.on('data', (chunk: string) => {
      if (this.stderr.length < 64 * 1024) this.stderr += chunk;
    });
    subprocess.stdin.on('error', () => undefined);
  }

  /** Waits for a line, failing with what the child wrote to stderr. */
  async next<T extends Line>(predicate: (line: Line) => boolean, what: string, timeoutMs = 15_000, after = 0): Promise<T> {
    try {
      return (await waitFor(() => this.lines.slice(after).find(predicate), timeoutMs, `${this.what}: ${what}`)) as T;
    } catch (error) {
      throw new Error(`${(error as Error).message}\nstdout lines: ${JSON.stringify(this.lines.slice(-20))}\nstderr: ${this.stderr}`, { cause: error });
    }
  }

  all<T extends Line>(predicate: (line: Line) => boolean): T[] {
    return this.lines.filter(predicate) as T[];
  }

  send(command: string): void {
    this.subprocess.stdin.write(`${command}\n`);
  }

  /** Collects the metrics now (each process of the child answers once; `from` roles). */
  async collect(roles: readonly string[] = ['']): Promise<MetricsLine[]> {
    const after = this.lines.length;
    this.send('collect');
    return Promise.all(
      roles.map((role) =>
        this.next<MetricsLine>((l) => l.type === 'metrics' && (role === '' || l.role === role), `metrics from ${role || 'the server'}`, 5000, after),
      ),
    );
  }

  /** Closes stdin (the child's signal to exit), then kills it by its pid if it is still there. */
  async stop(): Promise<void> {
    this.subprocess.stdin.end();
    const exited = this.subprocess.then(
      () => true,
      () => true,
    );
    const done = await Promise.race([exited, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000).unref())]);
    if (!done) this.subprocess.kill('SIGKILL');
  }
}

type Execa = Awaited<ReturnType<typeof loadExeca>>;

function start(execa: Execa, argv: readonly string[], env: Record<string, string>) {
  return execa('ip', [...argv], {
    cwd: ROOT,
    env: { LC_ALL: 'C', ...env },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    timeout: TEST_TIMEOUT_MS,
  });
}
type Subprocess = ReturnType<typeof start>;

/** Starts a program in the namespace; wrapped, since awaiting the subprocess itself would wait for its exit. */
async function spawn(
  netns: Netns,
  program: string,
  args: readonly string[],
  env: Record<string, string>,
  instrumented: boolean,
): Promise<{ subprocess: Subprocess }> {
  const preload = instrumented ? ['--require', join(PROGRAMS, 'otel-preload.cjs'), '--require', 'socklife/register'] : [];
  const argv = ['netns', 'exec', netns.name, process.execPath, ...preload, join(PROGRAMS, program), ...args];
  return { subprocess: start(await loadExeca(), argv, env) };
}

let unavailable: string | undefined;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  unavailable = await canUseNetns();
  if (unavailable === undefined) await removeStaleNetns();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

afterAll(async () => {
  if (unavailable !== undefined) return;
  const left = (await listNetns()).filter((name) => name.startsWith(`${NETNS_PREFIX}${process.pid}-`));
  expect(left, 'network namespaces left behind').toEqual([]);
});

function requireNetns(ctx: TestContext): void {
  if (skipWithReason(unavailable)) ctx.skip(unavailable);
}

async function namespace(): Promise<Netns> {
  const netns = await createNetns();
  cleanups.push(() => netns.dispose());
  return netns;
}

/** Client → server pure ACKs to `port` are lost: every handshake stays SYN_RECEIVED on the server. */
function dropFinalAcks(port: number): string {
  return [
    'table inet socklife_listen {',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    `    tcp dport ${port} tcp flags & (fin | syn | rst | ack) == ack drop;`,
    '  }',
    '}',
    '',
  ].join('\n');
}

interface ListenSpec {
  readonly host: string;
  readonly port: number;
  readonly backlog?: number;
}

async function startServer(netns: Netns, listen: readonly ListenSpec[], env: Record<string, string> = {}): Promise<{ child: Child; pid: number }> {
  const { subprocess } = await spawn(
    netns,
    'listen-pressure.cjs',
    [],
    { LISTEN: JSON.stringify(listen), SOCKLIFE_POLL_INTERVAL_MS: String(POLL_MS), SOCKLIFE_SOURCE: 'ss', ...env },
    true,
  );
  const child = new Child('server', subprocess);
  cleanups.push(() => child.stop());
  const ready = await child.next((l) => l.type === 'ready' || l.type === 'error', 'ready');
  if (ready.type === 'error') throw new Error(`server failed: ${String(ready.error)}`);
  return { child, pid: ready.pid as number };
}

async function startClients(netns: Netns, port: number, count: number, env: Record<string, string> = {}): Promise<Child> {
  const { subprocess } = await spawn(netns, 'connect-burst.cjs', [String(port), String(count)], env, false);
  const child = new Child('clients', subprocess);
  cleanups.push(() => child.stop());
  return child;
}

function pressureSpans(child: Child, predicate: (span: SpanLine) => boolean = () => true): SpanLine[] {
  return child.all<SpanLine>((l) => l.type === 'span' && (l as SpanLine).name === 'tcp.listen.pressure').filter(predicate);
}

/** `ss` in the namespace: SYN-RECV request sockets on a local port. */
async function ssSynReceived(netns: Netns, port: number): Promise<number> {
  const { stdout } = await netns.exec('ss', ['-tanH', 'state', 'syn-recv', '(', 'sport', '=', `:${port}`, ')']);
  return stdout.split('\n').filter((line) => line.trim() !== '').length;
}

/** `ss` in the namespace: the LISTEN row of a local port (one state filtered: no State column). */
async function ssListen(netns: Netns, port: number): Promise<{ acceptQueue: number; backlog: number }> {
  const { stdout } = await netns.exec('ss', ['-tanH', 'state', 'listening', '(', 'sport', '=', `:${port}`, ')']);
  const rows = stdout.split('\n').filter((line) => line.trim() !== '');
  expect(rows, `one LISTEN row for port ${port}`).toHaveLength(1);
  const [recvQ, sendQ] = (rows[0] as string).trim().split(/\s+/);
  return { acceptQueue: Number(recvQ), backlog: Number(sendQ) };
}

/** TcpExt counters of the namespace a process lives in, read from its `/proc/<pid>/net/netstat`. */
async function tcpExt(pid: number): Promise<Map<string, number>> {
  const lines = (await readFile(`/proc/${pid}/net/netstat`, 'utf8')).split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = (lines[0] ?? '').split(/\s+/).slice(1);
  const values = (lines[1] ?? '').split(/\s+/).slice(1).map(Number);
  return new Map(names.map((name, i) => [name, values[i] as number]));
}

function gauge(metrics: MetricsLine, name: string, port: number): MetricPoint | undefined {
  return metrics.metrics[name]?.find((p) => p.attributes['server.port'] === port);
}

function sum(metrics: MetricsLine, name: string): number | undefined {
  const points = metrics.metrics[name];
  return points === undefined || points.length === 0 ? undefined : points.reduce((total, p) => total + p.value, 0);
}

const randomPort = () => randomInt(20000, 30000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('listen pressure on live listeners in a private network namespace', () => {
  it(
    'reports SYN_RECEIVED piling up on a listener, with the count ss shows there, once while it lasts',
    async (ctx) => {
      requireNetns(ctx);
      const netns = await namespace();
      const port = randomPort();
      await netns.applyRuleset(dropFinalAcks(port));
      const { child: server } = await startServer(netns, [{ host: '127.0.0.1', port }], { SOCKLIFE_SYN_RECEIVED_THRESHOLD: '12' });
      const clients = await startClients(netns, port, 12);
      await clients.next((l) => l.type === 'connected', 'all 12 clients past their handshake');

      const span = await server.next<SpanLine>((l) => l.type === 'span' && (l as SpanLine).name === 'tcp.listen.pressure', 'a tcp.listen.pressure span');
      const inSs = await ssSynReceived(netns, port);
      expect(inSs).toBe(12);
      expect(span.attributes['tcp.listen.syn_received']).toBe(inSs);
      expect(span.attributes['tcp.listen.pressure.reasons']).toEqual(['syn_received']);
      expect(span.attributes['server.address']).toBe('127.0.0.1');
      expect(span.attributes['server.port']).toBe(port);
      expect(span.attributes).toMatchObject(
        await ssListen(netns, port).then((l) => ({ 'tcp.listen.accept_queue': l.acceptQueue, 'tcp.listen.backlog': l.backlog })),
      );
      expect(span.attributes['tcp.listen.overflows']).toBe(0);
      expect(span.attributes['tcp.listen.counters_scope']).toBe('namespace');
      expect(span.attributes).not.toHaveProperty('tcp.listener.shared');

      // Polls go on while the handshakes stay half-open; the rate limit keeps it to one report.
      await sleep(8 * POLL_MS);
      expect(await ssSynReceived(netns, port)).toBe(12);
      expect(pressureSpans(server)).toHaveLength(1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'reports an accept-queue overflow after a 2 s event-loop stall, with the stall, from the counters the stall left',
    async (ctx) => {
      requireNetns(ctx);
      const netns = await namespace();
      const port = randomPort();
      const { child: server, pid } = await startServer(netns, [{ host: '127.0.0.1', port, backlog: 4 }], { SOCKLIFE_SYN_RECEIVED_THRESHOLD: '1000' });
      const clients = await startClients(netns, port, 40, { WAIT_FOR_GO: '1' });
      await clients.next((l) => l.type === 'waiting', 'the clients to be ready');
      const before = await tcpExt(pid);
      expect(before.get('ListenOverflows'), 'a fresh namespace').toBe(0);

      server.send('stall 2000');
      const stalling = await server.next((l) => l.type === 'stalling', 'the stall to begin');
      clients.send('go');
      await clients.next((l) => l.type === 'started', 'the 40 connects');
      const stalled = await server.next((l) => l.type === 'stalled', 'the stall to end', 10_000);

      const span = await server.next<SpanLine>(
        (l) =>
          l.type === 'span' &&
          (l as SpanLine).name === 'tcp.listen.pressure' &&
          ((l as SpanLine).attributes['tcp.listen.pressure.reasons'] as string[]).includes('overflow'),
        'a tcp.listen.pressure span for the overflow',
      );
      const overflows = span.attributes['tcp.listen.overflows'] as number;
      expect(overflows).toBeGreaterThan(0);
      expect(span.attributes['tcp.listen.drops']).toBeGreaterThanOrEqual(overflows);
      expect(span.attributes['tcp.listen.counters_scope']).toBe('namespace');
      expect(span.attributes['server.port']).toBe(port);
      expect(span.attributes['tcp.listen.backlog']).toBe(4);
      const stall = span.attributes['nodejs.event_loop.stall.duration'] as number;
      expect(stall).toBeGreaterThanOrEqual(1.95);
      expect(stall).toBeLessThan(2.6);
      // The span covers the stall: it starts at the counters read before it, ends after it.
      expect(span.start).toBeLessThanOrEqual(stalling.receivedAt as number);
      expect(span.end).toBeGreaterThanOrEqual((stalled.receivedAt as number) - 50);

      // Once the kernel counts no more (clients whose SYNs were dropped retried after the stall),
      // the counters the metrics added up equal the namespace's.
      await eventually(
        async () => {
          const first = await tcpExt(pid);
          await sleep(10 * POLL_MS);
          const second = await tcpExt(pid);
          return first.get('ListenDrops') === second.get('ListenDrops') ? true : undefined;
        },
        20_000,
        'the kernel counters to settle',
      );
      const [metrics] = (await server.collect()) as [MetricsLine];
      const kernel = await tcpExt(pid);
      expect(sum(metrics, 'tcp.listen.overflows')).toBe(kernel.get('ListenOverflows'));
      expect(sum(metrics, 'tcp.listen.drops')).toBe(kernel.get('ListenDrops'));
      expect(overflows).toBeLessThanOrEqual(kernel.get('ListenOverflows') as number);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'gives metric values equal to what ss counts at the same moment, for every listener',
    async (ctx) => {
      requireNetns(ctx);
      const netns = await namespace();
      const held = randomPort();
      const idle = held + 1;
      await netns.applyRuleset(dropFinalAcks(held));
      const { child: server, pid } = await startServer(netns, [
        { host: '127.0.0.1', port: held, backlog: 7 },
        { host: '::', port: idle },
      ]);
      const clients = await startClients(netns, held, 5);
      await clients.next((l) => l.type === 'connected', 'the 5 clients past their handshake');
      // A poll after the handshakes has run once the gauge shows all five.
      await eventually(
        async () => (gauge((await server.collect())[0] as MetricsLine, 'tcp.listen.syn_received', held)?.value === 5 ? true : undefined),
        10_000,
        'the gauge to show 5',
      );

      const [[metrics], heldSyn, heldListen, idleSyn, idleListen, kernel] = await Promise.all([
        server.collect(),
        ssSynReceived(netns, held),
        ssListen(netns, held),
        ssSynReceived(netns, idle),
        ssListen(netns, idle),
        tcpExt(pid),
      ]);
      const m = metrics as MetricsLine;
      expect(heldListen.backlog).toBe(7);
      expect(idleListen.backlog).toBe(511);
      const figures = (port: number) => ({
        synReceived: gauge(m, 'tcp.listen.syn_received', port)?.value,
        acceptQueue: gauge(m, 'tcp.listen.accept_queue', port)?.value,
        backlog: gauge(m, 'tcp.listen.backlog', port)?.value,
      });
      expect(figures(held)).toEqual({ synReceived: heldSyn, ...heldListen });
      expect(figures(idle)).toEqual({ synReceived: idleSyn, ...idleListen });
      expect(gauge(m, 'tcp.listen.backlog', idle)?.attributes).toEqual({ 'server.address': '::', 'server.port': idle });
      expect(sum(m, 'tcp.listen.overflows')).toBe(kernel.get('ListenOverflows'));
      expect(sum(m, 'tcp.listen.drops')).toBe(kernel.get('ListenDrops'));
      expect(m.metrics['tcp.listen.overflows']?.[0]?.attributes).toEqual({ 'tcp.listen.counters_scope': 'namespace' });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'marks the figures of a listener two cluster workers share: each worker finds the primary’s socket by its port',
    async (ctx) => {
      requireNetns(ctx);
      const netns = await namespace();
      const port = randomPort();
      await netns.applyRuleset(dropFinalAcks(port));
      const { subprocess } = await spawn(
        netns,
        'cluster-listener.cjs',
        [],
        { PORT: String(port), SOCKLIFE_POLL_INTERVAL_MS: String(POLL_MS), SOCKLIFE_SOURCE: 'ss', SOCKLIFE_SYN_RECEIVED_THRESHOLD: '6' },
        true,
      );
      const cluster = new Child('cluster', subprocess);
      cleanups.push(() => cluster.stop());
      await cluster.next((l) => l.type === 'ready' || l.type === 'error', 'both workers listening, seen by socklife', 30_000);
      const clients = await startClients(netns, port, 6);
      await clients.next((l) => l.type === 'connected', 'the 6 clients past their handshake');

      const workers = ['worker1', 'worker2'];
      const spans = await Promise.all(
        workers.map((role) =>
          cluster.next<SpanLine>(
            (l) => l.type === 'span' && (l as SpanLine).name === 'tcp.listen.pressure' && l.role === role,
            `a tcp.listen.pressure span from ${role}`,
          ),
        ),
      );
      const inSs = await ssSynReceived(netns, port);
      expect(inSs).toBe(6);
      for (const span of spans) {
        expect(span.attributes['server.port'], span.role).toBe(port);
        expect(span.attributes['tcp.listen.syn_received'], span.role).toBe(inSs);
        expect(span.attributes['tcp.listen.backlog'], span.role).toBe(511);
        expect(span.attributes['tcp.listener.shared'], span.role).toBe(true);
      }
      expect(new Set(spans.map((s) => s.pid)).size).toBe(2);

      const [primary, ...inWorkers] = await cluster.collect(['primary', ...workers]);
      for (const m of inWorkers) {
        const point = gauge(m, 'tcp.listen.syn_received', port);
        expect(point?.value, m.role).toBe(inSs);
        expect(point?.attributes, m.role).toEqual({ 'server.address': '127.0.0.1', 'server.port': port, 'tcp.listener.shared': true });
        expect(m.metrics['tcp.listen.overflows']?.[0]?.attributes, m.role).toEqual({ 'tcp.listen.counters_scope': 'namespace', 'tcp.listener.shared': true });
      }
      // The primary owns the socket, but its net.Server gave the handle away: it reports no listener.
      expect(primary?.metrics['tcp.listen.syn_received'] ?? []).toEqual([]);
      expect(pressureSpans(cluster, (s) => s.role === 'primary')).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});
