import { ProxyTracerProvider, type TracerProvider } from '@opentelemetry/api';

/** The provider a ProxyTracerProvider forwards to while no SDK is registered. */
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * True unless `provider` is the global one with no SDK behind it: with no SDK every span is
 * non-recording, so there is nothing to record a connection for.
 */
export function sdkRegistered(provider: TracerProvider): boolean {
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_TRACER_PROVIDER;
}
