// A client whose first SYN is dropped (the test's nftables quota rule): its handshake takes
// about a second, then it fetches one line and closes. Run under `node --require
// socklife/register` in a private network namespace; prints every finished span as one JSON
// line, and `done` when the connection has closed.
const { trace } = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const net = require('node:net');

const printer = {
  export(spans, done) {
    for (const s of spans) {
      console.log(
        JSON.stringify({
          name: s.name,
          startMs: s.startTime[0] * 1000 + s.startTime[1] / 1e6,
          attributes: s.attributes,
          events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
        }),
      );
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
};
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printer)] }));

const port = Number(process.env.PORT);
const server = net
  .createServer((socket) => socket.end('hello\n'))
  .listen(port, '127.0.0.1', () => {
    console.log(JSON.stringify({ connectAt: performance.timeOrigin + performance.now() }));
    const client = net.connect(port, '127.0.0.1');
    client.resume();
    client.on('end', () => client.end());
    client.on('close', () => {
      server.close();
      // Let the server side close and the exporter print before saying done.
      setTimeout(() => console.log('done'), 100);
    });
  });
setTimeout(() => process.exit(1), 10_000).unref();
