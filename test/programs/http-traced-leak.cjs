// An HTTP server under the real @opentelemetry/instrumentation-http that never answers a
// request, with socklife started before the instrumentation patched `http`
// (ORDER=socklife-first) or after it (ORDER=instrumentation-first). Prints JSON lines: the
// port, the request span the handler runs in (as the application sees it), and every span
// the SDK exports, with its links. Exits when stdin closes.
const { print } = require('./traced-sdk.cjs');
const { context, trace } = require('@opentelemetry/api');

const startSocklife = () => {
  const { instrument } = require('socklife');
  return instrument({ spans: 'anomalies', pollIntervalMs: 100, closeWaitThresholdMs: 300, log: 'stderr' });
};
const startInstrumentation = () => {
  const { registerInstrumentations } = require('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });
};

const order = process.env.ORDER ?? 'socklife-first';
let socklife;
if (order === 'socklife-first') {
  socklife = startSocklife();
  startInstrumentation();
} else {
  startInstrumentation();
}
const http = require('node:http');
if (order !== 'socklife-first') socklife = startSocklife();

function neverAnswers(req, res) {
  const span = trace.getActiveSpan();
  print({ handler: { method: req.method, url: req.url, traceId: span?.spanContext().traceId, spanId: span?.spanContext().spanId } });
  if (req.url.startsWith('/orders/')) {
    // What a web framework's instrumentation does while routing: the route goes in the RPC metadata.
    const { getRPCMetadata } = require('@opentelemetry/core');
    const metadata = getRPCMetadata(context.active());
    if (metadata !== undefined) metadata.route = '/orders/:id';
  }
  if (req.url.startsWith('/answered')) {
    // Answered, then the connection is no longer read: the client's FIN waits unread (not_read_to_eof).
    res.end('ok', () => req.socket.pause());
    return;
  }
  // The bug: the request is never answered, and its connection is kept open after the client half-closed.
}
const server = http.createServer(neverAnswers);
server.httpAllowHalfOpen = true;
server.listen(0, '127.0.0.1', () => print({ port: server.address().port }));
process.stdin.resume();
process.stdin.on('end', () => {
  socklife.stop();
  process.exit(0);
});
