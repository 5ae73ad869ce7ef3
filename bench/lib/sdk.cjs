// The real OpenTelemetry SDK, as a Node service sets it up: a tracer provider with a
// BatchSpanProcessor (default settings) whose exporter drops every span, and the
// AsyncLocalStorage context manager (what NodeTracerProvider.register() installs).
// Preload it with `--require ./bench/lib/sdk.cjs`, before socklife or any instrumentation.
'use strict';
const { context, trace } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');

const counts = { exported: 0, byName: Object.create(null) };

/** Drops spans after counting them, so a run can prove that spans were produced. */
class DropExporter {
  export(spans, resultCallback) {
    counts.exported += spans.length;
    for (const span of spans) counts.byName[span.name] = (counts.byName[span.name] ?? 0) + 1;
    resultCallback({ code: 0 });
  }
  shutdown() {
    return Promise.resolve();
  }
  forceFlush() {
    return Promise.resolve();
  }
}

/** With BENCH_SPAN_HOOK=1, `__benchSdk.onEnd(span)` sees each span the moment it ends (figure 6). */
const hook = {
  onStart() {},
  onEnd(span) {
    globalThis.__benchSdk.onEnd?.(span);
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const spanProcessors = [new BatchSpanProcessor(new DropExporter())];
if (process.env.BENCH_SPAN_HOOK === '1') spanProcessors.unshift(hook);
const provider = new BasicTracerProvider({ spanProcessors });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
// Node 20's AsyncLocalStorage installs its async hook on the first context.with() (run()),
// which in a real service happens at once (any instrumentation, the first export of the
// batch processor). Start it here, so that the baseline "SDK only" pays for context
// propagation like a real service does, and a variant does not pay for it merely because
// its spans made the batch processor export.
context.with(context.active(), () => {});

globalThis.__benchSdk = {
  provider,
  counts,
  onEnd: undefined,
  /** Flushes the batch processor and returns how many spans were exported, by name. */
  async flush() {
    await provider.forceFlush();
    return { exported: counts.exported, byName: { ...counts.byName } };
  },
};
