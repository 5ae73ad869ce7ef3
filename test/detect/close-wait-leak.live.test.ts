import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { STACK_SAMPLING } from '../../src/thresholds.js';
import { createTelemetry, epochMs, hrToMs, waitFor, type Telemetry } from '../support/telemetry.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { SsPolls } from '../support/ss-polls.js';

const POLL_MS = 100;
const THRESHOLD_MS = 400;
/** The budget: a leak is on record within the threshold plus two polls of entering CLOSE_WAIT. */
const BUDGET_MS = THRESHOLD_MS + 2 * POLL_MS;
const skip = skipWithReason(missingTool('ss'));

let telemetry: Telemetry;
let handle: SocklifeHandle;
const cleanups: Array<() => void> = [];

// The ss source loads execa on its first poll. Loaded here, that one-time start-up is not raced
// against the threshold by the tests that expect a poll to have seen the socket before the leak.
beforeAll(async () => {
  await import('execa');
});

beforeEach(() => {
  telemetry = createTelemetry();
  handle = instrument({
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    pollIntervalMs: POLL_MS,
    closeWaitThresholdMs: THRESHOLD_MS,
    source: 'ss',
  });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  handle.stop();
  await telemetry.shutdown();
});

async function listening<T extends net.Server>(server: T): Promise<number> {
  if (!server.listening) await once(server, 'listening');
  cleanups.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

function leakSpans(): ReadableSpan[] {
  return telemetry.spans('tcp.close_wait.leak');
}

async function waitForLeak(predicate: (s: ReadableSpan) => boolean): Promise<ReadableSpan> {
  return waitFor(() => leakSpans().find(predicate), BUDGET_MS + 4000, 'a tcp.close_wait.leak span');
}

function expectCommonLeakShape(span: ReadableSpan, finAt: number): void {
  expect(span.kind).toBe(SpanKind.INTERNAL);
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
  expect(span.attributes['network.connection.state']).toBe('close_wait');
  expect(span.attributes['network.transport']).toBe('tcp');
  expect(span.attributes['network.peer.address']).toBe('127.0.0.1');
  expect(typeof span.attributes['network.peer.port']).toBe('number');
  expect(span.attributes['tcp.close_wait.duration_ms']).toBeGreaterThanOrEqual(THRESHOLD_MS);
  // Found within the budget of the moment the FIN went out.
  expect(hrToMs(span.endTime) - finAt).toBeLessThanOrEqual(BUDGET_MS);
  expect(span.attributes['code.file.path']).toMatch(/close-wait-leak\.live\.test\.ts$/);
}

describe.skipIf(skip)('CLOSE_WAIT leaks on live sockets, real ss, real SDK', () => {
  it('reports a server that never ends half-open sockets (end_not_called) at the line that listened', async () => {
    function startHalfOpenServer(): net.Server {
      // The bug: allowHalfOpen keeps the write side open after 'end', and nothing ever calls end().
      return net.createServer({ allowHalfOpen: true }, (socket) => socket.resume()).listen(0, '127.0.0.1');
    }
    const server = startHalfOpenServer();
    const port = await listening(server);
    const client = net.connect(port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    await once(client, 'connect');
    const clientPort = client.localPort;
    client.write('request');
    client.end();
    const finAt = epochMs();

    const polls = new SsPolls();
    cleanups.push(() => polls.dispose());
    const leak = await waitForLeak((s) => s.attributes['client.port'] === clientPort);
    expectCommonLeakShape(leak, finAt);
    expect(leak.attributes['tcp.close_wait.cause']).toBe('end_not_called');
    expect(leak.attributes['tcp.connection.side']).toBe('server');
    expect(leak.attributes['network.local.port']).toBe(port);
    expect(leak.attributes['code.function.name']).toBe('startHalfOpenServer');
    expect(String(leak.attributes['code.stacktrace'])).toContain('startHalfOpenServer');
    // Seen by the kernel too: the poll matched the socket and found nothing unread.
    expect(leak.attributes['tcp.close_wait.unread_bytes.kernel']).toBe(0);

    // Reported once, however many polls follow.
    await polls.next(3);
    expect(leakSpans().filter((s) => s.attributes['client.port'] === clientPort)).toHaveLength(1);
    const leaks = await telemetry.metric('tcp.close_wait.leak.count');
    expect(leaks?.dataPoints.map((p) => [p.attributes['tcp.close_wait.cause'], p.value])).toEqual([['end_not_called', 1]]);
  });

  it('puts the leak span in the trace of its tcp.connection span', async () => {
    let accepted: net.Socket | undefined;
    const server = net
      .createServer({ allowHalfOpen: true }, (socket) => {
        accepted = socket;
        socket.resume();
      })
      .listen(0, '127.0.0.1');
    const port = await listening(server);
    const client = net.connect(port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    await once(client, 'connect');
    const clientPort = client.localPort;
    client.end();
    const leak = await waitForLeak((s) => s.attributes['client.port'] === clientPort);

    // Fixing the bug closes the connection and ends its span.
    accepted?.end();
    const connection = await waitFor(
      () => telemetry.spans('tcp.connection').find((s) => s.attributes['client.port'] === clientPort),
      2000,
      'the server tcp.connection span',
    );
    expect(connection.kind).toBe(SpanKind.SERVER);
    expect(leak.spanContext().traceId).toBe(connection.spanContext().traceId);
    expect(leak.parentSpanContext?.spanId).toBe(connection.spanContext().spanId);
    const states = connection.events.filter((e) => e.name === 'tcp.state_change').map((e) => e.attributes?.['network.connection.state']);
    expect(states).toEqual(['established', 'close_wait', 'last_ack', 'closed']);
  });

  it('reports a server that never reads (not_read_to_eof) with the bytes the kernel holds', async () => {
    function startNeverReadingServer(): net.Server {
      // The bug: the stream is paused and never resumed, so 'end' can never be emitted.
      return net.createServer((socket) => socket.pause()).listen(0, '127.0.0.1');
    }
    const server = startNeverReadingServer();
    const port = await listening(server);
    const client = net.connect(port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    await once(client, 'connect');
    const clientPort = client.localPort;
    const payload = Buffer.alloc(100_000, 'x');
    client.end(payload);
    await once(client, 'finish');
    const finAt = epochMs();

    const leak = await waitForLeak((s) => s.attributes['client.port'] === clientPort);
    expectCommonLeakShape(leak, finAt);
    expect(leak.attributes['tcp.close_wait.cause']).toBe('not_read_to_eof');
    expect(leak.attributes['tcp.state.source']).toBe('kernel');
    expect(leak.attributes['code.function.name']).toBe('startNeverReadingServer');
    const kernelBytes = Number(leak.attributes['tcp.close_wait.unread_bytes.kernel']);
    const nodeBytes = Number(leak.attributes['tcp.close_wait.unread_bytes.node']);
    expect(kernelBytes).toBeGreaterThan(0);
    expect(kernelBytes + nodeBytes).toBe(payload.length);
  });

  it('reports a client whose keep-alive response body is never consumed', async () => {
    // Larger than Node buffers for an unread response (Node 20: ~64 KiB, 24: ~128 KiB), small enough
    // that the rest fits the client's receive buffer, so the server's FIN arrives behind it.
    const body = Buffer.alloc(128 * 1024, 'y');
    const server = http.createServer((_req, res) => res.end(body));
    server.keepAliveTimeout = 150; // the server closes the idle connection: its FIN reaches the client
    let serverFinAt = Number.POSITIVE_INFINITY;
    // The keep-alive timeout destroys the idle socket, which sends the FIN.
    server.on('connection', (socket: net.Socket) => socket.on('close', () => (serverFinAt = epochMs())));
    server.listen(0, '127.0.0.1');
    const port = await listening(server);
    const agent = new http.Agent({ keepAlive: true });
    cleanups.push(() => agent.destroy());

    function fetchAndForgetBody(): Promise<http.IncomingMessage> {
      return new Promise((resolve, reject) => {
        // The bug: the response is never read (no resume(), no 'data'), so the socket never reaches EOF.
        http.get({ host: '127.0.0.1', port, path: '/', agent }, resolve).on('error', reject);
      });
    }
    const response = await fetchAndForgetBody();
    expect(response.statusCode).toBe(200);

    const leak = await waitForLeak((s) => s.attributes['tcp.connection.side'] === 'client');
    expect(leak.attributes['tcp.close_wait.cause']).toBe('not_read_to_eof');
    expect(leak.attributes['server.port']).toBe(port);
    // The innermost user frame is the promise executor inside fetchAndForgetBody; the stack names both.
    expect(leak.attributes['code.file.path']).toMatch(/close-wait-leak\.live\.test\.ts$/);
    expect(String(leak.attributes['code.stacktrace'])).toMatch(/at fetchAndForgetBody \(.*close-wait-leak\.live\.test\.ts:\d+:\d+\)/);
    expect(Number(leak.attributes['tcp.close_wait.unread_bytes.kernel']) + Number(leak.attributes['tcp.close_wait.unread_bytes.node'])).toBeGreaterThan(0);
    // Found within the budget of the server's FIN (sent when its keep-alive timeout closed the connection).
    expect(serverFinAt).toBeLessThan(hrToMs(leak.endTime));
    expect(hrToMs(leak.endTime) - serverFinAt).toBeLessThanOrEqual(BUDGET_MS);
  });

  it('names the code that made a long-lived client', async () => {
    // The server ends the connection after 1.5 s: the client's creation stack, read at connect(),
    // is reported well after its connection was made.
    const server = net.createServer((socket) => {
      const timer = setTimeout(() => socket.end(), 1500);
      socket.on('close', () => clearTimeout(timer));
    });
    server.listen(0, '127.0.0.1');
    const port = await listening(server);
    function connectLongLivedClient(): net.Socket {
      // The bug: allowHalfOpen and no end() after 'end'.
      return net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    }
    const client = connectLongLivedClient();
    client.resume();
    cleanups.push(() => client.destroy());

    const leak = await waitForLeak((s) => s.attributes['tcp.connection.side'] === 'client');
    expect(leak.attributes['tcp.close_wait.cause']).toBe('end_not_called');
    expect(leak.attributes['code.function.name']).toBe('connectLongLivedClient');
    expect(leak.attributes['code.file.path']).toMatch(/close-wait-leak\.live\.test\.ts$/);
    expect(String(leak.attributes['code.stacktrace'])).toMatch(/^at connectLongLivedClient \(.*close-wait-leak\.live\.test\.ts:\d+:\d+\)/m);
  });

  it('finds an unread stream with no tracer recording (endpoints learned only from the kernel rows)', async () => {
    // Restart with a tracer that records nothing, as when no SDK is installed: only metrics see the leak.
    handle.stop();
    handle = instrument({
      tracerProvider: trace.getTracerProvider(), // the API's own: no SDK registered here
      meterProvider: telemetry.meterProvider,
      pollIntervalMs: POLL_MS,
      closeWaitThresholdMs: THRESHOLD_MS,
      source: 'ss',
    });
    const server = net.createServer((socket) => socket.pause()).listen(0, '127.0.0.1');
    const port = await listening(server);
    const client = net.connect(port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    await once(client, 'connect');
    client.end('data');
    const count = async () => {
      const metric = await telemetry.metric('tcp.close_wait.leak.count');
      return metric?.dataPoints.find((p) => p.attributes['tcp.close_wait.cause'] === 'not_read_to_eof')?.value;
    };
    const deadline = Date.now() + BUDGET_MS + 4000;
    while ((await count()) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await count()).toBe(1);
    expect(leakSpans()).toEqual([]);
  });

  it('reports nothing for healthy HTTP traffic, keep-alive and one-shot, bodies consumed', async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    server.keepAliveTimeout = 200;
    server.listen(0, '127.0.0.1');
    const port = await listening(server);
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 2 });
    cleanups.push(() => keepAlive.destroy());

    async function request(agent: http.Agent | false, method = 'GET'): Promise<string> {
      return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: '/', method, agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end(method === 'POST' ? 'body' : undefined);
      });
    }
    const results = await Promise.all([...Array.from({ length: 10 }, () => request(keepAlive)), ...Array.from({ length: 5 }, () => request(false, 'POST'))]);
    expect(results.every((r) => r === 'ok')).toBe(true);
    // Idle keep-alive sockets are closed by the server's timeout; let detection run well past the threshold.
    await new Promise((r) => setTimeout(r, server.keepAliveTimeout + THRESHOLD_MS + 4 * POLL_MS));

    expect(leakSpans()).toEqual([]);
    // Under the default span policy healthy connections make no spans; the metrics count them all.
    expect(telemetry.spans('tcp.connection')).toEqual([]);
    const durations = await telemetry.metric('tcp.connection.duration');
    const closed = (side: string) =>
      (durations?.dataPoints ?? []).filter((p) => p.attributes['tcp.connection.side'] === side).reduce((n, p) => n + (p.value as { count: number }).count, 0);
    expect(closed('client')).toBeGreaterThanOrEqual(7);
    expect(closed('server')).toBeGreaterThanOrEqual(7);
  });
});

/** The one call site of every connection of the test: healthy ones end after the server's FIN, leaking ones never do. */
function connectToBackend(port: number, leak: boolean): net.Socket {
  return net.connect({ port, host: '127.0.0.1', allowHalfOpen: leak });
}

describe.skipIf(skip)('sampled creation stacks on live sockets, real ss, real SDK', () => {
  it("a leak repeated from one call site to a destination past its clean closes has its stack on the first report, a sibling's, then its own", async () => {
    // The server ends every connection at once: a client that does not end() in turn stays in CLOSE_WAIT.
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.end();
    });
    server.listen(0, '127.0.0.1');
    const port = await listening(server);

    // More clean closes than the sampling's N: the destination is sampled from now on.
    for (let i = 0; i <= STACK_SAMPLING.everyN; i++) {
      const client = connectToBackend(port, false);
      client.resume();
      await once(client, 'close');
    }

    const reports: ReadableSpan[] = [];
    for (let leak = 1; leak <= 3; leak++) {
      const client = connectToBackend(port, true);
      client.resume();
      cleanups.push(() => client.destroy());
      const report = await waitFor(
        () => leakSpans().find((s) => s.attributes['tcp.connection.side'] === 'client' && !reports.includes(s)),
        THRESHOLD_MS + 5000,
        `the report of leak ${leak}`,
      );
      reports.push(report);
    }

    for (const report of reports) {
      expect(report.attributes['code.function.name']).toBe('connectToBackend');
      expect(report.attributes['code.file.path']).toMatch(/close-wait-leak\.live\.test\.ts$/);
      expect(String(report.attributes['code.stacktrace'])).toMatch(/^at connectToBackend \(.*close-wait-leak\.live\.test\.ts:\d+:\d+\)/m);
    }
    // The first leak's connection was sampled out: it shows the last stack captured for its destination.
    expect(reports.map((r) => r.attributes['tcp.connection.creation_stack.source'])).toEqual(['sibling', 'own', 'own']);
  });
});
