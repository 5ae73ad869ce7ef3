/**
 * TIME_WAIT accumulation on live sockets, held against `ss` at the same moment. Each test has
 * its own network namespace: the kernel's TIME_WAIT count (/proc/net/sockstat) is per
 * namespace, so nothing else on the machine moves it, and the thousands of TIME_WAIT sockets
 * made here cost the machine's own namespace nothing. The instrumented process is a Node child
 * under `--require otel-stdio.cjs --require socklife/register` (the real SDK, spans and metrics
 * as JSON lines); its peers are plain Node children in the same namespace.
 *
 * Needs root, iproute2 and nftables; without them the tests skip (and fail under CI).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { canUseNetns, createNetns, removeStaleNetns, type Netns } from '../harness/netns.js';
import { JsonLinesChild } from '../support/json-lines-child.js';
import { waitFor } from '../support/telemetry.js';

const ROOT = join(__dirname, '..', '..');
const OTEL_STDIO = join(ROOT, 'test', 'programs', 'otel-stdio.cjs');
const PEER = join(ROOT, 'test', 'programs', 'time-wait-peer.cjs');

const THRESHOLD = 1000;
const CONNECTIONS = 1500;
/** Connections started a second: slow enough that the count moves little while a test reads `ss`. */
const RATE = 250;
const POLL_MS = 100;
/** The load takes CONNECTIONS / RATE seconds unloaded; a busy machine slows it down. */
const LOAD_TIMEOUT_MS = 45_000;

const SOCKLIFE_ENV = {
  SOCKLIFE_TIME_WAIT_THRESHOLD: String(THRESHOLD),
  SOCKLIFE_POLL_INTERVAL_MS: String(POLL_MS),
  SOCKLIFE_SOURCE: 'ss',
  MAX_RUN_MS: '90000',
};

let unavailable: string | undefined;
beforeAll(async () => {
  unavailable = await canUseNetns();
  if (unavailable !== undefined && !process.env.CI) console.warn(`[socklife] skipping the TIME_WAIT tests: ${unavailable}`);
  if (unavailable === undefined) await removeStaleNetns();
});

/** Skips the test when namespaces are unavailable, or fails it with the reason under CI. */
function requireNetns(ctx: TestContext): void {
  if (unavailable === undefined) return;
  if (process.env.CI) throw new Error(`network namespace tests cannot run under CI: ${unavailable}`);
  ctx.skip(unavailable);
}

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function namespace(): Promise<Netns> {
  const netns = await createNetns();
  cleanups.push(() => netns.dispose());
  return netns;
}

function start(netns: Netns, args: readonly (string | number)[], env: Record<string, string> = {}): JsonLinesChild {
  const child = new JsonLinesChild(netns.name, args.map(String), { cwd: ROOT, env });
  cleanups.push(() => child.stop());
  return child;
}

/** A child under the real SDK and socklife/register. */
function instrumented(netns: Netns, args: readonly (string | number)[], env: Record<string, string> = {}): JsonLinesChild {
  return start(netns, ['--require', OTEL_STDIO, '--require', 'socklife/register', PEER, ...args], { ...SOCKLIFE_ENV, ...env });
}

async function listeningPorts(child: JsonLinesChild): Promise<number[]> {
  return child.waitFor((l) => (Array.isArray(l.listening) ? (l.listening as number[]) : undefined), 20_000, 'the listening ports');
}

interface LoadResult {
  done: number;
  failed: number;
  ms: number;
}

function loadDone(child: JsonLinesChild): Promise<LoadResult> {
  return child.waitFor((l) => (typeof l.done === 'number' ? (l as unknown as LoadResult) : undefined), LOAD_TIMEOUT_MS, 'the end of the load');
}

/** How many TIME_WAIT sockets plain `ss` counts in the namespace, for an ss filter (`sport = :80`, ...). */
function ssTimeWait(netns: Netns, filter: readonly string[]): Promise<number> {
  return ssCount(netns, ['state', 'time-wait', ...filter]);
}

/** How many sockets plain `ss` counts in the namespace for a filter, whatever their state. */
async function ssCount(netns: Netns, filter: readonly string[]): Promise<number> {
  const { stdout } = await netns.exec('ss', ['-t', '-a', '-n', '-H', ...filter]);
  return stdout.split('\n').filter((line) => line.trim() !== '').length;
}

async function sockstatTimeWait(netns: Netns): Promise<number> {
  const { stdout } = await netns.exec('cat', ['/proc/net/sockstat']);
  const words =
    stdout
      .split('\n')
      .find((line) => line.startsWith('TCP:'))
      ?.trim()
      .split(/\s+/) ?? [];
  return Number(words[words.indexOf('tw') + 1]);
}

async function ephemeralRangeSize(netns: Netns): Promise<number> {
  const { stdout } = await netns.exec('cat', ['/proc/sys/net/ipv4/ip_local_port_range']);
  const [low, high] = stdout.trim().split(/\s+/).map(Number);
  return (high as number) - (low as number) + 1;
}

interface PrintedSpan {
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status: { code: number; message?: string };
  parentSpanId?: string;
  startMs: number;
  endMs: number;
}

function spansOf(child: JsonLinesChild, name: string): PrintedSpan[] {
  return child.lines.flatMap((l) => (l.span !== undefined && (l.span as PrintedSpan).name === name ? [l.span as PrintedSpan] : []));
}

function accumulation(child: JsonLinesChild, side: 'server' | 'client', port: number): Promise<PrintedSpan> {
  return child.waitFor(
    (l) => {
      const span = l.span as PrintedSpan | undefined;
      const a = span?.attributes;
      return span?.name === 'tcp.time_wait.accumulation' && a?.['tcp.connection.side'] === side && a['server.port'] === port ? span : undefined;
    },
    LOAD_TIMEOUT_MS,
    `a ${side}-side tcp.time_wait.accumulation span for port ${port}`,
  );
}

type Points = Array<[Record<string, unknown>, number]>;

/** Collects the child's metrics now (its on-demand reader). */
async function collect(child: JsonLinesChild): Promise<Record<string, Points>> {
  const from = child.lines.length;
  child.send('collect');
  return child.waitFor((l) => (l.metrics === undefined ? undefined : (l.metrics as Record<string, Points>)), 10_000, 'collected metrics', from);
}

function pointValue(points: Points | undefined, attributes: Record<string, unknown>): number | undefined {
  return points?.find(([a]) => Object.keys(attributes).every((k) => a[k] === attributes[k]) && Object.keys(a).length === Object.keys(attributes).length)?.[1];
}

/**
 * Gauges against `ss` at one moment: `ss` before and after the collection, until both agree
 * (nothing moved meanwhile) and `agrees` holds (a poll has counted since the sockets settled),
 * or 10 s have passed; returns the last reading either way, for the test to assert on.
 */
async function gaugesAgainstSs(child: JsonLinesChild, count: () => Promise<number>, agrees: (ssCount: number, metrics: Record<string, Points>) => boolean) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const before = await count();
    const metrics = await collect(child);
    const after = await count();
    if ((before === after && agrees(before, metrics)) || Date.now() > deadline) return { before, after, metrics };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

describe('TIME_WAIT accumulation, live (private network namespace, real ss, real SDK)', () => {
  it('server side: an HTTP server that closes first, counted on its listening port as ss counts it', async (ctx) => {
    requireNetns(ctx);
    const netns = await namespace();
    const server = instrumented(netns, ['http-close-server']);
    const [port] = await listeningPorts(server);
    if (port === undefined) throw new Error('no port');
    const load = start(netns, [PEER, 'http-load', port, CONNECTIONS, RATE]);
    const sport = ['sport', '=', `:${port}`];

    const span = await accumulation(server, 'server', port);
    // Freeze the load, and with it the count, while ss looks.
    load.signal('SIGSTOP');
    const ssAtSpan = await ssTimeWait(netns, sport);
    const hostAtSpan = await sockstatTimeWait(netns);
    load.signal('SIGCONT');
    const count = Number(span.attributes['tcp.time_wait.count']);
    const seen = `span ${JSON.stringify(span.attributes)}; ss then: ${ssAtSpan} on the port, ${hostAtSpan} in the namespace`;
    expect(count, seen).toBeGreaterThanOrEqual(THRESHOLD);
    expect(Math.abs(count - ssAtSpan), seen).toBeLessThanOrEqual(0.1 * ssAtSpan);
    // Only the server's sockets are in TIME_WAIT in this namespace.
    expect(Math.abs(Number(span.attributes['tcp.time_wait.host_count']) - hostAtSpan), seen).toBeLessThanOrEqual(0.1 * hostAtSpan);
    expect(span.attributes).toMatchObject({
      'network.transport': 'tcp',
      'network.connection.state': 'time_wait',
      'tcp.connection.side': 'server',
      'server.port': port,
      'tcp.ephemeral_ports.range': await ephemeralRangeSize(netns),
      // Every client is 127.0.0.1, holding all of them.
      'tcp.time_wait.top_peers.address': ['127.0.0.1'],
      'tcp.time_wait.top_peers.count': [count],
    });
    expect(span.attributes['tcp.listener.shared']).toBeUndefined();
    expect(span.attributes['server.address']).toBeUndefined();
    expect(span.status).toEqual({ code: 2, message: `server side: ${count} sockets in TIME_WAIT on listening port ${port} (threshold ${THRESHOLD})` });
    expect(span.parentSpanId).toBeUndefined();
    expect(span.endMs).toBeGreaterThanOrEqual(span.startMs);

    const done = await loadDone(load);
    // The server closed first: it holds the TIME_WAIT sockets, the clients none. Most of them,
    // not all: a new connection from a client port still in the server's TIME_WAIT takes that
    // socket over, and on a slow run the first ones may have expired (TIME_WAIT lasts 60 s).
    const serverSide = await ssTimeWait(netns, sport);
    expect(serverSide, `load: ${JSON.stringify(done)}`).toBeGreaterThanOrEqual(0.8 * CONNECTIONS);
    expect(await ssTimeWait(netns, ['dport', '=', `:${port}`])).toBe(0);

    const gauge = (m: Record<string, Points>) => pointValue(m['tcp.time_wait.count'], { 'tcp.connection.side': 'server', 'server.port': port });
    const reading = await gaugesAgainstSs(
      server,
      () => ssTimeWait(netns, sport),
      (n, m) => gauge(m) === n,
    );
    const last = `ss ${reading.before} then ${reading.after}; metrics ${JSON.stringify(reading.metrics['tcp.time_wait.count'])}`;
    expect(reading.before, last).toBe(reading.after);
    expect(gauge(reading.metrics), last).toBe(reading.before);
    // Still above the threshold on every poll since, but reported once: the next report is a minute later.
    expect(spansOf(server, 'tcp.time_wait.accumulation'), `${Date.now() - span.endMs} ms after the report`).toHaveLength(1);
  }, 120_000);

  it("client side: connections this process closes first, to another process's server, counted towards that destination", async (ctx) => {
    requireNetns(ctx);
    const netns = await namespace();
    const peer = start(netns, [PEER, 'echo-server', 2]);
    const [port, otherPort] = await listeningPorts(peer);
    if (port === undefined || otherPort === undefined) throw new Error('no ports');
    // Another process's TIME_WAIT sockets, towards another port: the namespace is above the
    // threshold before this process starts, so every poll counts and the growth rate is known.
    const other = await loadDone(start(netns, [PEER, 'close-first', otherPort, 1100, 2000]));
    expect(other.failed).toBe(0);
    expect(await sockstatTimeWait(netns)).toBeGreaterThanOrEqual(THRESHOLD);

    const client = instrumented(netns, ['close-first', port, CONNECTIONS, RATE]);
    const destination = ['dst', '127.0.0.1', 'dport', '=', `:${port}`];
    const span = await accumulation(client, 'client', port);
    client.signal('SIGSTOP');
    const ssAtSpan = await ssTimeWait(netns, destination);
    // Ports in use towards the destination: its TIME_WAIT sockets and the connections still open.
    const inUseAtSpan = await ssCount(netns, destination);
    client.signal('SIGCONT');
    const range = await ephemeralRangeSize(netns);
    const count = Number(span.attributes['tcp.time_wait.count']);
    const seen = `span ${JSON.stringify(span.attributes)}; ss then: ${ssAtSpan} in TIME_WAIT, ${inUseAtSpan} in all`;
    expect(count, seen).toBeGreaterThanOrEqual(THRESHOLD);
    expect(Math.abs(count - ssAtSpan), seen).toBeLessThanOrEqual(0.1 * ssAtSpan);
    expect(span.attributes).toMatchObject({
      'network.transport': 'tcp',
      'network.connection.state': 'time_wait',
      'tcp.connection.side': 'client',
      'server.address': '127.0.0.1',
      'server.port': port,
      'tcp.ephemeral_ports.range': range,
    });
    const utilization = Number(span.attributes['tcp.ephemeral_ports.utilization']);
    expect(Math.abs(utilization - inUseAtSpan / range), seen).toBeLessThanOrEqual(0.1 * (inUseAtSpan / range));
    expect(utilization, seen).toBeGreaterThanOrEqual(count / range);
    expect(span.status).toEqual({ code: 2, message: `client side: ${count} sockets in TIME_WAIT towards port ${port} (threshold ${THRESHOLD})` });
    expect(span.parentSpanId).toBeUndefined();

    const done = await loadDone(client);
    expect(done.failed, JSON.stringify(done)).toBe(0);
    // The time left at the rate connections were made: the load's own rate, give or take the
    // unevenness of one poll interval's growth on a busy machine.
    const seconds = Number(span.attributes['tcp.ephemeral_ports.seconds_to_exhaustion']);
    const rate = done.done / (done.ms / 1000);
    const expected = (range - count) / rate;
    expect(seconds, `${seen}; load ${JSON.stringify(done)}`).toBeGreaterThan(expected / 4);
    expect(seconds, `${seen}; load ${JSON.stringify(done)}`).toBeLessThan(expected * 4);

    const gauge = (m: Record<string, Points>) =>
      pointValue(m['tcp.time_wait.count'], { 'tcp.connection.side': 'client', 'server.address': '127.0.0.1', 'server.port': port });
    const share = (m: Record<string, Points>) => pointValue(m['tcp.ephemeral_ports.utilization'], { 'server.address': '127.0.0.1', 'server.port': port });
    // Every connection closed: the share in use is the TIME_WAIT sockets over the range.
    const reading = await gaugesAgainstSs(
      client,
      () => ssTimeWait(netns, destination),
      (n, m) => gauge(m) === n && share(m) === n / range,
    );
    const last = `ss ${reading.before} then ${reading.after}; metrics ${JSON.stringify(reading.metrics)}`;
    expect(reading.before, last).toBe(reading.after);
    expect(gauge(reading.metrics), last).toBe(reading.before);
    expect(share(reading.metrics), last).toBe(reading.before / range);
    // Nothing counted on the other process's destination: this process never connected there.
    expect(reading.metrics['tcp.time_wait.count']?.some(([a]) => a['server.port'] === otherPort)).toBe(false);
    expect(spansOf(client, 'tcp.time_wait.accumulation')).toHaveLength(1);
  }, 120_000);

  it("a namespace full of other ports' TIME_WAIT costs one ss filtered to this process's ports, and nothing below the threshold", async (ctx) => {
    requireNetns(ctx);
    // The real ss behind a wrapper that logs each run's arguments.
    const dir = mkdtempSync(join(tmpdir(), 'socklife-ss-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, 'runs');
    writeFileSync(join(dir, 'ss'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${realSs()}' "$@"\n`, { mode: 0o755 });
    const runs = (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
    const timeWaitRuns = (): string[] => runs().filter((args) => args.includes('time-wait'));

    const netns = await namespace();
    const server = instrumented(netns, ['http-close-server'], { PATH: `${dir}${delimiter}${process.env.PATH ?? ''}` });
    const [port] = await listeningPorts(server);
    await new Promise((resolve) => setTimeout(resolve, 10 * POLL_MS));
    // Below the threshold: the counters are read, ss is not asked about TIME_WAIT.
    expect(runs().length).toBeGreaterThanOrEqual(1); // the probe at start
    expect(timeWaitRuns()).toEqual([]);

    const peer = start(netns, [PEER, 'echo-server', 1]);
    const [otherPort] = await listeningPorts(peer);
    const other = await loadDone(start(netns, [PEER, 'close-first', otherPort as number, 1200, 2000]));
    expect(other.failed).toBe(0);
    expect(await sockstatTimeWait(netns)).toBeGreaterThanOrEqual(THRESHOLD);
    await waitFor(() => (timeWaitRuns().length >= 5 ? true : undefined), 10_000, 'five polls asking about TIME_WAIT');

    for (const args of timeWaitRuns()) expect(args).toMatch(new RegExp(`state time-wait \\( sport = :${port} \\)$`));
    const metrics = await collect(server);
    expect(pointValue(metrics['tcp.time_wait.count'], { 'tcp.connection.side': 'server', 'server.port': port })).toBe(0);
    expect(spansOf(server, 'tcp.time_wait.accumulation')).toEqual([]);
  }, 120_000);
});

/** The real ss, found on PATH the way execa finds it. */
function realSs(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, 'ss'))) return join(dir, 'ss');
  }
  throw new Error('ss not on PATH');
}
