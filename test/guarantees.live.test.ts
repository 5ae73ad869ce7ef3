import type { Tracer, TracerProvider } from '@opentelemetry/api';
import { once } from 'node:events';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { instrument } from '../src/index.js';

/** A tracer provider whose every span start throws, standing for any broken telemetry backend. */
const throwingProvider: TracerProvider = {
  getTracer(): Tracer {
    const fail = (): never => {
      throw new Error('broken tracer');
    };
    return { startSpan: fail, startActiveSpan: fail } as unknown as Tracer;
  },
};

describe('instrumentation never harms its host', () => {
  it('a throwing tracer neither breaks connections nor escapes into the application', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      uncaught.push(error);
    };
    process.on('uncaughtException', onUncaught);
    const handle = instrument({ tracerProvider: throwingProvider, source: 'none', pollIntervalMs: 20 });
    try {
      const server = net.createServer((socket) => socket.end('hello')).listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as net.AddressInfo).port;
      const text = await new Promise<string>((resolve, reject) => {
        const client = net.connect(port, '127.0.0.1');
        let received = '';
        client.setEncoding('utf8');
        client.on('data', (chunk: string) => (received += chunk));
        client.on('error', reject);
        client.on('close', () => resolve(received));
      });
      expect(text).toBe('hello');
      await new Promise((r) => setTimeout(r, 60)); // a couple of detector ticks
      server.close();
    } finally {
      handle.stop();
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
  });

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
