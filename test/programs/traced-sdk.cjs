// The real OpenTelemetry SDK of the traced HTTP test programs (http-traced-client.cjs,
// http-traced-leak.cjs), registered globally with what @opentelemetry/instrumentation-http
// needs: the AsyncLocalStorage context manager and the W3C propagator. Every exported span is
// printed on stdout as one JSON line: {span, kind, traceId, spanId, attributes, links}.
const { context, propagation, trace } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');

/** Prints one JSON line on stdout. */
const print = (line) => console.log(JSON.stringify(line));
const printer = {
  export(spans, done) {
    for (const s of spans) {
      print({
        span: s.name,
        kind: s.kind,
        traceId: s.spanContext().traceId,
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

module.exports = { print };
