import { diag } from '@opentelemetry/api';

/** Failures already said, by what failed and how; bounded, so varied messages cannot grow it. */
const said = new Set<string>();
const MAX_SAID = 256;

/**
 * Calls a listener (a reporter, a detector's sink) so that its failure stays its own: it is
 * logged, and the caller's bookkeeping and the next listener go on. Returns `fallback` when
 * the call threw. Each failure is said once: a telemetry backend that throws on every span
 * must not turn into one log line per connection.
 */
export function guarded<T>(what: string, call: () => T, fallback: T): T {
  try {
    return call();
  } catch (error) {
    sayOnce(what, error);
    return fallback;
  }
}

/** Says that `what` threw `error`, unless the same was said already. */
export function sayOnce(what: string, error: unknown): void {
  const key = `${what}\0${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
  if (said.has(key) || said.size >= MAX_SAID) return;
  said.add(key);
  diag.error(`socklife: ${what} threw (said once: the same failure again is not logged)`, error);
}

/** A new instrumentation says each failure once again. */
export function forgetSaidFailures(): void {
  said.clear();
}
