import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { EventEmitter, once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { instrument, SocklifeInstrumentation, type SocklifeHandle } from '../../src/index.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { SsPolls } from '../support/ss-polls.js';
import { onServerSide, serverSideOf, type ServerSide } from '../support/server-side.js';
import { createTelemetry, eventually, waitFor, type Telemetry } from '../support/telemetry.js';
import { captureDiag, captureUncaught, echoRoundTrip, FakeTools, listen, onPath } from './support.js';

// Misuse and races: what an application (or another library) may do around socklife.

const POLL_MS = 100;
const THRESHOLD_MS = 300;
const skip = skipWithReason(missingTool('ss'));

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function telemetryFor(): Telemetry {
  const telemetry = createTelemetry();
  cleanups.push(() => telemetry.shutdown());
  return telemetry;
}

function start(telemetry: Telemetry, options: Parameters<typeof instrument>[0] = {}): SocklifeHandle {
  const handle = instrument({
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    pollIntervalMs: POLL_MS,
    closeWaitThresholdMs: THRESHOLD_MS,
    // The host's TIME_WAIT count (other tests churn connections) must not add a query to the polls counted here.
    timeWaitThreshold: 10_000_000,
    ...options,
  });
  cleanups.push(() => handle.stop());
  return handle;
}

/** The leak spans, all or those of one connection. */
function leaks(telemetry: Telemetry, of?: ServerSide): ReadableSpan[] {
  const spans = telemetry.spans('tcp.close_wait.leak');
  return of === undefined ? spans : spans.filter(onServerSide(of));
}

/**
 * Connects to `port`, sends a request and half-closes: the server side gets data, then the FIN.
 * (With data still buffered, a paused stream never emits 'end'; with none, Node emits it anyway.)
 */
async function connectAndEnd(port: number): Promise<net.Socket> {
  const client = net.connect(port, '127.0.0.1');
  cleanups.push(() => void client.destroy());
  await once(client, 'connect');
  client.end('request');
  return client;
}

/** Waits until the `tcp.connection.count` metric says no connection is left (the records are gone). */
async function expectNoConnections(telemetry: Telemetry): Promise<void> {
  let last = '';
  await eventually(
    async () => {
      const metric = await telemetry.metric('tcp.connection.count');
      const points = (metric?.dataPoints ?? []).filter((p) => Number(p.value) !== 0);
      last = JSON.stringify(points.map((p) => [p.attributes['network.connection.state'], p.value]));
      return points.length === 0 ? true : undefined;
    },
    5000,
    'no connection left',
  ).catch((error: Error) => {
    throw new Error(`${error.message}; still counted: ${last}`);
  });
}

describe.skipIf(skip)('sockets destroyed during a poll', () => {
  it('rows of sockets closed while ss ran match nothing; the socket still open is reported', async () => {
    const tools = new FakeTools();
    cleanups.push(() => tools.dispose());
    const block = join(tools.dir, 'block');
    const captured = join(tools.dir, 'captured');
    const go = join(tools.dir, 'go');
    // The real ss, whose answer is held back (while `block` exists and there is one) until `go`.
    tools.write(
      'ss',
      [
        `out=$('${onPath('ss')}' "$@")`,
        `if [ -e '${block}' ] && [ -n "$out" ]; then`,
        `  printf '%s\\n' "$out" > '${captured}.tmp' && /usr/bin/mv '${captured}.tmp' '${captured}'`,
        `  while [ ! -e '${go}' ]; do /bin/sleep 0.02; done`,
        'fi',
        `printf '%s\\n' "$out"`,
      ].join('\n'),
    );
    tools.usePath();
    const polls = new SsPolls();
    cleanups.push(() => polls.dispose());
    const telemetry = telemetryFor();
    const uncaught = captureUncaught();
    cleanups.push(() => uncaught.dispose());
    start(telemetry, { source: 'ss' });

    const accepted: net.Socket[] = [];
    const server = net.createServer((socket) => {
      socket.pause(); // never read: CLOSE_WAIT only the kernel shows
      accepted.push(socket);
    });
    const port = await listen(server);
    cleanups.push(() => void server.close());
    const clients = [await connectAndEnd(port), await connectAndEnd(port), await connectAndEnd(port)];
    await waitFor(() => (accepted.length === 3 ? true : undefined), 3000, 'three accepted sockets');
    writeFileSync(block, '');
    // A poll has the three CLOSE_WAIT rows in hand and is held.
    await waitFor(
      // The server's three rows (the clients' own FIN_WAIT rows, asked for by the half-close detector, aside).
      () =>
        existsSync(captured) &&
        readFileSync(captured, 'utf8')
          .split('\n')
          .filter((line) => line.includes(`127.0.0.1:${port} `) && !line.startsWith('FIN-WAIT')).length === 3
          ? true
          : undefined,
      5000,
      'a poll holding the three CLOSE_WAIT rows',
    );
    const kept = accepted[2] as net.Socket;
    const destroyed = accepted.slice(0, 2);
    for (const socket of destroyed) socket.destroy();
    await Promise.all(destroyed.map((s) => (s.closed ? undefined : once(s, 'close'))));
    writeFileSync(go, '');

    // The stale rows were applied: the socket still open is found by them and reported.
    const keptConnection = serverSideOf(clients[2] as net.Socket);
    const leak = await waitFor(() => leaks(telemetry, keptConnection)[0], 5000, 'the leak of the socket still open');
    expect(leak.attributes['tcp.close_wait.cause']).toBe('not_read_to_eof');
    // The destroyed sockets' stale rows, had they matched, would be past the threshold by now: three more polls find nothing.
    await new Promise((r) => setTimeout(r, THRESHOLD_MS));
    await polls.next(3);
    expect(leaks(telemetry)).toHaveLength(1);
    kept.destroy();
    await expectNoConnections(telemetry);
    expect(uncaught.errors).toEqual([]);
  });
});

describe.skipIf(skip)('servers closed and reopened', () => {
  const accepted: net.Socket[] = [];
  function startNeverReadingServer(): net.Server {
    return net.createServer((socket) => {
      socket.pause();
      accepted.push(socket);
    });
  }

  it.each([
    ['a new server on the same port', 'new' as const],
    ['the same server on the same port', 'same' as const],
    ['the same server on another port', 'moved' as const],
  ])('%s: the leaks of both are reported, each once, with the right ports', async (_name, how) => {
    const telemetry = telemetryFor();
    start(telemetry, { source: 'ss' });
    const polls = new SsPolls();
    cleanups.push(() => polls.dispose());
    const first = startNeverReadingServer();
    const port = await listen(first);
    const before = await connectAndEnd(port);
    first.close(); // stops listening; the accepted socket stays, in CLOSE_WAIT
    const second = how === 'new' ? startNeverReadingServer() : first;
    const secondPort = await listen(second, '127.0.0.1', how === 'moved' ? 0 : port);
    cleanups.push(() => void second.close());
    if (how !== 'moved') expect(secondPort).toBe(port);
    const after = await connectAndEnd(secondPort);

    for (const [client, serverPort] of [
      [before, port],
      [after, secondPort],
    ] as const) {
      const connection = serverSideOf(client);
      const leak = await waitFor(() => leaks(telemetry, connection)[0], 5000, `the leak on port ${serverPort}`);
      expect(leak.attributes['tcp.close_wait.cause']).toBe('not_read_to_eof');
      expect(leak.attributes['network.local.port']).toBe(serverPort);
    }
    // Each once, however many polls follow.
    await polls.next(3);
    expect(leaks(telemetry)).toHaveLength(2);
    for (const socket of [before, after, ...accepted.splice(0)]) socket.destroy();
    await expectNoConnections(telemetry);
  });
});

describe('instrument() and stop() called twice, or in the wrong order', () => {
  const methods = (): unknown[] => [net.Socket.prototype.end, net.Socket.prototype.destroy, net.Socket.prototype.connect];

  it('stop() twice: the second is a no-op', () => {
    const original = methods();
    const handle = instrument({ source: 'none' });
    handle.stop();
    expect(() => handle.stop()).not.toThrow();
    expect(methods()).toEqual(original);
  });

  it('stop before any start: disable() of an instrumentation never enabled, and disable() twice', () => {
    const original = methods();
    const never = new SocklifeInstrumentation({ enabled: false, source: 'none' });
    expect(() => never.disable()).not.toThrow();
    expect(methods()).toEqual(original);
    const twice = new SocklifeInstrumentation({ source: 'none' });
    twice.disable();
    expect(() => twice.disable()).not.toThrow();
    expect(methods()).toEqual(original);
  });

  it('instrument() twice: the second gets the running instrumentation, says so naming both, and its stop() leaves it running', () => {
    const original = methods();
    const diagnostics = captureDiag();
    cleanups.push(() => diagnostics.dispose());
    const first = instrument({ source: 'none', pollIntervalMs: 1000 });
    cleanups.push(() => first.stop());
    const second = instrument({ source: 'none', pollIntervalMs: 2000 });
    expect(second).not.toBe(first);
    // Its options are ignored: the running instrumentation's are in force.
    expect(second.options).toBe(first.options);
    expect(second.options.pollIntervalMs).toBe(1000);
    expect(diagnostics.socklife()).toEqual([
      'socklife: instrument() while the instrumentation instrument() started is running: its options are ignored and stop() will not stop it',
    ]);
    second.stop();
    expect(methods()).not.toEqual(original);
    first.stop();
    expect(methods()).toEqual(original);
  });

  it('SocklifeInstrumentation enabled while instrument() runs: warns naming both; its disable() leaves it running', () => {
    const original = methods();
    const diagnostics = captureDiag();
    cleanups.push(() => diagnostics.dispose());
    const first = instrument({ source: 'none' });
    cleanups.push(() => first.stop());
    const instrumentation = new SocklifeInstrumentation({ source: 'none', spans: 'all' });
    expect(diagnostics.socklife()).toEqual([
      'socklife: SocklifeInstrumentation.enable() while the instrumentation instrument() started is running: its options are ignored and disable() will not stop it',
    ]);
    instrumentation.disable();
    expect(methods()).not.toEqual(original);
    expect(instrument({ source: 'none' }).options.spans).toBe('anomalies');
    first.stop();
    expect(methods()).toEqual(original);
  });

  it('instrument() after stop() starts afresh; the old handle stopping again stops nothing', async () => {
    const oldTelemetry = telemetryFor();
    const old = start(oldTelemetry, { source: 'none' });
    old.stop();
    const telemetry = telemetryFor();
    const fresh = start(telemetry, { source: 'none' });
    expect(fresh).not.toBe(old);
    old.stop();
    const server = net.createServer({ allowHalfOpen: true }, (socket) => socket.resume());
    const port = await listen(server);
    cleanups.push(() => void server.close());
    const client = await connectAndEnd(port);
    const connection = serverSideOf(client);
    await waitFor(() => leaks(telemetry, connection)[0], 5000, 'the leak, seen by the fresh instrumentation');
    expect(oldTelemetry.spans()).toEqual([]);
  });
});

type Method = (this: net.Socket, ...args: unknown[]) => unknown;

/** Another library (an APM agent, say) wrapping end() and destroy(), calling through to what it found. */
function wrapOther(): { calls: { end: number; destroy: number }; end: Method; destroy: Method; unwrap(): void } {
  const proto = net.Socket.prototype as unknown as Record<'end' | 'destroy', Method>;
  const hadOwn = { end: Object.hasOwn(proto, 'end'), destroy: Object.hasOwn(proto, 'destroy') };
  const found = { end: proto.end, destroy: proto.destroy };
  const calls = { end: 0, destroy: 0 };
  const end: Method = function (...args) {
    calls.end++;
    return found.end.apply(this, args);
  };
  const destroy: Method = function (...args) {
    calls.destroy++;
    return found.destroy.apply(this, args);
  };
  proto.end = end;
  proto.destroy = destroy;
  return {
    calls,
    end,
    destroy,
    unwrap() {
      for (const name of ['end', 'destroy'] as const) {
        if (hadOwn[name]) proto[name] = found[name];
        else delete (proto as Partial<Record<'end' | 'destroy', Method>>)[name];
      }
    },
  };
}

/**
 * What socklife must still see through another library's wrappers: an end() whose FIN cannot go
 * out (the peer reads nothing, so the socket stays in CLOSE_WAIT) is not a leak; a destroy() after
 * an idle timeout makes the close reason `timeout`.
 */
async function seesEndAndDestroy(telemetry: Telemetry): Promise<void> {
  // end() called, FIN stuck behind data the peer never reads: CLOSE_WAIT past the threshold, and no leak.
  const stuck = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.resume();
    socket.on('error', () => {}); // EPIPE once the test destroys its peer
    socket.on('end', () => socket.end(Buffer.alloc(32 * 1024 * 1024)));
  });
  const stuckPort = await listen(stuck);
  cleanups.push(() => void stuck.close());
  const reader = net.connect(stuckPort, '127.0.0.1');
  cleanups.push(() => void reader.destroy());
  await once(reader, 'connect');
  reader.pause();
  reader.end();
  // Control: the same without end() is a leak, so the detector runs.
  const halfOpen = net.createServer({ allowHalfOpen: true }, (socket) => socket.resume());
  const halfOpenPort = await listen(halfOpen);
  cleanups.push(() => void halfOpen.close());
  const control = await connectAndEnd(halfOpenPort);
  const controlConnection = serverSideOf(control);
  await waitFor(() => leaks(telemetry, controlConnection)[0], 5000, 'the control leak');
  await new Promise((r) => setTimeout(r, THRESHOLD_MS + 3 * POLL_MS));
  // By both ports: the kernel may give the reader and the control one client port, towards two servers.
  expect(leaks(telemetry, serverSideOf(reader))).toEqual([]);

  // destroy() after 'timeout': close reason timeout, which needs the destroy() call seen.
  const idle = net.createServer((socket) => socket.resume());
  const idlePort = await listen(idle);
  cleanups.push(() => void idle.close());
  const timedOut = net.connect(idlePort, '127.0.0.1');
  await once(timedOut, 'connect');
  const timedOutPort = timedOut.localPort;
  timedOut.setTimeout(50, () => timedOut.destroy());
  await once(timedOut, 'close');
  const span = await waitFor(
    () =>
      telemetry.spans('tcp.connection').find((s) => s.attributes['network.local.port'] === timedOutPort && s.attributes['tcp.connection.side'] === 'client'),
    3000,
    'the timed-out client span',
  );
  expect(span.attributes['tcp.close.reason']).toBe('timeout');
}

describe('another library wrapping net.Socket.prototype.end and destroy', () => {
  it('wrapped before socklife: events still seen, its wrapper still called, and stop() puts its wrapper back', async () => {
    const other = wrapOther();
    cleanups.push(() => other.unwrap());
    const telemetry = telemetryFor();
    const handle = start(telemetry, { source: 'none', spans: 'all' });
    expect(net.Socket.prototype.end).not.toBe(other.end);
    await seesEndAndDestroy(telemetry);
    expect(other.calls.end).toBeGreaterThan(0);
    expect(other.calls.destroy).toBeGreaterThan(0);
    handle.stop();
    expect(net.Socket.prototype.end).toBe(other.end);
    expect(net.Socket.prototype.destroy).toBe(other.destroy);
    const calls = { ...other.calls };
    expect(await echoRoundTrip('after stop')).toBe('after stop');
    expect(other.calls.end).toBeGreaterThan(calls.end);
    expect(other.calls.destroy).toBeGreaterThan(calls.destroy);
  });

  it('wrapped after socklife: events still seen, its wrapper still called, and stop() leaves its wrapper in place, working', async () => {
    const telemetry = telemetryFor();
    const handle = start(telemetry, { source: 'none', spans: 'all' });
    const other = wrapOther();
    cleanups.push(() => other.unwrap());
    await seesEndAndDestroy(telemetry);
    expect(other.calls.end).toBeGreaterThan(0);
    expect(other.calls.destroy).toBeGreaterThan(0);
    const spans = telemetry.spans().length;
    handle.stop();
    expect(net.Socket.prototype.end).toBe(other.end);
    expect(net.Socket.prototype.destroy).toBe(other.destroy);
    const calls = { ...other.calls };
    expect(await echoRoundTrip('after stop')).toBe('after stop');
    expect(other.calls.end).toBeGreaterThan(calls.end);
    expect(other.calls.destroy).toBeGreaterThan(calls.destroy);
    // socklife's wrapper under it passes calls through and records nothing.
    expect(telemetry.spans()).toHaveLength(spans);
  });
});

describe('another library wrapping EventEmitter.prototype.emit after socklife started', () => {
  it("still sees every socket's events, and socklife still follows the connection", async () => {
    const telemetry = telemetryFor();
    start(telemetry, { source: 'none', spans: 'all' });
    const proto = EventEmitter.prototype as unknown as { emit: (this: unknown, ...args: unknown[]) => boolean };
    const found = proto.emit;
    const socketCloses: net.Socket[] = [];
    proto.emit = function (this: unknown, ...args: unknown[]): boolean {
      if (this instanceof net.Socket && args[0] === 'close') socketCloses.push(this);
      return found.apply(this, args);
    };
    cleanups.push(() => {
      proto.emit = found;
    });
    expect(await echoRoundTrip('through both wrappers')).toBe('through both wrappers');
    // The client's and the server's socket both closed through the other library's wrapper.
    await waitFor(() => (socketCloses.length >= 2 ? true : undefined), 3000, "both sockets' 'close' through the other wrapper");
    const spans = await waitFor(
      () => {
        const closed = telemetry.spans('tcp.connection');
        return closed.length >= 2 ? closed : undefined;
      },
      3000,
      'both connection spans',
    );
    expect(spans.map((span) => span.attributes['tcp.connection.side']).sort()).toEqual(['client', 'server']);
    for (const span of spans) expect(span.attributes['tcp.close.reason']).toBe('fin');
  });
});
