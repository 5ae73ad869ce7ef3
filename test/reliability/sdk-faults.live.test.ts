import type { Attributes, Meter, MeterProvider } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { AggregationType, MeterProvider as SdkMeterProvider, MetricReader, type IAttributesProcessor } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { instrument, type SocklifeHandle } from '../../src/index.js';
import { onServerSide, serverSideOf, type ServerSide } from '../support/server-side.js';
import { createTelemetry, waitFor } from '../support/telemetry.js';
import { captureDiag, captureUncaught, echoRoundTrip, listen, type DiagCapture } from './support.js';

// The OpenTelemetry SDK failing under socklife: a span processor whose onEnd throws (the SDK
// does not catch it: span.end() throws into socklife), an exporter that throws, a meter whose
// instruments throw. The application is unaffected and every finding is still reported.

const THRESHOLD_MS = 300;

class OnDemandReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

class ThrowingProcessor implements SpanProcessor {
  calls = 0;
  onStart(): void {}
  onEnd(): void {
    this.calls++;
    throw new Error('span processor failure');
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

const cleanups: Array<() => void | Promise<void>> = [];
let diagnostics: DiagCapture | undefined;
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  diagnostics?.dispose();
  diagnostics = undefined;
});

function start(options: Parameters<typeof instrument>[0]): SocklifeHandle {
  const handle = instrument(options);
  cleanups.push(() => handle.stop());
  return handle;
}

function tempFile(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'socklife-sdk-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

function logLines(file: string): Array<Record<string, unknown>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** `count` half-open connections whose FINs arrive together: `count` leaks due in the same poll. */
async function halfOpenLeaks(count: number): Promise<ServerSide[]> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => socket.resume());
  const port = await listen(server);
  const clients: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const accepted = once(server, 'connection');
    const client = net.connect(port, '127.0.0.1');
    clients.push(client);
    await once(client, 'connect');
    await accepted;
  }
  for (const client of clients) client.end();
  cleanups.push(() => {
    for (const client of clients) client.destroy();
    server.close();
  });
  return clients.map(serverSideOf);
}

async function leakCount(reader: OnDemandReader): Promise<number> {
  const { resourceMetrics } = await reader.collect();
  let total = 0;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== 'tcp.close_wait.leak.count') continue;
      for (const point of metric.dataPoints) total += Number(point.value);
    }
  }
  return total;
}

describe('a span processor whose onEnd throws', () => {
  it('three leaks due in one poll are all reported: the JSON log, the metric, and a processor after the throwing one', async () => {
    diagnostics = captureDiag();
    const uncaught = captureUncaught();
    cleanups.push(() => uncaught.dispose());
    const exporter = new InMemorySpanExporter();
    const throwing = new ThrowingProcessor();
    // The SDK calls processors in order and stops at the first that throws: put one on each side.
    const before = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(before), throwing, new SimpleSpanProcessor(exporter)],
    });
    const reader = new OnDemandReader();
    const meterProvider = new SdkMeterProvider({ readers: [reader] });
    cleanups.push(async () => {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    });
    const log = tempFile('findings.jsonl');
    // A long poll interval: the three FINs arrive within milliseconds, so one tick finds all three due.
    start({ tracerProvider, meterProvider, source: 'none', pollIntervalMs: 1000, closeWaitThresholdMs: THRESHOLD_MS, log });
    const ports = (await halfOpenLeaks(3)).map((c) => c.clientPort);

    const lines = await waitFor(() => (logLines(log).length >= 3 ? logLines(log) : undefined), 5000, 'three findings in the log');
    expect(lines.map((l) => (l.peer as { port: number }).port).sort()).toEqual([...ports].sort());
    // Found in the same poll.
    expect(new Set(lines.map((l) => l.time)).size).toBe(1);
    expect(await leakCount(reader)).toBe(3);
    // The processor before the throwing one got every leak span; the throw happened for each.
    const leakSpans = (e: InMemorySpanExporter): ReadableSpan[] => e.getFinishedSpans().filter((s) => s.name === 'tcp.close_wait.leak');
    expect(
      leakSpans(before)
        .map((s) => s.attributes['client.port'])
        .sort(),
    ).toEqual([...ports].sort());
    expect(throwing.calls).toBeGreaterThanOrEqual(3);
    // The application's own work is unaffected, and nothing escaped into it.
    expect(await echoRoundTrip()).toBe('ping');
    expect(uncaught.errors).toEqual([]);
    // Said once, not once per span.
    expect(diagnostics.count(/span processor failure/)).toBe(1);
  });

  it("with spans: 'all', every span of a connection reaches the processor before the throwing one", async () => {
    diagnostics = captureDiag();
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter), new ThrowingProcessor()] });
    cleanups.push(() => tracerProvider.shutdown());
    start({ tracerProvider, source: 'none', spans: 'all' });
    for (let i = 0; i < 5; i++) expect(await echoRoundTrip(`request ${i}`)).toBe(`request ${i}`);
    // Each echo is two connections: a client's tcp.connection, tcp.handshake and tcp.half_close, a server's tcp.connection and tcp.half_close.
    await waitFor(() => (exporter.getFinishedSpans().filter((s) => s.name === 'tcp.connection').length >= 10 ? true : undefined), 3000, 'ten connection spans');
    const names = exporter.getFinishedSpans().map((s) => s.name);
    expect(names.filter((n) => n === 'tcp.connection')).toHaveLength(10);
    expect(names.filter((n) => n === 'tcp.handshake')).toHaveLength(5);
    expect(names.filter((n) => n === 'tcp.half_close')).toHaveLength(10);
    expect(diagnostics.count(/span processor failure/)).toBe(1);
  });
});

describe('an exporter that throws', () => {
  it('neither reaches the application nor costs the next finding', async () => {
    diagnostics = captureDiag();
    const uncaught = captureUncaught();
    cleanups.push(() => uncaught.dispose());
    const exported: ReadableSpan[] = [];
    let failures = 1;
    const exporter: SpanExporter = {
      export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
        if (failures-- > 0) throw new Error('exporter failure');
        exported.push(...spans);
        done({ code: ExportResultCode.SUCCESS });
      },
      shutdown: async () => {},
    };
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    cleanups.push(() => tracerProvider.shutdown());
    const log = tempFile('findings.jsonl');
    start({ tracerProvider, source: 'none', spans: 'findings', pollIntervalMs: 100, closeWaitThresholdMs: THRESHOLD_MS, log });
    const [first] = (await halfOpenLeaks(1)).map((c) => c.clientPort);
    await waitFor(() => (logLines(log).length === 1 ? true : undefined), 5000, 'the first finding');
    expect(exported).toEqual([]); // its export threw
    const [second] = (await halfOpenLeaks(1)).map((c) => c.clientPort);
    const span = await waitFor(() => exported.find((s) => s.attributes['client.port'] === second), 5000, 'the second finding exported');
    expect(span.name).toBe('tcp.close_wait.leak');
    // The span is exported synchronously; the log line goes through a file stream and may land a moment later.
    const lines = await waitFor(() => (logLines(log).length >= 2 ? logLines(log) : undefined), 5000, 'the second finding in the log');
    expect(lines.map((l) => (l.peer as { port: number }).port)).toEqual([first, second]);
    expect(await echoRoundTrip()).toBe('ping');
    expect(uncaught.errors).toEqual([]);
  });
});

/** An attributes processor in a View: the real SDK calls it inside counter.add() and histogram.record(), and does not catch. */
const throwingAttributes: IAttributesProcessor = {
  process(): Attributes {
    throw new Error('meter failure');
  },
};

describe('a meter that throws', () => {
  it('instruments that throw on every measurement cost no span and no finding', async () => {
    diagnostics = captureDiag();
    const uncaught = captureUncaught();
    cleanups.push(() => uncaught.dispose());
    const telemetry = createTelemetry();
    const reader = new OnDemandReader();
    const meterProvider = new SdkMeterProvider({
      readers: [reader],
      views: [{ instrumentName: '*', attributesProcessors: [throwingAttributes], aggregation: { type: AggregationType.DEFAULT } }],
    });
    cleanups.push(async () => {
      await telemetry.shutdown();
      await meterProvider.shutdown();
    });
    const log = tempFile('findings.jsonl');
    start({
      tracerProvider: telemetry.tracerProvider,
      meterProvider,
      source: 'none',
      spans: 'all',
      pollIntervalMs: 100,
      closeWaitThresholdMs: THRESHOLD_MS,
      log,
    });
    // Connections still get their spans, ended (the duration histograms throw at close).
    expect(await echoRoundTrip()).toBe('ping');
    await waitFor(() => (telemetry.spans('tcp.connection').length >= 2 ? true : undefined), 3000, 'both connection spans');
    expect(telemetry.spans('tcp.handshake')).toHaveLength(1);
    // Findings still get their spans and log lines (the finding counters throw first).
    const [connection] = await halfOpenLeaks(1);
    const leak = await waitFor(() => telemetry.spans('tcp.close_wait.leak').find(onServerSide(connection as ServerSide)), 5000, 'the leak span');
    expect(leak.attributes['tcp.close_wait.cause']).toBe('end_not_called');
    await waitFor(() => (logLines(log).length === 1 ? true : undefined), 3000, 'the log line');
    expect(uncaught.errors).toEqual([]);
    expect(diagnostics.count(/meter failure/)).toBe(1);
  });

  it('a meter provider that throws from getMeter: instrument() and setMeterProvider() do not throw, and spans go on', async () => {
    diagnostics = captureDiag();
    const broken: MeterProvider = {
      getMeter(): Meter {
        throw new Error('meter provider failure');
      },
    };
    const telemetry = createTelemetry();
    cleanups.push(() => telemetry.shutdown());
    const handle = start({
      tracerProvider: telemetry.tracerProvider,
      meterProvider: broken,
      source: 'none',
      closeWaitThresholdMs: THRESHOLD_MS,
      pollIntervalMs: 100,
    });
    expect(() => handle.setMeterProvider(broken)).not.toThrow();
    const [connection] = await halfOpenLeaks(1);
    await waitFor(() => telemetry.spans('tcp.close_wait.leak').find(onServerSide(connection as ServerSide)), 5000, 'the leak span');
    // Metrics come back with a working provider.
    handle.setMeterProvider(telemetry.meterProvider);
    const [second] = await halfOpenLeaks(1);
    await waitFor(() => telemetry.spans('tcp.close_wait.leak').find(onServerSide(second as ServerSide)), 5000, 'the second leak span');
    const count = await telemetry.metric('tcp.close_wait.leak.count');
    expect(count?.dataPoints.map((p) => p.value)).toEqual([1]);
    expect(diagnostics.count(/meter provider failure/)).toBe(1);
    expect(await echoRoundTrip()).toBe('ping');
  });
});
