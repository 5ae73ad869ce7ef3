import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { once } from 'node:events';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { canReach } from '../../src/model/transitions.js';
import type { TcpState } from '../../src/tcp-states.js';
import { startPeer, type Peer } from '../harness/peer.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { SsPolls } from '../support/ss-polls.js';
import { ssShows } from '../support/ss-shows.js';
import { createTelemetry, epochMs, hrToMs, waitFor, type Telemetry } from '../support/telemetry.js';

/**
 * Half-closes on live sockets: our end closes first, the peer (another process) keeps its side
 * open. The real ss, the real SDK; the kernel's FIN_WAIT states reach the connection's timeline
 * and, past the threshold, a `tcp.half_close.stuck` finding in its trace.
 */

const POLL_MS = 100;
const THRESHOLD_MS = 300;
const skip = skipWithReason(missingTool('ss'));

let telemetry: Telemetry;
let handle: SocklifeHandle;
const cleanups: Array<() => unknown> = [];

function start(closeWaitThresholdMs: number): void {
  telemetry = createTelemetry();
  handle = instrument({
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    pollIntervalMs: POLL_MS,
    closeWaitThresholdMs,
    source: 'ss',
    // The host's TIME_WAIT count (other tests churn connections) must not open the TIME_WAIT
    // detector's query, whose rows would show these connections' later states too.
    timeWaitThreshold: 10_000_000,
  });
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  handle.stop();
  await telemetry.shutdown();
});

async function listening(server: net.Server): Promise<number> {
  if (!server.listening) await once(server, 'listening');
  cleanups.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

function peer(args: string[], env?: Record<string, string>): Peer {
  const p = startPeer(args, env === undefined ? {} : { env });
  cleanups.push(() => p.stop());
  return p;
}

function stateChanges(span: ReadableSpan): Array<{ state: TcpState; source: unknown; time: number }> {
  return span.events
    .filter((e) => e.name === 'tcp.state_change')
    .map((e) => ({ state: e.attributes?.['network.connection.state'] as TcpState, source: e.attributes?.['tcp.state.source'], time: hrToMs(e.time) }));
}

/** Each change follows the last through the state table, in time order. */
function expectConsistentTimeline(span: ReadableSpan): void {
  const changes = stateChanges(span);
  for (let i = 1; i < changes.length; i++) {
    const [before, after] = [changes[i - 1], changes[i]] as const;
    expect(canReach(before?.state as TcpState, after?.state as TcpState), `${before?.state} -> ${after?.state}`).toBe(true);
    expect(after?.time).toBeGreaterThanOrEqual(before?.time as number);
  }
}

function stuckSpans(): ReadableSpan[] {
  return telemetry.spans('tcp.half_close.stuck');
}

function startServerThatEndsFirst(): net.Server {
  // Answers and ends its side at once; whether the peer ever closes is up to the peer.
  return net
    .createServer((socket) => {
      socket.resume();
      socket.end('bye');
    })
    .listen(0, '127.0.0.1');
}

describe.skipIf(skip)('half-closes on live sockets, real ss, real SDK, the peer in another process', () => {
  it('a server that ends first while the peer holds 2 s: FIN_WAIT_2 from the kernel in its timeline, no finding', async () => {
    start(60_000);
    const port = await listening(startServerThatEndsFirst());
    const p = peer(['connect', '127.0.0.1', String(port), '2000']);
    const { localPort: peerPort } = await p.line('connected');
    await p.line('fin');
    const finSeenAt = epochMs();

    const span = await waitFor(
      () => telemetry.spans('tcp.connection').find((s) => s.kind === SpanKind.SERVER && s.attributes['client.port'] === peerPort),
      8000,
      'the server tcp.connection span',
    );
    const changes = stateChanges(span);
    // FIN_WAIT_1 lasts as long as loopback takes to ACK: a poll may or may not catch it.
    expect(changes.map((c) => c.state).filter((s) => s !== 'fin_wait_1')).toEqual(['established', 'fin_wait_2', 'closed']);
    for (const c of changes) expect(c.source).toBe(c.state === 'fin_wait_1' || c.state === 'fin_wait_2' ? 'kernel' : 'socket_event');
    expectConsistentTimeline(span);
    const finWait2 = changes.find((c) => c.state === 'fin_wait_2');
    const closed = changes.find((c) => c.state === 'closed');
    // Seen by a poll while the peer held its side, well before the close it waited for.
    expect(finWait2?.time).toBeLessThan(finSeenAt + 10 * POLL_MS);
    expect((closed?.time as number) - (finWait2?.time as number)).toBeGreaterThan(1000);
    expect(span.attributes['tcp.close.initiator']).toBe('local');
    expect(stuckSpans()).toEqual([]);
  });

  it('a peer that never closes: one tcp.half_close.stuck (peer_not_closing, fin_wait_2) in the connection’s trace', async () => {
    start(THRESHOLD_MS);
    const port = await listening(startServerThatEndsFirst());
    const p = peer(['connect', '127.0.0.1', String(port), 'never']);
    const { localPort: peerPort } = await p.line('connected');
    await p.line('fin');

    const polls = new SsPolls();
    cleanups.push(() => polls.dispose());
    const stuck = await waitFor(() => stuckSpans().find((s) => s.attributes['client.port'] === peerPort), THRESHOLD_MS + 5000, 'a tcp.half_close.stuck span');
    // What the finding says is what the kernel shows.
    expect(await ssShows('fin-wait-2', port, peerPort)).toBe(1);
    expect(stuck.kind).toBe(SpanKind.INTERNAL);
    expect(stuck.status.code).toBe(SpanStatusCode.ERROR);
    expect(stuck.status.message).toMatch(/fin_wait_2.*peer_not_closing/);
    expect(stuck.attributes).toMatchObject({
      'network.transport': 'tcp',
      'network.type': 'ipv4',
      'network.connection.state': 'fin_wait_2',
      'tcp.state.source': 'kernel',
      'tcp.connection.side': 'server',
      'tcp.half_close.stuck.cause': 'peer_not_closing',
      'network.local.address': '127.0.0.1',
      'network.local.port': port,
      'network.peer.address': '127.0.0.1',
      'network.peer.port': peerPort,
      'client.address': '127.0.0.1',
      'client.port': peerPort,
      'code.function.name': 'startServerThatEndsFirst',
    });
    expect(String(stuck.attributes['code.file.path'])).toMatch(/half-close-stuck\.live\.test\.ts$/);
    // Seconds, from our FIN (the span's start) to the poll that found it (its end).
    const seconds = Number(stuck.attributes['tcp.half_close.duration']);
    expect(seconds).toBeGreaterThanOrEqual(THRESHOLD_MS / 1000);
    expect(seconds).toBeCloseTo((hrToMs(stuck.endTime) - hrToMs(stuck.startTime)) / 1000, 2);
    expect(seconds).toBeLessThan((THRESHOLD_MS + 10 * POLL_MS) / 1000);

    // Once, however many polls follow.
    await polls.next(4);
    expect(stuckSpans().filter((s) => s.attributes['client.port'] === peerPort)).toHaveLength(1);
    const findings = await telemetry.metric('tcp.finding.count');
    expect(findings?.dataPoints.find((d) => d.attributes['tcp.finding.type'] === 'half_close_stuck')?.value).toBe(1);

    // The peer closes at last: the connection span ends, and the finding is its child.
    p.close();
    const connection = await waitFor(
      () => telemetry.spans('tcp.connection').find((s) => s.kind === SpanKind.SERVER && s.attributes['client.port'] === peerPort),
      5000,
      'the server tcp.connection span',
    );
    expect(stuck.spanContext().traceId).toBe(connection.spanContext().traceId);
    expect(stuck.parentSpanContext?.spanId).toBe(connection.spanContext().spanId);
    expect(stateChanges(connection).some((c) => c.state === 'fin_wait_2' && c.source === 'kernel')).toBe(true);
    expectConsistentTimeline(connection);
  });

  it('a client that ends first against a server process that never closes: the finding names the server', async () => {
    start(THRESHOLD_MS);
    const p = peer(['listen', '127.0.0.1', 'never']);
    const port = await p.line('listening');
    function connectAndEnd(): net.Socket {
      return net.connect(port, '127.0.0.1', () => client.end('request'));
    }
    const client = connectAndEnd();
    client.resume();
    cleanups.push(() => client.destroy());
    await once(client, 'connect');
    const clientPort = client.localPort as number;

    const stuck = await waitFor(
      () => stuckSpans().find((s) => s.attributes['network.local.port'] === clientPort),
      THRESHOLD_MS + 5000,
      'a client tcp.half_close.stuck span',
    );
    expect(await ssShows('fin-wait-2', clientPort, port)).toBe(1);
    expect(stuck.attributes).toMatchObject({
      'tcp.connection.side': 'client',
      'tcp.half_close.stuck.cause': 'peer_not_closing',
      'network.connection.state': 'fin_wait_2',
      'server.address': '127.0.0.1',
      'server.port': port,
      'code.function.name': 'connectAndEnd',
    });
  });

  it('a peer FIN the server never reads: the kernel leaves FIN_WAIT_2 and no finding follows, though the model last saw it there', async () => {
    start(1000);
    let accepted: net.Socket | undefined;
    const server = net
      .createServer((socket) => {
        accepted = socket;
        // Never read: the peer's greeting stays buffered, so its FIN never surfaces as 'end'.
        socket.pause();
        socket.end('bye');
      })
      .listen(0, '127.0.0.1');
    const port = await listening(server);
    cleanups.push(() => accepted?.destroy());
    const p = peer(['connect', '127.0.0.1', String(port), '300'], { GREETING: 'hello' });
    const { localPort: peerPort } = await p.line('connected');
    await p.line('closed', 5000);
    // Past the threshold, measured from our FIN, with polls to spare.
    await new Promise((r) => setTimeout(r, 1000 + 6 * POLL_MS));
    expect(await ssShows('fin-wait-2', port, peerPort)).toBe(0);
    expect(await ssShows('time-wait', port, peerPort)).toBe(1);
    expect(stuckSpans()).toEqual([]);

    accepted?.destroy();
    const span = await waitFor(
      () => telemetry.spans('tcp.connection').find((s) => s.kind === SpanKind.SERVER && s.attributes['client.port'] === peerPort),
      5000,
      'the server tcp.connection span',
    );
    // Polls saw FIN_WAIT_2 while the peer held its side; the model, without 'end', stayed there to the close.
    expect(
      stateChanges(span)
        .map((c) => c.state)
        .slice(-2),
    ).toEqual(['fin_wait_2', 'closed']);
    expect(span.attributes['tcp.close.reason']).toBe('destroyed');
    expectConsistentTimeline(span);
  });
});
