import { execFile } from 'node:child_process';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express from 'express';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { createTelemetry, waitFor, type Telemetry } from '../support/telemetry.js';

const AUTOCANNON = join(__dirname, '..', '..', 'node_modules', 'autocannon', 'autocannon.js');
/** The finding spans socklife can report. */
const FINDING_SPANS = [
  'tcp.close_wait.leak',
  'tcp.half_close.stuck',
  'tcp.listen.pressure',
  'tcp.time_wait.accumulation',
  'tcp.keepalive.stale_reuse',
  'tcp.keepalive.race_predicted',
  'tcp.keepalive.server_closes_first',
];

let telemetry: Telemetry;
let handle: SocklifeHandle;
let server: Server;

beforeEach(async () => {
  telemetry = createTelemetry();
  handle = instrument({ tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider, pollIntervalMs: 100, spans: 'all' });
  const app = express();
  app.get('/users/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

afterEach(async () => {
  handle.stop();
  server.close();
  server.closeAllConnections();
  await telemetry.shutdown();
});

/** autocannon in a process of its own: 10 keep-alive connections for `seconds`, bounded. */
function autocannon(port: number, seconds: number): Promise<{ requests: { total: number }; errors: number; non2xx: number }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [AUTOCANNON, '-c', '10', '-d', String(seconds), '--json', `http://127.0.0.1:${port}/users/42?session=abc`],
      { timeout: (seconds + 20) * 1000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout) => {
        if (error !== null) reject(error);
        else resolve(JSON.parse(stdout) as { requests: { total: number }; errors: number; non2xx: number });
      },
    );
  });
}

describe('an express server under autocannon', () => {
  it('reports no finding, and follows the requests on each connection', async () => {
    const port = (server.address() as AddressInfo).port;
    const result = await autocannon(port, 3);
    expect(result.errors).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result.requests.total).toBeGreaterThan(100);
    // autocannon closed its connections: the server's connection spans end, each naming its last request.
    const spans = await waitFor(
      () => {
        const found = telemetry.spans('tcp.connection').filter((s) => s.attributes['tcp.connection.side'] === 'server');
        return found.length >= 10 ? found : undefined;
      },
      10_000,
      'the server connections’ spans',
    );
    const followed = spans.reduce((n, s) => n + ((s.attributes['tcp.connection.requests'] as number | undefined) ?? 0), 0);
    expect(followed).toBeGreaterThanOrEqual(result.requests.total);
    expect(spans.every((s) => s.attributes['http.request.method'] === 'GET' && s.attributes['url.path'] === '/users/42')).toBe(true);
    // Polls ran every 100 ms through the load; three more after the last connection closed: nothing found.
    const polls = Date.now() + 300;
    await waitFor(() => (Date.now() > polls ? true : undefined), 2000, 'three more polls');
    // The kernel's listen counters count the whole network namespace: another test running at
    // the same moment can raise them. A listen-pressure finding on those counters alone is
    // that test's, not this server's; any other finding is a false one.
    const namespaceOnly = (span: ReadableSpan): boolean =>
      span.name === 'tcp.listen.pressure' &&
      span.attributes['tcp.listen.counters_scope'] === 'namespace' &&
      ((span.attributes['tcp.listen.pressure.reasons'] as string[] | undefined) ?? []).every((r) => r === 'overflow' || r === 'drops');
    const findings = FINDING_SPANS.flatMap((name) => telemetry.spans(name));
    expect(findings.filter((f) => !namespaceOnly(f)).map((f) => `${f.name}: ${f.status.message ?? ''}`)).toEqual([]);
    const count = await telemetry.metric('tcp.finding.count');
    const counted = (count?.dataPoints ?? []).map((p) => p.attributes['tcp.finding.type']);
    expect(findings.every(namespaceOnly) ? counted.filter((t) => t !== 'listen_pressure') : counted).toEqual([]);
  }, 60_000);
});
