// Run under `node --require socklife/register` with the real OpenTelemetry SDK: enables a
// SocklifeInstrumentation (its own options) while the drop-in runs, disables it, then makes a
// CLOSE_WAIT leak. Prints every finished socklife span as one JSON line; exits once a leak span
// is printed, or after RUN_MS. socklife's warnings go to stderr (DiagConsoleLogger).
const { diag, DiagConsoleLogger, DiagLogLevel, trace } = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const net = require('node:net');

diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
const printer = {
  export(spans, done) {
    for (const s of spans) {
      console.log(JSON.stringify({ name: s.name, attributes: s.attributes }));
      if (s.name === 'tcp.close_wait.leak') process.exit(0);
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
};
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printer)] }));

const { SocklifeInstrumentation } = require('socklife');
// Under its own options no leak would be found for an hour.
const instrumentation = new SocklifeInstrumentation({ closeWaitThresholdMs: 3_600_000 });
instrumentation.disable();

const server = net.createServer({ allowHalfOpen: true }, (socket) => socket.resume());
server.listen(0, '127.0.0.1', () => {
  const client = net.connect(server.address().port, '127.0.0.1', () => client.end());
  client.on('error', () => {});
});
setTimeout(() => process.exit(1), Number(process.env.RUN_MS ?? 5000)).unref();
