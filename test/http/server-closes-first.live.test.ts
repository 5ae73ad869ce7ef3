import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { JsonLinesChild } from '../support/json-lines-child.js';
import { createTelemetry, waitFor, type Telemetry } from '../support/telemetry.js';

const ROOT = join(__dirname, '..', '..');
const CLIENT = join(__dirname, '..', 'programs', 'eager-client.cjs');
const KEEP_ALIVE_TIMEOUT_MS = 300;

let telemetry: Telemetry;
let handle: SocklifeHandle;
let server: http.Server;
let client: JsonLinesChild | undefined;

beforeEach(async () => {
  telemetry = createTelemetry();
  handle = instrument({ tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider, pollIntervalMs: 50, source: 'none' });
  server = http.createServer((req, res) => {
    req.resume();
    // Set by hand, Node then sends no Keep-Alive hint (as many proxies): the client cannot learn the server's timeout.
    res.setHeader('Connection', 'keep-alive');
    res.end('ok');
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

afterEach(async () => {
  handle.stop();
  await client?.stop();
  server.close();
  await telemetry.shutdown();
});

describe('the keep-alive race, seen from the server', () => {
  it('reports a server whose idle timeout is shorter than its client’s, with the peer, keepAliveTimeout and the reuse gaps', async () => {
    const port = (server.address() as AddressInfo).port;
    client = new JsonLinesChild(undefined, [CLIENT], { cwd: ROOT, env: { PORT: String(port), COUNT: '5' } });
    const done = await client.waitFor((l) => (l['done'] === true ? (l['statuses'] as unknown[]) : undefined), 20_000, 'the client');
    expect(done).toEqual([200, 200, 200, 200, 200]);
    const spans = await waitFor(
      () => {
        const found = telemetry.spans('tcp.keepalive.server_closes_first');
        return found.length > 0 ? found : undefined;
      },
      5000,
      'the server-side finding',
    );
    expect(spans).toHaveLength(1);
    expect(spans[0]?.attributes).toMatchObject({
      'client.address': '127.0.0.1',
      'server.port': port,
      'tcp.keepalive.server_keep_alive_timeout_ms': KEEP_ALIVE_TIMEOUT_MS,
    });
    expect(spans[0]?.attributes['tcp.keepalive.reconnect.count']).toBeGreaterThanOrEqual(3);
    expect(spans[0]?.attributes['tcp.keepalive.reuse_gap.min_ms']).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT_MS);
    const count = await telemetry.metric('tcp.finding.count');
    expect(count?.dataPoints.find((p) => p.attributes['tcp.finding.type'] === 'keepalive_server_closes_first')?.value).toBe(1);
  }, 30_000);
});
