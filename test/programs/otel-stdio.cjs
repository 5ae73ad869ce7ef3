// Preloaded before socklife/register (`node --require ./otel-stdio.cjs --require socklife/register
// program.cjs`): registers the real OpenTelemetry SDK globally, as an application's own
// preload would, and talks JSON lines over stdio.
//
// stdout: one line per finished span, {"span": {name, kind, attributes, status, parentSpanId,
//   startMs, endMs}}; and, for each "collect" line read on stdin, one line
//   {"metrics": {name: [[attributes, value], ...]}, "at": epochMs} from an on-demand reader.
// stdin: "collect" lines; its end exits the process (0). It also exits after MAX_RUN_MS
//   (default 60 s) whatever happens, so nothing waits on it forever.
const { diag, DiagConsoleLogger, DiagLogLevel, metrics, trace } = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
const readline = require('node:readline');

diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);

const hrToMs = ([seconds, nanos]) => seconds * 1000 + nanos / 1e6;
const printer = {
  export(spans, done) {
    for (const s of spans) {
      const span = {
        name: s.name,
        kind: s.kind,
        attributes: s.attributes,
        status: s.status,
        parentSpanId: s.parentSpanContext?.spanId,
        startMs: hrToMs(s.startTime),
        endMs: hrToMs(s.endTime),
      };
      process.stdout.write(`${JSON.stringify({ span })}\n`);
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

async function collect() {
  const { resourceMetrics } = await reader.collect();
  const out = {};
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) out[metric.descriptor.name] = metric.dataPoints.map((p) => [p.attributes, p.value]);
  }
  process.stdout.write(`${JSON.stringify({ metrics: out, at: Date.now() })}\n`);
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'collect') collect().catch((error) => process.stdout.write(`${JSON.stringify({ error: String(error) })}\n`));
});
lines.on('close', () => process.exit(0));
setTimeout(() => process.exit(0), Number(process.env.MAX_RUN_MS ?? 60_000)).unref();
