import type { Span, SpanOptions, Tracer, TracerProvider } from '@opentelemetry/api';
import { once } from 'node:events';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';
import { captureDiag, captureUncaught, echoRoundTrip, makeLeaks } from './reliability/support.js';
import { missingTool, skipWithReason } from './support/requirements.js';
import { createTelemetry, eventually, waitFor } from './support/telemetry.js';

const BROKEN = 'broken tracer';

/**
 * A tracer provider whose every span start throws, standing for any broken telemetry backend.
 * It records the name of each span it was asked for, so a test knows the throw happened.
 */
function throwingProvider(): { provider: TracerProvider; asked: string[] } {
  const asked: string[] = [];
  const fail = (name: string): never => {
    asked.push(name);
    throw new Error(BROKEN);
  };
  const tracer: Tracer = {
    startSpan: (name: string, _options?: SpanOptions): Span => fail(name),
    startActiveSpan: ((name: string) => fail(name)) as Tracer['startActiveSpan'],
  };
  return { provider: { getTracer: () => tracer }, asked };
}

/** A server that says hello and ends: a healthy connection, which under `all` still makes spans. */

describe('instrumentation never harms its host', () => {
  it('a throwing tracer (spans: all, so every connection starts spans) neither breaks connections nor escapes into the application', async () => {
    const uncaught = captureUncaught();
    const diagnostics = captureDiag();
    const { provider, asked } = throwingProvider();
    const handle = instrument({ tracerProvider: provider, spans: 'all', source: 'none', pollIntervalMs: 20 });
    try {
      expect(await echoRoundTrip('hello')).toBe('hello');
      // The tracer was really asked, and threw: for the client's and the server's connection span.
      await waitFor(() => (asked.filter((name) => name === 'tcp.connection').length >= 2 ? true : undefined), 5000, 'two tcp.connection span starts');
      // The application goes on working through the failure.
      expect(await echoRoundTrip('after')).toBe('after');
    } finally {
      handle.stop();
      uncaught.dispose();
      diagnostics.dispose();
    }
    expect(uncaught.errors).toEqual([]);
    // Caught and said by socklife, not swallowed elsewhere.
    expect(diagnostics.socklife().filter((m) => m.includes(BROKEN)).length).toBeGreaterThan(0);
  });

  it.skipIf(skipWithReason(missingTool('ss')))(
    'a throwing tracer under the default policy: CLOSE_WAIT leaks are still counted, and the span failure stays inside',
    async () => {
      const uncaught = captureUncaught();
      const diagnostics = captureDiag();
      const telemetry = createTelemetry();
      const { provider, asked } = throwingProvider();
      const handle = instrument({
        tracerProvider: provider,
        meterProvider: telemetry.meterProvider,
        source: 'ss',
        pollIntervalMs: 50,
        closeWaitThresholdMs: 100,
      });
      expect(handle.options.spans).toBe('anomalies');
      const leaks = await makeLeaks();
      try {
        // Healthy until found: only the finding asks the tracer for spans (the leak's, or the connection's it belongs to).
        const count = async (): Promise<number | undefined> => {
          const metric = await telemetry.metric('tcp.close_wait.leak.count');
          const total = (metric?.dataPoints ?? []).reduce((n, p) => n + Number(p.value), 0);
          return total >= 2 ? total : undefined;
        };
        expect(await eventually(count, 10_000, 'two leaks counted')).toBe(2);
        await waitFor(() => (asked.length > 0 ? true : undefined), 5000, 'a span start for the leaks');
        for (const name of asked) expect(['tcp.connection', 'tcp.close_wait.leak']).toContain(name);
        expect(await echoRoundTrip('after')).toBe('after');
      } finally {
        leaks.close();
        handle.stop();
        uncaught.dispose();
        diagnostics.dispose();
        await telemetry.shutdown();
      }
      expect(uncaught.errors).toEqual([]);
      expect(diagnostics.socklife().filter((m) => m.includes(BROKEN)).length).toBeGreaterThan(0);
    },
  );

  it('stop() leaves no listener and no patched method behind', async () => {
    const before = {
      end: net.Socket.prototype.end,
      destroy: net.Socket.prototype.destroy,
      connect: net.Socket.prototype.connect,
      emit: net.Socket.prototype.emit,
    };
    const handle = instrument({ source: 'none' });
    expect(net.Socket.prototype.connect).not.toBe(before.connect);
    const server = net.createServer(() => {}).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const serverListeners = server.listenerCount('connection');
    handle.instrumentServer(server);
    expect(server.listenerCount('connection')).toBe(serverListeners + 1);
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    // Events are seen through the emit wrapper: no listener is added to a socket.
    const listenersWhileOn = client.listenerCount('close');
    expect(net.Socket.prototype.emit).not.toBe(before.emit);
    handle.stop();
    expect(client.listenerCount('close')).toBe(listenersWhileOn);
    expect(net.Socket.prototype.emit).toBe(before.emit);
    expect(server.listenerCount('connection')).toBe(serverListeners);
    expect(net.Socket.prototype.end).toBe(before.end);
    expect(net.Socket.prototype.destroy).toBe(before.destroy);
    expect(net.Socket.prototype.connect).toBe(before.connect);
    client.destroy();
    server.close();
  });
});
