// two-leaks.cjs with the real OpenTelemetry SDK registered globally, run under `node --require
// socklife/register` (or --import): prints every finished socklife span as one JSON line.
const { diag, DiagConsoleLogger, DiagLogLevel, trace } = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');

diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
const printer = {
  export(spans, done) {
    for (const s of spans) console.log(JSON.stringify({ name: s.name, attributes: s.attributes }));
    done({ code: 0 });
  },
  shutdown: async () => {},
};
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printer)] }));

require('./two-leaks.cjs');
