import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import * as net from 'node:net';
import { once } from 'node:events';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { STACK_SAMPLING } from '../../src/thresholds.js';
import { createTelemetry, waitFor, type Telemetry } from '../support/telemetry.js';
import { missingTool, skipWithReason } from '../support/requirements.js';

const POLL_MS = 100;
const THRESHOLD_MS = 400;
const skip = skipWithReason(missingTool('ss'));

let telemetry: Telemetry;
let handle: SocklifeHandle;
const cleanups: Array<() => void> = [];

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
    await once(server, 'listening');
    cleanups.push(() => server.close());
    const port = (server.address() as net.AddressInfo).port;

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
        () => telemetry.spans('tcp.close_wait.leak').find((s) => s.attributes['tcp.connection.side'] === 'client' && !reports.includes(s)),
        THRESHOLD_MS + 5000,
        `the report of leak ${leak}`,
      );
      reports.push(report);
    }

    for (const report of reports) {
      expect(report.attributes['code.function.name']).toBe('connectToBackend');
      expect(report.attributes['code.file.path']).toMatch(/stack-sampling\.live\.test\.ts$/);
      expect(String(report.attributes['code.stacktrace'])).toMatch(/^at connectToBackend \(.*stack-sampling\.live\.test\.ts:\d+:\d+\)/m);
    }
    // The first leak's connection was sampled out: it shows the last stack captured for its destination.
    expect(reports.map((r) => r.attributes['tcp.connection.creation_stack.source'])).toEqual(['sibling', 'own', 'own']);
  });
});
