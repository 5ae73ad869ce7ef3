import type { Meter, MeterProvider, Tracer, TracerProvider } from '@opentelemetry/api';
import { VERSION } from '../version.js';

export const SCOPE_NAME = 'socklife';

/** Makes a component's instruments on a meter; returns what undoes it (removes its callbacks). */
export type MeterBinding = (meter: Meter) => () => void;

/**
 * The tracer and meter every reporter uses, swappable after start-up: an Instrumentation is
 * handed its providers after it was made (`registerInstrumentations`, `NodeSDK.start()`).
 * Instruments are made again on the new meter; spans already open finish on their tracer.
 */
export class Providers {
  private currentTracerProvider: TracerProvider;
  private currentTracer: Tracer;
  private meter: Meter;
  private readonly bindings: Array<{ readonly bind: MeterBinding; unbind: () => void }> = [];

  constructor(tracerProvider: TracerProvider, meterProvider: MeterProvider) {
    this.currentTracerProvider = tracerProvider;
    this.currentTracer = tracerProvider.getTracer(SCOPE_NAME, VERSION);
    this.meter = meterProvider.getMeter(SCOPE_NAME, VERSION);
  }

  get tracer(): Tracer {
    return this.currentTracer;
  }

  get tracerProvider(): TracerProvider {
    return this.currentTracerProvider;
  }

  setTracerProvider(provider: TracerProvider): void {
    this.currentTracerProvider = provider;
    this.currentTracer = provider.getTracer(SCOPE_NAME, VERSION);
  }

  setMeterProvider(provider: MeterProvider): void {
    this.meter = provider.getMeter(SCOPE_NAME, VERSION);
    for (const binding of this.bindings) {
      binding.unbind();
      binding.unbind = binding.bind(this.meter);
    }
  }

  /** Makes instruments now, and again on every new meter. */
  bindMeter(bind: MeterBinding): void {
    this.bindings.push({ bind, unbind: bind(this.meter) });
  }

  /** Undoes every binding (observable callbacks removed). */
  stop(): void {
    for (const binding of this.bindings.splice(0)) binding.unbind();
  }
}
