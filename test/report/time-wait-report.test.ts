import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientTimeWait, ServerTimeWait, TimeWaitCount } from '../../src/detect/time-wait.js';
import { findingSpan, FindingSpanReporter } from '../../src/report/finding-reporter.js';
import { Providers } from '../../src/report/providers.js';
import { bindTimeWaitMetrics } from '../../src/report/time-wait-metrics.js';
import { createTelemetry, hrToMs, type Telemetry } from '../support/telemetry.js';

/** How a TIME_WAIT finding and the TIME_WAIT counts come out of the real OpenTelemetry SDK. */

const SINCE = 1_700_000_000_000;
const FOUND = SINCE + 60_000;

const serverFinding: ServerTimeWait = {
  type: 'time_wait_accumulation',
  side: 'server',
  port: 8080,
  count: 5123,
  threshold: 5000,
  since: SINCE,
  detectedAt: FOUND,
  hostCount: 6000,
  ephemeralPortRange: 28232,
  topPeers: [
    { address: '198.51.100.1', count: 4000 },
    { address: '2001:db8::1', count: 1123 },
  ],
  sharedListener: false,
};

const clientFinding: ClientTimeWait = {
  type: 'time_wait_accumulation',
  side: 'client',
  destination: { address: '2001:db8::5', port: 5432 },
  count: 7000,
  threshold: 5000,
  since: SINCE,
  detectedAt: FOUND,
  hostCount: 7100,
  ephemeralPortRange: 28232,
  openConnections: 58,
  utilization: 7058 / 28232,
  secondsToExhaustion: 400.5,
};

const shutdowns: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const shutdown of shutdowns.splice(0)) await shutdown();
});

function report(...findings: Array<ServerTimeWait | ClientTimeWait>): Telemetry {
  const telemetry = createTelemetry();
  shutdowns.push(() => telemetry.shutdown());
  const reporter = new FindingSpanReporter(new Providers(telemetry.tracerProvider, telemetry.meterProvider), () => undefined);
  for (const finding of findings) reporter.report(finding);
  return telemetry;
}

describe('span tcp.time_wait.accumulation', () => {
  it('server side: a root span from the crossing to the finding, status ERROR naming count, side and port', async () => {
    const telemetry = report(serverFinding);
    const [span, ...more] = telemetry.spans('tcp.time_wait.accumulation');
    expect(more).toEqual([]);
    expect(span?.kind).toBe(SpanKind.INTERNAL);
    expect(span?.parentSpanContext).toBeUndefined();
    expect(hrToMs(span?.startTime ?? [0, 0])).toBe(SINCE);
    expect(hrToMs(span?.endTime ?? [0, 0])).toBe(FOUND);
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'server side: 5123 sockets in TIME_WAIT on listening port 8080 (threshold 5000)' });
    expect(span?.attributes).toEqual({
      'network.transport': 'tcp',
      'network.connection.state': 'time_wait',
      'tcp.connection.side': 'server',
      'server.port': 8080,
      'tcp.time_wait.count': 5123,
      'tcp.time_wait.host_count': 6000,
      'tcp.ephemeral_ports.range': 28232,
      'tcp.time_wait.top_peers.address': ['198.51.100.1', '2001:db8::1'],
      'tcp.time_wait.top_peers.count': [4000, 1123],
    });
    const findings = await telemetry.metric('tcp.finding.count');
    expect(findings?.dataPoints.map((p) => [p.attributes['tcp.finding.type'], p.value])).toEqual([['time_wait_accumulation', 1]]);
  });

  it('server side in a cluster worker: tcp.listener.shared', () => {
    const telemetry = report({ ...serverFinding, sharedListener: true });
    expect(telemetry.spans('tcp.time_wait.accumulation')[0]?.attributes['tcp.listener.shared']).toBe(true);
  });

  it('client side: the destination, the share of the ephemeral range, the time left', () => {
    const telemetry = report(clientFinding, { ...clientFinding, secondsToExhaustion: undefined, ephemeralPortRange: undefined, utilization: undefined });
    const [rising, unknown] = telemetry.spans('tcp.time_wait.accumulation');
    expect(rising?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'client side: 7000 sockets in TIME_WAIT towards port 5432 (threshold 5000)' });
    expect(rising?.attributes).toEqual({
      'network.transport': 'tcp',
      'network.connection.state': 'time_wait',
      'tcp.connection.side': 'client',
      'server.address': '2001:db8::5',
      'server.port': 5432,
      'tcp.time_wait.count': 7000,
      'tcp.time_wait.host_count': 7100,
      'tcp.ephemeral_ports.range': 28232,
      'tcp.ephemeral_ports.utilization': 7058 / 28232,
      'tcp.ephemeral_ports.seconds_to_exhaustion': 400.5,
    });
    expect(Object.keys(unknown?.attributes ?? {})).not.toContain('tcp.ephemeral_ports.seconds_to_exhaustion');
    expect(Object.keys(unknown?.attributes ?? {})).not.toContain('tcp.ephemeral_ports.utilization');
    expect(Object.keys(unknown?.attributes ?? {})).not.toContain('tcp.ephemeral_ports.range');
  });
});

/**
 * Delta temporality: the SDK then exports what the callbacks observed at this collection and
 * nothing else. Under cumulative temporality (the default) OpenTelemetry JS keeps exporting
 * every series ever observed, at its last value, even after the callback is removed.
 */
class DeltaReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

describe('gauges tcp.time_wait.count and tcp.ephemeral_ports.utilization', () => {
  it('observe the latest counts at each collection, and nothing once stopped', async () => {
    const reader = new DeltaReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    shutdowns.push(() => meterProvider.shutdown());
    let counts: TimeWaitCount[] = [
      { side: 'server', port: 8080, count: 1200, sharedListener: false },
      { side: 'server', port: 9090, count: 0, sharedListener: true },
      { side: 'client', destination: { address: '10.0.0.7', port: 5432 }, count: 300, utilization: 0.25 },
      { side: 'client', destination: { address: '10.0.0.8', port: 5432 }, count: 3, utilization: undefined },
    ];
    const providers = new Providers(trace.getTracerProvider(), meterProvider);
    bindTimeWaitMetrics(providers, () => counts);
    const points = async (name: string) => {
      const { resourceMetrics } = await reader.collect();
      const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
      return metric?.dataPoints.map((p) => [p.attributes, p.value]) ?? [];
    };
    expect(await points('tcp.time_wait.count')).toEqual([
      [{ 'tcp.connection.side': 'server', 'server.port': 8080 }, 1200],
      [{ 'tcp.connection.side': 'server', 'server.port': 9090, 'tcp.listener.shared': true }, 0],
      [{ 'tcp.connection.side': 'client', 'server.address': '10.0.0.7', 'server.port': 5432 }, 300],
      [{ 'tcp.connection.side': 'client', 'server.address': '10.0.0.8', 'server.port': 5432 }, 3],
    ]);
    expect(await points('tcp.ephemeral_ports.utilization')).toEqual([[{ 'server.address': '10.0.0.7', 'server.port': 5432 }, 0.25]]);

    counts = [{ side: 'server', port: 8080, count: 1300, sharedListener: false }];
    expect(await points('tcp.time_wait.count')).toEqual([[{ 'tcp.connection.side': 'server', 'server.port': 8080 }, 1300]]);
    expect(await points('tcp.ephemeral_ports.utilization')).toEqual([]);

    providers.stop();
    expect(await points('tcp.time_wait.count')).toEqual([]);
  });

  it('leave the destination address out under redactPeerAddresses, its port kept', async () => {
    const reader = new DeltaReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    shutdowns.push(() => meterProvider.shutdown());
    const counts: TimeWaitCount[] = [{ side: 'client', destination: { address: '10.0.0.7', port: 5432 }, count: 300, utilization: 0.25 }];
    const providers = new Providers(trace.getTracerProvider(), meterProvider);
    bindTimeWaitMetrics(providers, () => counts, true);
    const { resourceMetrics } = await reader.collect();
    const points = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).flatMap((m) => m.dataPoints.map((p) => p.attributes));
    expect(points).toEqual([{ 'tcp.connection.side': 'client', 'server.port': 5432 }, { 'server.port': 5432 }]);
    providers.stop();
  });
});

describe('the TIME_WAIT finding and its destination’s HTTP pool', () => {
  it('says when the pool opened about one connection per request', () => {
    const span = findingSpan({ ...clientFinding, requestsPerConnection: 1 });
    expect(span.attributes['tcp.time_wait.requests_per_connection']).toBe(1);
    expect(span.errorMessage).toMatch(/1\.00 requests per connection: a pool opening a connection per request/);
    const reusing = findingSpan({ ...clientFinding, requestsPerConnection: 37.5 });
    expect(reusing.attributes['tcp.time_wait.requests_per_connection']).toBe(37.5);
    expect(reusing.errorMessage).not.toMatch(/per request/);
  });
});
