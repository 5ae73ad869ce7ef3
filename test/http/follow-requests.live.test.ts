import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { createTelemetry, waitFor, type Telemetry } from '../support/telemetry.js';

let telemetry: Telemetry | undefined;
let handle: SocklifeHandle | undefined;

afterEach(async () => {
  handle?.stop();
  await telemetry?.shutdown();
});

/** One request through a keep-alive agent to an in-process server; resolves once the response ended. */
async function oneRequest(): Promise<void> {
  const server = http.createServer((_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const agent = new http.Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/x', agent }, (res) => res.resume().on('end', resolve))
      .on('error', reject);
  });
  agent.destroy();
  server.close();
  server.closeAllConnections();
}

/** The client's and the server's tcp.connection spans, once both ended. */
function bothConnectionSpans(): Promise<ReadableSpan[]> {
  return waitFor(
    () => {
      const found = telemetry?.spans('tcp.connection') ?? [];
      return found.length >= 2 ? found : undefined;
    },
    5000,
    'both connection spans',
  );
}

describe('followRequests', () => {
  it('false: no HTTP prototype is wrapped, and connections name no request', async () => {
    const emit = http.Server.prototype.emit;
    const onSocket = (http.ClientRequest.prototype as unknown as { onSocket: unknown }).onSocket;
    const keepSocketAlive = http.Agent.prototype.keepSocketAlive;
    telemetry = createTelemetry();
    handle = instrument({
      tracerProvider: telemetry.tracerProvider,
      meterProvider: telemetry.meterProvider,
      spans: 'all',
      source: 'none',
      followRequests: false,
    });
    expect(http.Server.prototype.emit).toBe(emit);
    expect((http.ClientRequest.prototype as unknown as { onSocket: unknown }).onSocket).toBe(onSocket);
    expect(http.Agent.prototype.keepSocketAlive).toBe(keepSocketAlive);
    await oneRequest();
    const spans = await bothConnectionSpans();
    expect(spans.every((s) => s.attributes['http.request.method'] === undefined)).toBe(true);
  });

  it('true (the default): the connections name their request', async () => {
    telemetry = createTelemetry();
    handle = instrument({ tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider, spans: 'all', source: 'none' });
    await oneRequest();
    const spans = await bothConnectionSpans();
    expect(spans.map((s) => s.attributes['http.request.method'])).toEqual(['GET', 'GET']);
  });
});
