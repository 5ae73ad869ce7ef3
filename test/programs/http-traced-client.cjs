// A keep-alive HTTP client under the real @opentelemetry/instrumentation-http and socklife
// (spans: 'all'): two GETs on one pooled connection, then the pool is destroyed. Prints every
// exported span as a JSON line, with its kind and links, then {"done":true}. Exits when stdin closes.
const { context, propagation, trace } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');

const print = (line) => console.log(JSON.stringify(line));
const printer = {
  export(spans, done) {
    for (const s of spans) {
      print({
        span: s.name,
        kind: s.kind,
        spanId: s.spanContext().spanId,
        attributes: s.attributes,
        links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
      });
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
};
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(printer)] }));
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const socklife = require('socklife').instrument({ spans: 'all', source: 'none' });
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });
const http = require('node:http');

const server = http.createServer((req, res) => res.end('ok'));
server.listen(0, '127.0.0.1', async () => {
  const agent = new http.Agent({ keepAlive: true });
  const get = (path) =>
    new Promise((resolve) => http.get({ host: '127.0.0.1', port: server.address().port, path, agent }, (res) => res.resume().on('end', resolve)));
  await get('/first');
  await get('/orders/7?verbose=1');
  agent.destroy();
  setTimeout(() => print({ done: true }), 100);
});
process.stdin.resume();
process.stdin.on('end', () => {
  socklife.stop();
  process.exit(0);
});
