import { once } from 'node:events';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { JsonLinesChild } from '../support/json-lines-child.js';
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

/** One GET (to the server program, unless `to` says another port); resolves with the socket it went out on, once the response ended. */
function get(agent: http.Agent, to = port): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: to, path: '/', agent }, (res) => {
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
  it('peer_closed_idle: the server closed the idle pooled connection', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const socket = await get(agent);
    const localPort = socket.localPort as number;
    await once(socket, 'close');
    agent.destroy();
    expect(await waitFor(() => reasonOf(localPort), 2000, 'the connection span')).toBe('peer_closed_idle');
  });

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

  describe('an idle pooled connection that ended otherwise is not peer_closed_idle', () => {
    let local: http.Server;
    /** The server side of the last connection the local server accepted. */
    let accepted: Socket;

    beforeEach(async () => {
      local = http.createServer((_req, res) => res.end('ok'));
      local.keepAliveTimeout = 60_000;
      local.on('connection', (socket: Socket) => (accepted = socket));
      local.listen(0, '127.0.0.1');
      await once(local, 'listening');
    });

    afterEach(async () => {
      local.closeAllConnections();
      local.close();
      await once(local, 'close');
    });

    /** A GET to the local server, once the agent holds its socket idle. */
    async function pooled(agent: http.Agent): Promise<Socket> {
      const socket = await get(agent, (local.address() as { port: number }).port);
      await waitFor(() => (Object.values(agent.freeSockets).some((free) => free?.includes(socket)) ? true : undefined), 2000, 'the pooled socket');
      return socket;
    }

    it.each([
      ['the server sent data nobody asked for', (_agent: http.Agent, _socket: Socket) => accepted.write('unasked')],
      ['the server reset it', (_agent: http.Agent, _socket: Socket) => accepted.resetAndDestroy()],
      ['the application destroyed it', (_agent: http.Agent, socket: Socket) => socket.destroy()],
      ['agent.destroy() closed it', (agent: http.Agent) => agent.destroy()],
    ])('%s', async (_case, end) => {
      const agent = new http.Agent({ keepAlive: true });
      const socket = await pooled(agent);
      const localPort = socket.localPort as number;
      const read = socket.bytesRead;
      // Not once(): the agent handles the error of a reset pooled socket, once() would throw it.
      const closed = new Promise((resolve) => socket.once('close', resolve));
      end(agent, socket);
      // Node 20's agent keeps a pooled socket that data came on: once the data is in, the test closes it.
      await waitFor(() => (socket.destroyed || socket.bytesRead > read ? true : undefined), 2000, 'the read');
      agent.destroy();
      await closed;
      const reason = await waitFor(() => reasonOf(localPort), 2000, 'the connection span');
      expect(reason).not.toBe('peer_closed_idle');
    });
  });
});
