// The OpenTelemetry SDK for the demo: a real tracer provider whose exporter prints socklife's
// findings for a person. In production this is your usual SDK setup with an OTLP exporter.
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ReadableLeakExporter } from './readable-exporter.mjs';

trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ReadableLeakExporter())] }));
