import type { DataPoint } from '@opentelemetry/sdk-metrics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ListenPoll } from '../../src/detect/listen-pressure.js';
import { ListenMetrics } from '../../src/report/listen-metrics.js';
import { Providers } from '../../src/report/providers.js';
import { createTelemetry, type Telemetry } from '../support/telemetry.js';

/** The metrics through the real SDK and its reader, fed polls made by hand. */

let telemetry: Telemetry;
let metrics: ListenMetrics;
let providers: Providers;

beforeEach(() => {
  telemetry = createTelemetry();
  providers = new Providers(telemetry.tracerProvider, telemetry.meterProvider);
  metrics = new ListenMetrics(providers);
});
afterEach(async () => {
  providers.stop();
  await telemetry.shutdown();
});

async function points(name: string): Promise<Array<[Record<string, unknown>, unknown]>> {
  const metric = await telemetry.metric(name);
  return (metric?.dataPoints ?? []).map((p: DataPoint<unknown>) => [{ ...p.attributes }, p.value]);
}

function poll(overrides: Partial<ListenPoll> = {}): ListenPoll {
  return {
    listeners: [
      { address: '127.0.0.1', port: 8080, synReceived: 3, acceptQueue: 1, backlog: 511 },
      { address: '::', port: 9090, synReceived: undefined, acceptQueue: undefined, backlog: undefined },
    ],
    overflows: undefined,
    drops: undefined,
    shared: false,
    ...overrides,
  };
}

describe('ListenMetrics', () => {
  it('gauges what the last poll saw per listener, and nothing for one whose rows it did not read', async () => {
    metrics.observe(poll());
    const listener = { 'server.address': '127.0.0.1', 'server.port': 8080 };
    expect(await points('tcp.listen.syn_received')).toEqual([[listener, 3]]);
    expect(await points('tcp.listen.accept_queue')).toEqual([[listener, 1]]);
    expect(await points('tcp.listen.backlog')).toEqual([[listener, 511]]);
    metrics.observe(poll({ listeners: [{ address: '127.0.0.1', port: 8080, synReceived: 0, acceptQueue: 0, backlog: 511 }] }));
    expect(await points('tcp.listen.syn_received')).toEqual([[listener, 0]]);
  });

  it('adds each poll’s counter rise, none before the baseline, marked as the namespace’s', async () => {
    metrics.observe(poll());
    expect(await points('tcp.listen.overflows')).toEqual([]);
    metrics.observe(poll({ overflows: 5, drops: 6 }));
    metrics.observe(poll({ overflows: 0, drops: 0 }));
    metrics.observe(poll({ overflows: 7, drops: 7 }));
    const scope = { 'tcp.listen.counters_scope': 'namespace' };
    expect(await points('tcp.listen.overflows')).toEqual([[scope, 12]]);
    expect(await points('tcp.listen.drops')).toEqual([[scope, 13]]);
  });

  it('marks every figure tcp.listener.shared in a cluster worker', async () => {
    metrics.observe(poll({ shared: true, overflows: 1, drops: 1 }));
    expect(await points('tcp.listen.backlog')).toEqual([[{ 'server.address': '127.0.0.1', 'server.port': 8080, 'tcp.listener.shared': true }, 511]]);
    expect(await points('tcp.listen.overflows')).toEqual([[{ 'tcp.listen.counters_scope': 'namespace', 'tcp.listener.shared': true }, 1]]);
  });

  it('observes nothing once stopped', async () => {
    metrics.observe(poll());
    providers.stop();
    expect(await points('tcp.listen.syn_received')).toEqual([]);
  });
});
