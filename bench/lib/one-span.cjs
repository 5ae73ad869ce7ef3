// A reference instrumentation for figure 1: the least any tracer of connections can do, one
// span per accepted connection (started at accept, ended at 'close', no attributes, no events).
// Preloaded after bench/lib/sdk.cjs, it measures what the SDK alone charges for one span per
// connection on this server: the floor under socklife's `tcp.connection`.
'use strict';
const dc = require('node:diagnostics_channel');
const { trace, ROOT_CONTEXT, SpanKind } = require('@opentelemetry/api');

const tracer = trace.getTracer('one-span-per-connection');
dc.subscribe('net.server.socket', ({ socket }) => {
  const span = tracer.startSpan('connection', { kind: SpanKind.SERVER }, ROOT_CONTEXT);
  socket.once('close', () => span.end());
});
