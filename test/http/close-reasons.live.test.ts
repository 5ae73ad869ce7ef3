import { once } from 'node:events';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { JsonLinesChild } from '../support/json-lines-child.js';
import { AGENT_READ_GUARD } from '../support/requirements.js';
import { createTelemetry, waitFor, type Telemetry } from '../support/telemetry.js';

const ROOT = join(__dirname, '..', '..');
const SERVER = join(__dirname, '..', 'programs', 'keepalive-server.cjs');
/** The server closes idle keep-alive connections after this long. */
const SERVER_IDLE_MS = 300;

let telemetry: Telemetry;
let handle: SocklifeHandle;
let server: JsonLinesChild;
let port: number;

beforeEach(async () => {
  telemetry = createTelemetry();
  handle = instrument({ tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider, spans: 'all', source: 'none' });
  server = new JsonLinesChild(undefined, [SERVER], { cwd: ROOT, env: { IDLE_MS: String(SERVER_IDLE_MS) } });
  port = (await server.waitFor((l) => l['ports'] as number[] | undefined, 10_000, 'the ports'))[0] as number;
});

afterEach(async () => {
  handle.stop();
  await server.stop();
  await telemetry.shutdown();
});

/** One GET; resolves with the socket it went out on, once the response ended. */
function get(agent: http.Agent): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(req.socket as Socket));
    });
    req.on('error', reject);
  });
}

/** The `error.type` of the client `tcp.connection` span from local port `localPort`. */
function reasonOf(localPort: number): unknown {
  const span = telemetry
    .spans('tcp.connection')
    .find((s) => s.attributes['tcp.connection.side'] === 'client' && s.attributes['network.local.port'] === localPort);
  return span === undefined ? undefined : (span.attributes['error.type'] ?? null);
}

describe('how an HTTP client connection ended, in error.type', () => {
  it.skipIf(AGENT_READ_GUARD !== undefined)(
    `peer_closed_idle: the server closed the idle pooled connection${AGENT_READ_GUARD === undefined ? '' : ` (skipped: ${AGENT_READ_GUARD})`}`,
    async () => {
      const agent = new http.Agent({ keepAlive: true });
      const socket = await get(agent);
      const localPort = socket.localPort as number;
      await once(socket, 'close');
      agent.destroy();
      expect(await waitFor(() => reasonOf(localPort), 2000, 'the connection span')).toBe('peer_closed_idle');
    },
  );

  it('keep_alive_timeout: the pool closed it idle, before the server', async () => {
    const agent = new http.Agent({ keepAlive: true, timeout: SERVER_IDLE_MS / 3 });
    const socket = await get(agent);
    const localPort = socket.localPort as number;
    await once(socket, 'close');
    agent.destroy();
    expect(await waitFor(() => reasonOf(localPort), 2000, 'the connection span')).toBe('keep_alive_timeout');
  });

  it('aborted_by_app: the application destroyed it under a request; and the duration metric says each reason', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent });
    req.on('error', () => {});
    const socket = (await once(req, 'socket'))[0] as Socket;
    req.destroy();
    await once(socket, 'close');
    agent.destroy();
    const span = await waitFor(
      () => telemetry.spans('tcp.connection').find((s) => s.attributes['tcp.connection.side'] === 'client' && s.attributes['error.type'] !== undefined),
      2000,
      'the connection span',
    );
    expect(span.attributes['error.type']).toBe('aborted_by_app');
    const duration = (await telemetry.metric('tcp.connection.duration')) as HistogramMetricData | undefined;
    const reasons = duration?.dataPoints.map((p) => p.attributes['error.type']).filter((r) => r !== undefined);
    expect(reasons).toEqual(['aborted_by_app']);
  });
});
