import {
  createNoopMeter,
  ProxyTracerProvider,
  type Counter,
  type Gauge,
  type Histogram,
  type Meter,
  type MeterProvider,
  type MetricAttributes,
  type MetricOptions,
  type Observable,
  type ObservableCounter,
  type ObservableGauge,
  type ObservableUpDownCounter,
  type BatchObservableCallback,
  type Span,
  type TimeInput,
  type Tracer,
  type TracerProvider,
  type UpDownCounter,
} from '@opentelemetry/api';
import { guarded, sayOnce } from '../notify.js';
import { VERSION } from '../version.js';

export const SCOPE_NAME = 'socklife';

/** Makes a component's instruments on a meter; returns what undoes it (removes its callbacks). */
export type MeterBinding = (meter: Meter) => () => void;

/**
 * The tracer and meter every reporter uses, swappable after start-up: an Instrumentation is
 * handed its providers after it was made (`registerInstrumentations`, `NodeSDK.start()`).
 * Instruments are made again on the new meter; spans already open finish on their tracer.
 *
 * A provider, meter or instrument that throws costs the measurement and nothing else: the
 * meter given to bindings never throws (see `GuardedMeter`), and a provider that throws is
 * replaced by a no-op one, said once.
 */
export class Providers {
  private currentTracerProvider: TracerProvider;
  private currentTracer: Tracer;
  private meter: Meter;
  private readonly bindings: Array<{ readonly bind: MeterBinding; unbind: () => void }> = [];

  constructor(tracerProvider: TracerProvider, meterProvider: MeterProvider) {
    this.currentTracerProvider = tracerProvider;
    this.currentTracer = tracerOf(tracerProvider);
    this.meter = meterOf(meterProvider);
  }

  get tracer(): Tracer {
    return this.currentTracer;
  }

  get tracerProvider(): TracerProvider {
    return this.currentTracerProvider;
  }

  setTracerProvider(provider: TracerProvider): void {
    this.currentTracerProvider = provider;
    this.currentTracer = tracerOf(provider);
  }

  setMeterProvider(provider: MeterProvider): void {
    this.meter = meterOf(provider);
    for (const binding of this.bindings) {
      guarded('a meter binding', binding.unbind, undefined);
      binding.unbind = bindGuarded(binding.bind, this.meter);
    }
  }

  /** Makes instruments now, and again on every new meter. */
  bindMeter(bind: MeterBinding): void {
    this.bindings.push({ bind, unbind: bindGuarded(bind, this.meter) });
  }

  /** Undoes every binding (observable callbacks removed). */
  stop(): void {
    for (const binding of this.bindings.splice(0)) guarded('a meter binding', binding.unbind, undefined);
  }
}

/**
 * Ends a span. The SDK calls every span processor's `onEnd` inside `span.end()` and does not
 * catch: a processor that throws must cost this span's other processors, and nothing more.
 */
export function endSpan(span: Span, endTime?: TimeInput): void {
  try {
    span.end(endTime);
  } catch (error) {
    sayOnce('a span processor', error);
  }
}

const NOOP_METER = createNoopMeter();

function tracerOf(provider: TracerProvider): Tracer {
  return guarded('the tracer provider', () => provider.getTracer(SCOPE_NAME, VERSION), undefined) ?? new ProxyTracerProvider().getTracer(SCOPE_NAME, VERSION);
}

function meterOf(provider: MeterProvider): Meter {
  const meter = guarded('the meter provider', () => provider.getMeter(SCOPE_NAME, VERSION), undefined);
  return new GuardedMeter(meter ?? NOOP_METER);
}

function bindGuarded(bind: MeterBinding, meter: Meter): () => void {
  return guarded('a meter binding', () => bind(meter), undefined) ?? (() => {});
}

/** What every measurement failure is said as: once, whichever instrument met it. */
const INSTRUMENT = 'a metric instrument';

/** A measurement (`add()`, `record()`) that never throws: a failure is said once. */
function guardedMeasurement<A, B, C>(measure: (value: A, attributes: B, context: C) => void): (value: A, attributes: B, context: C) => void {
  return (value, attributes, context) => {
    try {
      measure(value, attributes, context);
    } catch (error) {
      sayOnce(INSTRUMENT, error);
    }
  };
}

/**
 * A meter whose synchronous instruments never throw (the SDK runs views and attribute
 * processors inside `add()` and `record()`), and whose instruments fall back to no-op ones when
 * the meter cannot make them. Observable instruments are the meter's own (its batch callbacks
 * recognise only those); only making them is guarded.
 */
class GuardedMeter implements Meter {
  constructor(private readonly meter: Meter) {}

  createCounter<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): Counter<A> {
    const inner = this.make(
      () => this.meter.createCounter<A>(name, options),
      () => NOOP_METER.createCounter<A>(name, options),
    );
    return { add: guardedMeasurement((value, attributes, context) => inner.add(value, attributes, context)) };
  }

  createUpDownCounter<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): UpDownCounter<A> {
    const inner = this.make(
      () => this.meter.createUpDownCounter<A>(name, options),
      () => NOOP_METER.createUpDownCounter<A>(name, options),
    );
    return { add: guardedMeasurement((value, attributes, context) => inner.add(value, attributes, context)) };
  }

  createHistogram<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): Histogram<A> {
    const inner = this.make(
      () => this.meter.createHistogram<A>(name, options),
      () => NOOP_METER.createHistogram<A>(name, options),
    );
    return { record: guardedMeasurement((value, attributes, context) => inner.record(value, attributes, context)) };
  }

  createGauge<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): Gauge<A> {
    const inner = this.make(
      () => this.meter.createGauge<A>(name, options),
      () => NOOP_METER.createGauge<A>(name, options),
    );
    return { record: guardedMeasurement((value, attributes, context) => inner.record(value, attributes, context)) };
  }

  createObservableGauge<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): ObservableGauge<A> {
    return this.make(
      () => this.meter.createObservableGauge<A>(name, options),
      () => NOOP_METER.createObservableGauge<A>(name, options),
    );
  }

  createObservableCounter<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): ObservableCounter<A> {
    return this.make(
      () => this.meter.createObservableCounter<A>(name, options),
      () => NOOP_METER.createObservableCounter<A>(name, options),
    );
  }

  createObservableUpDownCounter<A extends MetricAttributes = MetricAttributes>(name: string, options?: MetricOptions): ObservableUpDownCounter<A> {
    return this.make(
      () => this.meter.createObservableUpDownCounter<A>(name, options),
      () => NOOP_METER.createObservableUpDownCounter<A>(name, options),
    );
  }

  addBatchObservableCallback<A extends MetricAttributes = MetricAttributes>(callback: BatchObservableCallback<A>, observables: Observable<A>[]): void {
    guarded(INSTRUMENT, () => this.meter.addBatchObservableCallback(callback, observables), undefined);
  }

  removeBatchObservableCallback<A extends MetricAttributes = MetricAttributes>(callback: BatchObservableCallback<A>, observables: Observable<A>[]): void {
    guarded(INSTRUMENT, () => this.meter.removeBatchObservableCallback(callback, observables), undefined);
  }

  private make<I>(create: () => I, fallback: () => I): I {
    return guarded('the meter', create, undefined) ?? fallback();
  }
}
