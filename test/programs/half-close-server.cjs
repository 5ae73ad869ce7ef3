// A server that ends its side first, run under `node --require socklife/register` (inside a
// private network namespace for the FIN_WAIT_1 test). It registers the real OpenTelemetry SDK
// globally and prints every finished span as one JSON line (name, ids, attributes, events).
//
// Listens on 127.0.0.1:SERVER_PORT and prints {"listening":PORT}; for each connection prints
// {"accepted":CLIENT_PORT}. The line `end` on stdin ends every accepted socket (our FIN goes
// out first). Once socklife reports a `tcp.half_close.stuck`, the application gives up on
// those sockets (destroy()), so their `tcp.connection` spans end and are printed too. Exits
// when stdin ends, and in any case after EXIT_AFTER_MS (default 60 s).
const { trace } = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const net = require('node:net');

const sockets = new Set();
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

const printer = {
  export(spans, done) {
    for (const s of spans) {
      const context = s.spanContext();
      print({
        name: s.name,
        traceId: context.traceId,
        spanId: context.spanId,
        parentSpanId: s.parentSpanContext?.spanId ?? s.parentSpanId,
        attributes: s.attributes,
        status: s.status,
        events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
      });
      if (s.name === 'tcp.half_close.stuck') setImmediate(() => sockets.forEach((socket) => socket.destroy()));
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
};
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printer)] }));

function startServer() {
  return net
    .createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      socket.resume();
      print({ accepted: socket.remotePort });
    })
    .listen(Number(process.env.SERVER_PORT ?? 0), '127.0.0.1');
}

const server = startServer();
server.on('listening', () => print({ listening: server.address().port }));

process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  if (text.split('\n').includes('end')) sockets.forEach((socket) => socket.end());
});
process.stdin.on('end', () => process.exit(0));
setTimeout(() => process.exit(0), Number(process.env.EXIT_AFTER_MS ?? 60_000)).unref();
