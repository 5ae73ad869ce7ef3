import { metrics, trace } from '@opentelemetry/api';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import * as dc from 'node:diagnostics_channel';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SocklifeInstrumentation } from '../src/index.js';
import { missingTool, skipWithReason } from './support/requirements.js';
import { createTelemetry, waitFor } from './support/telemetry.js';

const skip = skipWithReason(missingTool('ss'));

// The structural type must satisfy the real interface: checked by `npm run typecheck`.
const asInstrumentation = (i: SocklifeInstrumentation): Instrumentation => i;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server that never ends the sockets its peer closed, and one client that closes: a CLOSE_WAIT leak. */
async function leakOnce(): Promise<void> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.resume();
    cleanups.push(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => server.close());
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => client.end());
  cleanups.push(() => client.destroy());
}

/** What socklife leaves in the process: channel subscribers, wrapped prototype methods, timers. */
function footprint() {
  const wrapped = (['connect', 'end', 'destroy', 'resetAndDestroy'] as const).filter(
    (m) => (net.Socket.prototype[m] as unknown as Record<symbol, unknown>)[Symbol.for('socklife.wrapped')] !== undefined,
  );
  return {
    subscribed: ['net.client.socket', 'net.server.socket', 'tracing:net.server.listen:asyncEnd'].filter((n) => dc.channel(n).hasSubscribers),
    wrapped,
    timers: process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length,
  };
}

const OPTIONS = { pollIntervalMs: 50, closeWaitThresholdMs: 0, source: 'ss', spans: 'findings' } as const;

describe.skipIf(skip)('SocklifeInstrumentation', () => {
  it('validates its options like instrument(), naming the bad one', () => {
    expect(() => new SocklifeInstrumentation({ pollIntervalMs: -1, enabled: false })).toThrow(
      'socklife: option pollIntervalMs must be an integer from 10 to 3600000 (milliseconds); got -1',
    );
    expect(() => new SocklifeInstrumentation({ enabled: 'yes' as unknown as boolean })).toThrow('socklife: option enabled must be true or false; got "yes"');
  });

  it('works in registerInstrumentations with providers given after construction, and disable() leaves nothing behind', async () => {
    const before = footprint();
    const instrumentation = new SocklifeInstrumentation({ ...OPTIONS, enabled: false });
    expect(footprint()).toEqual(before);
    expect(before.wrapped).toEqual([]);
    const telemetry = createTelemetry();
    cleanups.push(() => telemetry.shutdown());
    const unregister = registerInstrumentations({
      instrumentations: [asInstrumentation(instrumentation)],
      tracerProvider: telemetry.tracerProvider,
      meterProvider: telemetry.meterProvider,
    });
    cleanups.push(unregister);
    // registerInstrumentations enables it (it was made disabled) and hands it the providers.
    expect(footprint().subscribed).toEqual(['net.client.socket', 'net.server.socket', 'tracing:net.server.listen:asyncEnd']);
    instrumentation.enable();
    await leakOnce();
    const leak = await waitFor(() => telemetry.spans('tcp.close_wait.leak')[0], 5000, 'the leak span');
    expect(leak.attributes['tcp.close_wait.cause']).toBe('end_not_called');
    const count = await telemetry.metric('tcp.close_wait.leak.count');
    expect(count?.dataPoints[0]?.value).toBe(1);

    instrumentation.disable();
    instrumentation.disable();
    const after = footprint();
    expect(after.subscribed).toEqual(before.subscribed);
    expect(after.wrapped).toEqual([]);
    // The poller's last timer and any read in flight go. (Waited for between turns of the loop,
    // with setImmediate: a waiting timer would be one of the timers counted.)
    const deadline = Date.now() + 2000;
    while (footprint().timers > before.timers && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(footprint().timers).toBeLessThanOrEqual(before.timers);
  });

  it('switches providers while running: findings go to the provider set last', async () => {
    const first = createTelemetry();
    const second = createTelemetry();
    cleanups.push(
      () => first.shutdown(),
      () => second.shutdown(),
    );
    const instrumentation = new SocklifeInstrumentation(OPTIONS);
    cleanups.push(() => instrumentation.disable());
    instrumentation.setTracerProvider(first.tracerProvider);
    instrumentation.setMeterProvider(first.meterProvider);
    instrumentation.setTracerProvider(second.tracerProvider);
    instrumentation.setMeterProvider(second.meterProvider);
    await leakOnce();
    await waitFor(() => second.spans('tcp.close_wait.leak')[0], 5000, 'the leak span on the second provider');
    expect(first.spans()).toEqual([]);
    expect((await second.metric('tcp.close_wait.leak.count'))?.dataPoints[0]?.value).toBe(1);
    expect(await first.metric('tcp.close_wait.leak.count')).toBeUndefined();
  });

  it('works in the real NodeSDK', async () => {
    const exporter = new InMemorySpanExporter();
    const instrumentation = new SocklifeInstrumentation(OPTIONS);
    const sdk = new NodeSDK({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
      instrumentations: [instrumentation],
      autoDetectResources: false,
    });
    sdk.start();
    cleanups.push(async () => {
      instrumentation.disable();
      await sdk.shutdown();
      trace.disable();
      metrics.disable();
    });
    await leakOnce();
    const leak = await waitFor(() => exporter.getFinishedSpans().find((s) => s.name === 'tcp.close_wait.leak'), 5000, 'the leak span');
    expect(leak.instrumentationScope.name).toBe('socklife');
  });
});

describe.skipIf(skip)('the global meter provider', () => {
  it('registered after socklife started (as under the drop-in), still gets its metrics', async () => {
    const telemetry = createTelemetry();
    const instrumentation = new SocklifeInstrumentation(OPTIONS);
    cleanups.push(
      () => instrumentation.disable(),
      () => telemetry.shutdown(),
      () => metrics.disable(),
    );
    metrics.setGlobalMeterProvider(telemetry.meterProvider);
    await leakOnce();
    const count = async () => (await telemetry.metric('tcp.close_wait.leak.count'))?.dataPoints[0]?.value;
    // Waits for the count, not for a time: on a loaded machine the leak and the poll that moves
    // socklife to the global provider can take seconds; the deadline only bounds a failure.
    const deadline = Date.now() + 20_000;
    while ((await count()) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await count()).toBe(1);
  });
});
