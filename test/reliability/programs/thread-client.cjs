// A worker thread with a client connection that never reads: the server's data and FIN wait in
// its buffer, so the socket sits in CLOSE_WAIT for good.
//   workerData.mode 'hold':  no socklife in this thread; posts { port } (its local port).
//   workerData.mode 'watch': socklife runs in this thread (its own isolate) with the real SDK;
//                            posts { port }, then on 'report' posts { leaks, connections }.
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');

let telemetry;
if (workerData.mode === 'watch') {
  const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
  const { instrument } = require('socklife');
  class OnDemandReader extends MetricReader {
    async onForceFlush() {}
    async onShutdown() {}
  }
  const exporter = new InMemorySpanExporter();
  const reader = new OnDemandReader();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const meterProvider = new MeterProvider({ readers: [reader] });
  instrument({ tracerProvider, meterProvider, source: 'ss', pollIntervalMs: 100, closeWaitThresholdMs: 300 });
  telemetry = { exporter, reader };
}

const client = net.connect(workerData.port, '127.0.0.1', () => parentPort.postMessage({ port: client.localPort }));
client.pause();

parentPort.on('message', async (message) => {
  if (message !== 'report' || telemetry === undefined) return;
  const leaks = telemetry.exporter
    .getFinishedSpans()
    .filter((s) => s.name === 'tcp.close_wait.leak')
    .map((s) => s.attributes['network.local.port']);
  const { resourceMetrics } = await telemetry.reader.collect();
  let connections = 0;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name === 'tcp.connection.count') for (const p of metric.dataPoints) connections += p.value;
    }
  }
  parentPort.postMessage({ leaks, connections });
});
