// Loaded with `--require` BEFORE socklife/register: registers the real OpenTelemetry SDK as
// the global providers (socklife takes the global meter provider as it is when it starts),
// prints every finished span as one JSON line, and keeps an on-demand metric reader that the
// program collects from with `globalThis[Symbol.for('socklife.test.collect')]()`.
const { metrics, trace } = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
const cluster = require('node:cluster');

const role = () => (cluster.isWorker ? `worker${cluster.worker.id}` : 'primary');
const ms = ([seconds, nanos]) => seconds * 1000 + nanos / 1e6;

const printer = {
  export(spans, done) {
    for (const s of spans) {
      const line = { type: 'span', pid: process.pid, role: role(), name: s.name, attributes: s.attributes, start: ms(s.startTime), end: ms(s.endTime) };
      process.stdout.write(JSON.stringify(line) + '\n');
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
};
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printer)] }));

class OnDemandReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}
const reader = new OnDemandReader();
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

/** The `tcp.listen.*` metrics now: { name: [{ attributes, value }] }. */
globalThis[Symbol.for('socklife.test.collect')] = async () => {
  const { resourceMetrics } = await reader.collect();
  const out = {};
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (!metric.descriptor.name.startsWith('tcp.listen.')) continue;
      out[metric.descriptor.name] = metric.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value }));
    }
  }
  return out;
};
