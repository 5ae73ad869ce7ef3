import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import { resolveOptions } from './config.js';
import { start } from './instrument.js';
import { SCOPE_NAME } from './report/providers.js';
import type { SocklifeHandle, SocklifeInstrumentationConfig } from './types.js';
import { VERSION } from './version.js';

/**
 * socklife as an OpenTelemetry instrumentation, for `registerInstrumentations({
 * instrumentations: [new SocklifeInstrumentation()] })` and `new NodeSDK({ instrumentations })`.
 * It satisfies `@opentelemetry/instrumentation`'s `Instrumentation` interface by its shape,
 * so socklife needs no runtime dependency on that package.
 *
 * Like an `InstrumentationBase`, it is enabled when made unless `enabled: false`. Options are
 * those of `instrument()`, validated here. `enable()` and `disable()` may be called any number
 * of times; `disable()` leaves no channel subscription, timer, prototype wrapper or child process.
 * Enabled while socklife already runs (the drop-in), it warns and uses the running
 * instrumentation, whose options stay in force and which its `disable()` does not stop.
 */
export class SocklifeInstrumentation {
  readonly instrumentationName = SCOPE_NAME;
  readonly instrumentationVersion = VERSION;
  private config: SocklifeInstrumentationConfig;
  private tracerProvider: TracerProvider | undefined;
  private meterProvider: MeterProvider | undefined;
  private handle: SocklifeHandle | undefined;

  constructor(config: SocklifeInstrumentationConfig = {}) {
    this.config = validated(config);
    if (this.config.enabled !== false) this.enable();
  }

  enable(): void {
    if (this.handle !== undefined) return;
    const { enabled: _enabled, ...options } = this.config;
    this.handle = start('instrumentation-class', {
      ...options,
      ...(this.tracerProvider === undefined ? {} : { tracerProvider: this.tracerProvider }),
      ...(this.meterProvider === undefined ? {} : { meterProvider: this.meterProvider }),
    });
    // Already running (the drop-in, or instrument() in code): the first start owns it, and
    // this one's disable() leaves it running (see docs/second-start.md); it reports to these
    // providers from now on.
    if (this.tracerProvider !== undefined) this.handle.setTracerProvider(this.tracerProvider);
    if (this.meterProvider !== undefined) this.handle.setMeterProvider(this.meterProvider);
  }

  disable(): void {
    this.handle?.stop();
    this.handle = undefined;
  }

  setTracerProvider(provider: TracerProvider): void {
    this.tracerProvider = provider;
    this.handle?.setTracerProvider(provider);
  }

  setMeterProvider(provider: MeterProvider): void {
    this.meterProvider = provider;
    this.handle?.setMeterProvider(provider);
  }

  getConfig(): SocklifeInstrumentationConfig {
    return this.config;
  }

  /** Takes new options; a running instrumentation restarts with them. */
  setConfig(config: SocklifeInstrumentationConfig = {}): void {
    this.config = validated(config);
    if (this.handle === undefined) return;
    this.disable();
    if (this.config.enabled !== false) this.enable();
  }
}

/** The options checked as `instrument()` checks them: a bad one throws a TypeError naming it. */
function validated(config: SocklifeInstrumentationConfig): SocklifeInstrumentationConfig {
  if (typeof config !== 'object' || config === null) return resolveOptions(config as never) as never;
  const { enabled, ...options } = config;
  if (enabled !== undefined && typeof enabled !== 'boolean') {
    throw new TypeError(`socklife: option enabled must be true or false; got ${JSON.stringify(enabled)}`);
  }
  resolveOptions(options);
  return { ...config };
}
