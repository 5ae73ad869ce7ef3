// The floor under `spans: all` on a server (figure 1c, stated): the contract makes two spans for
// every accepted connection, `tcp.connection` and its child `tcp.half_close`. This makes two
// empty ones the same way (the child under the parent's context), both ended at 'close', with no
// attributes and no events: what the SDK alone charges for the contract's span count.
'use strict';
const dc = require('node:diagnostics_channel');
const { trace, ROOT_CONTEXT, SpanKind } = require('@opentelemetry/api');

const tracer = trace.getTracer('two-spans-per-connection');
dc.subscribe('net.server.socket', ({ socket }) => {
  const span = tracer.startSpan('connection', { kind: SpanKind.SERVER }, ROOT_CONTEXT);
  const child = tracer.startSpan('half_close', { kind: SpanKind.INTERNAL }, trace.setSpan(ROOT_CONTEXT, span));
  socket.once('close', () => {
    child.end();
    span.end();
  });
});
