// A program with two CLOSE_WAIT bugs, run under `node --require socklife/register` (or --import):
// a half-open server that never calls end(), and a server that never reads. It registers the
// real OpenTelemetry SDK globally and prints every finished socklife span as one JSON line.
const { diag, DiagConsoleLogger, DiagLogLevel, trace } = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const net = require('node:net');

diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
const printer = {
  export(spans, done) {
    for (const s of spans) console.log(JSON.stringify({ name: s.name, attributes: s.attributes }));
    done({ code: 0 });
  },
  shutdown: async () => {},
};
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printer)] }));

function startHalfOpenServer() {
  return net.createServer({ allowHalfOpen: true }, (socket) => socket.resume()).listen(0, '127.0.0.1');
}
function startNeverReadingServer() {
  return net.createServer((socket) => socket.pause()).listen(0, '127.0.0.1');
}
for (const server of [startHalfOpenServer(), startNeverReadingServer()]) {
  server.on('listening', () => {
    const client = net.connect(server.address().port, '127.0.0.1', () => client.end('data'));
  });
}
setTimeout(() => process.exit(0), Number(process.env.RUN_MS ?? 2000));
